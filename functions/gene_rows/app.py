"""GET /v1/genes/{gene}/rows: every row of one gene across the catalogue, in pages, JSON or TSV (docs/contract.md,
"Rows of a gene")."""
from catalogue.endpoints.gene_rows import router
from catalogue.function import make_function

app, handler = make_function(router)
