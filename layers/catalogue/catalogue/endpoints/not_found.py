"""API Gateway's $default route: every request no other route serves answers docs/contract.md, "Errors"'s 404
`not_found`.

Any method, any path; left out of the OpenAPI document, which describes the endpoints that exist.
"""
from __future__ import annotations

from fastapi import APIRouter, Request

from ..errors import no_endpoint

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
router = APIRouter()


@router.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
async def not_found(request: Request, path: str) -> None:
    raise no_endpoint(request.method, request.url.path)
