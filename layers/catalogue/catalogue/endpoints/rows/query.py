"""The one PostgreSQL query of a /v1/datasets/{id}/rows page (docs/contract.md, "Dataset rows"): keyset paging in padj
order.

Order: padj ascending in PostgreSQL's order (numbers, then NaN, then NULL), ties by perturbation then phenotype
gene in byte order; (dataset, perturbation, phenotype) identifies a row, so the order is total. A btree range
cannot say "padj after p, or NULL", so a page is two ordered parts under one Append: rows with a padj (a range
scan from the cursor's padj on an index ending in padj) and rows without (the same index's NULL entries). Each
part stops at the page size, and the Append, run in order (the API's connections disable parallel plans), starts
the NULL part only when the first runs out: a Merge Append would sort every NULL row of the dataset on every page.
With a gene filter, that page is read per spelling of the gene (a LATERAL per spelling, or pair of spellings with
both filters), each an ordered index range that stops at the page size, and the spellings' pages are merged: `= ANY`
over the spellings would read, and sort, every row of the gene in the dataset on every page (at 20 M rows, a
genome-wide dataset's perturbation has thousands). The final ORDER BY sorts one page. Then each row's two genes get
their summary counts from the views' unique keys.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalogue_common.sql import Params, with_items
from catalogue_common.vocabulary import Direction, direction_sql, max_padj_sql, min_abs_log2fc_sql

from ... import generations
from ...resolution import Terms


@dataclass(frozen=True)
class Key:
    """A row's place in the order: where the next page starts after it."""
    padj: float | None
    perturbation: str
    phenotype: str


@dataclass(frozen=True)
class Rows:
    dataset_id: str
    perturbation: str | None = None
    phenotype: str | None = None
    direction: Direction | None = None
    max_padj: float | None = None
    min_abs_log2fc: float | None = None
    limit: int = 100
    after: Key | None = None

    @property
    def exhausted(self) -> bool:
        """After the NULLs with a max_padj (which NULL never passes): no row can follow."""
        return self.max_padj is not None and self.after is not None and self.after.padj is None

    @property
    def genes(self) -> dict[str, str]:
        """The gene parameters given (parameter name -> term)."""
        return {name: value for name, value in (("perturbation_gene_name", self.perturbation),
                                                ("phenotype_gene_name", self.phenotype)) if value is not None}

    @property
    def filtered(self) -> bool:
        """Whether rows are filtered (then the number that qualify is not known without counting)."""
        return any(v is not None for v in (self.perturbation, self.phenotype, self.direction, self.max_padj,
                                           self.min_abs_log2fc))


ORDER = 'r.perturbed_target_symbol COLLATE "C", r.gene COLLATE "C"'
COLUMNS = "r.perturbed_target_symbol, r.gene, r.log2foldchange, r.padj, r.basemean"
# The page of an exhausted walk.
NOTHING = ("SELECT NULL::int AS part, NULL::text AS perturbed_target_symbol, NULL::text AS gene, "
           "NULL::float8 AS log2foldchange, NULL::float8 AS padj, NULL::float8 AS basemean WHERE false")


# A page row `r`'s two genes: their summary counts in the row's dataset (0, and a null base_mean, when not
# significant there) and their Ensembl IDs, by the unique keys of the summaries and of perturb_seq_genes; the
# columns response.row reads. Shared with /v1/genes/{gene}/rows.
GENE_COLUMNS = """coalesce(p.n_total, 0) AS p_n_total, coalesce(p.n_up, 0) AS p_n_up, coalesce(p.n_down, 0) AS p_n_down,
       coalesce(e.n_total, 0) AS e_n_total, coalesce(e.n_up, 0) AS e_n_up, coalesce(e.n_down, 0) AS e_n_down,
       e.base_mean AS e_base_mean, pp.ensembl_gene_id AS p_ensembl, ep.ensembl_gene_id AS e_ensembl"""


def gene_joins(dataset: str) -> str:
    """The joins GENE_COLUMNS reads, for a page `r` whose rows belong to the dataset SQL `dataset` names."""
    return f"""LEFT JOIN perturb_seq_summary_perturbation p
       ON p.dataset_id = {dataset} AND p.perturbed_target_symbol = r.perturbed_target_symbol
LEFT JOIN perturb_seq_summary_effect e ON e.dataset_id = {dataset} AND e.gene = r.gene
LEFT JOIN perturb_seq_genes pp ON pp.gene_name = r.perturbed_target_symbol
LEFT JOIN perturb_seq_genes ep ON ep.gene_name = r.gene"""


