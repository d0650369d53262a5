"""A short slice of `make fuzz` (devtools/stress/fuzz.py): Schemathesis against the local server on the test
catalogue, the schema read from the server's own /v1/openapi.json; no 5xx and no answer the document does not
declare."""
from __future__ import annotations

from pathlib import Path

import pytest

from devtools.local import serve
from devtools.local.lambda_events import routes_from_template
from devtools.stress import fuzz

pytestmark = pytest.mark.slow

# Every path the template routes to a function (GET and HEAD each): the served document's operations.
PATHS = {route.path for route in routes_from_template(Path(__file__).resolve().parents[3] / "template.yaml")
         if not route.is_default}
REQUESTS = 1600  # the coverage phase (~1,000 requests: every operation, GET and HEAD, valid and invalid), then fuzzing


def test_fuzzing_every_route_finds_no_violation(catalogue: dict, monkeypatch):
    monkeypatch.setenv("PS_DB", catalogue["database"])  # the test catalogue, which the suite keeps current
    monkeypatch.setenv("ES_INDEX", catalogue["index"])
    with serve.background(environments=1) as (url, _):
        result = fuzz.run(url, requests=REQUESTS, seconds=300, seed=10)
    print(result.report())
    assert result.requests >= REQUESTS, result.report()
    assert result.server_errors == 0 and not result.violations and not result.errors, result.report()
    # The schema is the served one, every operation of it included (the document's own too, and each HEAD).
    assert len(result.operations) == 2 * len(PATHS), result.report()
    assert {phase.split()[0] for phase in result.phases} >= {"coverage", "fuzzing"}, result.report()
    assert {phase.split()[1] for phase in result.phases} == {"positive", "negative"}, result.report()
