"""The answer of a /v1/datasets/{id}/rows page (docs/contract.md, "Dataset rows"), as JSON or as TSV."""
from __future__ import annotations

from typing import Any

from catalogue_common.objects import change, finite, gene
from catalogue_common.tsv import page


def row(r: Any) -> dict[str, Any]:
    return {"perturbation": gene("perturbation", r["perturbed_target_symbol"], r["p_ensembl"], r["p_n_total"],
                                 r["p_n_up"], r["p_n_down"], None),
            "change": {**change(r["log2foldchange"], r["padj"]), "base_mean": finite(r["basemean"])},
            "phenotype": gene("phenotype", r["gene"], r["e_ensembl"], r["e_n_total"], r["e_n_up"], r["e_n_down"],
                              r["e_base_mean"])}


def tsv(records: list[Any]) -> bytes:
    """A `format=tsv` page (catalogue_common.tsv: the same writer as the whole-dataset files)."""
    return page(records)
