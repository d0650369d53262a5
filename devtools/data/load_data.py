"""`make data`: deterministic demo data written as input files (docs/contract.md, "Input files"), then loaded through
the project's own ingestion (layers/ingestion), exactly as a group's own files would be.

    python -m devtools.data.load_data [--rows 200000] [--seed 1] [--datasets 12] [--sizes spread|heavy]
                                      [--database catalogue]

The files go to .local/demo-files/<rows>-<datasets>-<seed>[-heavy]-<generator>/ (made once; the same arguments give
the same bytes; --drop-files removes them after a successful load, for catalogues too large to keep twice).
A whole-catalogue load builds everything in a staging schema and swaps it in with one transaction, so a failed or
interrupted load leaves the previous data untouched and re-running is always safe.

After the load, this module (not the ingestion, which has no use for it) records what was loaded in the table's
comment: rows, datasets, seed and a digest of the schema. `in_place` reads it back, so `make data`, the benchmarks
and the tests reuse a catalogue that already holds their load. The swap replaces the table, comment and all, so a
comment never outlives the data it describes; an interrupted run leaves none, and the next run loads again.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import botocore.exceptions
from catalogue_common import search
from catalogue_common.settings import settings
from elasticsearch import Elasticsearch
from elasticsearch.exceptions import ApiError as ElasticsearchApiError
from elasticsearch.exceptions import TransportError
from ingestion import genes, run, store

from devtools.data import demo_data
from devtools.data import genes as demo_genes

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / ".local" / "demo-files"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def schema_version() -> str:
    """A digest of what decides the loaded data (the ingestion, the shared layer it computes answers with, the demo
    data's generator): data loaded by another version is not reused."""
    sources = [*sorted(Path(store.__file__).parent.rglob("*.py")), *sorted(store.SQL.glob("*.sql")),
               *sorted(Path(search.__file__).parents[1].rglob("*.py")), Path(demo_data.__file__)]
    return hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]


def generator_version() -> str:
    """A digest of the demo data's generator: files written by another version are not reused."""
    return hashlib.sha256(Path(demo_data.__file__).read_bytes()).hexdigest()[:12]


def demo_files(rows: int, datasets: int, seed: int, sizes: str = "spread") -> Path:
    """The demo data as input files, written once per (rows, datasets, seed, sizes) and version of the generator."""
    folder = FILES / f"{rows}-{datasets}-{seed}{'' if sizes == 'spread' else f'-{sizes}'}-{generator_version()}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        began, step = time.monotonic(), max(rows // 20, 1)
        reported = [0]

        def progress(done: int, written: int) -> None:  # about every 5 % of the rows
            if written >= reported[0] + step or done == datasets:
                reported[0] = written
                log(f"  demo files: {done:,}/{datasets:,} datasets, {written:,}/{rows:,} rows, "
                    f"{time.monotonic() - began:.0f} s")
        demo_data.write(folder, demo_data.plan(rows, datasets, seed, sizes), seed, progress)
        (folder / ".complete").touch()
        log(f"  demo files: {folder.relative_to(ROOT)} written in {time.monotonic() - began:.1f} s")
    return folder


