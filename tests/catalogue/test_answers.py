"""SPEC 5.1 conventions every function shares: Cache-Control, strong ETag and 304, Link, errors never cached."""
from __future__ import annotations

import pytest
from catalogue.answers import matches

from tests.api import error, get

ROUTES = ["/v1/search?perturbation_gene_name=TP53", "/v1/datasets?tissue=blood", "/v1/datasets/datlinger_2017",
          "/v1/datasets/datlinger_2017/rows?limit=3", "/v1/datasets/datlinger_2017/rows?limit=3&format=tsv",
          "/v1/genes?prefix=tp", "/v1/summary", "/v1/openapi.json"]


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


def test_if_none_match_comparison():
    assert matches('"a"', '"a"') and matches('W/"a"', '"a"') and matches('"b", "a"', '"a"') and matches("*", '"a"')
    assert not matches(None, '"a"') and not matches('"ab"', '"a"') and not matches("", '"a"')
