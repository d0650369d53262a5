"""GET /v1/summary (SPEC 5.6): the catalogue at a glance, for a landing page.

Figures come from the load-time relation perturb_seq_catalogue_statistics (one row); the dataset count and the
facets from one Elasticsearch request (no hits, aggregations only). Both calls run at once.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request

from .. import documents, schemas
from ..answers import answer, to_json
from ..clients import stores, together
from ..objects import timestamp
from ..parameters import StrictRoute

SQL = """SELECT n_rows, n_significant_rows, n_perturbations, n_phenotypes, ingested_at
FROM perturb_seq_catalogue_statistics"""


class Summary(schemas.Shape):
    datasets: int = Field(ge=0, description="Datasets with a metadata document.")
    rows: int = Field(ge=0)
    significant_rows: int = Field(ge=0)
    perturbations: int = Field(ge=0, description="Distinct perturbed gene symbols.")
    phenotypes: int = Field(ge=0, description="Distinct measured gene symbols.")
    ingested_at: str | None
    facets: schemas.Facets


async def summary() -> bytes:
    found, records = await together(
        stores().search(query={"match_all": {}}, size=0, track_total_hits=True,
                        aggs=documents.facet_aggregations({})),
        stores().fetch(SQL))
    figures = records[0] if records else None
    return to_json({
        "datasets": found["hits"]["total"]["value"],
        "rows": figures["n_rows"] if figures else 0,
        "significant_rows": figures["n_significant_rows"] if figures else 0,
        "perturbations": figures["n_perturbations"] if figures else 0,
        "phenotypes": figures["n_phenotypes"] if figures else 0,
        "ingested_at": timestamp(figures["ingested_at"]) if figures else None,
        "facets": documents.facets(found["aggregations"]),
    })


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/summary", operation_id="summary", tags=["catalogue"], summary="The catalogue at a glance (SPEC 5.6)",
            responses=schemas.responses(Summary))
async def get_summary(request: Request) -> Any:
    return answer(request, await summary())
