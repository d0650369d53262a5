"""The gene and change objects of every answer (docs/contract.md, "Answers"), built the same way by the API and by
the ingestion (which writes each dataset's filter-free search answers when it loads the dataset). Non-finite numbers
are output as null, so the JSON is always valid."""
from __future__ import annotations

import math
from typing import TypedDict

from .vocabulary import Direction, Role, direction


class PerturbationObject(TypedDict):
    perturbation_gene_name: str
    ensembl_gene_id: str | None
    n_total: int
    n_up: int
    n_down: int


class PhenotypeObject(TypedDict):
    phenotype_gene_name: str
    ensembl_gene_id: str | None
    base_mean: float | None
    n_total: int
    n_up: int
    n_down: int


GeneObject = PerturbationObject | PhenotypeObject


class ChangeObject(TypedDict):
    direction: Direction | None
    log2fc: float | None
    padj: float | None


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def gene(role: Role, name: str, ensembl_gene_id: str | None, n_total: int, n_up: int, n_down: int,
         base_mean: float | None) -> GeneObject:
    """A perturbation or phenotype object: the stored symbol, the Ensembl gene ID of the gene it belongs to (null
    when the reference cannot place it), and its summary counts in that role (0 and a null base_mean when it has
    no significant row there)."""
    if role == "perturbation":
        return {"perturbation_gene_name": name, "ensembl_gene_id": ensembl_gene_id, "n_total": n_total,
                "n_up": n_up, "n_down": n_down}
    return {"phenotype_gene_name": name, "ensembl_gene_id": ensembl_gene_id, "base_mean": finite(base_mean),
            "n_total": n_total, "n_up": n_up, "n_down": n_down}


def change(log2fc: float | None, padj: float | None) -> ChangeObject:
    """A row's change: its direction, log2 fold change and adjusted p-value."""
    return {"direction": direction(log2fc), "log2fc": finite(log2fc), "padj": finite(padj)}
