"""GET /v1/genes (docs/contract.md, "Gene lookup"): autocomplete over every symbol of the catalogue, in either role.

Served from perturb_seq_genes (built at load time, one row per stored symbol): a case-insensitive prefix is two range
scans of it, one on the stored symbols and one on the approved symbols of the genes they belong to (so `SEPTIN`
also completes to a dataset's `SEPT2`). Each entry is a stored symbol with the gene it belongs to (Ensembl ID and
approved symbol, null when unplaced). Order: an exact (case-insensitive) match of the
symbol or its approved symbol first, then by the number of datasets where the symbol has significant rows (in the
asked role, or in either), then by symbol in byte order.

Two statements, one round trip as a rule (docs/decisions.md, "Gene lookup"): most prefixes are rare, and a rare one
is answered by a short statement that reads its range once and says whether it was common after all; a common one is
then answered by the walk in rank order, and remembered by this process so that its next lookup goes to the walk
directly. What the process remembers only ever costs or saves a round trip: both statements give every prefix the
same answer.
"""
from __future__ import annotations

from collections import OrderedDict
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
KNOWN = 1024  # common prefixes (lower case) a process remembers, the least recently found forgotten first
_known_common: OrderedDict[str, None] = OrderedDict()

COLUMNS = ("gene_name, ensembl_gene_id, approved_symbol, perturbation_n_datasets, perturbation_n_significant_datasets, "
           "phenotype_n_datasets, phenotype_n_significant_datasets, n_significant_datasets")
ENTRY = ("g.gene_name, g.ensembl_gene_id, g.approved_symbol, g.perturbation_n_datasets, "
         "g.perturbation_n_significant_datasets, g.phenotype_n_datasets, g.phenotype_n_significant_datasets")
EXACT_FIRST = "(lower(g.gene_name) = lower($1) OR lower(g.approved_symbol) = lower($1)) IS TRUE DESC"


def _prefix(column: str) -> str:
    return f'starts_with(lower({column}) COLLATE "C", lower($1))'


# The prefix's two ranges, disjoint: by stored symbol, and by approved symbol only (its stored symbol not in the first)
NAMED = _prefix("gene_name")
APPROVED_ONLY = f"{_prefix('approved_symbol')} AND NOT {NAMED}"


def _order(params: GenesParameters) -> tuple[str, str]:
    """(the role's condition on an entry `g`, the rank order after the exact matches)."""
    role = f"AND g.{params.role}_n_datasets IS NOT NULL" if params.role else ""
    return role, f'g.{RANK[params.role]} DESC, g.gene_name COLLATE "C"'


def build_rare(params: GenesParameters) -> tuple[str, list[Any]]:
    """The lookup of a prefix believed rare: its range read once, at most COMMON + 1 symbols by stored symbol and as
    many more by approved symbol only, and sorted. The first row says whether a range held more than COMMON
    (`common`: such a row sorts first; then `build`'s statement answers); each row whether it is in the asked role
    (`in_role`: those that are come next and are the answer). The role is not a condition here, so that a common
    range whose first symbols are all of the other role is still seen to be common."""
    role, order = _order(params)
    in_role = role.removeprefix("AND ") or "true"
    return f"""
SELECT g.n > {COMMON} AS common, {in_role} AS in_role, {ENTRY} FROM (
  (SELECT row_number() OVER () AS n, {COLUMNS} FROM perturb_seq_genes WHERE {NAMED} LIMIT {COMMON + 1})
  UNION ALL
  (SELECT row_number() OVER () AS n, {COLUMNS} FROM perturb_seq_genes WHERE {APPROVED_ONLY} LIMIT {COMMON + 1})) g
ORDER BY common DESC, in_role DESC, {EXACT_FIRST}, {order}
LIMIT $2""", [params.prefix, params.limit]


