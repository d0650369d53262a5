"""API Gateway's $default route: every request no other route serves answers SPEC 4.1's 404 `not_found`."""
from catalogue.errors import NotFound
from catalogue.function import make_function
from fastapi import APIRouter, Request

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
router = APIRouter()


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def not_found(request: Request, path: str) -> None:
    raise NotFound(f"There is no endpoint {request.method} {request.url.path}.")


app, handler = make_function(router)
