"""GET /v1/datasets (docs/contract.md, "Dataset browsing"): browse and filter datasets, with multi-select facet counts
and keyset pages.

One Elasticsearch request answers hits, total and every facet's counts together: the text is the query, the facet
filters are a post_filter (so they narrow the hits but not the aggregations), and each facet's aggregation applies
every other facet's filter. Pages follow by `search_after` on (score, dataset_id), never by offset. Then one
PostgreSQL round trip reads the page's statistics.
"""
from __future__ import annotations

from typing import Annotated, Any

from catalogue_common.vocabulary import LABELS
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request

from .. import cursors, documents, generations, schemas
from ..answers import answer, to_json
from ..clients import stores
from ..objects import dataset, statistics
from ..parameters import DECIMAL, Cursor, QueryModel, StrictRoute, Text, Texts

STATISTICS_SQL = f"""
SELECT s.dataset_id, s.n_rows, s.n_significant_rows, s.n_perturbations, s.n_phenotypes, s.ingested_at, {generations.SQL}
FROM (SELECT 1) one LEFT JOIN perturb_seq_dataset_statistics s ON s.dataset_id = ANY($1::text[])"""


def facet() -> Any:
    return Field(default_factory=list, description="Exact label, case-sensitive; repeat to accept several (ORed).")


class DatasetsParameters(QueryModel):
    dataset_metadata: Text | None = Field(
        None, description="Free text over the eight dataset fields, as in /v1/search.")
    tissue: Texts = facet()
    cell_type: Texts = facet()
    cell_line: Texts = facet()
    sex: Texts = facet()
    developmental_stage: Texts = facet()
    disease: Texts = facet()
    library_perturbation_type: Texts = facet()
    limit: Annotated[int, Field(ge=1, le=100), DECIMAL] = 20
    cursor: Cursor | None = None

    @property
    def filters(self) -> documents.Filters:
        return {facet: getattr(self, facet) for facet in LABELS}

    @property
    def scope(self) -> list[Any]:
        """What a cursor is bound to: this endpoint, the text and the facet filters (in a canonical form)."""
        return ["datasets", self.dataset_metadata, {f: sorted(set(v)) for f, v in self.filters.items() if v}]


class DatasetEntry(schemas.Shape):
    dataset: schemas.Dataset
    statistics: schemas.Statistics


class DatasetsPage(schemas.Shape):
    total: int = Field(ge=0, description="Every dataset matching all filters.")
    datasets: list[DatasetEntry]
    facets: schemas.Facets
    next_cursor: str | None


def request_body(params: DatasetsParameters) -> dict[str, Any]:
    body: dict[str, Any] = {
        "query": documents.text_query(params.dataset_metadata),
        "post_filter": {"bool": {"filter": documents.facet_filters(params.filters)}},
        "aggs": documents.facet_aggregations(params.filters),
        "sort": [{"_score": "desc"}, {"dataset_id.keyword": "asc"}],
        "size": params.limit + 1,  # one more tells whether there is a next page
        "_source": documents.FIELDS,
        "track_total_hits": True,
    }
    if params.cursor:
        body["search_after"] = cursors.read(params.cursor, params.scope)
    return body


async def found_and_figures(params: DatasetsParameters, index: str | None = None) -> tuple[dict[str, Any], list[Any]]:
    """Elasticsearch's page (hits, total, facets), then PostgreSQL's figures of its datasets."""
    found = await stores().search(index, **request_body(params))
    ids = [h["_source"]["dataset_id"] for h in found["hits"]["hits"][:params.limit]]
    return found, await stores().fetch(STATISTICS_SQL, ids) if ids else []


async def datasets(params: DatasetsParameters) -> tuple[bytes, str | None]:
    found, records = await found_and_figures(params)
    if records and generations.stale(generations.seen(found["hits"]["hits"]), records[0]["generation"]):
        found, records = await found_and_figures(params, records[0]["generation"])  # a reload between the two
    hits = found["hits"]["hits"]
    page, more = hits[:params.limit], len(hits) > params.limit
    figures = {r["dataset_id"]: r for r in records if r["dataset_id"] is not None}
    next_cursor = cursors.make(params.scope, page[-1]["sort"]) if more else None
    return to_json({
        "total": found["hits"]["total"]["value"],
        "datasets": [{"dataset": dataset(h["_source"]),
                      "statistics": statistics(figures.get(h["_source"]["dataset_id"]))} for h in page],
        "facets": documents.facets(found["aggregations"]),
        "next_cursor": next_cursor,
    }), next_cursor


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/datasets", operation_id="datasets", tags=["datasets"], summary="Browse and filter datasets",
            responses=schemas.responses(DatasetsPage, paged=True))
async def get_datasets(request: Request, params: Annotated[DatasetsParameters, Query()]) -> Any:
    body, next_cursor = await datasets(params)
    return answer(request, body, next_cursor=next_cursor)
