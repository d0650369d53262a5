"""GET /v1/genes: gene-symbol autocomplete (docs/contract.md, "Gene lookup")."""
from catalogue.endpoints.genes import router
from catalogue.function import make_function

app, handler = make_function(router)
