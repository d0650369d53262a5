"""GET /v1/genes/{gene} (docs/contract.md, "One gene"): one gene across the catalogue, whatever its name.

The term is resolved as every gene parameter is (resolution.py), inside the one PostgreSQL query, which also reads
the gene's reference entry and, for each of its spellings, every dataset where it occurs in each role with its
summary counts (perturb_seq_gene_datasets, then the summaries' keys). One Elasticsearch request then gives those
datasets' documents, unless the function remembers them all (remembered.py); a dataset without one is left out, as
everywhere.

A term that names no stored symbol and no reference gene is 404. One that names several reference genes (an alias
shared by them, or stored case variants placed in different genes) is 400 ambiguous_gene with the candidates;
stored symbols the reference cannot place add themselves to the spellings of the one gene.
"""
from __future__ import annotations

import json
from typing import Annotated, Any

from catalogue_common.objects import finite
from catalogue_common.sql import Params, with_items
from fastapi import APIRouter, Path
from pydantic import Field
from starlette.requests import Request

from .. import documents, generations, schemas
from ..answers import answer, to_json
from ..clients import stores
from ..errors import AmbiguousGene, NotFound
from ..objects import dataset
from ..parameters import GENE_NAME, StrictRoute
from ..resolution import Terms

GeneTerm = Annotated[str, Path(**GENE_NAME, description="A symbol, previous symbol, alias or Ensembl gene ID, "
                                                         "in any case.")]
# What the_gene reads of a term's resolution CTE `t`: the step that read it, its spellings, its candidates when it
# names several genes, and the reference entries of the genes it names. Shared with /v1/genes/{gene}/rows.
HEAD = """t.step, t.spellings, t.candidates,
       (SELECT jsonb_agg(jsonb_build_object('approved_symbol', g.approved_symbol, 'ensembl_gene_id', g.ensembl_gene_id,
                                            'previous_symbols', g.previous_symbols, 'aliases', g.aliases)
                         ORDER BY g.approved_symbol COLLATE "C")
        FROM gene_reference g WHERE g.gene_id = ANY(t.gene_ids)) AS genes"""
# Each entry reads the summary of its own role only (a LATERAL whose role test gates the lookup: as a join condition
# the planner probed both summaries for every entry), and the head is computed once, not once per entry.
SQL = """
WITH {terms},
head AS MATERIALIZED (SELECT {head}, {generation} FROM term_gene t),
entries AS (
  SELECT d.role, d.dataset_id, d.gene_name, coalesce(s.n_total, 0) AS n_total, coalesce(s.n_up, 0) AS n_up,
         coalesce(s.n_down, 0) AS n_down, s.base_mean
  FROM perturb_seq_gene_datasets d
  LEFT JOIN LATERAL (
    SELECT p.n_total, p.n_up, p.n_down, NULL::double precision AS base_mean
    FROM perturb_seq_summary_perturbation p
    WHERE d.role = 'perturbation' AND p.dataset_id = d.dataset_id AND p.perturbed_target_symbol = d.gene_name
    UNION ALL
    SELECT e.n_total, e.n_up, e.n_down, e.base_mean
    FROM perturb_seq_summary_effect e
    WHERE d.role = 'phenotype' AND e.dataset_id = d.dataset_id AND e.gene = d.gene_name) s ON true
  WHERE d.gene_name = ANY({spellings}))
SELECT h.*, e.*
FROM head h
LEFT JOIN entries e ON true
ORDER BY e.role, e.n_total DESC, e.dataset_id COLLATE "C", e.gene_name COLLATE "C"
"""


class GeneInfo(schemas.Shape):
    ensembl_gene_id: str | None
    approved_symbol: str | None
    previous_symbols: list[str]
    aliases: list[str]
    spellings: list[str] = Field(description="The stored symbols that belong to the gene, in byte order.")


class AsPerturbation(schemas.Counts):
    dataset: schemas.Dataset
    perturbation_gene_name: str


class AsPhenotype(schemas.Counts):
    dataset: schemas.Dataset
    phenotype_gene_name: str
    base_mean: schemas.Number


class GeneAcross(schemas.Shape):
    gene: GeneInfo
    as_perturbation: list[AsPerturbation]
    as_phenotype: list[AsPhenotype]


def build(term: str) -> tuple[str, list[Any]]:
    terms = Terms({"gene": term}, Params())
    ctes = with_items(terms.ctes())
    return (SQL.format(terms=ctes, spellings=terms.spellings("gene"), head=HEAD, generation=generations.SQL),
            terms.params.values)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def the_gene(term: str, head: Any) -> dict[str, Any]:
    """The one gene the term names, or 404 / 400 ambiguous_gene."""
    if head["step"] is None:
        raise NotFound(f"There is no gene {term} in the catalogue or its gene reference.")
    genes = _json(head["genes"]) or []
    candidates = _json(head["candidates"]) or ([{k: g[k] for k in ("approved_symbol", "ensembl_gene_id")}
                                                for g in genes] if len(genes) > 1 else None)
    if candidates:
        names = ", ".join(c["approved_symbol"] for c in candidates)
        raise AmbiguousGene(f"{term!r} names several genes ({names}): ask for one of them by its approved symbol or "
                            "Ensembl gene ID.", [{"parameter": "gene", "term": term, **c} for c in candidates])
    gene = genes[0] if genes else {"approved_symbol": None, "ensembl_gene_id": None, "previous_symbols": [],
                                   "aliases": []}
    return {"ensembl_gene_id": gene["ensembl_gene_id"], "approved_symbol": gene["approved_symbol"],
            "previous_symbols": gene["previous_symbols"], "aliases": gene["aliases"],
            "spellings": list(head["spellings"] or [])}


def entry(record: Any, dataset_object: dict[str, Any]) -> dict[str, Any]:
    counts = {"n_total": record["n_total"], "n_up": record["n_up"], "n_down": record["n_down"]}
    if record["role"] == "perturbation":
        return {"dataset": dataset_object, "perturbation_gene_name": record["gene_name"], **counts}
    return {"dataset": dataset_object, "phenotype_gene_name": record["gene_name"],
            "base_mean": finite(record["base_mean"]), **counts}


async def across(term: str) -> bytes:
    sql, args = build(term)
    records = await stores().fetch(sql, *args)
    gene = the_gene(term, records[0])
    found = [r for r in records if r["role"] is not None]
    # Each dataset's object made once, however many of the gene's entries it has (TOP2A: 504 entries, 188 datasets).
    objects = {d["dataset_id"]: dataset(d) for d in await documents.of_catalogue(
        sorted({r["dataset_id"] for r in found}), records[0]["generation"], records[0]["written"])}
    roles: dict[str, list[dict[str, Any]]] = {"perturbation": [], "phenotype": []}
    for r in found:
        if r["dataset_id"] in objects:
            roles[r["role"]].append(entry(r, objects[r["dataset_id"]]))
    return to_json({"gene": gene, "as_perturbation": roles["perturbation"], "as_phenotype": roles["phenotype"]})


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/genes/{gene}", operation_id="gene", tags=["genes"],
            summary="One gene across the catalogue: its names, and every dataset where one of its spellings occurs",
            responses=schemas.responses(GeneAcross))
async def get_gene(request: Request, gene: GeneTerm) -> Any:
    return answer(request, await across(gene), narrower="ask about one gene with its approved symbol")