async def ensure_database(database: str) -> None:
    conn = await asyncpg.connect(settings().superuser_dsn("postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def record(database: str, key: dict[str, Any]) -> None:
    """`key` (what was loaded) kept as the comment of the table just loaded."""
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        literal = await conn.fetchval("SELECT quote_literal($1)", json.dumps(key))
        await conn.execute(f"COMMENT ON TABLE public.perturb_seq IS {literal}")
    finally:
        await conn.close()


async def loaded(database: str) -> dict | None:
    """What a demo load put into `database` (rows, datasets, seed, schema), or None."""
    try:
        conn = await asyncpg.connect(settings().superuser_dsn(database))
    except asyncpg.InvalidCatalogNameError:  # no such database
        return None
    try:
        comment = await conn.fetchval("SELECT obj_description(to_regclass('public.perturb_seq'), 'pg_class')")
        return json.loads(comment) if comment else None
    finally:
        await conn.close()


def in_place(database: str, es_index: str | None, rows: int, datasets: int, seed: int,
             genes: str = "demo", sizes: str = "spread", files: bool = True) -> bool:
    """Whether `database` (and `es_index`, unless None) already hold this load, by this schema, with this gene
    reference (`--genes`) and these sizes (`--sizes`; a load's key names them unless they are the default), and
    (unless `files` is False) the download files it names are in the local S3 store."""
    loop = asyncio.new_event_loop()  # not asyncio.run: the caller's current loop (a test's) stays set
    try:
        have = loop.run_until_complete(loaded(database))
    finally:
        loop.close()
    wanted = {"rows": rows, "datasets": datasets, "seed": seed, "schema": schema_version(),
              "genes": reference_checksum(reference_of(genes))}
    if not have or {k: have.get(k) for k in wanted} != wanted or have.get("sizes", "spread") != sizes:
        return False
    if es_index is None:
        return True
    es = Elasticsearch(**settings().elasticsearch_options())
    if not (es.indices.exists(index=es_index) and es.count(index=es_index)["count"] == datasets):
        return False
    return not files or files_in_place(database)


def files_in_place(database: str) -> bool:
    """Whether the download files the catalogue names are in the local S3 store (moto's server keeps them in memory:
    a restart of `make up` loses them, and the catalogue is then loaded again)."""
    loop = asyncio.new_event_loop()
    try:
        keys = loop.run_until_complete(_named_files(database))
    finally:
        loop.close()
    if not keys:
        return False
    s3, bucket = boto3.client("s3", **settings().s3_options()), settings().at(database).downloads_bucket
    try:
        s3.head_object(Bucket=bucket, Key=keys[0])
        s3.head_object(Bucket=bucket, Key=keys[-1])
    except botocore.exceptions.ClientError:
        return False
    return True


async def _named_files(database: str) -> list[str]:
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        if not await conn.fetchval("SELECT to_regclass('public.dataset_downloads') IS NOT NULL"):
            return []
        return [r[0] for r in await conn.fetch("SELECT object_key FROM dataset_downloads ORDER BY object_key")]
    finally:
        await conn.close()


def reference_of(choice: str) -> demo_genes.Reference | None:
    """`--genes`: `demo` (org.Hs.eg.db, fetched and converted once), `none`, or a file with HGNC's columns."""
    if choice == "none":
        return None
    if choice == "demo":
        return demo_genes.reference()
    path = Path(choice)
    return demo_genes.Reference(path, path.name, genes.default_date(path), 0)


def reference_checksum(reference: demo_genes.Reference | None) -> str | None:
    return genes.file_checksum(reference.path) if reference else None


async def load_reference(database: str, es_index: str, reference: demo_genes.Reference) -> None:
    refusal = await run.load_genes(settings("ingest").at(database, es_index), reference.path, reference.source,
                                   reference.date, quiet=True)
    if refusal:
        sys.exit(f"make data: the gene reference was refused:\n{refusal}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=12)
    parser.add_argument("--sizes", choices=demo_data.SIZES, default="spread",
                        help="dataset sizes: spread (three orders of magnitude) or heavy (a real catalogue's tail)")
    parser.add_argument("--drop-files", action="store_true", help="remove the input files after a successful load")
    parser.add_argument("--database", default="catalogue")
    parser.add_argument("--es-index", default="dataset-summary-v1")
    parser.add_argument("--no-es", action="store_true", help="load PostgreSQL only")
    parser.add_argument("--genes", default="demo", help="the gene reference: demo (org.Hs.eg.db, the default), "
                                                        "none, or a file with HGNC's columns")
    parser.add_argument("--production-views", action="store_true",
                        help="summaries as materialised views, as production has them (default: maintained tables)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        demo_data.plan(args.rows, args.datasets, args.seed, args.sizes)
    except ValueError as error:
        sys.exit(f"make data: {error}")
    log(f"loading {args.rows:,} rows in {args.datasets} datasets (seed {args.seed}, {args.sizes} sizes) into "
        f"{args.database}")
    folder = demo_files(args.rows, args.datasets, args.seed, args.sizes)
    reference = reference_of(args.genes)
    key = {"rows": args.rows, "datasets": args.datasets, "seed": args.seed, "schema": schema_version(),
           "production_views": args.production_views, "genes": reference_checksum(reference)}
    if args.sizes != "spread":
        key["sizes"] = args.sizes
    try:
        asyncio.run(ensure_database(args.database))
        summary = asyncio.run(run.load_all(settings("ingest").at(args.database, args.es_index),
                                           sorted(p for p in folder.iterdir() if p.is_dir()),
                                           args.production_views, with_documents=not args.no_es))
        if not summary.refusals:
            if reference is not None:  # every stored symbol placed anew, the stored answers rewritten
                asyncio.run(load_reference(args.database, args.es_index, reference))
            asyncio.run(record(args.database, key))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ElasticsearchApiError, TransportError) as error:
        sys.exit(f"\nmake data failed: {error!r}\nThe previous data is untouched. Is `make up` running?")
    if summary.refusals:
        sys.exit("\n".join(summary.lines()))
    if args.drop_files:
        shutil.rmtree(folder)
    log("\n".join(summary.lines()) + f"\ndone in {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
