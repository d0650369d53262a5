"""docs/api.md's generated part is what `make docs` writes from the OpenAPI document the API serves today."""
from __future__ import annotations

from devtools.docs import api


def test_generated_part_is_current() -> None:
    assert api.current(api.TARGET.read_text()) == api.generated(), (
        "docs/api.md's generated part is stale: run `make docs` and commit it")


def test_generated_part_covers_every_route() -> None:
    from catalogue.endpoints.openapi import document
    part = api.generated()
    for path, operations in document()["paths"].items():
        if "get" in operations:
            assert f"### `GET {path}`" in part


def test_citations_become_links() -> None:
    """The code cites the contract by specification section or by heading; both become links into it."""
    assert api.summary_of("/x", {"summary": "Browse (SPEC 5.2)"}) == (
        "Browse", "[contract: Dataset browsing](contract.md#dataset-browsing)")
    assert api.summary_of("/x", {"summary": 'Browse (docs/contract.md, "Gene lookup")'}) == (
        "Browse", "[contract: Gene lookup](contract.md#gene-lookup)")
    assert api.summary_of("/v1/health", {"summary": "Store status"})[1] == "[contract: Health](contract.md#health)"
