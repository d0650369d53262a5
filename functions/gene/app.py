"""GET /v1/genes/{gene}: one gene across the catalogue, whatever its name (docs/contract.md, "One gene")."""
from catalogue.endpoints.gene import router
from catalogue.function import make_function

app, handler = make_function(router)
