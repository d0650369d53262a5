"""GET /v1/summary: the catalogue at a glance (SPEC 5.6)."""
from catalogue.endpoints.summary import router
from catalogue.function import make_function

app, handler = make_function(router)
