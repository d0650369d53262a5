"""The one PostgreSQL query of a /v1/genes/{gene}/rows page (docs/contract.md, "Rows of a gene"): one gene's rows
across the catalogue, keyset paging in padj order.

Order: padj as for a dataset's rows (numbers, then NaN, then NULL), then dataset_id, then the other gene, then the
gene's own spelling, names in byte order. (dataset, perturbation, phenotype) identifies a row, so the order is total;
the spelling only orders two spellings of the gene in one dataset against the same other gene (SEPT2 and SEPTIN2).

The gene's spellings come from its resolution (resolution.py), inside the query. Each spelling's rows are one range of
an index that leads with the symbol (gene_rows_indexes.sql: symbol, padj, dataset_id, other gene): a LATERAL per
spelling reads from the cursor's key on, in index order, and stops after one page; the spellings' pages (a handful)
are merged and cut to one page. So a page deep inside a tie at padj = 1 starts at its key as page 1 starts at the
beginning, and costs what page 1 costs. As for a dataset's rows (rows/query.py), a btree range cannot say "padj after
p, or NULL", so each spelling's page is two ordered parts under one Append, run in order: rows with a padj from the
key on, then rows without. With the other gene given, the LATERAL is per pair of spellings. Then each row's two genes
get their summary counts, as a dataset's rows do.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalogue_common.sql import Params, conjunction, with_items
from catalogue_common.vocabulary import COLUMN, Direction, Role, direction_sql, max_padj_sql, min_abs_log2fc_sql, other

from ... import generations
from ...resolution import Terms
from ..gene import HEAD
from ..rows.query import GENE_COLUMNS, gene_joins


@dataclass(frozen=True)
class Key:
    """A row's place in the order: where the next page starts after it."""
    padj: float | None
    dataset_id: str
    other: str  # the other gene's stored symbol
    own: str  # the gene's own spelling


@dataclass(frozen=True)
class GeneRows:
    """One page's request: the gene term in `role`, the other gene's term, the row filters, the page."""
    gene: str
    role: Role = "perturbation"
    other: str | None = None
    direction: Direction | None = None
    max_padj: float | None = None
    min_abs_log2fc: float | None = None
    limit: int = 100
    after: Key | None = None

    @property
    def other_parameter(self) -> str:
        """The parameter that names the other gene: the other role's."""
        return f"{other(self.role)}_gene_name"

    @property
    def genes(self) -> dict[str, str]:
        """The gene parameters given besides the path (parameter name -> term)."""
        return {self.other_parameter: self.other} if self.other is not None else {}

    @property
    def exhausted(self) -> bool:
        """After the NULLs with a max_padj (which NULL never passes): no row can follow."""
        return self.max_padj is not None and self.after is not None and self.after.padj is None

    @property
    def columns(self) -> tuple[str, str]:
        """perturb_seq's columns of the gene's own role and of the other gene."""
        return COLUMN[self.role], COLUMN[other(self.role)]


COLUMNS = "r.dataset_id, r.perturbed_target_symbol, r.gene, r.log2foldchange, r.padj, r.basemean"
# The page of an exhausted walk.
NOTHING = ("SELECT NULL::int AS part, NULL::text AS dataset_id, NULL::text AS perturbed_target_symbol, "
           "NULL::text AS gene, NULL::float8 AS log2foldchange, NULL::float8 AS padj, NULL::float8 AS basemean "
           "WHERE false")


def order(q: GeneRows, r: str = "r") -> str:
    """The order within one spelling (the index's): padj, dataset_id, the other gene."""
    return f'{r}.padj, {r}.dataset_id COLLATE "C", {r}.{q.columns[1]} COLLATE "C"'


def _filters(q: GeneRows, params: Params) -> list[str]:
    """The spelling `s` (and the other gene's spelling `o`), the direction and the fold-change threshold."""
    own, other_column = q.columns
    where = [f"r.{own} = s.symbol"]
    if q.other is not None:
        where.append(f"r.{other_column} = o.symbol")
    if q.direction is not None:
        where.append(direction_sql(q.direction, "r"))
    if q.min_abs_log2fc is not None:
        where.append(min_abs_log2fc_sql(params(q.min_abs_log2fc)))
    return where


