"""GET /v1/summary (docs/contract.md, "Catalogue summary"): the catalogue at a glance, for a landing page.

Figures come from the load-time relation perturb_seq_catalogue_statistics (one row); the dataset count and the
facets from one Elasticsearch request (no hits, aggregations only). Both calls run at once.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request

from .. import documents, generations, schemas
from ..answers import answer, to_json
from ..clients import stores, together
from ..objects import timestamp
from ..parameters import StrictRoute

SQL = f"""SELECT s.n_rows, s.n_significant_rows, s.n_perturbations, s.n_phenotypes, s.ingested_at,
       r.source AS reference_source, r.date AS reference_date, r.genes AS reference_genes, {generations.SQL}
FROM (SELECT 1) one
LEFT JOIN perturb_seq_catalogue_statistics s ON true
LEFT JOIN gene_reference_source r ON true"""


class GeneReference(schemas.Shape):
    source: str = Field(description="What the gene reference is (e.g. HGNC's complete set, or org.Hs.eg.db).")
    date: str = Field(description="Its date, as its source gives it.")
    genes: int = Field(ge=0)


class Summary(schemas.Shape):
    datasets: int = Field(ge=0, description="Datasets with a metadata document.")
    rows: int = Field(ge=0)
    significant_rows: int = Field(ge=0)
    perturbations: int = Field(ge=0, description="Distinct perturbed gene symbols.")
    phenotypes: int = Field(ge=0, description="Distinct measured gene symbols.")
    ingested_at: str | None
    facets: schemas.Facets
    gene_reference: GeneReference | None = Field(description="The gene reference names are resolved with; null "
                                                             "when none is loaded.")


def everything(index: str | None = None) -> Any:
    """Every document counted, with the facets; one hit (no source) says which generation answered."""
    return stores().search(index, query={"match_all": {}}, size=1, _source=False, track_total_hits=True,
                           aggs=documents.facet_aggregations({}))


async def summary() -> bytes:
    found, records = await together(everything(), stores().fetch(SQL))
    if generations.stale(generations.seen(found["hits"]["hits"]), records[0]["generation"]):
        found = await everything(records[0]["generation"])  # a reload between the two: PostgreSQL's
    figures = records[0] if records and records[0]["n_rows"] is not None else None
    reference = records[0] if records and records[0]["reference_source"] is not None else None
    return to_json({
        "datasets": found["hits"]["total"]["value"],
        "rows": figures["n_rows"] if figures else 0,
        "significant_rows": figures["n_significant_rows"] if figures else 0,
        "perturbations": figures["n_perturbations"] if figures else 0,
        "phenotypes": figures["n_phenotypes"] if figures else 0,
        "ingested_at": timestamp(figures["ingested_at"]) if figures else None,
        "facets": documents.facets(found["aggregations"]),
        "gene_reference": {"source": reference["reference_source"], "date": reference["reference_date"],
                           "genes": reference["reference_genes"]} if reference else None,
    })


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/summary", operation_id="summary", tags=["catalogue"], summary="The catalogue at a glance",
            responses=schemas.responses(Summary))
async def get_summary(request: Request) -> Any:
    return answer(request, await summary())
