"""python -m ingestion load SOURCE | replace SOURCE | delete DATASET_ID | genes FILE [--source S] [--date D]
                   | history [DATASET_ID]

SOURCE is one dataset folder (holding metadata.json) or a folder of dataset folders. `load` replaces those datasets
one by one; `replace` replaces the whole catalogue by them, in one swap (datasets SOURCE does not hold are deleted;
any refusal refuses it all, and nothing changes; readers see the old catalogue or the new one: docs/ingestion.md,
"Whole-catalogue loads"). FILE is a gene reference with
the columns of HGNC's complete set (symbol, ensembl_gene_id, alias_symbol, prev_symbol). Connection settings come
from the environment, read by catalogue_common.settings like the API's (TLS included); exit status 1 when a dataset
was refused, 2 on an error (a malformed setting among them).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import asyncpg
from catalogue_common.settings import ConfigurationError, Settings, settings
from elasticsearch.exceptions import ApiError, TransportError

from . import dataset, documents, run, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingestion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="PostgreSQL database (default: PS_DB, else catalogue)")
    parser.add_argument("--es-index", help="Elasticsearch index (default: ES_INDEX, else dataset-summary-v1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("load", help="load (replace) datasets").add_argument("source", type=Path)
    commands.add_parser("replace", help="replace the whole catalogue by these datasets").add_argument("source",
                                                                                                   type=Path)
    commands.add_parser("delete", help="remove a dataset from both stores").add_argument("dataset_id")
    reference = commands.add_parser("genes", help="load (replace) the gene reference")
    reference.add_argument("file", type=Path)
    reference.add_argument("--source", help="what the reference is (default: the file's name), shown by /v1/summary")
    reference.add_argument("--date", help="its date (default: the file's modification date)")
    commands.add_parser("history", help="the load record").add_argument("dataset_id", nargs="?")
    args = parser.parse_args(argv)
    try:
        target = settings("ingest").at(args.database, args.es_index)
    except ConfigurationError as error:
        print(f"ingestion: {error}", file=sys.stderr)
        return 2
    try:
        if args.command in ("load", "replace"):
            return _load(target, args)
        if args.command == "genes":
            return _genes(target, args)
        if args.command == "delete":
            outcome, rows = asyncio.run(run.delete(target, args.dataset_id))
            print(f"{args.dataset_id}: {outcome} ({rows:,} rows)" + (
                f"; {store.REMOVED}: run the delete again to finish it" if outcome == "incomplete" else ""),
                  file=sys.stderr)
            return 0 if outcome == "deleted" else 1
        for line in asyncio.run(history(target, args.dataset_id)):
            print(line)
        return 0
    except documents.MissingGeneration as error:
        print(f"ingestion: {error}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ApiError, TransportError) as error:
        print(f"ingestion failed: {error!r}\nPostgreSQL rolled back what the dataset in progress had not committed; "
              "`python -m ingestion history` shows what each load did.", file=sys.stderr)
        return 2


def _load(target: Settings, args: argparse.Namespace) -> int:
    if not args.source.is_dir():
        print(f"{args.source}: not a folder", file=sys.stderr)
        return 2
    folders = dataset.folders(args.source)
    load = run.load_all if args.command == "replace" else run.load
    summary = asyncio.run(load(target, folders, quiet=args.quiet))
    print("\n".join(summary.lines()), file=sys.stderr)
    return 1 if summary.refusals or summary.incomplete else 0


def _genes(target: Settings, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        print(f"{args.file}: not a file", file=sys.stderr)
        return 2
    refusal = asyncio.run(run.load_genes(target, args.file, args.source, args.date, quiet=args.quiet))
    print(str(refusal) if refusal else f"{args.file}: gene reference loaded", file=sys.stderr)
    return 1 if refusal else 0


async def history(target: Settings, dataset_id: str | None) -> list[str]:
    conn = await run.connect(target)
    try:
        await store.ensure_schema(conn)
        records = await conn.fetch("SELECT * FROM catalogue_load_history WHERE $1::text IS NULL OR dataset_id = $1 "
                                   "ORDER BY id DESC LIMIT 100", dataset_id)
    finally:
        await conn.close()
    return [history_line(r) for r in records]


def history_line(r: asyncpg.Record) -> str:
    """One load: when it started, what, its outcome (`interrupted`: it stopped without finishing), rows,
    checksum, how long, and its detail's first line."""
    took = f"{(r['finished_at'] - r['started_at']).total_seconds():.1f}s" if r["finished_at"] else "-"
    detail = (r["detail"] or "").splitlines()[0] if r["detail"] else ""
    return (f"{r['started_at']:%Y-%m-%d %H:%M:%S} {r['dataset_id']} {r['outcome']} rows={r['rows']} "
            f"checksum={(r['checksum'] or '')[:12]} {took}" + (f" {detail}" if detail else ""))


if __name__ == "__main__":
    sys.exit(main())
