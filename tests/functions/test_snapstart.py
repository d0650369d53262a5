"""Cold start (issue 13, part 4): a function imports what it uses, Elasticsearch's client only on its first call; with
SnapStart, what is lazy is loaded before the snapshot and the clients made before it are dropped after a restore."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import snapshot_restore_py
from catalogue import clients

from devtools.local.lambda_events import http_api_event
from devtools.local.lambda_runtime import LambdaContext, lambda_environment, load_function
from tests.support import body

ROOT = Path(__file__).resolve().parents[2]
FIRST_ANSWER = """
import json, sys
sys.path.insert(0, {function!r})
from app import handler
from devtools.local.lambda_events import http_api_event
from devtools.local.lambda_runtime import LambdaContext
response = handler(http_api_event("GET", {path!r}, {query!r}), LambdaContext())
print(json.dumps({{"status": response["statusCode"], "bytes": len(response["body"]), "modules": sorted(sys.modules)}}))
"""


def first_answer(function: str, path: str, query: str = "", daemon: socket.socket | None = None) -> dict:
    """A fresh interpreter imports the function and answers one request: its status, body length, the modules it
    loaded and what it wrote to stderr. With a `daemon` (a bound UDP socket): in Lambda's environment as deployed,
    tracing active and segments sent there (the tests' own environment turns tracing off)."""
    code = FIRST_ANSWER.format(function=str(ROOT / "functions" / function), path=path, query=query)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    if daemon is not None:
        host, port = daemon.getsockname()
        env |= lambda_environment(f"catalogue-{function}", ROOT / "functions" / function, traced=True)
        env["AWS_XRAY_DAEMON_ADDRESS"] = f"{host}:{port}"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]) | {"stderr": run.stderr}


@contextlib.contextmanager
def xray_daemon() -> Iterator[tuple[socket.socket, list[bytes]]]:
    """A UDP socket where segments arrive, and (after the block) the datagrams that did."""
    received: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon:
        daemon.bind(("127.0.0.1", 0))
        daemon.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        yield daemon, received
        daemon.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(daemon.recv(1 << 16))


def test_a_function_that_never_reads_elasticsearch_never_imports_it(catalogue: dict):
    genes = first_answer("genes", "/v1/genes", "prefix=tp")
    assert genes["status"] == 200 and "elastic_transport" not in genes["modules"] and "boto3" not in genes["modules"]
    search = first_answer("search", "/v1/search", "limit=1")
    assert search["status"] == 200 and "elastic_transport" in search["modules"], "the detector must see an import"
    # The API reads Elasticsearch through its transport, never through the client (catalogue/transport.py).
    assert "elasticsearch" not in search["modules"]


def test_a_traced_function_patches_nothing_it_does_not_call(catalogue: dict):
    """As deployed (tracing active), the Tracer records each store call itself: auto-patching would import botocore
    and aiohttp, to patch them, at every cold start."""
    with xray_daemon() as (daemon, _):
        genes = first_answer("genes", "/v1/genes", "prefix=tp", daemon)
    assert genes["status"] == 200 and "aws_xray_sdk.core" in genes["modules"], "the run must be traced"
    patched = [m for m in genes["modules"] if m.startswith("aws_xray_sdk.ext.")]
    assert patched == [] and "botocore.client" not in genes["modules"] and "aiohttp" not in genes["modules"]


def test_a_traced_answer_of_any_size_sends_its_trace_without_the_answer(catalogue: dict):
    """A segment goes in one UDP datagram: recording the response in it made every large answer's trace fail to send
    ("Message too long"), after serialising the answer once more."""
    with xray_daemon() as (daemon, received):
        search = first_answer("search", "/v1/search", "", daemon)
    assert search["status"] == 200 and search["bytes"] > 1 << 16, "the answer must not fit in a datagram"
    assert "Failed to send entity" not in search["stderr"], search["stderr"][-2000:]
    assert any(b'"## postgresql"' in datagram for datagram in received), "the store call's subsegment arrives"
    assert not any(b' response"' in datagram for datagram in received), "no response is recorded"


def test_the_snapshot_hooks_warm_before_and_forget_after(catalogue: dict):
    function = load_function("search")
    before = [hook for hook, _, _ in snapshot_restore_py.get_before_snapshot()]
    after = [hook for hook, _, _ in snapshot_restore_py.get_after_restore()]
    assert clients.warm in before and clients.forget in after
    first = function.handler(http_api_event("GET", "/v1/search", "limit=1"), LambdaContext())
    assert first["statusCode"] == 200 and len(body(first)) == 1
    made = clients._stores
    assert made is not None
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():  # as Lambda does after a restore
        hook(*args, **kwargs)
    assert clients._stores is None
    again = function.handler(http_api_event("GET", "/v1/search", "limit=1"), LambdaContext())
    assert again["statusCode"] == 200 and body(again) == body(first)
    assert clients._stores is not None and clients._stores is not made, "the restored environment made its own"
