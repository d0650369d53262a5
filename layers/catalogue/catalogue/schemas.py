"""The shapes of answers, as pydantic models: the OpenAPI document's response schemas (docs/contract.md, "OpenAPI
document").

Answers are built as plain dicts and written with orjson (fast); these models only document them. The test suite
validates every answer it receives against the generated document, so a builder and its schema cannot drift.
Shared shapes live here; an endpoint's own envelope lives with the endpoint.
"""
from __future__ import annotations

from typing import Any

from catalogue_common.vocabulary import Direction
from pydantic import BaseModel, ConfigDict, Field

from .errors import ErrorCode

Number = float | None  # non-finite numbers are output as null (docs/contract.md, "Answers")


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dataset(Shape):
    dataset_id: str
    tissue: str | None
    cell_type: str | None
    cell_line: str | None
    sex: str | None
    developmental_stage: str | None
    disease: str | None
    library_perturbation_type: str | None


class Counts(Shape):
    n_total: int = Field(ge=0, description="Significant rows (padj <= 0.05) of this gene in its role.")
    n_up: int = Field(ge=0)
    n_down: int = Field(ge=0)


class Perturbation(Counts):
    perturbation_gene_name: str = Field(description="The symbol as the dataset stores it.")
    ensembl_gene_id: str | None = Field(description="The Ensembl gene ID of the gene the symbol belongs to (the gene "
                                                    "reference's placement); null when it cannot be placed.")


class Phenotype(Counts):
    phenotype_gene_name: str = Field(description="The symbol as the dataset stores it.")
    ensembl_gene_id: str | None = Field(description="As for a perturbation.")
    base_mean: Number = Field(description="Mean basemean of the gene's significant rows; null when it has none.")


class Change(Shape):
    direction: Direction | None
    log2fc: Number
    padj: Number


class Statistics(Shape):
    n_rows: int = Field(ge=0)
    n_significant_rows: int = Field(ge=0)
    n_perturbations: int = Field(ge=0)
    n_phenotypes: int = Field(ge=0)
    ingested_at: str | None = Field(description="When the dataset's newest row was loaded (ISO 8601).")


class FacetValue(Shape):
    value: str
    count: int = Field(ge=1)


class Facets(Shape):
    tissue: list[FacetValue]
    cell_type: list[FacetValue]
    cell_line: list[FacetValue]
    sex: list[FacetValue]
    developmental_stage: list[FacetValue]
    disease: list[FacetValue]
    library_perturbation_type: list[FacetValue]


class Problem(Shape):
    parameter: str
    problem: str


class Candidate(Shape):
    """A gene an ambiguous term may mean."""
    parameter: str
    term: str
    approved_symbol: str
    ensembl_gene_id: str | None


class Oversize(Shape):
    """Why an answer was refused as too large (answer_too_large, docs/contract.md "HTTP"): its size and the limit,
    both in bytes as the answer would travel in the platform's response (a gzip body base64-encoded, a text body as
    a JSON string)."""
    bytes: int
    limit: int  # MAX_ANSWER_BYTES


class ErrorDetail(Shape):
    code: ErrorCode
    message: str
    details: list[Problem] | list[Candidate] | Oversize | None = None


class Error(Shape):
    error: ErrorDetail


def page_headers(paged: bool, file: bool = False) -> dict[str, Any]:
    """Headers of a successful answer (conventions and HTTP), for the document."""
    headers: dict[str, Any] = {
        "ETag": {"description": "Strong validator of this representation (the gzip one has its own); send it as "
                                "If-None-Match to get a 304.", "schema": {"type": "string"}},
        "Cache-Control": {"schema": {"type": "string"}},
        "Vary": {"description": "`Accept-Encoding` on answers over 1 KB, which are gzip-encoded when it allows.",
                 "schema": {"type": "string"}},
        "Content-Encoding": {"description": "`gzip` when the answer is gzip-encoded.", "schema": {"type": "string"}}}
    if paged:
        headers["Link"] = {"description": 'The next page: `<url>; rel="next"` (absent on the last page).',
                           "schema": {"type": "string"}}
    if file:
        headers["Content-Disposition"] = {"description": 'A tab-separated answer: `attachment; filename="..."`.',
                                          "schema": {"type": "string"}}
    return headers


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "invalid_parameter: a parameter is unknown, repeated, empty, too long or "
                                         "invalid; `details` names each. ambiguous_gene: a gene term is a previous "
                                         "symbol or alias of several genes; `details` lists them. answer_too_large: "
                                         "the answer would not fit the platform's response; the message says how to "
                                         "ask for less, `details` gives its `bytes` and the `limit`."},
    404: {"model": Error, "description": "not_found: no such endpoint, or no such dataset or gene where the path "
                                         "names one."},
    500: {"model": Error, "description": "data_integrity or internal."},
    503: {"model": Error, "description": "store_unavailable: a store cannot be reached."},
    504: {"model": Error, "description": "store_timeout: a store did not answer in time."},
}


def responses(model: Any, paged: bool = False, media: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """The `responses` of a route: its 200 (with headers), 304 and every error of the error model."""
    ok: dict[str, Any] = {"model": model, "description": "OK", "headers": page_headers(paged, file=bool(media))}
    if media:
        ok["content"] = media
    return {200: ok, 304: {"description": "Not Modified: If-None-Match matched the ETag."}, **ERRORS}
