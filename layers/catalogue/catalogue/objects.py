"""The objects of the API's answers that the ingestion never writes: a dataset with flattened labels (data
integrity checked) and a dataset's statistics. Gene and change objects, which stored search answers hold too, are
in catalogue_common.objects."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

from catalogue_common.vocabulary import LABELS

from .errors import DataIntegrity


def dataset(document: Mapping[str, Any]) -> dict[str, Any]:
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


def timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class StatisticsObject(TypedDict):
    n_rows: int
    n_significant_rows: int
    n_perturbations: int
    n_phenotypes: int
    ingested_at: str | None


def statistics(record: Any | None) -> StatisticsObject:
    """A row of perturb_seq_dataset_statistics; a dataset with metadata but no rows has zeros and no date."""
    if record is None:
        return {"n_rows": 0, "n_significant_rows": 0, "n_perturbations": 0, "n_phenotypes": 0, "ingested_at": None}
    return {"n_rows": record["n_rows"], "n_significant_rows": record["n_significant_rows"],
            "n_perturbations": record["n_perturbations"], "n_phenotypes": record["n_phenotypes"],
            "ingested_at": timestamp(record["ingested_at"])}
