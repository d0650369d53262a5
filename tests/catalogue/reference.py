"""An independent brute-force answer to SPEC 3.2, written from the spec in plain Python over the whole table.

It shares no code with the layer: it reads every row, computes the summary counts itself, filters, groups,
ranks and sorts in Python, and builds the SPEC 3.3 shape by hand.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")


@dataclass(frozen=True)
class Row:
    dataset_id: str
    perturbation: str
    phenotype: str
    log2fc: float | None
    padj: float | None
    basemean: float | None


def is_num(x: float | None) -> bool:
    return x is not None and not math.isnan(x)


def significant(row: Row) -> bool:
    return is_num(row.padj) and row.padj <= 0.05


def direction(log2fc: float | None) -> str | None:
    if not is_num(log2fc) or log2fc == 0:
        return None
    return "increased" if log2fc > 0 else "decreased"


def padj_key(padj: float | None) -> tuple:
    """PostgreSQL's ascending order of double precision: numbers, then NaN, then NULL."""
    return (2, 0.0) if padj is None else (1, 0.0) if math.isnan(padj) else (0, padj)


def byte_key(text: str) -> bytes:
    return text.encode()


def finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class Reference:
    def __init__(self, rows: list[Row], documents: list[dict]) -> None:
        self.rows, self.documents = rows, {d["dataset_id"]: d for d in documents}
        self.summary: dict[str, dict[tuple[str, str], dict]] = {"perturbation": {}, "phenotype": {}}
        acc: dict[str, dict[tuple[str, str], list[Row]]] = {"perturbation": defaultdict(list),
                                                             "phenotype": defaultdict(list)}
        for row in rows:
            if significant(row):
                acc["perturbation"][row.dataset_id, row.perturbation].append(row)
                acc["phenotype"][row.dataset_id, row.phenotype].append(row)
        for role, groups in acc.items():
            for key, members in groups.items():
                self.summary[role][key] = {
                    "n_total": len(members),
                    "n_up": sum(direction(r.log2fc) == "increased" for r in members),
                    "n_down": sum(direction(r.log2fc) == "decreased" for r in members),
                    "base_mean": sum(r.basemean for r in members) / len(members)}
        self.by_dataset: dict[str, list[Row]] = defaultdict(list)
        for row in rows:
            self.by_dataset[row.dataset_id].append(row)

    def matching_datasets(self, text: str | None) -> set[str]:
        if text is None:
            return set(self.documents)
        words = tokens(text)
        return {i for i, d in self.documents.items()
                if words and words <= tokens(" ".join([i, *(v for n in LABELS for v in d.get(f"{n}_labels", []))]))}

    def gene(self, role: str, dataset_id: str, name: str) -> dict[str, Any]:
        s = self.summary[role].get((dataset_id, name), {"n_total": 0, "n_up": 0, "n_down": 0, "base_mean": None})
        if role == "perturbation":
            return {"perturbation_gene_name": name, "n_total": s["n_total"], "n_up": s["n_up"], "n_down": s["n_down"]}
        return {"phenotype_gene_name": name, "base_mean": finite(s["base_mean"]), "n_total": s["n_total"],
                "n_up": s["n_up"], "n_down": s["n_down"]}

    def search(self, dataset_order: list[str], perturbation: str | None = None, phenotype: str | None = None,
               effect: str | None = None, group_by: str = "perturbation") -> list[dict]:
        """`dataset_order`: the candidate datasets in SPEC order (relevance or id)."""
        other = "phenotype" if group_by == "perturbation" else "perturbation"
        out = []
        for dataset_id in dataset_order:
            qualifying = [r for r in self.by_dataset[dataset_id]
                          if (perturbation is None or r.perturbation == perturbation)
                          and (phenotype is None or r.phenotype == phenotype)
                          and (effect is None or direction(r.log2fc) == effect)]
            groups: dict[str, list[Row]] = defaultdict(list)
            for r in qualifying:
                groups[getattr(r, group_by)].append(r)
            chosen = sorted((g for g in groups if (dataset_id, g) in self.summary[group_by]),
                            key=lambda g: (-self.summary[group_by][dataset_id, g]["n_total"], byte_key(g)))[:3]
            if not chosen:
                continue
            element_groups = []
            for g in chosen:
                top = sorted(groups[g], key=lambda r: (padj_key(r.padj), byte_key(getattr(r, other))))[:10]
                entries = []
                for r in top:
                    change = {"direction": direction(r.log2fc), "log2fc": finite(r.log2fc), "padj": finite(r.padj)}
                    partner = self.gene(other, dataset_id, getattr(r, other))
                    entries.append({"change": change, "phenotype": partner} if group_by == "perturbation"
                                   else {"perturbation": partner, "change": change})
                key = "change_phenotype" if group_by == "perturbation" else "perturbation_change"
                element_groups.append({group_by: self.gene(group_by, dataset_id, g), key: entries})
            doc = self.documents[dataset_id]
            labels = {n: (doc.get(f"{n}_labels") or [None])[0] for n in LABELS}
            out.append({"dataset": {"dataset_id": dataset_id, **labels}, f"by_{group_by}": element_groups})
        return out


def approx_equal(a: Any, b: Any, rel: float = 1e-9) -> bool:
    """Exact except for floats computed by aggregation (base_mean), compared to a relative tolerance."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rel)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(approx_equal(a[k], b[k], rel) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(approx_equal(x, y, rel) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)
