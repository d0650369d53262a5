"""GET /v1/summary: the catalogue at a glance (docs/contract.md, "Catalogue summary")."""
from catalogue.endpoints.summary import router
from catalogue.function import make_function

app, handler = make_function(router)
