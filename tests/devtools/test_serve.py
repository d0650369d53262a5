"""devtools/serve.py over HTTP: the same answers as the handler in-process, routes from template.yaml, concurrency."""
from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.functions.test_search_function import event, invoke
from tests.support import load_function

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ["", "group_by=phenotype_gene_name", "effect_direction=decreased", "phenotype_gene_name=GAPDH",
           "perturbation_gene_name=TP53&group_by=effect_gene_name", "dataset_metadata=blood%20knockdown",
           "phenotype_gene_name=NO_SUCH_GENE"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(catalogue: dict) -> Iterator[str]:
    """The local server on a free port, reading the test catalogue (its workers inherit PS_DB and ES_INDEX)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "devtools/serve.py", "--port", str(port), "--environments", "2"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # Drain stderr for the server's life (it logs every request); the test waits for the line that says it serves.
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr] + [lines.put("")],
                     daemon=True).start()
    seen = []
    while not (line := lines.get(timeout=120)).startswith("Serving on") and line:
        seen.append(line)
    assert line, f"serve.py exited before serving:\n{''.join(seen)}"
    assert any(line.startswith("GET /v1/search") for line in seen), "routes are read from template.yaml"
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    assert process.wait(timeout=30) == 0


def get(url: str) -> tuple[int, str, object]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["content-type"], json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers["content-type"], json.loads(error.read())


@pytest.mark.parametrize("query", QUERIES)
def test_http_answer_equals_the_handler_in_process(server: str, query: str):
    expected = invoke(load_function("search"), event(query))
    status, content_type, payload = get(f"{server}/v1/search?{query}")
    assert (status, content_type) == (200, "application/json") == (expected["statusCode"],
                                                                    expected["headers"]["content-type"])
    assert payload == json.loads(expected["body"])


def test_invalid_parameter_answers_400(server: str):
    status, _, payload = get(f"{server}/v1/search?colour=red&effect_direction=up")
    assert status == 400 and payload["error"]["code"] == "invalid_parameter"
    assert [d["parameter"] for d in payload["error"]["details"]] == ["colour", "effect_direction"]


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/search", "/"])
def test_unrouted_path_answers_404_with_the_error_body(server: str, path: str):
    status, content_type, payload = get(server + path)
    assert (status, content_type) == (404, "application/json")
    assert payload["error"]["code"] == "not_found" and payload["error"]["message"]


def test_concurrent_requests_get_the_sequential_answers(server: str):
    urls = [f"{server}/v1/search?{q}" for q in QUERIES[:4]] * 2
    sequential = [get(url) for url in urls]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(get, urls))
    assert concurrent == sequential
    assert all(status == 200 for status, _, _ in concurrent) and any(payload for _, _, payload in concurrent)
