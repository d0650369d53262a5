"""API Gateway's $default route: every request no other route serves answers docs/contract.md, "Errors"'s 404
`not_found`."""
from catalogue.endpoints.not_found import router
from catalogue.function import make_function

app, handler = make_function(router)
