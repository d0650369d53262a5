"""The one parameterised PostgreSQL query that computes search answers (docs/contract.md, "Search"), for either
grouping. The API runs it for searches with a threshold or a gene filter on the other role; the ingestion runs it for
each dataset it loads (every group: `groups_per_dataset` None), to write that dataset's groups and filter-free
answers (perturb_seq_search_groups, perturb_seq_search_answers), which the API then serves as they are.

Its cost follows the datasets it answers, not the catalogue's breadth:
1. `candidates`: the datasets that can answer, in output order: given by id (Elasticsearch's relevance order, or
   the one dataset the ingestion is writing), else every dataset after a cursor in dataset_id order. With a gene
   filter only the datasets where one of the gene's spellings occurs in its role are candidates
   (perturb_seq_gene_datasets, a load-time relation): a rare gene reads a few datasets, not all.
2. `chosen`: each candidate in turn gets its top three groups (a walk of the grouping's summary in rank order,
   each group probed for a qualifying row on its own index range); the walk stops at the first `limit` + 1
   candidates that have a group. The groups are aggregated per candidate so that the LIMIT counts datasets; the
   candidates are a subquery with its own ORDER BY (which PostgreSQL never flattens away), and the walk is a
   LATERAL on them, so it runs candidate by candidate in their order and stops at the LIMIT.
3. Each chosen group's top ten qualifying rows (a LATERAL index scan with its LIMIT inside: with the project's
   (dataset_id, gene, padj, other gene) indexes it reads those ten rows), then the other gene's summary counts.

Where only the other gene is filtered, a dataset where it has significant rows (it is in its summary) was measured
against most groups: the walk finds three after a few probes. Elsewhere it has only insignificant rows, which name
the only groups that can qualify: those are gathered from its rows instead of probing every group.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..sql import Params, conjunction, with_items
from ..vocabulary import COLUMN, SUMMARY, Direction, Role, direction_sql, max_padj_sql, min_abs_log2fc_sql, other

EVERY_DATASET = "SELECT dataset_id FROM perturb_seq_dataset_statistics WHERE n_significant_rows > 0"
GROUPS_PER_DATASET = 3
ROWS_PER_GROUP = 10
GROUP_COLUMNS = ("grp", "n_total", "n_up", "n_down", "base_mean")
# Proven by a group's own summary counts: it has a significant row with this direction.
PROVEN_BY_SUMMARY: dict[Direction, str] = {"increased": "s.n_up > 0", "decreased": "s.n_down > 0"}


@dataclass(frozen=True)
class Search:
    """What to compute. `genes` maps a role to the SQL of its spellings (a text[]): a bind parameter, or the output
    of a gene resolution the query includes (`prelude`)."""
    group_by: Role
    genes: dict[Role, str] = field(default_factory=dict)
    direction: Direction | None = None
    max_padj: float | None = None
    min_abs_log2fc: float | None = None
    dataset_ids: list[str] | None = None  # candidates in this order; None: every dataset in dataset_id order
    after: str | None = None  # with dataset_ids None: only datasets whose id sorts after this one
    limit: int | None = None  # datasets to answer; None: every dataset that has an answer
    prelude: dict[str, str] = field(default_factory=dict)  # CTEs the gene SQL refers to
    head: str | None = None  # an SQL value returned as `head` on every row, and alone when nothing answers
    groups_per_dataset: int | None = GROUPS_PER_DATASET  # None: every group (the ingestion's stored groups)

    @property
    def other(self) -> Role:
        return other(self.group_by)

    @property
    def filters_rows(self) -> bool:
        return any(v is not None for v in (self.direction, self.max_padj, self.min_abs_log2fc)) or \
            self.other in self.genes


def build(search: Search, params: Params | None = None) -> tuple[str, list[object]]:
    """The query and its bind values. One row per answer row, ordered by dataset (`ord`, 1-based into
    `dataset_ids` or the dataset_id order), group rank, row rank; `more` says whether another dataset follows.
    With a `head`, every row starts with it, and a single row with only the head (`ord` NULL) means no answer."""
    p = params or Params()
    row_filters = _row_filters(search, p)
    walked = {"candidates_walked": _candidates(search, p, walked=True)} if _walks(search) else {}
    ctes = {**search.prelude, "candidates": _candidates(search, p), **walked,
            "chosen": _chosen(search, p, row_filters), "groups": _groups(search, p)}
    with_clause = with_items(ctes)
    more = f"(SELECT count(*) > {p(search.limit)} FROM chosen)" if search.limit else "false"
    g, o = COLUMN[search.group_by], COLUMN[search.other]
    other_base_mean = "o.base_mean" if search.other == "phenotype" else "NULL::double precision"
    select = f"""
