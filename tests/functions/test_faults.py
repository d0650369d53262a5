"""Stores that stop answering while their connections stay open (issue 10, finding 1).

A frozen server (SIGSTOP) accepts TCP connections and keeps the open ones, but answers nothing: not the query, not
asyncpg's cancel request. The request still answers the contract's 504 `store_timeout` within its Lambda deadline, and
the next request, once the server runs again, answers 200 without a restart of the function. Every freeze is undone in a
`finally`, so the shared local servers are never left stopped.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.local import es_server, pg_server
from devtools.local.lambda_runtime import LambdaContext, load_function
from tests.support import body

LAMBDA_TIMEOUT = 3.0  # seconds: the function's timeout, as the Lambda context reports it


@pytest.fixture(scope="module")
def function(catalogue: dict):
    return load_function("search")


def event(query: str) -> dict:
    e = json.loads((Path(__file__).resolve().parents[2] / "events" / "search" / "no_parameters.json").read_text())
    e["rawQueryString"] = query
    e["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    return e


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def postgresql_processes() -> list[int]:
    """The postmaster of the local server (its pid file in the data directory) first, then its backends."""
    postmaster = int((pg_server.HOME / "data" / "postmaster.pid").read_text().split()[0])
    return [postmaster, *children(postmaster)]


def elasticsearch_processes() -> list[int]:
    return [int((es_server.HOME / "es.pid").read_text().strip())]


@contextlib.contextmanager
def frozen(processes: Callable[[], list[int]]) -> Iterator[None]:
    """SIGSTOP every process of a server (a process forked meanwhile is caught by the second pass), SIGCONT them all
    afterwards, whatever happens."""
    stopped: list[int] = []
    try:
        for _ in range(2):
            for pid in processes():
                if pid not in stopped:
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
        yield
    finally:
        for pid in [*stopped, *processes()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def timed(function, query: str) -> tuple[dict, float]:
    began = time.monotonic()
    response = function.handler(event(query), LambdaContext("catalogue-faults", timeout=LAMBDA_TIMEOUT))
    return response, time.monotonic() - began


def assert_store_timeout(response: dict, elapsed: float) -> None:
    assert response["statusCode"] == 504, response
    assert response["headers"]["content-type"] == "application/json"
    error = body(response)["error"]
    assert error["code"] == "store_timeout" and set(error) == {"code", "message"}
    assert elapsed < LAMBDA_TIMEOUT, f"answered after {elapsed:.2f} s, past the function's {LAMBDA_TIMEOUT} s"


@pytest.mark.parametrize("pool", ["warm", "cold"])
def test_frozen_postgresql_answers_504_within_the_lambda_deadline_then_recovers(function, with_stores, pool: str):
    assert timed(function, "perturbation_gene_name=TP53")[0]["statusCode"] == 200  # Elasticsearch is warm
    if pool == "cold":
        with_stores()  # no connection yet: connecting to the frozen server hangs too
    with frozen(postgresql_processes):
        response, elapsed = timed(function, "perturbation_gene_name=TP53")
    assert_store_timeout(response, elapsed)
    response, elapsed = timed(function, "perturbation_gene_name=TP53")
    assert response["statusCode"] == 200 and body(response), response


def test_frozen_elasticsearch_answers_504_within_the_lambda_deadline_then_recovers(function):
    """Free text needs Elasticsearch: 504. A search PostgreSQL chooses the datasets of is answered all the same from
    the documents the warm function remembers (catalogue/remembered.py)."""
    for query in ("dataset_metadata=blood", "perturbation_gene_name=TP53"):
        assert timed(function, query)[0]["statusCode"] == 200
    with frozen(elasticsearch_processes):
        response, elapsed = timed(function, "dataset_metadata=blood")
        remembered, _ = timed(function, "perturbation_gene_name=TP53")
    assert_store_timeout(response, elapsed)
    assert remembered["statusCode"] == 200 and body(remembered), remembered
    response, elapsed = timed(function, "dataset_metadata=blood")
    assert response["statusCode"] == 200 and body(response), response


def test_a_request_past_its_deadline_answers_504_without_a_store_call(function, with_stores):
    """Less time left than the margin kept for the answer: 504 at once (the stores here would answer 503)."""
    with_stores(ps_port=1, es_url="http://127.0.0.1:1")
    began = time.monotonic()
    response = function.handler(event("perturbation_gene_name=TP53"), LambdaContext("catalogue-faults", timeout=0.3))
    assert_store_timeout(response, time.monotonic() - began)
