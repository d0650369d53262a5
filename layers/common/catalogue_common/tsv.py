"""Rows as TSV (docs/contract.md, "Rows of a dataset", "Rows of a gene" and "Dataset files"): the API's `format=tsv`
pages, and the columns and name rule of the ingestion's whole-dataset files (which pyarrow writes, for speed: see
ingestion/downloads.py): one header line, one line per row, `\\n` line ends, empty fields for null and non-finite
numbers, numbers as the shortest text that reads back as the same double.

A record is any mapping with the columns of the rows queries (layers/catalogue/.../rows/query.py and the gene rows'
select the same names): perturbed_target_symbol, gene, log2foldchange, padj, basemean, p_n_total, p_n_up,
p_n_down, e_n_total, e_n_up, e_n_down, and for the gene rows dataset_id.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, Protocol

from .vocabulary import direction

COLUMNS = ("perturbation_gene_name", "phenotype_gene_name", "direction", "log2fc", "padj", "base_mean",
           "perturbation_n_total", "perturbation_n_up", "perturbation_n_down",
           "phenotype_n_total", "phenotype_n_up", "phenotype_n_down")
# A gene's rows across datasets (/v1/genes/{gene}/rows): the dataset first, then the page's columns.
GENE_COLUMNS = ("dataset_id", *COLUMNS)
# The whole-dataset file's columns: the dataset first, the page's columns, then both genes' Ensembl gene IDs.
FILE_COLUMNS = ("dataset_id", *COLUMNS, "perturbation_ensembl_gene_id", "phenotype_ensembl_gene_id")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Row(Protocol):
    """A row by column name: an asyncpg Record or a dict."""
    def __getitem__(self, key: str, /) -> Any: ...


def number(value: float | None) -> str:
    """Empty for null and non-finite numbers; else the shortest text that round-trips the double."""
    return repr(value) if value is not None and math.isfinite(value) else ""


def name(value: str | None) -> str:
    """A tab, newline or other control character in a name (which the project's loaders refuse) becomes a space."""
    if value is None:
        return ""
    return value if value.isprintable() else CONTROL.sub(" ", value)


def fields(r: Row) -> list[str]:
    """The page columns of one row."""
    return [name(r["perturbed_target_symbol"]), name(r["gene"]), direction(r["log2foldchange"]) or "",
            number(r["log2foldchange"]), number(r["padj"]), number(r["basemean"]),
            str(r["p_n_total"]), str(r["p_n_up"]), str(r["p_n_down"]),
            str(r["e_n_total"]), str(r["e_n_up"]), str(r["e_n_down"])]


def page(records: Iterable[Row]) -> bytes:
    """A `format=tsv` page: COLUMNS, then the rows."""
    return "".join(["\t".join(COLUMNS) + "\n", *("\t".join(fields(r)) + "\n" for r in records)]).encode()


def gene_page(records: Iterable[Row]) -> bytes:
    """A `format=tsv` page of /v1/genes/{gene}/rows (rows of several datasets): GENE_COLUMNS, then the rows."""
    return "".join(["\t".join(GENE_COLUMNS) + "\n",
                    *("\t".join([name(r["dataset_id"]), *fields(r)]) + "\n" for r in records)]).encode()
