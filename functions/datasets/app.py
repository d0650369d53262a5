"""GET /v1/datasets: browse and filter datasets, with facet counts (docs/contract.md, "Dataset browsing")."""
from catalogue.endpoints.datasets import router
from catalogue.function import make_function

app, handler = make_function(router)
