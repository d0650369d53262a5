"""GET /v1/datasets/{dataset_id}: one dataset with its statistics and top genes (SPEC 5.3)."""
from catalogue.endpoints.dataset import router
from catalogue.function import make_function

app, handler = make_function(router)
