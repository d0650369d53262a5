"""(Re)create the catalogue schema and load deterministic demo data into local PostgreSQL and Elasticsearch.

Everything is built in a staging schema and swapped in with one transaction at the end, so a failed or
interrupted load leaves the previous data untouched and re-running is always safe.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import queue
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import demo_data
from elasticsearch import Elasticsearch, helpers
from elasticsearch.exceptions import ApiError as ElasticsearchApiError
from elasticsearch.exceptions import TransportError

SQL = Path(__file__).parent / "sql"
STAGING = "catalogue_load"
PG_DSN = "postgresql://postgres@127.0.0.1:55432/{database}"
ES_URL = "http://127.0.0.1:59200"
VIEWS = ("perturb_seq_summary_perturbation", "perturb_seq_summary_effect")
# Load-time relations of the catalogue endpoints (after_load.sql).
TABLES = ("perturb_seq_gene_datasets", "perturb_seq_dataset_statistics", "perturb_seq_genes",
          "perturb_seq_catalogue_statistics")


def log(message: str, end: str = "\n") -> None:
    print(message, end=end, file=sys.stderr, flush=True)


async def ensure_database(database: str) -> None:
    conn = await asyncpg.connect(PG_DSN.format(database="postgres"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


def _produce(datasets: list[demo_data.Dataset], seed: int, out: queue.Queue, digest: hashlib._Hash) -> None:
    try:
        for index, dataset in enumerate(datasets):
            for chunk in demo_data.csv_chunks(dataset, seed, index):
                digest.update(chunk)
                out.put(chunk)
    except BaseException as error:  # surfaced by the consumer, never swallowed
        out.put(error)
    out.put(None)


async def _chunks(datasets: list[demo_data.Dataset], seed: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    # Generation runs in a thread so that it overlaps with PostgreSQL parsing the previous chunk.
    pending: queue.Queue = queue.Queue(maxsize=4)
    threading.Thread(target=_produce, args=(datasets, seed, pending, digest), daemon=True).start()
    total, loaded, began, shown = sum(d.rows for d in datasets), 0, time.monotonic(), -1.0
    while (chunk := await asyncio.to_thread(pending.get)) is not None:
        if isinstance(chunk, BaseException):
            raise chunk
        loaded += chunk.count(b"\n")
        if (now := time.monotonic()) - shown >= 1 or loaded == total:  # at most one progress line a second
            shown = now
            log(f"\r  perturb_seq: {loaded:,} / {total:,} rows ({100 * loaded // total}%), {now - began:.0f} s", end="")
        yield chunk
    log("")


async def load_postgres(database: str, datasets: list[demo_data.Dataset], seed: int) -> str:
    """Loads the rows, builds indexes and views, and swaps them in; returns the sha256 of the rows loaded."""
    await ensure_database(database)
    conn = await asyncpg.connect(PG_DSN.format(database=database))
    digest = hashlib.sha256()
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {STAGING} CASCADE; CREATE SCHEMA {STAGING};"
                           f"SET search_path = {STAGING}; {(SQL / 'table.sql').read_text()}")
        await conn.copy_to_table("perturb_seq", schema_name=STAGING, source=_chunks(datasets, seed, digest),
                                 format="csv")
        began = time.monotonic()
        log("  building indexes and summary views ...", end="")
        await conn.execute((SQL / "after_load.sql").read_text())
        # Like production's long-settled tables: hint bits and the visibility map set now, not by the first
        # queries (which would otherwise write pages) or by autovacuum at some unpredictable moment.
        await conn.execute("VACUUM (ANALYZE) perturb_seq")
        await conn.execute("".join(f"ANALYZE {relation};" for relation in (*VIEWS, *TABLES)))
        log(f" {time.monotonic() - began:.0f} s")
        # The data describes itself, so tools can tell whether a load is already in place (make bench).
        description = json.dumps({"rows": sum(d.rows for d in datasets), "datasets": len(datasets), "seed": seed,
                                  "schema": schema_version(),
                                  "sha256": digest.hexdigest()})
        await conn.execute(f"COMMENT ON TABLE perturb_seq IS '{description}'")
        async with conn.transaction():
            await conn.execute(
                "RESET search_path;"
                + "".join(f"DROP MATERIALIZED VIEW IF EXISTS public.{view};" for view in VIEWS)
                + "".join(f"DROP TABLE IF EXISTS public.{table};" for table in ("perturb_seq", *TABLES))
                + "".join(f"ALTER TABLE {STAGING}.{table} SET SCHEMA public;" for table in ("perturb_seq", *TABLES))
                + "".join(f"ALTER MATERIALIZED VIEW {STAGING}.{view} SET SCHEMA public;" for view in VIEWS)
                + f"DROP SCHEMA {STAGING};" + (SQL / "role.sql").read_text())
    finally:
        await conn.close()
    return digest.hexdigest()


async def loaded(database: str) -> dict | None:
    """What load_postgres put into `database` (rows, datasets, seed, sha256), or None."""
    try:
        conn = await asyncpg.connect(PG_DSN.format(database=database))
    except asyncpg.InvalidCatalogNameError:  # no such database
        return None
    try:
        comment = await conn.fetchval("SELECT obj_description(to_regclass('public.perturb_seq'), 'pg_class')")
        return json.loads(comment) if comment else None
    finally:
        await conn.close()


def schema_version() -> str:
    """A digest of the schema SQL: data loaded by another schema is not reused."""
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(SQL.glob("*.sql")))).hexdigest()[:16]


def in_place(database: str, es_index: str | None, rows: int, datasets: int, seed: int) -> bool:
    """Whether `database` (and `es_index`, unless None) already hold this load, by this schema."""
    loop = asyncio.new_event_loop()  # not asyncio.run: the caller's current loop (a test's) stays set
    try:
        have = loop.run_until_complete(loaded(database))
    finally:
        loop.close()
    wanted = {"rows": rows, "datasets": datasets, "seed": seed, "schema": schema_version()}
    if not have or {k: have.get(k) for k in wanted} != wanted:
        return False
    if es_index is None:
        return True
    es = Elasticsearch(ES_URL)
    return bool(es.indices.exists(index=es_index)) and es.count(index=es_index)["count"] == datasets


def validate(document: dict) -> None:
    for name in demo_data.LABEL_FIELDS:
        if len(document.get(f"{name}_labels", [])) > 1:
            raise ValueError(f"{document['dataset_id']}: {name}_labels holds more than one entry")


def load_elasticsearch(index: str, documents: list[dict]) -> None:
    for document in documents:
        validate(document)
    es = Elasticsearch(ES_URL, request_timeout=60)
    es.options(ignore_status=404).indices.delete(index=index)
    # No explicit mapping: production indexes were made by dynamic mapping (text + .keyword), so are these.
    es.indices.create(index=index, settings={"number_of_shards": 1, "number_of_replicas": 0})
    helpers.bulk(es, ({"_index": index, "_id": d["dataset_id"], "_source": d} for d in documents), refresh=True)
    log(f"  {index}: {len(documents)} documents")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--datasets", type=int, default=12)
    parser.add_argument("--database", default="catalogue")
    parser.add_argument("--es-index", default="dataset-summary-v1")
    parser.add_argument("--no-es", action="store_true", help="load PostgreSQL only")
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        datasets = demo_data.plan(args.rows, args.datasets, args.seed)
    except ValueError as error:
        sys.exit(f"make data: {error}")
    log(f"loading {args.rows:,} rows in {args.datasets} datasets (seed {args.seed}) into {args.database}")
    try:
        checksum = asyncio.run(load_postgres(args.database, datasets, args.seed))
        if not args.no_es:
            load_elasticsearch(args.es_index, demo_data.documents(datasets))
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ElasticsearchApiError, TransportError) as error:
        sys.exit(f"\nmake data failed: {error!r}\nThe previous data is untouched. Is `make up` running?")
    log(f"done in {time.monotonic() - began:.1f} s; data checksum sha256:{checksum}")


if __name__ == "__main__":
    main()
