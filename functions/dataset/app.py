"""GET /v1/datasets/{dataset_id}: one dataset with its statistics and top genes (docs/contract.md, "One dataset")."""
from catalogue.endpoints.dataset import router
from catalogue.function import make_function

app, handler = make_function(router)
