"""GET /v1/genes: gene-symbol autocomplete (SPEC 5.5)."""
from catalogue.endpoints.genes import router
from catalogue.function import make_function

app, handler = make_function(router)
