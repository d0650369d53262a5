"""GET /v1/health: can each store be reached (docs/contract.md, "Health")."""
from catalogue import clients
from catalogue.endpoints.health import router
from catalogue.function import make_function

# Elasticsearch's transport (catalogue/transport.py) loads now, not inside the first check's one-second bound (where a
# cold environment's import would read as a store that does not answer). Here, not in the router's module: the OpenAPI
# function imports every router and never calls a store.
clients.warm()

app, handler = make_function(router)
