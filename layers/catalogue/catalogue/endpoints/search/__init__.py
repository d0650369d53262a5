"""GET /v1/search (SPEC 3): one Elasticsearch search for the datasets, one PostgreSQL query for the rest."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ... import documents, schemas
from ...answers import answer, to_json
from ...clients import stores
from ...parameters import GeneFilters, StrictRoute, Text
from . import query
from .response import search_results

PAGE = 10_000  # Elasticsearch's default result window; larger catalogues page with search_after


class SearchParameters(GeneFilters):
    dataset_metadata: Text | None = Field(
        None, description="Free text over the eight dataset fields: plain words, ANDed, case-insensitive.")
    group_by: Literal["perturbation_gene_name", "phenotype_gene_name", "effect_gene_name"] = Field(
        "perturbation_gene_name", description="`effect_gene_name` is a synonym of `phenotype_gene_name`.")

    def search(self, dataset_ids: list[str]) -> query.Search:
        group_by = "perturbation" if self.group_by == "perturbation_gene_name" else "phenotype"
        return query.Search(dataset_ids, group_by, self.perturbation_gene_name, self.phenotype_gene_name,
                            self.direction)


class PhenotypeChange(schemas.Shape):
    change: schemas.Change
    phenotype: schemas.Phenotype


class PerturbationChange(schemas.Shape):
    perturbation: schemas.Perturbation
    change: schemas.Change


class PerturbationGroup(schemas.Shape):
    perturbation: schemas.Perturbation
    change_phenotype: list[PhenotypeChange] = Field(min_length=1, max_length=query.ROWS_PER_GROUP)


class PhenotypeGroup(schemas.Shape):
    phenotype: schemas.Phenotype
    perturbation_change: list[PerturbationChange] = Field(min_length=1, max_length=query.ROWS_PER_GROUP)


class ByPerturbation(schemas.Shape):
    dataset: schemas.Dataset
    by_perturbation: list[PerturbationGroup] = Field(min_length=1, max_length=query.GROUPS_PER_DATASET)


class ByPhenotype(schemas.Shape):
    dataset: schemas.Dataset
    by_phenotype: list[PhenotypeGroup] = Field(min_length=1, max_length=query.GROUPS_PER_DATASET)


async def datasets(text: str | None) -> list[dict]:
    """Dataset documents in output order: by relevance when searching text, else by dataset_id; ties by id."""
    documents_: list[dict] = []
    after: list | None = None
    while True:
        page = await stores().search(
            query=documents.text_query(text), size=PAGE, source=documents.FIELDS, track_total_hits=False,
            sort=[{"_score": "desc"}, {"dataset_id.keyword": "asc"}], **({"search_after": after} if after else {}))
        hits = page["hits"]["hits"]
        documents_ += [hit["_source"] for hit in hits]
        if len(hits) < PAGE:
            return documents_
        after = hits[-1]["sort"]


async def prepare(params: SearchParameters) -> tuple[list[dict], query.Search]:
    """Finds the datasets (the one Elasticsearch search) and describes the PostgreSQL query."""
    found = await datasets(params.dataset_metadata)
    return found, params.search([d["dataset_id"] for d in found])


async def search(params: SearchParameters) -> bytes:
    found, request = await prepare(params)
    if not found:
        return b"[]"
    sql, args = query.build(request)
    records = await stores().fetch(sql, *args)
    return to_json(search_results(request.group_by, found, records))


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/search", response_class=Response, operation_id="search", tags=["search"],
            summary="Datasets, perturbations and phenotypes matching the filters (SPEC 3)",
            responses=schemas.responses(list[ByPerturbation | ByPhenotype]))
async def get_search(request: Request, params: Annotated[SearchParameters, Query()]) -> Any:
    return answer(request, await search(params))