SELECT g.ord, g.dataset_id, g.rank, g.grp, g.grp_ensembl, g.n_total, g.n_up, g.n_down,
       g.base_mean, r.other, op.ensembl_gene_id AS other_ensembl, r.log2foldchange, r.padj,
       coalesce(o.n_total, 0) AS other_n_total, coalesce(o.n_up, 0) AS other_n_up,
       coalesce(o.n_down, 0) AS other_n_down, {other_base_mean} AS other_base_mean, {more} AS more
FROM groups g
CROSS JOIN LATERAL (
  SELECT r.{o} AS other, r.log2foldchange, r.padj
  FROM perturb_seq r
  WHERE {conjunction(["r.dataset_id = g.dataset_id", f"r.{g} = g.grp", *row_filters("r")])}
  ORDER BY r.padj, r.{o} COLLATE "C"
  LIMIT {ROWS_PER_GROUP}) r
LEFT JOIN {SUMMARY[search.other]} o ON o.dataset_id = g.dataset_id AND o.{o} = r.other
LEFT JOIN perturb_seq_genes op ON op.gene_name = r.other
ORDER BY g.ord, g.rank, r.padj, r.other COLLATE \"C\""""
    if search.head is None:
        return f"WITH {with_clause}{select}\n", p.values
    # The head (a gene resolution's verdict) must come back even when no row does: the rows join it.
    return f"WITH {with_clause}\nSELECT h.head, q.* FROM (SELECT {search.head} AS head) h\n" \
           f"LEFT JOIN LATERAL ({select}) q ON true\n", p.values


class RowFilters:
    """The predicates a qualifying row must meet beyond its dataset and group, over a perturb_seq alias."""

    def __init__(self, predicates: list[str]) -> None:
        self.predicates = predicates

    def __call__(self, r: str) -> list[str]:
        return [predicate.format(r=r) for predicate in self.predicates]

    def __bool__(self) -> bool:
        return bool(self.predicates)


def _row_filters(search: Search, p: Params) -> RowFilters:
    predicates = []
    if search.other in search.genes:
        predicates.append(f"{{r}}.{COLUMN[search.other]} = ANY({search.genes[search.other]})")
    if search.direction:
        predicates.append(direction_sql(search.direction, "{r}"))
    if search.max_padj is not None:
        predicates.append(max_padj_sql(p(search.max_padj), "{r}"))
    if search.min_abs_log2fc is not None:
        predicates.append(min_abs_log2fc_sql(p(search.min_abs_log2fc), "{r}"))
    return RowFilters(predicates)


def _occurs(role: Role, spellings: str, dataset: str, significant: bool = False, probe: bool = False) -> str:
    """One of the spellings occurs in the dataset in this role (significantly: it is in the role's summary). As a
    `probe`, a scalar subquery rather than EXISTS: the planner may turn EXISTS into a join that reads every
    occurrence, where a walk in order must probe dataset by dataset until its LIMIT is met."""
    found = (f"FROM perturb_seq_gene_datasets x WHERE x.dataset_id = {dataset} AND x.role = '{role}' "
             f"AND x.gene_name = ANY({spellings}){' AND x.significant' if significant else ''}")
    return f"coalesce((SELECT true {found} LIMIT 1), false)" if probe else f"EXISTS (SELECT {found})"


