"""Response shaping (SPEC 3.3): flattened dataset labels, gene objects with summary counts, finite numbers."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

from .errors import DataIntegrity

LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")
# grouping -> (dataset key of the groups, key of a group's rows)
LAYOUT = {"perturbation": ("by_perturbation", "change_phenotype"),
          "phenotype": ("by_phenotype", "perturbation_change")}


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def dataset(document: dict) -> dict[str, Any]:
    """`tissue_labels: ["blood"]` -> `tissue: "blood"`; missing or empty -> null; several entries is a fault."""
    out: dict[str, Any] = {"dataset_id": document["dataset_id"]}
    for name in LABELS:
        values = document.get(f"{name}_labels") or []
        values = [values] if isinstance(values, str) else values
        if len(values) > 1:
            raise DataIntegrity(f"Dataset {document['dataset_id']} has {len(values)} {name}_labels entries, not one.",
                                {"dataset_id": document["dataset_id"], "field": f"{name}_labels"})
        out[name] = values[0] if values else None
    return out


def gene(role: str, name: str, n_total: int, n_up: int, n_down: int, base_mean: float | None) -> dict[str, Any]:
    if role == "perturbation":
        return {"perturbation_gene_name": name, "n_total": n_total, "n_up": n_up, "n_down": n_down}
    return {"phenotype_gene_name": name, "base_mean": finite(base_mean), "n_total": n_total, "n_up": n_up,
            "n_down": n_down}


def change(log2fc: float | None, padj: float | None) -> dict[str, Any]:
    direction = "increased" if log2fc is not None and log2fc > 0 and not math.isnan(log2fc) else (
        "decreased" if log2fc is not None and log2fc < 0 else None)
    return {"direction": direction, "log2fc": finite(log2fc), "padj": finite(padj)}


def search_results(group_by: str, documents: list[dict], records: Iterable[Any]) -> list[dict[str, Any]]:
    """Records arrive ordered by dataset position (`ord`, 1-based into `documents`), group rank, row rank."""
    other_role = "phenotype" if group_by == "perturbation" else "perturbation"
    groups_key, rows_key = LAYOUT[group_by]
    results: list[dict[str, Any]] = []
    element, group, last = None, None, None
    for r in records:
        if element is None or r["ord"] != last[0]:
            element = {"dataset": dataset(documents[r["ord"] - 1]), groups_key: []}
            results.append(element)
        if group is None or (r["ord"], r["grp"]) != last:
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


def to_json(payload: Any) -> bytes:
    # orjson: a 360-row answer in 0.1 ms instead of 1.6 ms; it writes any non-finite float as null (valid JSON).
    return orjson.dumps(payload)
