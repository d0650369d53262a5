"""The conventions every function shares (answers.py): Cache-Control, a strong ETag per representation and 304,
Link, gzip negotiation with Vary, HEAD, Content-Disposition on files, answer_too_large, errors never cached."""
from __future__ import annotations

import base64
import json
import zlib

import pytest
from catalogue.answers import accepts_gzip, matches, oversize
from catalogue_common.settings import settings

from tests.api import error, get, head

ROUTES = ["/v1/search?perturbation_gene_name=TP53", "/v1/datasets?tissue=blood", "/v1/datasets/datlinger_2017",
          "/v1/datasets/datlinger_2017/rows?limit=3", "/v1/datasets/datlinger_2017/rows?limit=3&format=tsv",
          "/v1/genes?prefix=tp", "/v1/summary", "/v1/openapi.json", "/v1/search?limit=2", "/v1/search",
          "/v1/genes/SEPT2/rows?limit=3", "/v1/genes/SEPT2/rows?limit=20&format=tsv&role=phenotype"]
GZIP = {"accept-encoding": "gzip, deflate, br"}


@pytest.mark.parametrize("url", ROUTES)
def test_etag_cache_control_and_304(catalogue, url: str):
    path, _, query = url.partition("?")
    first, again = get(path, query), get(path, query)
    assert first.status == 200 and first.headers["cache-control"] == "public, max-age=300"
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and again.headers["etag"] == tag, "strong and stable"
    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        not_modified = get(path, query, headers={"if-none-match": header})
        assert not_modified.status == 304 and not_modified.text == "" and not_modified.headers["etag"] == tag
    assert get(path, query, headers={"if-none-match": '"something-else"'}).status == 200


def test_different_answers_have_different_etags(catalogue):
    assert get("/v1/genes", "prefix=tp").headers["etag"] != get("/v1/genes", "prefix=my").headers["etag"]


def test_errors_are_not_cached(catalogue):
    answer = get("/v1/datasets/no_such_dataset")
    error(answer, 404, "not_found")
    assert answer.headers["cache-control"] == "no-store" and "etag" not in answer.headers


def test_link_header_points_at_the_next_page_with_the_stage_kept(catalogue):
    from devtools.local.lambda_events import http_api_event
    from devtools.local.lambda_runtime import LambdaContext, load_function
    event = http_api_event("GET", "/v1/datasets", "tissue=blood&limit=2", stage="dev", route_key="GET /v1/datasets")
    response = load_function("datasets").handler(event, LambdaContext())
    link = response["headers"]["link"]
    assert link.startswith("<https://") and "/dev/v1/datasets?tissue=blood&limit=2&cursor=" in link
    assert link.endswith('>; rel="next"')


@pytest.mark.unit
def test_if_none_match_comparison():
    assert matches('"a"', '"a"') and matches('W/"a"', '"a"') and matches('"b", "a"', '"a"') and matches("*", '"a"')
    assert not matches(None, '"a"') and not matches('"ab"', '"a"') and not matches("", '"a"')


@pytest.mark.parametrize("url", [*ROUTES, "/v1/health", "/v1/datasets/no_such_dataset", "/v1/genes?prefix="])
def test_head_answers_the_gets_status_and_headers_without_a_body(catalogue, url: str):
    path, _, query = url.partition("?")
    for headers in (None, GZIP):
        got, headed = get(path, query, headers), head(path, query, headers)
        assert headed.status == got.status and headed.text == ""
        same = {k: v for k, v in got.headers.items() if k != "content-length"}
        assert {k: v for k, v in headed.headers.items() if k != "content-length"} == same


@pytest.mark.parametrize("url", ROUTES)
def test_gzip_when_accepted_with_its_own_etag_and_vary(catalogue, url: str):
    path, _, query = url.partition("?")
    plain, packed = get(path, query), get(path, query, GZIP)
    assert packed.text == plain.text, "the gzip body decompresses to the identity body"
    if len(plain.text.encode()) <= 1024:
        assert "content-encoding" not in packed.headers and "vary" not in packed.headers
        assert packed.headers["etag"] == plain.headers["etag"]
        return
    assert packed.headers["content-encoding"] == "gzip" and "content-encoding" not in plain.headers
    assert packed.headers["vary"] == plain.headers["vary"] == "Accept-Encoding"
    assert packed.headers["etag"] != plain.headers["etag"]
    # If-None-Match is compared with the ETag of the representation that would be sent.
    assert get(path, query, {**GZIP, "if-none-match": packed.headers["etag"]}).status == 304
    assert get(path, query, {**GZIP, "if-none-match": plain.headers["etag"]}).status == 200
    assert get(path, query, {"if-none-match": plain.headers["etag"]}).status == 304
    assert get(path, query, {"if-none-match": packed.headers["etag"]}).status == 200


