"""One Lambda function = a FastAPI app + a Mangum handler wrapped in Powertools; a function file adds its route."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import FastAPI, Request, Response
from mangum import Mangum

from . import errors

logger, metrics, tracer = Logger(), Metrics(namespace="PerturbationCatalogue"), Tracer()
Handler = Callable[[dict, Any], dict]


def make_function() -> tuple[FastAPI, Handler]:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # the OpenAPI document is its own endpoint
    errors.install(app)

    @app.middleware("http")
    async def log_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        began = time.perf_counter()
        response = await call_next(request)
        elapsed = (time.perf_counter() - began) * 1000
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=elapsed)
        metrics.add_metric(name=f"Status{response.status_code // 100}xx", unit=MetricUnit.Count, value=1)
        logger.info("request", extra={"path": request.url.path, "query": request.url.query,
                                      "status": response.status_code, "ms": round(elapsed, 2)})
        return response

    # lifespan="off": Mangum would run it on every invocation; clients live at module level instead.
    handler = Mangum(app, lifespan="off")
    handler = logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)(handler)
    handler = tracer.capture_lambda_handler(handler)
    return app, metrics.log_metrics(capture_cold_start_metric=True)(handler)