def _filters(rows: Rows, params: Params, dataset: str) -> list[str]:
    """The dataset, the spelling of each gene filter (`sp`, `sg`: _spellings), the direction and the fold-change
    threshold."""
    where = [f"r.dataset_id = {dataset}"]
    if rows.perturbation is not None:
        where.append("r.perturbed_target_symbol = sp.symbol")
    if rows.phenotype is not None:
        where.append("r.gene = sg.symbol")
    if rows.direction is not None:
        where.append(direction_sql(rows.direction, "r"))
    if rows.min_abs_log2fc is not None:
        where.append(min_abs_log2fc_sql(params(rows.min_abs_log2fc)))
    return where


def _after_names(after: Key, params: Params) -> str:
    return f"({ORDER}) > ({params(after.perturbation)}, {params(after.phenotype)})"


def _with_padj(rows: Rows, params: Params, where: list[str], limit: str) -> str | None:
    """Rows that have a padj (NaN included: it sorts after every number), from the cursor on."""
    where = list(where)
    if rows.after is not None:
        if rows.after.padj is None:
            return None  # the previous page ended among the NULLs: nothing with a padj is left
        padj = params(rows.after.padj)
        where += [f"r.padj >= {padj}", f"(r.padj > {padj} OR {_after_names(rows.after, params)})"]
    else:
        where.append("r.padj IS NOT NULL")
    if rows.max_padj is not None:
        where.append(max_padj_sql(params(rows.max_padj)))
    return f"""SELECT 1 AS part, {COLUMNS} FROM perturb_seq r WHERE {' AND '.join(where)}
     ORDER BY r.padj, {ORDER} LIMIT {limit}"""


def _without_padj(rows: Rows, params: Params, where: list[str], limit: str) -> str | None:
    """Rows whose padj is NULL, by name, from the cursor on; none pass a max_padj."""
    if rows.max_padj is not None:
        return None
    where = [*where, "r.padj IS NULL"]
    if rows.after is not None and rows.after.padj is None:
        where.append(_after_names(rows.after, params))
    return f"""SELECT 2 AS part, {COLUMNS} FROM perturb_seq r WHERE {' AND '.join(where)}
     ORDER BY r.padj, {ORDER} LIMIT {limit}"""


def _spellings(rows: Rows, genes: Terms) -> list[str]:
    """A FROM item per gene filter: its gene's spellings, one row each (`sp`: perturbation, `sg`: phenotype)."""
    return [genes.each(parameter, alias) for parameter, alias in (("perturbation_gene_name", "sp"),
                                                                  ("phenotype_gene_name", "sg"))
            if parameter in rows.genes]


def _page(rows: Rows, params: Params, dataset: str, genes: Terms, limit: str) -> str:
    """The page (one row more): with gene filters, each spelling's (or pair of spellings') own ordered page,
    merged and cut to one, so a page reads an index range per spelling, not every row of the gene in the dataset."""
    union = NOTHING
    if not rows.exhausted:
        where = _filters(rows, params, dataset)
        parts = [p for p in (_with_padj(rows, params, where, limit), _without_padj(rows, params, where, limit)) if p]
        union = "\n    UNION ALL\n    ".join(f"({p})" for p in parts)
    page = f"SELECT * FROM (\n    {union}\n  ) r LIMIT {limit}"
    spellings = _spellings(rows, genes)
    if rows.exhausted or not spellings:
        return page
    return f"""SELECT r.* FROM {" CROSS JOIN ".join(spellings)}
  CROSS JOIN LATERAL ({page}) r
  ORDER BY r.part, r.padj, {ORDER} LIMIT {limit}"""


def build(rows: Rows) -> tuple[str, list[Any]]:
    """One row per page row (in order, plus the first of the next page) with both genes' summary counts and
    Ensembl IDs, `total` (the dataset's n_rows) and `resolution` (ambiguous gene terms) on every row; an empty
    page is one row whose `part` is NULL."""
    params = Params()
    dataset, limit = params(rows.dataset_id), params(rows.limit + 1)  # one more tells whether a next page exists
    genes = Terms(rows.genes, params)  # resolved to their genes' spellings inside the query
    resolving = f"{with_items(genes.ctes())},\n" if genes.terms else ""
    sql = f"""
WITH {resolving}page AS ({_page(rows, params, dataset, genes, limit)})
SELECT s.n_rows AS total, {genes.head()} AS resolution, {generations.SQL},
       r.part, r.perturbed_target_symbol, r.gene, r.log2foldchange, r.padj, r.basemean, {GENE_COLUMNS}
FROM (SELECT {dataset}::text AS dataset_id) d
LEFT JOIN perturb_seq_dataset_statistics s ON s.dataset_id = d.dataset_id
LEFT JOIN page r ON true
{gene_joins("d.dataset_id")}
ORDER BY r.part, r.padj, {ORDER}
"""
    return sql, params.values
