"""`make bench`: the API's benchmark on 20 M rows (QUICK: 1 M): GET /v1/search (devtools/bench/search.py), then the
catalogue routes (devtools/bench/catalogue.py), on the benchmark catalogue.

    python -m devtools.bench.api [--quick] [--reps 200] [--extra-indexes] [--only search|catalogue]
    make bench [QUICK=1] [REPS=n] [EXTRA_INDEXES=1]

Builds the data set once (SEED=1, 12 datasets; reused while the loaded data says it is that set). --extra-indexes
builds the ingestion's optional extra_indexes.sql first (without it they are dropped), so each run states which
indexes it had. Each part writes .local/bench/<scale>[-extra][-catalogue].json and its section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import asyncpg
from catalogue import clients
from catalogue_common.settings import settings
from elasticsearch import Elasticsearch

from devtools.bench import catalogue, search
from devtools.bench.harness import OUT, ROOT, SCALES, configure, ensure_data, log, machine

# Where the optional indexes are declared: the ingestion layer's SQL.
EXTRA_INDEXES = ROOT / "layers" / "ingestion" / "ingestion" / "sql" / "extra_indexes.sql"


async def set_extra_indexes(database: str, wanted: bool) -> None:
    """Builds extra_indexes.sql, or drops what it builds, so each run states which indexes it had."""
    sql = EXTRA_INDEXES.read_text()
    names = [line.split()[5] for line in sql.splitlines() if line.startswith("CREATE INDEX")]
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        present = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1)", names)
        if wanted and present < len(names):
            log(f"extra indexes: building {', '.join(names)} (a minute or two at 20 M rows)")
            await conn.execute("SET maintenance_work_mem = '1GB';" + sql)
        elif not wanted and present:
            await conn.execute("".join(f"DROP INDEX IF EXISTS {name};" for name in names))
    finally:
        await conn.close()


def servers(loop: asyncio.AbstractEventLoop, database: str) -> tuple[str, str]:
    """The versions of PostgreSQL and Elasticsearch, for the report."""
    conn = loop.run_until_complete(asyncpg.connect(settings().superuser_dsn(database)))
    try:
        postgresql = loop.run_until_complete(conn.fetchval("SHOW server_version"))
    finally:
        loop.run_until_complete(conn.close())
    return postgresql, Elasticsearch(**settings().elasticsearch_options()).info()["version"]["number"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 M rows instead of 20 M")
    parser.add_argument("--reps", type=int, default=200, help="repetitions per shape and series")
    parser.add_argument("--extra-indexes", action="store_true", help="with the optional extra_indexes.sql")
    parser.add_argument("--only", choices=("search", "catalogue"), help="one part only (default: both)")
    args = parser.parse_args()
    scale = "1M" if args.quick else "20M"
    configure(scale)
    ensure_data(scale)
    rows, database, _ = SCALES[scale]
    asyncio.run(set_extra_indexes(database, args.extra_indexes))
    variant = f"{scale}, SPEC 2.2 indexes" + (" + extra indexes" if args.extra_indexes else "")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # Mangum adopts the current loop: the handler shares the layer's clients
    postgresql, es_version = servers(loop, database)
    store = OUT / f"{scale}{'-extra' if args.extra_indexes else ''}"
    try:
        if args.only != "catalogue":
            print(search.run(loop, scale=scale, variant=variant, reps=args.reps, postgresql=postgresql,
                             es_version=es_version, store=store.with_name(f"{store.name}.json")))
        if args.only != "search":
            log(f"catalogue routes: {args.reps} rounds ...")
            print(catalogue.run(
                loop, scale=scale, variant=variant, rows=rows, database=database, reps=args.reps,
                store=store.with_name(f"{store.name}-catalogue.json"),
                common={"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                        "servers": f"PostgreSQL {postgresql}, Elasticsearch {es_version}"}))
    finally:
        if clients._stores is not None:
            loop.run_until_complete(clients._stores.close())


if __name__ == "__main__":
    main()
