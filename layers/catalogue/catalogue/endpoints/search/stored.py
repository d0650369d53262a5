"""The search answers the ingestion wrote when each dataset was loaded (ingestion/answers.py), read as they are:
* each dataset's filter-free answer (perturb_seq_search_answers): a search without a gene filter or threshold;
* each group of each dataset (perturb_seq_search_groups): a search whose one gene filter is on the grouping's role
  (`perturbation_gene_name` grouped by perturbation, `phenotype_gene_name` by phenotype), with no threshold. Such a
  search answers, for each dataset where the gene's spellings are groups, the first three of those groups in the
  dataset's rank order, each with the same rows as in any other answer: its groups are stored ones.

Computed per request, a common gene's answer cost about 12 microseconds per row it returns (each row's partner gene
looked up in its summary and in the gene list): 16 ms for a page of 50 datasets, 135 ms for a gene in 1,128
datasets (docs/decisions.md, "A gene's groups are stored"). Read, a page costs an index range per dataset it
shows (its LIMIT stops the reading); a whole answer, one range of the key read once, each dataset's first three
groups kept by a window (`WHOLE`).

Both queries return a `generation` head (generations.py); the groups one also the gene term's resolution (an
ambiguous term names no spellings and finds nothing), and each dataset's position `ord`.
"""
from __future__ import annotations

from catalogue_common.search.query import GROUPS_PER_DATASET
from catalogue_common.sql import Params, with_items
from catalogue_common.vocabulary import Direction, Role

from ... import generations

# The generation comes back even when no dataset does (one row, with a NULL dataset).
ANSWERS = """
SELECT a.dataset_id, a.groups, a.ord, {generation}
FROM (SELECT 1) one
LEFT JOIN (
  SELECT a.dataset_id, a.groups, {ord} AS ord
  FROM {source}
  WHERE a.group_by = $1 AND a.direction = $2 {after}{order}{limit}) a ON true"""

# A dataset's groups `g`, in rank order, as one JSON list (the twin of answer.joined, for stored groups).
LISTED = "'[' || string_agg(g.group_json, ',' ORDER BY g.rank) || ']'"
# The gene's groups in the variant: an index range per spelling (the key leads with variant and gene).
OF_GENE = "a.group_by = {group_by} AND a.direction = {direction} AND a.gene_name = ANY({spellings})"
GROUPS = """
WITH {prelude},
chosen AS ({chosen}
)
SELECT h.head, q.* FROM (SELECT {head} AS head) h
LEFT JOIN LATERAL (
  SELECT c.ord, c.dataset_id, {listed} AS groups
  FROM chosen c
  CROSS JOIN LATERAL (
    SELECT a.group_json, a.rank FROM perturb_seq_search_groups a
    WHERE {of_gene} AND a.dataset_id = c.dataset_id
    ORDER BY a.rank LIMIT {per_dataset}) g
  GROUP BY c.ord, c.dataset_id
  ORDER BY c.ord) q ON true"""
BY_ID = """
  SELECT d.dataset_id, row_number() OVER (ORDER BY d.dataset_id) AS ord
  FROM (SELECT DISTINCT a.dataset_id FROM perturb_seq_search_groups a WHERE {of_gene}{after}) d
  ORDER BY d.dataset_id{limit}"""
# Every dataset of the gene, unpaged: one range of the key read once, each dataset's first groups kept by a window.
# (Choosing the datasets first and reading each one's groups, as a page must so that its LIMIT stops the reading,
# probes the key once more per dataset: for MARCHF1's 1,128 datasets at 1,200, 2.5 MB, 4.2-7.6 ms here against
# 9.9-14.4 by EXPLAIN (ANALYZE, SERIALIZE), 2026-12-03; docs/decisions.md, "A gene's groups are stored".)
WHOLE = """
WITH {prelude}
SELECT h.head, q.* FROM (SELECT {head} AS head) h
LEFT JOIN LATERAL (
  SELECT row_number() OVER (ORDER BY g.dataset_id) AS ord, g.dataset_id,
         {listed} AS groups
  FROM (SELECT a.dataset_id, a.group_json, a.rank,
               row_number() OVER (PARTITION BY a.dataset_id ORDER BY a.rank) AS n
        FROM perturb_seq_search_groups a WHERE {of_gene}) g
  WHERE g.n <= {per_dataset}
  GROUP BY g.dataset_id
  ORDER BY g.dataset_id) q ON true"""
