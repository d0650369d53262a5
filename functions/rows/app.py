"""GET /v1/datasets/{dataset_id}/rows: every row of one dataset, in pages, JSON or TSV (docs/contract.md, "Dataset
rows")."""
from catalogue.endpoints.rows import router
from catalogue.function import make_function

app, handler = make_function(router)
