"""GET /v1/search: datasets, perturbations and phenotypes matching the filters (docs/contract.md, "Search")."""
from catalogue.endpoints.search import router
from catalogue.function import make_function

app, handler = make_function(router)
