"""Cold start (issue 13, part 4): a function imports what it uses, Elasticsearch's client only on its first call; with
SnapStart, what is lazy is loaded before the snapshot and the clients made before it are dropped after a restore."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import snapshot_restore_py
from catalogue import clients

from devtools.local.lambda_events import http_api_event
from devtools.local.lambda_runtime import LambdaContext, load_function
from tests.support import body

ROOT = Path(__file__).resolve().parents[2]
FIRST_ANSWER = """
import json, sys
sys.path.insert(0, {function!r})
from app import handler
from devtools.local.lambda_events import http_api_event
from devtools.local.lambda_runtime import LambdaContext
response = handler(http_api_event("GET", {path!r}, {query!r}), LambdaContext())
print(json.dumps({{"status": response["statusCode"], "modules": sorted(m.split(".")[0] for m in sys.modules)}}))
"""


def first_answer(function: str, path: str, query: str = "") -> dict:
    """A fresh interpreter imports the function and answers one request: its status and the modules it loaded."""
    code = FIRST_ANSWER.format(function=str(ROOT / "functions" / function), path=path, query=query)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_a_function_that_never_reads_elasticsearch_never_imports_it(catalogue: dict):
    genes = first_answer("genes", "/v1/genes", "prefix=tp")
    assert genes["status"] == 200 and "elasticsearch" not in genes["modules"] and "boto3" not in genes["modules"]
    search = first_answer("search", "/v1/search", "limit=1")
    assert search["status"] == 200 and "elasticsearch" in search["modules"], "the detector must see an import"


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
