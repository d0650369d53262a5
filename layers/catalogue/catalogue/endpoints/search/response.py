"""The answer of GET /v1/search (SPEC 3.3): one element per dataset, its top groups, each with its top rows."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...objects import Role, change, dataset, gene

# grouping -> (dataset key of the groups, key of a group's rows)
LAYOUT = {"perturbation": ("by_perturbation", "change_phenotype"),
          "phenotype": ("by_phenotype", "perturbation_change")}


def search_results(group_by: Role, documents: list[dict], records: Iterable[Any]) -> list[dict[str, Any]]:
    """Records arrive ordered by dataset position (`ord`, 1-based into `documents`), group rank, row rank."""
    other_role: Role = "phenotype" if group_by == "perturbation" else "perturbation"
    groups_key, rows_key = LAYOUT[group_by]
    results: list[dict[str, Any]] = []
    element: dict[str, Any] = {}
    group: dict[str, Any] = {}
    last = None
    for r in records:
        if last is None or r["ord"] != last[0]:
            element = {"dataset": dataset(documents[r["ord"] - 1]), groups_key: []}
            results.append(element)
        if (r["ord"], r["grp"]) != last:
            group = {group_by: gene(group_by, r["grp"], r["n_total"], r["n_up"], r["n_down"], r["base_mean"]),
                     rows_key: []}
            element[groups_key].append(group)
        last = (r["ord"], r["grp"])
        other = gene(other_role, r["other"], r["other_n_total"], r["other_n_up"], r["other_n_down"],
                     r["other_base_mean"])
        effect = change(r["log2foldchange"], r["padj"])
        group[rows_key].append({"change": effect, "phenotype": other} if group_by == "perturbation"
                               else {"perturbation": other, "change": effect})
    return results