def _candidates(search: Search, p: Params, walked: bool = False) -> str:
    """(dataset_id, ord, in_view) of every dataset that can answer, in output order; `walked`: read from every
    dataset in dataset_id order (an index), each probed, so that a LIMIT above stops the reading."""
    g, o = search.group_by, search.other
    required = []
    if g in search.genes:
        required.append(_occurs(g, search.genes[g], "d.dataset_id", significant=True, probe=walked))
    if o in search.genes:
        required.append(_occurs(o, search.genes[o], "d.dataset_id", probe=walked))
    in_view = _occurs(o, search.genes[o], "d.dataset_id", significant=True, probe=walked) \
        if o in search.genes else "true"
    if search.dataset_ids is not None:
        return f"""
  SELECT d.dataset_id, d.ord, {in_view} AS in_view
  FROM unnest({p(search.dataset_ids)}::text[]) WITH ORDINALITY AS d(dataset_id, ord)
  WHERE {conjunction(required)}
  ORDER BY d.ord"""
    if search.after is not None:
        required.append(f'd.dataset_id COLLATE "C" > {p(search.after)}')
    return f"""
  SELECT d.dataset_id, row_number() OVER (ORDER BY d.dataset_id COLLATE "C") AS ord, {in_view} AS in_view
  FROM ({EVERY_DATASET if walked else _datasets(search)}) d
  WHERE {conjunction(required)}
  ORDER BY d.dataset_id COLLATE "C\""""


def _datasets(search: Search) -> str:
    """Every dataset that might answer: where a filtered gene occurs in its role, else where any row is
    significant (a dataset without one has no group)."""
    for role in (search.group_by, search.other):
        if role in search.genes:
            return (f"SELECT DISTINCT dataset_id FROM perturb_seq_gene_datasets "
                    f"WHERE role = '{role}' AND gene_name = ANY({search.genes[role]})")
    return EVERY_DATASET


def _walks(search: Search) -> bool:
    """Whether the query may walk the datasets in order rather than gather a gene's: a page of a gene's datasets."""
    return bool(search.limit) and search.dataset_ids is None and bool(search.genes)


def _walk_pays(search: Search, p: Params) -> str:
    """SQL: whether walking the datasets in order reads less than gathering the gene's: the walk probes about
    (limit + 1) x datasets / occurrences datasets, the gathering reads every occurrence (occurrences counted from
    perturb_seq_genes, per spelling)."""
    role = search.group_by if search.group_by in search.genes else search.other
    counted = "significant_datasets" if role == search.group_by else "datasets"
    occurrences = (f"(SELECT coalesce(sum({role}_n_{counted}), 0) FROM perturb_seq_genes "
                   f"WHERE gene_name = ANY({search.genes[role]}))")
    return f"({occurrences} ^ 2 > ({p(search.limit)} + 1) * (SELECT n_datasets FROM perturb_seq_catalogue_statistics))"


def _chosen(search: Search, p: Params, row_filters: RowFilters) -> str:
    """The first `limit` + 1 candidates with a group, each with its top groups as parallel arrays. A page of a
    gene's datasets takes its candidates from the gathering or from the walk, whichever reads less (`_walk_pays`):
    two branches, of which the one not chosen never runs."""
    arrays = ", ".join(f"array_agg(w.{c} ORDER BY w.n_total DESC, w.grp COLLATE \"C\") AS {c}s" for c in GROUP_COLUMNS)
    limit = f"\n  LIMIT {p(search.limit + 1)}" if search.limit else ""

    def branch(candidates: str, condition: str = "true") -> str:
        return f"""
  SELECT c.ord, c.dataset_id, w.*
  FROM {candidates} c
  CROSS JOIN LATERAL (SELECT {arrays} FROM ({_walk(search, row_filters)}) w) w
  WHERE w.grps IS NOT NULL AND {condition}{limit}"""
    if not _walks(search):
        return branch("candidates")
    pays = _walk_pays(search, p)
    return f"({branch('candidates', f'NOT {pays}')})\n  UNION ALL\n  ({branch('candidates_walked', pays)})"


