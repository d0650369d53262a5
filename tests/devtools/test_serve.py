"""devtools/serve.py over HTTP: the same answers as the handler in-process, routes from template.yaml, concurrency."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import serve
from lambda_runtime import load_function

from tests.functions.test_search_function import event, invoke

QUERIES = ["", "group_by=phenotype_gene_name", "effect_direction=decreased", "phenotype_gene_name=GAPDH",
           "perturbation_gene_name=TP53&group_by=effect_gene_name", "dataset_metadata=blood%20knockdown",
           "phenotype_gene_name=NO_SUCH_GENE"]


@pytest.fixture(scope="module")
def server(catalogue: dict) -> Iterator[str]:
    """The local server on a free port, reading the test catalogue (its workers inherit PS_DB and ES_INDEX)."""
    with serve.background() as (url, log):
        assert any(line.startswith("GET /v1/search") for line in log), "routes are read from template.yaml"
        yield url


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