def test_the_gzip_body_is_a_real_gzip_stream(catalogue):
    from devtools.local.lambda_events import http_api_event
    from devtools.local.lambda_runtime import LambdaContext, load_function
    response = load_function("search").handler(http_api_event("GET", "/v1/search", "", GZIP), LambdaContext())
    assert response["isBase64Encoded"] is True
    raw = base64.b64decode(response["body"])
    assert raw[:2] == b"\x1f\x8b" and json.loads(zlib.decompress(raw, 31))


@pytest.mark.unit
@pytest.mark.parametrize(("header", "allowed"), [
    ("gzip", True), ("GZIP", True), ("x-gzip", True), ("br, gzip;q=0.5", True), ("*", True), (" gzip ; q=1 ", True),
    ("gzip;q=0", False), ("gzip;q=0.000", False), ("*;q=0", False), ("*, gzip;q=0", False), ("identity", False),
    ("deflate, br", False), ("", False), (None, False), ("gzip;q=abc", False), ("gzipped", False)])
def test_accept_encoding_is_read_with_its_q_values(header: str | None, allowed: bool):
    assert accepts_gzip(header) is allowed


@pytest.mark.unit
def test_oversize_counts_the_answer_as_it_travels():
    limit = 10_000
    assert oversize(b"x" * 1000, False, limit) is None
    quoted = b'"' * 4000 + b"\\" * 1000  # every byte gains a backslash inside the response's JSON string
    assert oversize(quoted, False, limit) == 2 * 5000 + 2
    assert oversize(b"a\tb" * 2000, False, limit) == 6000 + 5 * 2000 + 2  # control characters: up to \u0009
    assert oversize(b"x" * 7500, True, limit) is None  # base64: 10,000 characters, at the limit
    assert oversize(b"x" * 7501, True, limit) == 10_004
    text = "\u00e9".encode() * 3000  # runtime json.dumps escapes non-ASCII: 6 characters each
    assert oversize(text, False, limit) == 6 * 3000 + 2


def test_an_answer_over_max_answer_bytes_is_refused_saying_how_to_ask_for_less(catalogue, monkeypatch):
    whole = get("/v1/search", "", GZIP)
    assert whole.status == 200 and len(whole.text) > 8192
    monkeypatch.setenv("MAX_ANSWER_BYTES", "4096")
    settings.cache_clear()
    plain = error(get("/v1/search"), 400, "answer_too_large")
    assert "limit" in plain["message"] and "gzip" in plain["message"]
    assert plain["details"]["limit"] == 4096 and plain["details"]["bytes"] > 4096
    packed = error(get("/v1/search", "", GZIP), 400, "answer_too_large")
    assert "limit" in packed["message"] and "gzip" not in packed["message"]
    paged = get("/v1/search", "limit=1", GZIP)
    assert paged.status == 200 and len(json.loads(paged.text)) == 1, "a page of one dataset fits"


def test_a_tsv_answer_is_a_named_attachment(catalogue):
    answer = get("/v1/datasets/datlinger_2017/rows", "limit=3&format=tsv")
    assert answer.headers["content-disposition"] == 'attachment; filename="datlinger_2017.rows.tsv"'
    assert "content-disposition" not in get("/v1/datasets/datlinger_2017/rows", "limit=3").headers


@pytest.mark.unit
def test_a_large_answer_compressed_again_is_the_one_held_and_the_held_ones_stay_bounded(monkeypatch):
    """The held encoding is keyed by the identity body's validator: an unchanged body gets the very bytes compressed
    before, a changed one is compressed anew (never a stale answer), and the bytes held stay under the bound."""
    from catalogue import answers
    held = answers.Encoded()
    monkeypatch.setattr(held, "MIN_BYTES", 10)
    monkeypatch.setattr(held, "MAX_HELD", 3_000)
    bodies = [json.dumps([{"n": i, "x": list(range(i, i + 400))}]).encode() for i in range(6)]
    first = held(bodies[0], answers.etag(bodies[0]))
    assert held(bodies[0], answers.etag(bodies[0])) is first and zlib.decompress(first, 31) == bodies[0]
    for body in bodies[1:]:
        assert zlib.decompress(held(body, answers.etag(body)), 31) == body
    assert sum(map(len, held.held.values())) <= 3_000 and answers.etag(bodies[0]) not in held.held
    small = b"[1, 2]"
    monkeypatch.setattr(held, "MIN_BYTES", 1_000)
    assert zlib.decompress(held(small, answers.etag(small)), 31) == small and answers.etag(small) not in held.held