def _walk(search: Search, row_filters: RowFilters) -> str:
    """A candidate's top groups: from its grouping summary in rank order, each qualifying (or, where only the other
    gene is filtered and it is not significant in the dataset, gathered from that gene's rows)."""
    g = COLUMN[search.group_by]
    own = [f"s.{g} = ANY({search.genes[search.group_by]})"] if search.group_by in search.genes else []
    walked = [*own, *_qualifies(search, row_filters)]
    if search.other not in search.genes or search.group_by in search.genes:
        return _ranked(search, walked)
    rows = conjunction(["r.dataset_id = c.dataset_id", *row_filters("r")], " ")
    gathered = [f"s.{g} IN (SELECT r.{g} FROM perturb_seq r WHERE {rows})"]
    return f"""
    SELECT * FROM (({_ranked(search, [*walked, "c.in_view"])})
                   UNION ALL ({_ranked(search, [*gathered, "NOT c.in_view"])})) u
    ORDER BY n_total DESC, grp COLLATE "C"{_limit(search)}"""


def _qualifies(search: Search, row_filters: RowFilters) -> list[str]:
    """A walked group qualifies when it has a qualifying row (an index probe on the group's own rows), or when its
    summary counts already prove one (a direction filter alone)."""
    if not row_filters:
        return []  # a group in the summary has significant rows: it qualifies
    g = COLUMN[search.group_by]
    rows = conjunction(["r.dataset_id = s.dataset_id", f"r.{g} = s.{g}", *row_filters("r")], " ")
    # A scalar subquery, not EXISTS: the planner may turn EXISTS into a join that reads every candidate group's
    # rows, where this stays a probe evaluated lazily, in rank order, until the LIMIT is met.
    probe = f"(SELECT true FROM perturb_seq r WHERE {rows} LIMIT 1)"
    no_other_filter = search.max_padj is None and search.min_abs_log2fc is None and search.other not in search.genes
    if search.direction and no_other_filter:  # a direction filter alone
        return [f"({PROVEN_BY_SUMMARY[search.direction]} OR {probe})"]
    return [probe]


def _ranked(search: Search, where: list[str]) -> str:
    """The first groups of the candidate's grouping summary that meet `where`, in rank order (n_total descending,
    then name in byte order)."""
    g = COLUMN[search.group_by]
    base_mean = "s.base_mean" if search.group_by == "phenotype" else "NULL::double precision"
    return f"""
      SELECT s.{g} AS grp, s.n_total, s.n_up, s.n_down, {base_mean} AS base_mean
      FROM {SUMMARY[search.group_by]} s
      WHERE {conjunction(["s.dataset_id = c.dataset_id", *where], " ")}
      ORDER BY s.n_total DESC, s.{g} COLLATE "C"{_limit(search)}"""


def _limit(search: Search) -> str:
    return "" if search.groups_per_dataset is None else f" LIMIT {search.groups_per_dataset}"


def _groups(search: Search, p: Params) -> str:
    """The chosen datasets' groups, one row each, with their rank and the Ensembl ID of the group's gene (looked up
    once per group, not once per row); the last of `limit` + 1 datasets (read only to know that another follows) is
    left out."""
    columns = ", ".join(f"ch.{c}s" for c in GROUP_COLUMNS)
    keep = ""
    if search.limit:
        keep = f"""
  WHERE ch.ord <= (SELECT max(ord) FROM (SELECT ord FROM chosen ORDER BY ord LIMIT {p(search.limit)}) k)"""
    return f"""
  SELECT ch.ord, ch.dataset_id, u.*, gp.ensembl_gene_id AS grp_ensembl
  FROM chosen ch
  CROSS JOIN LATERAL unnest({columns}) WITH ORDINALITY AS u({', '.join(GROUP_COLUMNS)}, rank)
  LEFT JOIN perturb_seq_genes gp ON gp.gene_name = u.grp{keep}"""
