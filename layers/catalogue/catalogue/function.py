"""One Lambda function = a FastAPI app + a Mangum handler wrapped in Powertools; a function file adds its route."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from catalogue_common.settings import ConfigurationError, settings
from fastapi import APIRouter, FastAPI
from mangum import Mangum
from mangum.types import ASGI
from starlette.types import Message, Receive, Scope, Send

from . import clients, errors
from .clients import request_deadline, tracer

logger = Logger()
metrics = Metrics()  # its namespace is set from the settings when a function starts (make_function)
# A request's store calls must end this long before the function's own timeout, so that the 504 gets out.
DEADLINE_MARGIN_SECONDS = 0.5
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]  # a Lambda handler: (event, context) -> the response
ASGIApp = ASGI  # an ASGI application as Mangum takes it: async (scope, receive, send), by those names


def without_stage_prefix(app: ASGIApp) -> ASGIApp:
    """On a named HTTP API stage the path arrives as /<stage>/v1/...; routes are declared without the stage. The
    stage becomes the ASGI root_path, so routing ignores it and URLs the API builds (Link) keep it."""
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        stage = scope.get("aws.event", {}).get("requestContext", {}).get("stage", "$default")
        if scope["type"] == "http" and stage != "$default" and scope["path"].startswith(f"/{stage}/"):
            scope = {**scope, "root_path": f"/{stage}"}
        await app(scope, receive, send)
    return asgi


def head_as_get(app: ASGIApp) -> ASGIApp:
    """HEAD on every GET route (HTTP conventions): the request is routed as the GET it asks about, and the answer
    leaves with that GET's status and headers (ETag, Content-Length, Vary...) and no body. One wrapper for every
    route, rather than a HEAD route beside each GET."""
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            await send({**message, "body": b""} if message["type"] == "http.response.body" else message)
        await app({**scope, "method": "GET"}, receive, without_body)
    return asgi


def within_deadline(app: ASGIApp) -> ASGIApp:
    """One deadline per request, which every store call of the request shares: the Lambda context's remaining time
    less a margin for the answer (Mangum puts the context in the scope). Without a context, no request deadline:
    each store call has STORE_TIMEOUT_SECONDS."""
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        context = scope.get("aws.context")
        at = None
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            at = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS
        with request_deadline(at):
            await app(scope, receive, send)
    return asgi


def observed(app: ASGIApp) -> ASGIApp:
    """Latency and status-class metrics and one log line per request. Outermost, so that a 500 from an unexpected
    error counts too (Starlette answers it outside any app middleware), and plain ASGI: no per-request task."""
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        status, began = 500, time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await app(scope, receive, send_and_note)
        finally:
            elapsed = (time.perf_counter() - began) * 1000
            metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed)
            metrics.add_metric(name=f"Status{status // 100}xx", unit=MetricUnit.Count, value=1)
            logger.info("request", extra={"path": scope["path"], "query": scope["query_string"].decode(),
                                          "status": status, "ms": round(elapsed, 2)})
    return asgi


def make_app(*routers: APIRouter) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # the OpenAPI document is its own endpoint
    errors.install(app)
    for router in routers:
        app.include_router(router)
    return app


def make_function(router: APIRouter) -> tuple[FastAPI, Handler]:
    """A function serving one endpoint's router: `app, handler = make_function(router)` in its app.py. Its
    configuration is validated here, when the environment starts: a malformed variable fails the start with a log
    line naming it, rather than every request with an anonymous 500."""
    try:
        metrics.namespace = settings().metrics_namespace
    except ConfigurationError as error:
        logger.error("invalid configuration", extra={"error": str(error)})
        raise
    app = make_app(router)
    snapshot_hooks()
    # lifespan="off": Mangum would run it on every invocation; clients live at module level instead.
    handler: Handler = Mangum(observed(within_deadline(without_stage_prefix(head_as_get(app)))), lifespan="off")
    handler = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(handler)
    # The response is not recorded: a segment travels in one UDP datagram (64 KB), and an answer of a few hundred
    # KB made the whole trace fail to send ("Message too long"), after serialising the answer once more.
    handler = tracer.capture_lambda_handler(handler, capture_response=False)
    return app, metrics.log_metrics(capture_cold_start_metric=True)(per_function(handler))


def snapshot_hooks() -> None:
    """With SnapStart (python3.13, published versions), an environment is restored from a snapshot taken after its
    initialisation: modules loaded lazily on the first request are loaded before the snapshot instead, and clients
    made before it are dropped after the restore. The hooks' module is part of Lambda's Python runtime only."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:  # not in Lambda (locally, in tests)
        return
    register_before_snapshot(clients.warm)
    register_after_restore(clients.forget)


def per_function(handler: Handler) -> Handler:
    """Metrics carry the function's name as their `function` dimension, so that each function is its own series
    (the template's alarms select on it) instead of all functions of the service merging into one."""
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_dimension(name="function", value=context.function_name)  # cleared with each flush
        return handler(event, context)
    return run
