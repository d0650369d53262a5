"""Reads and checks one dataset's results file (docs/contract.md, "Loading data"): `results.tsv`, `results.csv`
(either optionally `.gz`) or `results.parquet`, into an Arrow table of perturb_seq's value columns, or the problems
that refuse it.

Every check is vectorised (pyarrow compute over whole columns), so a 10 M-row file is checked in seconds; only
offending rows are looked at one by one, to name their lines. Text files are read with every column as text, so
that a malformed number is reported with its line instead of being guessed at.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from catalogue_common import symbols

from .problems import MAX_PROBLEMS, Problem, Problems

# Canonical column -> accepted header names (case-insensitive, any order; other columns are ignored).
COLUMNS = {
    "perturbed_target_symbol": ("perturbed_target_symbol", "perturbation_gene_name"),
    "gene": ("gene", "phenotype_gene_name"),
    "log2foldchange": ("log2foldchange", "log2fc"),
    "padj": ("padj",),
    "basemean": ("basemean", "base_mean"),
}
SYMBOLS = ("perturbed_target_symbol", "gene")
NUMBERS = ("log2foldchange", "padj", "basemean")
NAMES = tuple(f"results.{kind}" for kind in ("tsv", "tsv.gz", "csv", "csv.gz", "parquet"))
NULL_TOKENS = ["", "NA"]
# A decimal number, or NaN / Inf / Infinity with an optional sign, in any case (RE2, as pyarrow uses).
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?(nan|inf|infinity))$"
type Column = pa.ChunkedArray[Any] | pa.Array[Any]  # a file's column, or a value computed from columns


def find(folder: Path) -> list[Path]:
    """The results files in a dataset folder (exactly one is expected)."""
    return [folder / name for name in NAMES if (folder / name).is_file()]


def read(path: Path) -> pa.Table:
    """The file as a table: all text for TSV/CSV, as typed for Parquet. Raises pyarrow's errors on bad files."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path)
    parse = pa_csv.ParseOptions(delimiter="\t" if ".tsv" in path.name else ",")
    with pa_csv.open_csv(path, parse_options=parse) as reader:  # the header (gzip is detected by the name)
        names = reader.schema.names
    convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), null_values=[],
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)
    return pa_csv.read_csv(path, read_options=pa_csv.ReadOptions(block_size=64 << 20), parse_options=parse,
                           convert_options=convert)