def _after(q: GeneRows, after: Key, params: Params, with_padj: bool) -> list[str]:
    """Rows after the key, of spelling `s`: a range from the key (an index condition) less the key's own row when the
    spelling does not come after the key's (byte order)."""
    columns = ['r.dataset_id COLLATE "C"', f'r.{q.columns[1]} COLLATE "C"']
    key = [f"{params(after.dataset_id)}::text", f"{params(after.other)}::text"]
    if with_padj:
        columns, key = ["r.padj", *columns], [f"{params(after.padj)}::float8", *key]
    row, at = f"({', '.join(columns)})", f"({', '.join(key)})"
    return [f"{row} >= {at}", f'({row} > {at} OR s.symbol COLLATE "C" > {params(after.own)}::text)']


def _with_padj(q: GeneRows, params: Params, where: list[str], limit: str) -> str | None:
    """Rows that have a padj (NaN included: it sorts after every number), from the cursor on."""
    where = list(where)
    if q.after is None:
        where.append("r.padj IS NOT NULL")
    elif q.after.padj is None:
        return None  # the previous page ended among the NULLs: nothing with a padj is left
    else:
        where += _after(q, q.after, params, with_padj=True)
    if q.max_padj is not None:
        where.append(max_padj_sql(params(q.max_padj)))
    return f"SELECT 1 AS part, {COLUMNS} FROM perturb_seq r WHERE {conjunction(where, ' ')} " \
           f"ORDER BY {order(q)} LIMIT {limit}"


def _without_padj(q: GeneRows, params: Params, where: list[str], limit: str) -> str | None:
    """Rows whose padj is NULL, by dataset and other gene, from the cursor on; none pass a max_padj."""
    if q.max_padj is not None:
        return None
    where = [*where, "r.padj IS NULL"]
    if q.after is not None and q.after.padj is None:
        where += _after(q, q.after, params, with_padj=False)
    return f"SELECT 2 AS part, {COLUMNS} FROM perturb_seq r WHERE {conjunction(where, ' ')} " \
           f"ORDER BY {order(q)} LIMIT {limit}"


def _page(q: GeneRows, params: Params, gene: Terms, others: Terms, limit: str) -> str:
    """One page of rows: each spelling's (or pair of spellings') own page, merged and cut to one."""
    if q.exhausted:
        return f"{NOTHING} LIMIT {limit}"  # the limit's parameter is still used: every parameter has a type
    where = _filters(q, params)
    parts = [p for p in (_with_padj(q, params, where, limit), _without_padj(q, params, where, limit)) if p]
    union = "\n      UNION ALL\n      ".join(f"({p})" for p in parts)
    spellings = gene.each("gene", "s")
    if q.other is not None:
        spellings += f"\n  CROSS JOIN {others.each(q.other_parameter, 'o')}"
    return f"""
  SELECT r.* FROM {spellings}
  CROSS JOIN LATERAL (SELECT * FROM (
      {union}) r LIMIT {limit}) r
  ORDER BY r.part, {order(q)}, r.{q.columns[0]} COLLATE "C"
  LIMIT {limit}"""


def build(q: GeneRows) -> tuple[str, list[Any]]:
    """The term's resolution (HEAD: the step that read it, its spellings, candidates and reference entries) and the
    other gene's (`resolution`: its candidates when ambiguous) on every row, then one row per page row (in order, plus
    the first of the next page) with both genes' summary counts and Ensembl IDs; an empty page is one row whose
    `part` is NULL."""
    params = Params()
    limit = params(q.limit + 1)  # one more tells whether a next page exists
    gene, others = Terms({"gene": q.gene}, params), Terms(q.genes, params)
    resolving = with_items({**gene.ctes(), **others.ctes()})  # never empty: the gene's own term
    # The head is computed once (MATERIALIZED), not once per page row: it reads the gene reference.
    sql = f"""
WITH {resolving},
head AS MATERIALIZED (SELECT {HEAD}, {others.head()} AS resolution, {generations.SQL} FROM term_gene t),
page AS ({_page(q, params, gene, others, limit)})
SELECT h.*, r.part, {COLUMNS}, {GENE_COLUMNS}
FROM head h
LEFT JOIN page r ON true
{gene_joins("r.dataset_id")}
ORDER BY r.part, {order(q)}, r.{q.columns[0]} COLLATE "C"
"""
    return sql, params.values
