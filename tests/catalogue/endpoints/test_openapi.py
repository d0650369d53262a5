"""GET /v1/openapi.json (docs/contract.md, "OpenAPI document"): one OpenAPI 3.1 document for every route, generated from
the declarations the functions validate with. (Every answer the suite receives is validated against it:
tests/api.py.)"""
from __future__ import annotations

import pytest

from tests.api import ROUTES, document, get

pytestmark = pytest.mark.unit


def test_every_route_of_every_function_and_nothing_else():
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {r.path for r in ROUTES}
    assert all(set(p) == {"get", "head"} for p in doc["paths"].values())
    for item in doc["paths"].values():  # HEAD: the GET's parameters and statuses, no bodies
        assert item["head"]["parameters"] == item["get"]["parameters"] if "parameters" in item["get"] else True
        assert set(item["head"]["responses"]) == set(item["get"]["responses"])
        assert not any("content" in r for r in item["head"]["responses"].values())


def test_parameters_carry_types_bounds_enumerations_and_repeatability():
    doc = document()

    def parameter(path: str, name: str) -> dict:
        [p] = [p for p in doc["paths"][path]["get"].get("parameters", []) if p["name"] == name]
        return p
    limit = parameter("/v1/datasets", "limit")["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == ("integer", 1, 100, 20)
    tissue = parameter("/v1/datasets", "tissue")["schema"]
    assert tissue["type"] == "array" and tissue["items"]["maxLength"] == 200 and tissue["maxItems"] == 50
    assert parameter("/v1/search", "group_by")["schema"]["enum"] == [
        "perturbation_gene_name", "phenotype_gene_name", "effect_gene_name"]
    assert parameter("/v1/genes", "prefix")["required"] is True
    padj = parameter("/v1/datasets/{dataset_id}/rows", "max_padj")["schema"]
    assert (padj["type"], padj["minimum"], padj["maximum"]) == ("number", 0, 1)
    assert parameter("/v1/datasets/{dataset_id}", "dataset_id")["in"] == "path"
    assert not doc["paths"]["/v1/summary"]["get"].get("parameters")


def test_error_bodies_are_documented_and_fastapis_422_is_not():
    doc = document()
    for path, item in doc["paths"].items():
        responses = item["get"]["responses"]
        assert "422" not in responses, path
        assert "400" in responses and "500" in responses, path
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"][0] == "invalid_parameter"


def test_the_document_is_cached_like_any_answer():
    first = get("/v1/openapi.json")
    assert first.headers["cache-control"].startswith("public, max-age=")
    assert get("/v1/openapi.json", headers={"if-none-match": first.headers["etag"]}).status == 304
