"""GET /v1/datasets: browse and filter datasets, with facet counts (SPEC 5.2)."""
from catalogue.endpoints.datasets import router
from catalogue.function import make_function

app, handler = make_function(router)
