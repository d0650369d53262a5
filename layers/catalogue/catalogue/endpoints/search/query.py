"""Composes the one parameterised PostgreSQL query that answers a search (SPEC 3.2), for either grouping.

Shape: choose each dataset's top groups first (`groups`), then fetch each chosen group's top rows with a
LATERAL subquery whose LIMIT sits inside it, then attach the summary counts of every row's other gene.
Every lookup is served by an index of SPEC 2.2 or by a summary view; nothing aggregates `perturb_seq`.

Where candidate groups come from:
* the grouping's summary view, walked per dataset in rank order (index on (dataset_id, n_total DESC)): a group
  there has significant rows, so it qualifies unless a filter says otherwise, which an EXISTS probe on the
  group's own row index checks (skipped when the view's n_up/n_down already proves a qualifying row);
* when only the other gene is filtered, the walk runs where that gene is in its own summary view (then it was
  measured against most groups and the walk stops after a few probes); in the other datasets the gene has at
  most insignificant rows, and those rows (its (gene, padj) index) name the only groups that can qualify.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...sql import DIRECTION_SQL, Direction, Params

GROUPS_PER_DATASET = 3
ROWS_PER_GROUP = 10


@dataclass(frozen=True)
class Side:
    """One gene role: its column in perturb_seq and its summary view."""
    column: str
    view: str
    base_mean: str  # SQL for the view's base_mean column (the perturbation view has none)


PERTURBATION = Side("perturbed_target_symbol", "perturb_seq_summary_perturbation", "NULL::double precision")
PHENOTYPE = Side("gene", "perturb_seq_summary_effect", "{}.base_mean")

PROVEN_BY_VIEW = {"increased": "{s}.n_up > 0", "decreased": "{s}.n_down > 0"}


@dataclass(frozen=True)
class Search:
    dataset_ids: list[str]  # in output order
    group_by: Literal["perturbation", "phenotype"]
    perturbation: str | None = None
    phenotype: str | None = None
    direction: Direction | None = None

    @property
    def sides(self) -> tuple[Side, Side]:
        """(grouping side, other side)."""
        return (PERTURBATION, PHENOTYPE) if self.group_by == "perturbation" else (PHENOTYPE, PERTURBATION)

    def gene(self, side: Side) -> str | None:
        return self.perturbation if side is PERTURBATION else self.phenotype


def build(search: Search) -> tuple[str, list[Any]]:
    group, other = search.sides
    params = Params()
    datasets = params(search.dataset_ids)
    group_gene = params(search.gene(group)) if search.gene(group) is not None else None
    other_gene = params(search.gene(other)) if search.gene(other) is not None else None

    def row_filters(r: str) -> list[str]:
        """Predicates on a perturb_seq row beyond its dataset and group."""
        return ([f"{r}.{other.column} = {other_gene}"] if other_gene else []) + (
            [DIRECTION_SQL[search.direction].format(r=r)] if search.direction else [])

    group_columns = (f"s.{group.column} AS grp, s.n_total, s.n_up, s.n_down, "
                     f"{group.base_mean.format('s')} AS base_mean")
    rank = f"s.n_total DESC, s.{group.column} COLLATE \"C\""

    def walk(where: list[str]) -> str:
        """Each dataset's groups in rank order from the summary view, the first three that pass `where`."""
        return f"""
  SELECT d.ord, d.dataset_id, s.*
  FROM datasets d
  CROSS JOIN LATERAL (
    SELECT {group_columns}
    FROM {group.view} s
    WHERE {_and(["s.dataset_id = d.dataset_id", *where])}
    ORDER BY {rank}
    LIMIT {GROUPS_PER_DATASET}) s"""

    def has_a_row() -> str:
        """A qualifying row exists in the candidate group (an index probe)."""
        where = [f"r.{group.column} = s.{group.column}", "r.dataset_id = s.dataset_id", *row_filters("r")]
        # A scalar subquery, not EXISTS: the planner may turn EXISTS into a join that reads every candidate's rows,
        # where this stays a probe evaluated lazily, in rank order, until the LIMIT is met.
        return f"(SELECT true FROM perturb_seq r WHERE {' AND '.join(where)} LIMIT 1)"

    ctes = {"datasets": f"SELECT dataset_id, ord FROM unnest({datasets}::text[]) WITH ORDINALITY AS d(dataset_id, ord)"}
    if other_gene and not group_gene:
        # Where the filtered gene has significant rows (it is in its summary view), it was measured against most
        # groups: walk the group view probing each candidate, which stops after a few. Elsewhere it has at most
        # a few insignificant rows, which name the only groups that can qualify: gather those.
        in_view = (f"EXISTS (SELECT FROM {other.view} x WHERE x.dataset_id = d.dataset_id "
                   f"AND x.{other.column} = {other_gene})")
        ctes["datasets"] = f"SELECT dataset_id, ord, {in_view} AS in_view FROM ({ctes['datasets']}) d"
        ctes["walked"] = walk(["d.in_view", has_a_row()])
        ctes["sparse"] = "SELECT array_agg(dataset_id) AS ids FROM datasets WHERE NOT in_view"
        skip_if_none = "(SELECT ids FROM sparse) IS NOT NULL"  # a one-time filter: no scan when all were walked
        ctes["gathered"] = f"""
  SELECT ord, dataset_id, grp, n_total, n_up, n_down, base_mean FROM (
    SELECT d.ord, d.dataset_id, {group_columns}, row_number() OVER (PARTITION BY d.ord ORDER BY {rank}) AS rank
    FROM (SELECT DISTINCT r.dataset_id, r.{group.column}
          FROM perturb_seq r
          WHERE {_and(["r.dataset_id = ANY((SELECT ids FROM sparse)::text[])", *row_filters("r"), skip_if_none])}) c
    JOIN datasets d ON d.dataset_id = c.dataset_id
    JOIN {group.view} s ON s.dataset_id = c.dataset_id AND s.{group.column} = c.{group.column}
  ) ranked
  WHERE rank <= {GROUPS_PER_DATASET}"""
        ctes["groups"] = "SELECT * FROM walked UNION ALL SELECT * FROM gathered"
    else:
        qualifies = []
        if row_filters("r"):
            proven = PROVEN_BY_VIEW[search.direction].format(s="s") if search.direction and not other_gene else None
            qualifies.append(f"({proven} OR {has_a_row()})" if proven else has_a_row())
        ctes["groups"] = walk([*([f"s.{group.column} = {group_gene}"] if group_gene else []), *qualifies])
    with_clause = ",\n".join(f"{name} AS ({body}\n)" for name, body in ctes.items())
    sql = f"""WITH {with_clause}
SELECT g.ord, g.grp, g.n_total, g.n_up, g.n_down, g.base_mean,
       r.other, r.log2foldchange, r.padj,
       coalesce(o.n_total, 0) AS other_n_total, coalesce(o.n_up, 0) AS other_n_up,
       coalesce(o.n_down, 0) AS other_n_down, {other.base_mean.format('o')} AS other_base_mean
FROM groups g
CROSS JOIN LATERAL (
  SELECT r.{other.column} AS other, r.log2foldchange, r.padj
  FROM perturb_seq r
  WHERE {_and(["r.dataset_id = g.dataset_id", f"r.{group.column} = g.grp", *row_filters("r")])}
  ORDER BY r.padj, r.{other.column} COLLATE "C"
  LIMIT {ROWS_PER_GROUP}) r
LEFT JOIN {other.view} o ON o.dataset_id = g.dataset_id AND o.{other.column} = r.other
ORDER BY g.ord, g.n_total DESC, g.grp COLLATE "C", r.padj, r.other COLLATE "C"
"""
    return sql, params.values


def _and(predicates: list[str]) -> str:
    return "\n      AND ".join(predicates)
