"""Loading the gene reference (docs/contract.md, "Genes"): a TSV with the columns of HGNC's complete set.

Columns `symbol` (the approved symbol, required), `ensembl_gene_id`, `alias_symbol` and `prev_symbol`; header names
in any case, other columns ignored; lists separated by `|`, values optionally double-quoted. An approved symbol
given twice, an Ensembl gene ID given to two genes, a malformed Ensembl gene ID or an empty symbol refuses the file,
with its line and reason; nothing is changed then.

A load replaces the whole reference in one transaction that also re-places every stored symbol
(perturb_seq_genes) and rewrites the stored search answers (their objects carry Ensembl IDs): a reader
sees the old reference with the old placement, or the new with the new, never a mix. Loads are recorded.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import asyncpg
import pyarrow as pa
import pyarrow.csv as pa_csv
from catalogue_common import genes as names

from . import answers, records, relations
from .problems import Problem, Problems, Refused

RECORD_ID = "(gene reference)"  # its rows in catalogue_loads
COLUMNS = ("symbol", "ensembl_gene_id", "alias_symbol", "prev_symbol")


@dataclass(frozen=True)
class Gene:
    approved_symbol: str
    ensembl_gene_id: str | None
    previous_symbols: list[str]
    aliases: list[str]


@dataclass
class Reference:
    genes: list[Gene] = field(default_factory=list)
    checksum: str = ""

    def names(self) -> list[tuple[str, str, int]]:
        """(key, kind, gene_id) of every name, gene ids numbered from 1 in file order; each once."""
        out: dict[tuple[str, str, int], None] = {}
        for gene_id, gene in enumerate(self.genes, start=1):
            out[names.key(gene.approved_symbol), "approved", gene_id] = None
            if gene.ensembl_gene_id:
                out[names.key(gene.ensembl_gene_id), "ensembl", gene_id] = None
            for kind, values in (("previous", gene.previous_symbols), ("alias", gene.aliases)):
                for value in values:
                    out[names.key(value), kind, gene_id] = None
        return list(out)


def _list(value: str) -> list[str]:
    return [v.strip().strip('"').strip() for v in value.split("|") if v.strip().strip('"').strip()]


def _table(path: Path) -> pa.Table:
    parse = pa_csv.ParseOptions(delimiter="\t", quote_char='"', newlines_in_values=False)
    with pa_csv.open_csv(path, parse_options=parse) as reader:
        header = reader.schema.names
    convert = pa_csv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), null_values=[],
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)
    return pa_csv.read_csv(path, parse_options=parse, convert_options=convert)


def _column(table: pa.Table, name: str | None) -> list[str]:
    """A column's values (strings: `_table` reads none as null), or empty strings for a column the file lacks."""
    if name is None:
        return [""] * table.num_rows
    return cast(list[str], table[name].to_pylist())


def read(path: Path) -> Reference:
    """The reference in `path`, or Refused with its problems (file, line, column, reason)."""
    problems = Problems()
    try:
        table = _table(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise Refused(RECORD_ID, _problem(problems, path, None, None, f"cannot be read: {error}")) from None
    columns = {name.strip().lower(): name for name in table.column_names}
    if "symbol" not in columns:
        raise Refused(RECORD_ID, _problem(problems, path, 1, "symbol", "missing column (the approved symbol)"))
    values = {c: _column(table, columns.get(c)) for c in COLUMNS}
    reference = Reference(checksum=file_checksum(path))
    seen_symbols: dict[str, int] = {}
    seen_ensembl: dict[str, int] = {}
    for i in range(table.num_rows):
        gene = _gene(path, i + 2, {c: values[c][i] for c in COLUMNS}, seen_symbols, seen_ensembl, problems)
        if gene is not None:
            reference.genes.append(gene)
    if problems:
        raise Refused(RECORD_ID, problems)
    return reference


def _gene(path: Path, line: int, row: dict[str, str], seen_symbols: dict[str, int], seen_ensembl: dict[str, int],
          problems: Problems) -> Gene | None:
    symbol = row["symbol"].strip().strip('"').strip()
    ensembl = row["ensembl_gene_id"].strip().strip('"').strip() or None
    if not symbol:
        _problem(problems, path, line, "symbol", "empty approved symbol")
        return None
    if symbol in seen_symbols:
        _problem(problems, path, line, "symbol",
                 f"approved symbol {symbol!r} given twice (also on line {seen_symbols[symbol]})")
        return None
    seen_symbols[symbol] = line
    if ensembl is not None:
        if not names.is_ensembl(ensembl):
            _problem(problems, path, line, "ensembl_gene_id", f"not an Ensembl gene ID: {ensembl!r}")
            return None
        ensembl = ensembl.split(".")[0]
        if names.key(ensembl) in seen_ensembl:
            _problem(problems, path, line, "ensembl_gene_id",
                     f"{ensembl} given to two genes (also on line {seen_ensembl[names.key(ensembl)]})")
            return None
        seen_ensembl[names.key(ensembl)] = line
    return Gene(symbol, ensembl, _list(row["prev_symbol"]), _list(row["alias_symbol"]))


def _problem(problems: Problems, path: Path, line: int | None, column: str | None, reason: str) -> Problems:
    problems.add(Problem(path.name, line, column, reason))
    return problems


def file_checksum(path: Path) -> str:
    """sha256 of the file: a reload of the same reference is recorded with the same checksum."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def load(conn: asyncpg.Connection, reference: Reference, source: str, date: str, record_id: int,
               progress: Callable[[int], object] | None = None) -> None:
    """Replaces the reference, re-places every stored symbol and rewrites the stored answers, in one transaction
    that also finishes the load's record."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('catalogue-ingest'))")
        await conn.execute("DELETE FROM gene_reference_names; DELETE FROM gene_reference; "
                           "DELETE FROM gene_reference_source")
        await conn.copy_records_to_table("gene_reference", records=[
            (i, g.approved_symbol, g.ensembl_gene_id, g.previous_symbols, g.aliases)
            for i, g in enumerate(reference.genes, start=1)])
        await conn.copy_records_to_table("gene_reference_names", records=reference.names())
        await conn.execute("INSERT INTO gene_reference_source VALUES ($1, $2, $3, now())", source, date,
                           len(reference.genes))
        for statement in relations.GENES.refill("true"):
            await conn.execute(statement)
        await answers.rebuild(conn, progress)
        await records.in_transaction(conn, record_id, "loaded", f"{source}, {date}", len(reference.genes))


def default_date(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
