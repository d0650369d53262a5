"""devtools/local/serve.py over HTTP: the same answers as the handler in-process, routes from template.yaml,
concurrency, CORS as API Gateway answers it, and paging links and conditional requests end to end."""
from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from urllib.parse import parse_qs, urlsplit

import pytest

import tests.support
from devtools.local import serve
from devtools.local.lambda_runtime import load_function
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


@pytest.mark.slow
@pytest.mark.parametrize("query", QUERIES)
def test_http_answer_equals_the_handler_in_process(server: str, query: str):
    expected = invoke(load_function("search"), event(query))
    status, content_type, payload = get(f"{server}/v1/search?{query}")
    assert (status, content_type) == (200, "application/json") == (expected["statusCode"],
                                                                    expected["headers"]["content-type"])
    assert payload == json.loads(tests.support.payload(expected))


@pytest.mark.slow
def test_invalid_parameter_answers_400(server: str):
    status, _, payload = get(f"{server}/v1/search?colour=red&effect_direction=up")
    assert status == 400 and payload["error"]["code"] == "invalid_parameter"
    assert [d["parameter"] for d in payload["error"]["details"]] == ["colour", "effect_direction"]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/v1/nothing-here", "/search", "/"])
def test_unrouted_path_answers_404_with_the_error_body(server: str, path: str):
    status, content_type, payload = get(server + path)
    assert (status, content_type) == (404, "application/json")
    assert payload["error"]["code"] == "not_found" and payload["error"]["message"]


@pytest.mark.slow
def test_concurrent_requests_get_the_sequential_answers(server: str):
    urls = [f"{server}/v1/search?{q}" for q in QUERIES[:4]] * 2
    sequential = [get(url) for url in urls]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(get, urls))
    assert concurrent == sequential
    assert all(status == 200 for status, _, _ in concurrent) and any(payload for _, _, payload in concurrent)


ORIGIN = "https://app.example.org"


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:  # urllib raises for every status but 2xx, 304 included
        return error.code, error.headers, error.read()


def names(value: str | None) -> set[str]:
    return {name.strip().lower() for name in (value or "").split(",") if name.strip()}


@pytest.mark.parametrize("path", ["/v1/summary", "/v1/datasets?limit=2", "/v1/genes?prefix=tp"])
def test_head_answers_the_gets_headers_and_length_without_a_body(server: str, path: str):
    """`curl -I`: the GET's status and Content-Length (not 0, RFC 9110 8.6), no body. Not /v1/health: its body
    carries timings, so two answers differ in length."""
    status, headers, body = fetch(server + path, "HEAD")
    got_status, got_headers, got_body = fetch(server + path)
    assert (status, body) == (got_status, b"") and got_body
    assert headers["content-length"] == got_headers["content-length"] == str(len(got_body))
    assert headers["content-type"] == got_headers["content-type"]


@pytest.mark.unit
def test_cors_configuration_is_read_from_the_template():
    cors = serve.cors_from_template()
    assert cors.allow_origins == ("*",)  # the CorsAllowOrigins parameter's default, through !Split
    assert {"link", "etag"} <= {h.lower() for h in cors.expose_headers}
    assert "if-none-match" in {h.lower() for h in cors.allow_headers}
    assert cors.max_age == 3600


@pytest.mark.slow
@pytest.mark.parametrize("path", ["/v1/genes?prefix=tp", "/v1/datasets?colour=red"])
def test_a_request_with_origin_gets_the_cors_headers(server: str, path: str):
    status, headers, _ = fetch(server + path, headers={"Origin": ORIGIN})
    assert status in (200, 400)
    assert headers["access-control-allow-origin"] == serve.cors_from_template().allowed_origin(ORIGIN) == "*"
    assert {"link", "etag"} <= names(headers["access-control-expose-headers"])
    assert headers["access-control-allow-methods"] is None  # preflight only


@pytest.mark.slow
def test_a_request_without_origin_gets_no_cors_headers(server: str):
    status, headers, _ = fetch(f"{server}/v1/genes?prefix=tp")
    assert status == 200
    assert not [name for name in headers if name.lower().startswith("access-control-")]


@pytest.mark.slow
def test_a_preflight_is_answered_204_without_a_function(server: str):
    status, headers, body = fetch(f"{server}/v1/datasets?limit=2", "OPTIONS", {
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == "*"
    assert "get" in names(headers["access-control-allow-methods"])
    assert "if-none-match" in names(headers["access-control-allow-headers"])
    assert headers["access-control-max-age"] == "3600"
    assert headers["content-length"] is None


@pytest.mark.slow
def test_the_link_header_leads_to_the_next_page(server: str):
    status, headers, body = fetch(f"{server}/v1/datasets?limit=2")
    first = json.loads(body)
    assert status == 200 and len(first["datasets"]) == 2 and first["next_cursor"]
    found = re.fullmatch(r'<([^>]+)>; rel="next"', headers["link"])
    assert found, headers["link"]
    url = found[1]
    assert url.startswith(f"{server}/v1/datasets?")  # the local server's own address, as API Gateway's in AWS
    assert parse_qs(urlsplit(url).query) == {"limit": ["2"], "cursor": [first["next_cursor"]]}
    status, _, body = fetch(url)
    second = json.loads(body)
    assert status == 200 and len(second["datasets"]) == 2 and second["total"] == first["total"]
    ids = [entry["dataset"]["dataset_id"] for entry in first["datasets"] + second["datasets"]]
    assert ids == sorted(ids) and len(set(ids)) == 4, "the next page continues in dataset_id order"
    _, _, body = fetch(f"{server}/v1/datasets?limit=4")
    assert [entry["dataset"]["dataset_id"] for entry in json.loads(body)["datasets"]] == ids


@pytest.mark.slow
def test_if_none_match_with_the_etag_answers_304_without_a_body(server: str):
    status, headers, body = fetch(f"{server}/v1/datasets?limit=2")
    etag = headers["etag"]
    assert status == 200 and re.fullmatch(r'"[^"]+"', etag) and body
    # On one keep-alive connection: a 304 with a body or a wrong length would corrupt the next answer.
    connection = http.client.HTTPConnection(urlsplit(server).netloc, timeout=30)
    try:
        connection.request("GET", "/v1/datasets?limit=2", headers={"If-None-Match": etag})
        response = connection.getresponse()
        assert (response.status, response.read()) == (304, b"")
        assert response.headers["etag"] == etag and response.headers["content-length"] is None
        connection.request("GET", "/v1/datasets?limit=2", headers={"If-None-Match": '"something-else"'})
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, body)
    finally:
        connection.close()
