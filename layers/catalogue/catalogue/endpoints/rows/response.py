"""The answer of a /v1/datasets/{id}/rows page (SPEC 5.4), as JSON or as TSV; /v1/genes/{gene}/rows (SPEC 9.3) writes
its rows the same way, each with its dataset_id."""
from __future__ import annotations

import math
import re
from typing import Any

from catalogue_common.objects import change, finite, gene
from catalogue_common.vocabulary import direction

TSV_COLUMNS = ("perturbation_gene_name", "phenotype_gene_name", "direction", "log2fc", "padj", "base_mean",
               "perturbation_n_total", "perturbation_n_up", "perturbation_n_down",
               "phenotype_n_total", "phenotype_n_up", "phenotype_n_down")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def row(r: Any) -> dict[str, Any]:
    return {"perturbation": gene("perturbation", r["perturbed_target_symbol"], r["p_ensembl"], r["p_n_total"],
                                 r["p_n_up"], r["p_n_down"], None),
            "change": {**change(r["log2foldchange"], r["padj"]), "base_mean": finite(r["basemean"])},
            "phenotype": gene("phenotype", r["gene"], r["e_ensembl"], r["e_n_total"], r["e_n_up"], r["e_n_down"],
                              r["e_base_mean"])}


def _number(value: float | None) -> str:
    """Empty for null and non-finite numbers; else the shortest text that round-trips the double."""
    return repr(value) if value is not None and math.isfinite(value) else ""


def _name(value: str) -> str:
    """A tab, newline or other control character in a name (which the project's loaders refuse) becomes a space."""
    return value if value.isprintable() else CONTROL.sub(" ", value)


def _fields(r: Any) -> list[str]:
    return [_name(r["perturbed_target_symbol"]), _name(r["gene"]), direction(r["log2foldchange"]) or "",
            _number(r["log2foldchange"]), _number(r["padj"]), _number(r["basemean"]),
            str(r["p_n_total"]), str(r["p_n_up"]), str(r["p_n_down"]),
            str(r["e_n_total"]), str(r["e_n_up"]), str(r["e_n_down"])]


def tsv(records: list[Any], with_dataset: bool = False) -> bytes:
    """One header line and one line per row, in TSV_COLUMNS; `with_dataset`: the row's dataset_id first (rows of
    several datasets, /v1/genes/{gene}/rows)."""
    if not with_dataset:
        lines = ["\t".join(TSV_COLUMNS), *("\t".join(_fields(r)) for r in records)]
    else:
        lines = ["\t".join(("dataset_id", *TSV_COLUMNS)),
                 *("\t".join((_name(r["dataset_id"]), *_fields(r))) for r in records)]
    return ("\n".join(lines) + "\n").encode()
