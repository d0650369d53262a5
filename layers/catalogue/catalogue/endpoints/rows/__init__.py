"""GET /v1/datasets/{dataset_id}/rows (docs/contract.md, "Dataset rows"): every row of one dataset, filtered, in
keyset pages, JSON or TSV.

The dataset's document (Elasticsearch) and the page (PostgreSQL, one round trip) are read at once. A cursor holds
the last row's (padj, perturbation, phenotype) and is bound to the dataset and the filters.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request

from ... import cursors, documents, generations, resolution, schemas
from ...answers import TSV, answer, to_json
from ...clients import stores, together
from ...objects import dataset
from ...parameters import DECIMAL, Cursor, DatasetId, GeneFilters, StrictRoute
from . import query, response

NARROWER = "ask for fewer rows per page with `limit`"


class RowsParameters(GeneFilters):
    limit: Annotated[int, Field(ge=1, le=1000), DECIMAL] = 100
    cursor: Cursor | None = None
    format: Literal["json", "tsv"] = "json"

    def scope(self, dataset_id: str) -> list[Any]:
        """What a cursor is bound to: this endpoint, the dataset and the filters (not limit or format)."""
        return ["rows", dataset_id, self.perturbation_gene_name, self.phenotype_gene_name, self.direction,
                *self.thresholds]

    def rows(self, dataset_id: str) -> query.Rows:
        after = _key(cursors.read(self.cursor, self.scope(dataset_id))) if self.cursor else None
        return query.Rows(dataset_id, self.perturbation_gene_name, self.phenotype_gene_name, self.direction,
                          self.max_padj, self.min_abs_log2fc, self.limit, after)


def _key(values: list[Any]) -> query.Key:
    # padj travels as text: JSON has no NaN, and NaN and NULL are different places in the order.
    padj, perturbation, phenotype = values
    return query.Key(None if padj is None else float(padj), perturbation, phenotype)


def _cursor(params: RowsParameters, dataset_id: str, last: Any) -> str:
    padj = None if last["padj"] is None else repr(last["padj"])
    return cursors.make(params.scope(dataset_id), [padj, last["perturbed_target_symbol"], last["gene"]])


class RowChange(schemas.Change):
    base_mean: schemas.Number = Field(description="The row's own basemean.")


class Row(schemas.Shape):
    perturbation: schemas.Perturbation
    change: RowChange
    phenotype: schemas.Phenotype


class RowsPage(schemas.Shape):
    dataset: schemas.Dataset
    total: int | None = Field(ge=0, description="Qualifying rows when known without counting (no row filter).")
    rows: list[Row]
    next_cursor: str | None


async def page(dataset_id: str, params: RowsParameters) -> tuple[bytes, str | None]:
    rows = params.rows(dataset_id)
    sql, args = query.build(rows)
    hit, records = await together(documents.one(dataset_id), stores().fetch(sql, *args))
    resolution.check(records[0]["resolution"], rows.genes)
    if generations.stale(hit["_index"], records[0]["generation"]):  # a reload between the two: PostgreSQL's
        hit = await documents.one(dataset_id, records[0]["generation"])
    document = hit["_source"]
    found = [r for r in records if r["part"] is not None]
    found, more = found[:params.limit], len(found) > params.limit  # the query reads one row more than a page
    next_cursor = _cursor(params, dataset_id, found[-1]) if more else None
    if params.format == "tsv":
        return response.tsv(found), next_cursor
    total = None if rows.filtered else (records[0]["total"] or 0)
    return to_json({"dataset": dataset(document), "total": total, "rows": [response.row(r) for r in found],
                    "next_cursor": next_cursor}), next_cursor


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/datasets/{dataset_id}/rows", operation_id="dataset_rows", tags=["datasets"],
            summary="Every row of one dataset, filtered, in pages",
            responses=schemas.responses(RowsPage, paged=True, media={
                "application/json": {"schema": {"$ref": "#/components/schemas/RowsPage"}},
                TSV: {"schema": {"type": "string"}}}))
async def get_rows(request: Request, dataset_id: DatasetId, params: Annotated[RowsParameters, Query()]) -> Any:
    body, next_cursor = await page(dataset_id, params)
    if params.format == "tsv":
        return answer(request, body, TSV, next_cursor, filename=f"{dataset_id}.rows.tsv", narrower=NARROWER)
    return answer(request, body, next_cursor=next_cursor, narrower=NARROWER)