BY_POSITION = """
  SELECT d.dataset_id, d.ord
  FROM unnest({ids}::text[]) WITH ORDINALITY AS d(dataset_id, ord)
  WHERE EXISTS (SELECT FROM perturb_seq_search_groups a WHERE {of_gene} AND a.dataset_id = d.dataset_id)
  ORDER BY d.ord{limit}"""


def answers(p: Params, group_by: Role, direction: Direction | None, limit: int | None, ids: list[str] | None,
            after: str | None) -> str:
    """The stored filter-free answers of the datasets `ids` (in their order), or of every dataset after `after`
    in dataset_id order (an index range on the relation's key): `limit` + 1 at most. Every dataset's (no `ids`,
    `limit` or `after`) comes in no order: the caller sorts them (`whole`)."""
    p(group_by)
    p(direction or "any")
    cut = f" LIMIT {p(limit + 1)}" if limit else ""
    if ids is not None:
        source = (f"unnest({p(ids)}::text[]) WITH ORDINALITY AS d(dataset_id, ord) "
                  "JOIN perturb_seq_search_answers a ON a.dataset_id = d.dataset_id")
        return ANSWERS.format(ord="d.ord", source=source, after="", order="\n  ORDER BY d.ord", limit=cut,
                              generation=generations.SQL)
    order = "" if whole(ids, limit, after) else "\n  ORDER BY a.dataset_id"
    return ANSWERS.format(ord="0", source="perturb_seq_search_answers a", order=order, limit=cut,
                          after=f"AND a.dataset_id > {p(after)}" if after is not None else "",
                          generation=generations.SQL)


def whole(ids: list[str] | None, limit: int | None, after: str | None) -> bool:
    """Whether `answers` reads every dataset's answer, unordered. Sorting 1,200 rows of about 7 KB took PostgreSQL
    4.5 of the statement's 7.8 ms (a bitmap scan, then a sort of 8.7 MB; an index scan in key order is chosen only
    while the rows lie in key order), where the function sorts them by dataset_id (search.answered) in a fraction of a
    millisecond."""
    return ids is None and limit is None and after is None


def groups(p: Params, group_by: Role, direction: Direction | None, spellings: str, prelude: dict[str, str],
           head: str, limit: int | None, ids: list[str] | None, after: str | None) -> str:
    """The stored groups of the gene (`spellings`: the SQL of its text[], computed in `prelude`) in the datasets
    `ids` (in their order), or in every dataset after `after` in dataset_id order (all of them: `WHOLE`): `limit` + 1
    datasets at most, each with its first three of them as its groups' JSON list; `head` on every row (alone when none
    answers)."""
    of_gene = OF_GENE.format(group_by=p(group_by), direction=p(direction or "any"), spellings=spellings)
    if whole(ids, limit, after):
        return WHOLE.format(prelude=with_items(prelude), head=head, of_gene=of_gene, per_dataset=GROUPS_PER_DATASET,
                            listed=LISTED)
    cut = f" LIMIT {p(limit + 1)}" if limit else ""
    if ids is not None:
        chosen = BY_POSITION.format(ids=p(ids), of_gene=of_gene, limit=cut)
    else:
        chosen = BY_ID.format(of_gene=of_gene, limit=cut,
                              after=f" AND a.dataset_id > {p(after)}" if after is not None else "")
    return GROUPS.format(prelude=with_items(prelude), head=head, chosen=chosen, of_gene=of_gene,
                         per_dataset=GROUPS_PER_DATASET, listed=LISTED)
