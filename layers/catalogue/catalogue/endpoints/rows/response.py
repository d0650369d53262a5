"""The answer of a /v1/datasets/{id}/rows page (SPEC 5.4), as JSON or as TSV."""
from __future__ import annotations

import re
from typing import Any

from ...objects import change, direction, finite, gene

TSV_COLUMNS = ("perturbation_gene_name", "phenotype_gene_name", "direction", "log2fc", "padj", "base_mean",
               "perturbation_n_total", "perturbation_n_up", "perturbation_n_down",
               "phenotype_n_total", "phenotype_n_up", "phenotype_n_down")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def row(r: Any) -> dict[str, Any]:
    return {"perturbation": gene("perturbation", r["perturbed_target_symbol"], r["p_n_total"], r["p_n_up"],
                                 r["p_n_down"], None),
            "change": {**change(r["log2foldchange"], r["padj"]), "base_mean": finite(r["basemean"])},
            "phenotype": gene("phenotype", r["gene"], r["e_n_total"], r["e_n_up"], r["e_n_down"], r["e_base_mean"])}


def _field(value: Any) -> str:
    """Empty for null and non-finite numbers; floats in their shortest round-tripping form; a tab, newline or
    other control character in a name (which the project's loaders refuse) becomes a space."""
    if isinstance(value, float):
        value = finite(value)
    return "" if value is None else CONTROL.sub(" ", str(value))


def tsv(records: list[Any]) -> bytes:
    lines = ["\t".join(TSV_COLUMNS)]
    for r in records:
        values = (r["perturbed_target_symbol"], r["gene"], direction(r["log2foldchange"]), r["log2foldchange"],
                  r["padj"], r["basemean"], r["p_n_total"], r["p_n_up"], r["p_n_down"], r["e_n_total"], r["e_n_up"],
                  r["e_n_down"])
        lines.append("\t".join(map(_field, values)))
    return ("\n".join(lines) + "\n").encode()
