"""GET /v1/health: can each store be reached (docs/contract.md, "Health")."""
from catalogue.endpoints.health import router
from catalogue.function import make_function

app, handler = make_function(router)
