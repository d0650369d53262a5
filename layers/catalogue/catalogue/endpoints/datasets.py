"""GET /v1/datasets (SPEC 5.2): browse and filter datasets, with multi-select facet counts and keyset pages.

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

from .. import cursors, documents, schemas
from ..answers import answer, to_json
from ..clients import stores
from ..objects import dataset, statistics
from ..parameters import Cursor, QueryModel, StrictRoute, Text, bounded, repeatable

STATISTICS_SQL = """
SELECT dataset_id, n_rows, n_significant_rows, n_perturbations, n_phenotypes, ingested_at
FROM perturb_seq_dataset_statistics WHERE dataset_id = ANY($1::text[])"""


def facet() -> Any:
    return Field(default_factory=list, description="Exact label, case-sensitive; repeat to accept several (ORed).")


class DatasetsParameters(QueryModel):
    dataset_metadata: Text | None = Field(
        None, description="Free text over the eight dataset fields, as in /v1/search.")
    tissue: repeatable(Text) = facet()
    cell_type: repeatable(Text) = facet()
    cell_line: repeatable(Text) = facet()
    sex: repeatable(Text) = facet()
    developmental_stage: repeatable(Text) = facet()
    disease: repeatable(Text) = facet()
    library_perturbation_type: repeatable(Text) = facet()
    limit: bounded(1, 100) = 20
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
        "source": documents.FIELDS,
        "track_total_hits": True,
    }
    if params.cursor:
        body["search_after"] = cursors.read(params.cursor, params.scope)
    return body


async def datasets(params: DatasetsParameters) -> tuple[bytes, str | None]:
    found = await stores().search(**request_body(params))
    hits = found["hits"]["hits"]
    page, more = hits[:params.limit], len(hits) > params.limit
    figures = {r["dataset_id"]: r for r in await stores().fetch(
        STATISTICS_SQL, [h["_source"]["dataset_id"] for h in page])} if page else {}
    next_cursor = cursors.make(params.scope, page[-1]["sort"]) if more else None
    return to_json({
        "total": found["hits"]["total"]["value"],
        "datasets": [{"dataset": dataset(h["_source"]),
                      "statistics": statistics(figures.get(h["_source"]["dataset_id"]))} for h in page],
        "facets": documents.facets(found["aggregations"]),
        "next_cursor": next_cursor,
    }), next_cursor


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/datasets", operation_id="datasets", tags=["datasets"], summary="Browse and filter datasets (SPEC 5.2)",
            responses=schemas.responses(DatasetsPage, paged=True))
async def get_datasets(request: Request, params: Annotated[DatasetsParameters, Query()]) -> Any:
    body, next_cursor = await datasets(params)
    return answer(request, body, next_cursor=next_cursor)
