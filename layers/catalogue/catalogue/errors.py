"""The error model of docs/contract.md, "Errors": every non-2xx answer is `{"error": {"code", "message"[,
"details"]}}`."""
from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

logger = Logger()
ErrorCode = Literal["invalid_parameter", "ambiguous_gene", "answer_too_large", "not_found", "store_unavailable",
                    "store_timeout", "data_integrity", "internal"]


class ApiError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[ErrorCode] = "internal"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message, self.details = message, details


class InvalidParameter(ApiError):
    status, code = 400, "invalid_parameter"


class AmbiguousGene(ApiError):
    """A gene term is a previous symbol or alias of several genes: `details` lists each candidate."""
    status, code = 400, "ambiguous_gene"


class AnswerTooLarge(ApiError):
    """The answer would not fit the platform's response (MAX_ANSWER_BYTES): refused before it is sent."""
    status, code = 400, "answer_too_large"


class NotFound(ApiError):
    status, code = 404, "not_found"


def no_endpoint(method: str, path: str) -> NotFound:
    """docs/contract.md, "Errors": the 404 for a method and path that no route serves, naming where the routes that
    exist are listed."""
    return NotFound(f"There is no endpoint {method} {path}. The endpoints are listed in /v1/openapi.json.")


class StoreUnavailable(ApiError):
    status, code = 503, "store_unavailable"


class StoreTimeout(ApiError):
    status, code = 504, "store_timeout"


class DataIntegrity(ApiError):
    status, code = 500, "data_integrity"


def error_response(error: ApiError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details is not None:
        body["details"] = error.details
    # Errors are never cached by shared caches: a store outage must not outlive itself.
    return Response(json.dumps({"error": body}), status_code=error.status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> Response:
        log = logger.exception if error.status >= 500 else logger.info
        log("request failed", extra={"code": error.code, "error_message": error.message})
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        # Routes are StrictRoutes, which answer these themselves; this keeps FastAPI's 422 out in any case.
        names = sorted({str(e["loc"][-1]) for e in error.errors()})
        return error_response(InvalidParameter(f"Invalid parameters: {', '.join(names)}.",
                                               [{"parameter": n, "problem": "invalid value"} for n in names]))

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, error: HTTPException) -> Response:
        # Only routing produces these (API Gateway routes each endpoint to its function): no such endpoint.
        return error_response(no_endpoint(request.method, request.url.path))

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        logger.exception("unhandled error")
        return error_response(ApiError("The server failed to answer this request."))