def build(params: GenesParameters) -> tuple[str, list[Any]]:
    """The lookup of any prefix, one statement of disjoint parts (no de-duplication): a rare prefix sorts its range,
    read once (at most COMMON symbols by stored symbol and COMMON more by approved symbol only); a common one walks the
    symbols in rank order (an index per role) and keeps its first `limit` matches, with every exact match added;
    should the walk's WALK entries hold fewer matches than `limit`, the whole range is sorted after all."""
    role, order = _order(params)
    exact = 'lower(gene_name) COLLATE "C" = lower($1) OR lower(approved_symbol) COLLATE "C" = lower($1)'
    return f"""
WITH named AS (SELECT {COLUMNS} FROM perturb_seq_genes WHERE {NAMED} LIMIT {COMMON + 1}),
approved AS (SELECT {COLUMNS} FROM perturb_seq_genes WHERE {APPROVED_ONLY} LIMIT {COMMON + 1}),
common AS (SELECT (SELECT count(*) FROM named) > {COMMON} OR (SELECT count(*) FROM approved) > {COMMON} AS yes),
walk AS (
  SELECT g.* FROM (SELECT {COLUMNS} FROM perturb_seq_genes g WHERE (SELECT yes FROM common) {role}
                   ORDER BY {order} LIMIT {WALK}) g
  WHERE {_prefix("g.gene_name")} OR {_prefix("g.approved_symbol")}
  ORDER BY {order} LIMIT $2),
walked AS (SELECT (SELECT yes FROM common) AND (SELECT count(*) FROM walk) >= $2 AS yes)
SELECT {ENTRY}
FROM (
  SELECT * FROM named WHERE NOT (SELECT yes FROM common)
  UNION ALL SELECT * FROM approved WHERE NOT (SELECT yes FROM common)
  UNION ALL SELECT * FROM walk WHERE (SELECT yes FROM walked)
  UNION ALL SELECT {COLUMNS} FROM perturb_seq_genes
    WHERE (SELECT yes FROM walked) AND ({exact}) AND gene_name NOT IN (SELECT gene_name FROM walk)
  UNION ALL SELECT {COLUMNS} FROM perturb_seq_genes
    WHERE {NAMED} AND (SELECT yes FROM common) AND NOT (SELECT yes FROM walked)
  UNION ALL SELECT {COLUMNS} FROM perturb_seq_genes
    WHERE {APPROVED_ONLY} AND (SELECT yes FROM common) AND NOT (SELECT yes FROM walked)) g
WHERE true {role}
ORDER BY {EXACT_FIRST}, {order}
LIMIT $2""", [params.prefix, params.limit]


def _role(n_datasets: int | None, n_significant: int | None) -> dict[str, int] | None:
    return None if n_datasets is None else {"n_datasets": n_datasets, "n_significant_datasets": n_significant or 0}


def _remember(prefix: str) -> None:
    _known_common[prefix] = None
    _known_common.move_to_end(prefix)
    while len(_known_common) > KNOWN:
        _known_common.popitem(last=False)


async def entries(params: GenesParameters) -> list[Any]:
    """The answer's rows: by `build_rare`'s statement unless the prefix is known common, by `build`'s if it is or
    turns out to be (then remembered)."""
    prefix = params.prefix.lower()
    if prefix not in _known_common:
        sql, args = build_rare(params)
        rows = await stores().fetch(sql, *args)
        if not rows or not rows[0]["common"]:
            return [r for r in rows if r["in_role"]]
    _remember(prefix)
    sql, args = build(params)
    return await stores().fetch(sql, *args)


async def genes(params: GenesParameters) -> bytes:
    return to_json({"genes": [
        {"gene_name": r["gene_name"], "ensembl_gene_id": r["ensembl_gene_id"], "approved_symbol": r["approved_symbol"],
         "perturbation": _role(r["perturbation_n_datasets"], r["perturbation_n_significant_datasets"]),
         "phenotype": _role(r["phenotype_n_datasets"], r["phenotype_n_significant_datasets"])}
        for r in await entries(params)]})


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/genes", operation_id="genes", tags=["genes"], summary="Gene-symbol autocomplete",
            responses=schemas.responses(Genes))
async def get_genes(request: Request, params: Annotated[GenesParameters, Query()]) -> Any:
    return answer(request, await genes(params))