class Check:
    """The checks of one file, collecting problems with their lines (line 1 is a text file's header)."""

    def __init__(self, path: Path, problems: Problems, warnings: Problems | None = None) -> None:
        self.file, self.problems, self.warnings = path.name, problems, warnings if warnings is not None else Problems()
        self.first_line = 1 if path.name.endswith(".parquet") else 2  # Parquet has rows, not a header line

    def rows(self, mask: Column, column: str, reason: str, values: Column | None = None,
             into: Problems | None = None) -> None:
        """A problem (or a warning, `into`) for each row where `mask` is true: all counted, the first ones named
        with their lines."""
        # pyarrow-stubs take fill_null for coalesce (arguments of one kind); it fills with a Python value.
        where = pc.indices_nonzero(pc.fill_null(mask, False))  # type: ignore[type-var, arg-type]
        if len(where):
            first = cast(list[int], where[:MAX_PROBLEMS].to_pylist())  # indices are never null
            (self.problems if into is None else into).extend(
                [Problem(self.file, i + self.first_line, column,
                         reason + (f": {values[i].as_py()!r}" if values is not None else "")) for i in first],
                len(where))

    def header(self, table: pa.Table) -> dict[str, str] | None:
        """Canonical column -> the file's column name, or None after recording what is missing or ambiguous."""
        found: dict[str, list[str]] = {}
        for name in table.column_names:
            for canonical, accepted in COLUMNS.items():
                if name.strip().lower() in accepted:
                    found.setdefault(canonical, []).append(name)
        for canonical, accepted in COLUMNS.items():
            if canonical not in found:
                self.problems.add(Problem(self.file, 1, canonical,
                                          f"missing column (accepted names: {', '.join(accepted)})"))
            elif len(found[canonical]) > 1:
                self.problems.add(Problem(self.file, 1, canonical,
                                          f"given more than once ({', '.join(found[canonical])})"))
        return None if self.problems else {c: names[0] for c, names in found.items()}

    def symbol(self, column: pa.ChunkedArray[Any], name: str) -> pa.ChunkedArray[Any]:
        if pa.types.is_null(column.type):  # a Parquet column holding only nulls
            column = pc.cast(column, pa.string())
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            self.problems.add(Problem(self.file, None, name, f"must hold text, not {column.type}"))
            return column
        empty = pc.or_kleene(pc.is_null(column), pc.equal(column, pa.scalar("")))
        self.rows(empty, name, "empty gene symbol")
        refused = empty
        for pattern, reason in symbols.REFUSALS:  # one reason per symbol: the first that applies
            found = pc.and_(pc.invert(refused), pc.match_substring_regex(column, pattern))
            self.rows(found, name, f"gene symbol {reason}", column)
            refused = pc.or_(refused, found)
        self.rows(pc.and_(pc.invert(refused), pc.greater(pc.utf8_length(column), pa.scalar(symbols.MAX_LENGTH))), name,
                  f"gene symbol {symbols.TOO_LONG}", pc.utf8_slice_codeunits(column, 0, 40))
        for pattern, reason in symbols.WARNINGS:
            self.rows(pc.match_substring_regex(column, pattern), name, f"gene symbol {reason}", column,
                      into=self.warnings)
        return column

    def number(self, column: pa.ChunkedArray[Any], name: str) -> pa.ChunkedArray[Any]:
        """Text -> double: empty and NA are NULL; NaN, Inf, -Inf (any case) those values; anything else refused."""
        if pa.types.is_floating(column.type) or pa.types.is_integer(column.type) or pa.types.is_null(column.type):
            return pc.cast(column, pa.float64())
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            self.problems.add(Problem(self.file, None, name, f"must hold numbers, not {column.type}"))
            return column
        null = pc.is_in(column, value_set=pa.array(NULL_TOKENS))
        malformed = pc.and_(pc.invert(null), pc.invert(pc.match_substring_regex(column, NUMBER)))
        self.rows(malformed, name, "malformed number", column)
        if pc.any(malformed).as_py():
            return column
        text = pc.if_else(null, pa.scalar(None, pa.string()), column)
        return pc.cast(text, pa.float64())  # type: ignore[return-value]  # pyarrow-stubs: if_else's kind is lost

    def padj(self, padj: pa.ChunkedArray[Any]) -> None:
        finite = pc.is_finite(padj)
        outside = pc.and_(finite, pc.or_(pc.less(padj, pa.scalar(0.0)), pc.greater(padj, pa.scalar(1.0))))
        self.rows(outside, "padj", "a finite padj outside [0, 1]", padj)

    def duplicates(self, perturbation: pa.ChunkedArray[Any], gene: pa.ChunkedArray[Any]) -> None:
        pairs = pa.table({"p": perturbation, "g": gene})
        counts = pairs.group_by(["p", "g"]).aggregate([([], "count_all")])
        repeated = counts.filter(pc.greater(counts["count_all"], pa.scalar(1)))
        if repeated.num_rows:
            # pyarrow-stubs want every argument of one kind; the last is the separator, a Python string here.
            key = pc.binary_join_element_wise(perturbation, gene, "\x1f")  # type: ignore[call-overload]
            twice = pc.binary_join_element_wise(repeated["p"], repeated["g"], "\x1f")  # type: ignore[call-overload]
            self.rows(pc.is_in(key, value_set=twice), "perturbed_target_symbol, gene",
                      "duplicate (perturbation, gene) pair", key)


def check(path: Path, problems: Problems, warnings: Problems | None = None) -> pa.Table | None:
    """perturb_seq's five value columns, in order, or None after adding the problems that refuse the file; symbols
    a person should look at are added to `warnings`."""
    mine = Problems()  # this file's: later checks need the earlier ones of this file to have passed
    try:
        table = read(path)
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        mine.add(Problem(path.name, None, None, f"cannot be read: {error}"))
        table = None
    rows = _checked(table, Check(path, mine, warnings)) if table is not None else None
    problems.extend(mine.found, mine.total)
    return rows


def _checked(table: pa.Table, c: Check) -> pa.Table | None:
    names = c.header(table)
    if names is None:
        return None
    columns = {name: c.symbol(table[names[name]], name) for name in SYMBOLS}
    columns |= {name: c.number(table[names[name]], name) for name in NUMBERS}
    if c.problems:
        return None
    c.padj(columns["padj"])
    c.duplicates(columns["perturbed_target_symbol"], columns["gene"])
    return None if c.problems else pa.table(columns)
