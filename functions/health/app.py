"""GET /v1/health: can each store be reached (SPEC 5.7)."""
from catalogue.endpoints.health import router
from catalogue.function import make_function

app, handler = make_function(router)
