"""GET /v1/search: datasets, perturbations and phenotypes matching the filters (SPEC 3)."""
from catalogue.endpoints.search import router
from catalogue.function import make_function

app, handler = make_function(router)
