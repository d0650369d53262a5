"""GET /v1/openapi.json: the OpenAPI 3.1 document of every function (docs/contract.md, "OpenAPI document")."""
from catalogue.endpoints.openapi import router
from catalogue.function import make_function

app, handler = make_function(router)
