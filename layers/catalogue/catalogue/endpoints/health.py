"""GET /v1/health (docs/contract.md, "Health"): can each store be reached, and how fast; 200 when both answer, else 503.

Each check is bounded (1 s) and reads no catalogue data: `SELECT 1` on the pool's connection, the cluster's
health. Both run at once, so the answer takes at most about a second; it is never cached.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aws_lambda_powertools import Logger
from catalogue_common.settings import settings
from fastapi import APIRouter
from pydantic import Field
from starlette.responses import Response

from .. import schemas
from ..answers import to_json
from ..clients import stores
from ..parameters import StrictRoute

CHECK_SECONDS = 1.0
logger = Logger()


class StoreStatus(schemas.Shape):
    status: Literal["ok", "unavailable"]
    ms: float = Field(ge=0, description="How long the check took.")


class Stores(schemas.Shape):
    postgresql: StoreStatus
    elasticsearch: StoreStatus


class Health(schemas.Shape):
    status: Literal["ok", "degraded"]
    stores: Stores
    version: str


async def _check(name: str, ping: Callable[[float], Awaitable[None]]) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        await asyncio.wait_for(ping(CHECK_SECONDS), CHECK_SECONDS)
        status = "ok"
    except Exception as error:  # any failure is the store's state, reported, never raised
        logger.warning("health check failed", extra={"store": name, "error": repr(error)})
        status = "unavailable"
    return {"status": status, "ms": round((time.perf_counter() - began) * 1000, 1)}


async def health() -> tuple[int, bytes]:
    postgresql, elasticsearch = await asyncio.gather(_check("postgresql", stores().ping_postgres),
                                                     _check("elasticsearch", stores().ping_elasticsearch))
    ok = postgresql["status"] == elasticsearch["status"] == "ok"
    return (200 if ok else 503), to_json({"status": "ok" if ok else "degraded",
                                          "stores": {"postgresql": postgresql, "elasticsearch": elasticsearch},
                                          "version": settings().version})


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/health", operation_id="health", tags=["catalogue"], summary="Store status",
            responses={200: {"model": Health, "description": "Both stores answer."},
                       503: {"model": Health, "description": "A store does not answer (same body)."},
                       400: schemas.ERRORS[400], 500: schemas.ERRORS[500]})
async def get_health() -> Any:
    status, body = await health()
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})
