"""The objects several answers share (SPEC 3.3, 5): a dataset with flattened labels, gene objects with their summary
counts, a change, a dataset's statistics. Numbers follow SPEC 3.2.6: non-finite values are null."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from .errors import DataIntegrity

LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")
Role = Literal["perturbation", "phenotype"]


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


def gene(role: Role, name: str, n_total: int, n_up: int, n_down: int, base_mean: float | None) -> dict[str, Any]:
    if role == "perturbation":
        return {"perturbation_gene_name": name, "n_total": n_total, "n_up": n_up, "n_down": n_down}
    return {"phenotype_gene_name": name, "base_mean": finite(base_mean), "n_total": n_total, "n_up": n_up,
            "n_down": n_down}


def direction(log2fc: float | None) -> str | None:
    """NaN compares above every number in PostgreSQL but has no direction; zero and NULL have none either."""
    if log2fc is None or math.isnan(log2fc) or log2fc == 0:
        return None
    return "increased" if log2fc > 0 else "decreased"


def change(log2fc: float | None, padj: float | None) -> dict[str, Any]:
    return {"direction": direction(log2fc), "log2fc": finite(log2fc), "padj": finite(padj)}


def timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def statistics(record: Any | None) -> dict[str, Any]:
    """A row of perturb_seq_dataset_statistics; a dataset with metadata but no rows has zeros and no date."""
    if record is None:
        return {"n_rows": 0, "n_significant_rows": 0, "n_perturbations": 0, "n_phenotypes": 0, "ingested_at": None}
    return {"n_rows": record["n_rows"], "n_significant_rows": record["n_significant_rows"],
            "n_perturbations": record["n_perturbations"], "n_phenotypes": record["n_phenotypes"],
            "ingested_at": timestamp(record["ingested_at"])}
