"""Gene resolution (docs/contract.md, "Genes"): a request's gene term read as the gene it names, and that gene's
spellings, the stored symbols that belong to it. One piece of SQL for every endpoint that takes a gene: it becomes
a CTE of the endpoint's one query (index lookups on load-time relations, no extra round trip), and the endpoint's
filter is then "the stored symbol is one of the spellings" (`= ANY(...)`, on the same indexes as an exact symbol), or,
where a page is read in padj order, one LATERAL range per spelling (`Terms.each`: an index range ordered by padj per
spelling, merged, instead of a sort of every row of every spelling).

A term is read, first rule first:
1. a stored symbol, exactly: the gene it belongs to (so `SEPT2` also finds `SEPTIN2`), or itself when unplaced;
2. stored symbols equal to it in any case: the genes they belong to (and those unplaced, themselves);
3. an Ensembl gene ID the reference knows (any case, version ignored);
4. an approved symbol of the reference (any case);
5. a previous symbol or alias (any case) of exactly one gene; of several, the term is ambiguous;
6. otherwise no gene: a filter matches nothing.
Placement (which gene a stored symbol belongs to) was decided when the symbol was loaded:
perturb_seq_genes, maintained by the ingestion.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from catalogue_common.genes import key_sql
from catalogue_common.sql import Params

from .errors import AmbiguousGene

TERM = """
  WITH hits AS (
    SELECT 1 AS step, p.gene_name AS symbol, p.gene_id FROM perturb_seq_genes p WHERE p.gene_name = {t}
    UNION ALL
    SELECT 2, p.gene_name, p.gene_id FROM perturb_seq_genes p
    WHERE (lower(p.gene_name) COLLATE "C") = lower({t})
    UNION ALL
    SELECT CASE n.kind WHEN 'ensembl' THEN 3 WHEN 'approved' THEN 4 ELSE 5 END, NULL, n.gene_id
    FROM gene_reference_names n WHERE n.name = {key}),
  chosen AS (SELECT * FROM hits WHERE step = (SELECT min(step) FROM hits)),
  genes AS (SELECT DISTINCT gene_id FROM chosen WHERE gene_id IS NOT NULL),
  ambiguous AS (SELECT (SELECT min(step) FROM chosen) >= 3 AND (SELECT count(*) FROM genes) > 1 AS yes)
  SELECT (SELECT min(step) FROM chosen) AS step,
         (SELECT array_agg(gene_id ORDER BY gene_id) FROM genes) AS gene_ids,
         CASE WHEN NOT (SELECT yes FROM ambiguous) THEN ARRAY(SELECT s FROM (
           SELECT p.gene_name FROM perturb_seq_genes p WHERE p.gene_id IN (SELECT gene_id FROM genes)
           UNION SELECT symbol FROM chosen WHERE symbol IS NOT NULL AND gene_id IS NULL) u(s)
           ORDER BY s COLLATE "C") END AS spellings,
         (SELECT array_agg(symbol ORDER BY symbol COLLATE "C") FROM chosen
          WHERE symbol IS NOT NULL AND gene_id IS NULL) AS unplaced,
         CASE WHEN (SELECT yes FROM ambiguous) THEN (
           SELECT jsonb_agg(jsonb_build_object('approved_symbol', r.approved_symbol,
                                               'ensembl_gene_id', r.ensembl_gene_id) ORDER BY r.approved_symbol)
           FROM gene_reference r WHERE r.gene_id IN (SELECT gene_id FROM genes)) END AS candidates"""


@dataclass(frozen=True)
class Terms:
    """The resolution CTEs of a query's gene parameters (parameter name -> its term)."""
    terms: dict[str, str]
    params: Params

    def cte(self, parameter: str) -> str:
        return f"term_{parameter}"

    def ctes(self) -> dict[str, str]:
        """The CTEs, to put first in the query's WITH clause."""
        out = {}
        for parameter, term in self.terms.items():
            t = self.params(term) + "::text"
            out[self.cte(parameter)] = TERM.format(t=t, key=key_sql(t))
        return out

    def spellings(self, parameter: str) -> str:
        """SQL of the spellings of a parameter's gene (a text[]; NULL when the term is ambiguous)."""
        return f"(SELECT spellings FROM {self.cte(parameter)})::text[]"  # an array, not a subquery, for ANY()

    def each(self, parameter: str, alias: str) -> str:
        """A FROM item of the spellings of a parameter's gene, one row each (`alias.symbol`; none when ambiguous):
        for a LATERAL page per spelling, where one ordered index range per spelling replaces `= ANY(...)`'s sort."""
        return f"unnest({self.spellings(parameter)}) {alias}(symbol)"

    def head(self) -> str:
        """SQL of a JSON object naming each ambiguous parameter's candidates ({} when none is)."""
        pairs = ", ".join(f"'{p}', (SELECT candidates FROM {self.cte(p)})" for p in self.terms)
        return f"jsonb_strip_nulls(jsonb_build_object({pairs}))" if pairs else "'{}'::jsonb"


def check(head: Any, terms: dict[str, str]) -> None:
    """AmbiguousGene when a term names several genes (the query's head says which, with their candidates)."""
    found = json.loads(head) if isinstance(head, str) else head or {}
    if not found:
        return
    details = [{"parameter": parameter, "term": terms[parameter], **candidate}
               for parameter, candidates in found.items() for candidate in candidates]
    first, candidates = next(iter(found.items()))
    names = ", ".join(c["approved_symbol"] for c in candidates)
    raise AmbiguousGene(f"{terms[first]!r} ({first}) is a previous symbol or alias of several genes ({names}): ask "
                        "for one of them by its approved symbol or Ensembl gene ID.", details)
