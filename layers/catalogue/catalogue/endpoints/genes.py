"""GET /v1/genes (docs/contract.md, "Gene lookup"): autocomplete over every symbol of the catalogue, in either role.

Served from perturb_seq_genes (built at load time, one row per stored symbol): a case-insensitive prefix is two range
scans of it, one on the stored symbols and one on the approved symbols of the genes they belong to (so `SEPTIN`
also completes to a dataset's `SEPT2`). Each entry is a stored symbol with the gene it belongs to (Ensembl ID and
approved symbol, null when unplaced). Order: an exact (case-insensitive) match of the
symbol or its approved symbol first, then by the number of datasets where the symbol has significant rows (in the
asked role, or in either), then by symbol in byte order.
"""
from __future__ import annotations

from typing import Annotated, Any

from catalogue_common.vocabulary import Role
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request

from .. import schemas
from ..answers import answer, to_json
from ..clients import stores
from ..parameters import DECIMAL, VISIBLE, QueryModel, StrictRoute

RANK: dict[Role | None, str] = {None: "n_significant_datasets",
                                "perturbation": "perturbation_n_significant_datasets",
                                "phenotype": "phenotype_n_significant_datasets"}


class GenesParameters(QueryModel):
    prefix: Annotated[str, Field(min_length=1, max_length=50, pattern=VISIBLE,
                                 description="The start of a gene symbol, any case.")]
    role: Role | None = Field(
        None, description="Only symbols that occur in this role (absent: either).")
    limit: Annotated[int, Field(ge=1, le=50), DECIMAL] = 10


class RoleFigures(schemas.Shape):
    n_datasets: int = Field(ge=1, description="Datasets where the gene occurs in this role.")
    n_significant_datasets: int = Field(ge=0, description="Datasets where it has significant rows in this role.")


class Gene(schemas.Shape):
    gene_name: str = Field(description="A symbol as datasets store it.")
    ensembl_gene_id: str | None = Field(description="The Ensembl gene ID of the gene it belongs to, if placed.")
    approved_symbol: str | None = Field(description="That gene's approved symbol, if placed.")
    perturbation: RoleFigures | None
    phenotype: RoleFigures | None


class Genes(schemas.Shape):
    genes: list[Gene]


# A prefix whose range holds more symbols than this is common: its answer is the first matches of a walk in rank order
# (bounded by WALK) instead of a sort of the whole range. Both bounds keep a lookup's cost independent of how many
# symbols the catalogue holds (docs/decisions.md, "Gene lookup").
COMMON = 1000
WALK = 5000  # entries of the rank order a common prefix's walk reads at most; fewer matches: the range is sorted


def _prefix(column: str) -> str:
    return f'starts_with(lower({column}) COLLATE "C", lower($1))'


def build(params: GenesParameters) -> tuple[str, list[Any]]:
    """The lookup, one statement: a rare prefix sorts its range (at most COMMON symbols per index); a common one walks
    the symbols in rank order (an index per role) and keeps its first `limit` matches, with every exact match
    added; should the walk's WALK entries hold fewer matches than `limit`, the range is sorted after all."""
    rank = RANK[params.role]
    role = f"AND g.{params.role}_n_datasets IS NOT NULL" if params.role else ""
    order = f'g.{rank} DESC, g.gene_name COLLATE "C"'
    bounded = " OR ".join(f"(SELECT count(*) FROM (SELECT FROM perturb_seq_genes WHERE {_prefix(c)} "
                          f"LIMIT {COMMON + 1}) x) > {COMMON}" for c in ("gene_name", "approved_symbol"))
    return f"""
WITH common AS (SELECT {bounded} AS yes),
walk AS (
  SELECT g.* FROM (SELECT g.* FROM perturb_seq_genes g WHERE (SELECT yes FROM common) {role}
                   ORDER BY {order} LIMIT {WALK}) g
  WHERE {_prefix("g.gene_name")} OR {_prefix("g.approved_symbol")}
  ORDER BY {order} LIMIT $2),
ranged AS (
  SELECT * FROM perturb_seq_genes
  WHERE {_prefix("gene_name")} AND (NOT (SELECT yes FROM common) OR (SELECT count(*) FROM walk) < $2)
  UNION
  SELECT * FROM perturb_seq_genes
  WHERE {_prefix("approved_symbol")} AND (NOT (SELECT yes FROM common) OR (SELECT count(*) FROM walk) < $2)),
exact AS (
  SELECT * FROM perturb_seq_genes WHERE (SELECT yes FROM common) AND lower(gene_name) COLLATE "C" = lower($1)
  UNION
  SELECT * FROM perturb_seq_genes
  WHERE (SELECT yes FROM common) AND lower(approved_symbol) COLLATE "C" = lower($1))
SELECT g.gene_name, g.ensembl_gene_id, g.approved_symbol, g.perturbation_n_datasets,
       g.perturbation_n_significant_datasets, g.phenotype_n_datasets, g.phenotype_n_significant_datasets
FROM (SELECT * FROM walk UNION SELECT * FROM ranged UNION SELECT * FROM exact) g
WHERE true {role}
ORDER BY (lower(g.gene_name) = lower($1) OR lower(g.approved_symbol) = lower($1)) IS TRUE DESC,
         {order}
LIMIT $2""", [params.prefix, params.limit]


def _role(n_datasets: int | None, n_significant: int | None) -> dict[str, int] | None:
    return None if n_datasets is None else {"n_datasets": n_datasets, "n_significant_datasets": n_significant or 0}


async def genes(params: GenesParameters) -> bytes:
    sql, args = build(params)
    return to_json({"genes": [
        {"gene_name": r["gene_name"], "ensembl_gene_id": r["ensembl_gene_id"], "approved_symbol": r["approved_symbol"],
         "perturbation": _role(r["perturbation_n_datasets"], r["perturbation_n_significant_datasets"]),
         "phenotype": _role(r["phenotype_n_datasets"], r["phenotype_n_significant_datasets"])}
        for r in await stores().fetch(sql, *args)]})


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/genes", operation_id="genes", tags=["genes"], summary="Gene-symbol autocomplete",
            responses=schemas.responses(Genes))
async def get_genes(request: Request, params: Annotated[GenesParameters, Query()]) -> Any:
    return answer(request, await genes(params))
