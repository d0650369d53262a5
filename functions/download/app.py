"""GET /v1/datasets/{dataset_id}/download: a 307 to a whole-dataset file (docs/contract.md, "Dataset files")."""
from catalogue.endpoints.download import router
from catalogue.function import make_function

app, handler = make_function(router)
