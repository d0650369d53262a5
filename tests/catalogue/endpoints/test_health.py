"""GET /v1/health (docs/contract.md, "Health"): 200 when both stores answer, 503 with the same body shape when one does
not."""
from __future__ import annotations

import time

from tests.api import get


def test_both_stores_ok(catalogue):
    answer = get("/v1/health")
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json
    assert body["status"] == "ok" and body["version"]
    assert {s["status"] for s in body["stores"].values()} == {"ok"}


def test_an_unreachable_store_is_503_degraded_within_the_bound(catalogue, with_stores):
    with_stores(ps_port=1)
    began = time.monotonic()
    answer = get("/v1/health")
    assert answer.status == 503 and time.monotonic() - began < 2.5
    assert answer.json["status"] == "degraded"
    assert answer.json["stores"]["postgresql"]["status"] == "unavailable"
    assert answer.json["stores"]["elasticsearch"]["status"] == "ok"
    with_stores(es_url="http://127.0.0.1:1")
    body = get("/v1/health").json
    assert body["stores"]["elasticsearch"]["status"] == "unavailable" and body["stores"]["postgresql"]["status"] == "ok"
