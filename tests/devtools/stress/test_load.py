"""devtools/stress/load.py's reading of a run's request log: throughput and percentiles per route, failures
attributed to the fault they fell in, SPEC bodies told from anything else, recovery measured from the store's
return."""
from __future__ import annotations

import pytest

from devtools.stress import load

pytestmark = pytest.mark.unit


def request(t: float, route: str, status: int = 200, code: str | None = None, ms: float = 10.0) -> dict:
    return {"t": t, "route": route, "status": status, "ms": ms, "code": code}


def test_failures_are_attributed_to_their_fault_and_recovery_is_measured_from_the_store_return():
    fault = load.Fault("postgresql", stop_at=100.0, stopped_at=100.2, start_at=105.0, back_at=105.3)
    log = [request(99.0, "/v1/genes"), request(99.5, "/v1/search"),
           request(100.1, "/v1/genes", 503, "store_unavailable"),
           request(101.0, "/v1/health", 503, "degraded:postgresql"),
           request(102.0, "/v1/openapi.json"),  # reads no store: unaffected
           request(105.2, "/v1/search", 504, "store_timeout"),
           request(105.4, "/v1/genes", ms=100.0),  # the first success once the store is back
           request(106.0, "/v1/search")]
    result = load.analyse(log, [fault])
    (report,) = result["faults"]
    assert report["failed"] == 3 and report["all_spec_bodies"]
    assert report["failures"] == {"503 store_unavailable": 1, "503 degraded:postgresql": 1, "504 store_timeout": 1}
    assert report["recovery_s"] == 0.2  # 105.4 + 0.1 s - 105.3
    assert result["failed_outside_faults"] == 0 and result["requests"] == 8
    assert result["routes"]["/v1/genes"]["errors"] == 1 and result["routes"]["/v1/genes"]["requests"] == 3


def test_other_failures_are_reported():
    fault = load.Fault("elasticsearch", stop_at=100.0, stopped_at=100.1, start_at=105.0, back_at=111.0)
    log = [request(50.0, "/v1/search", 500, "internal"),  # outside any fault
           request(101.0, "/v1/datasets", 502, "not-json"),  # during the fault, but not a SPEC store error
           request(112.0, "/v1/datasets")]
    result = load.analyse(log, [fault])
    assert result["failed_outside_faults"] == 1 and not result["faults"][0]["all_spec_bodies"]
    assert load.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0 and load.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0
    assert load.percentile([float(i) for i in range(1, 7)], 50) == 3.0
