"""Writes datasets into PostgreSQL (docs/contract.md, "Loading data").

* `replace` / `delete`: one dataset, in one transaction that also brings every derived relation up to date for
  that dataset (relations.refill_dataset), so a reader (one statement, one snapshot) sees the dataset's old state
  or its new one, never a mix; a refused or interrupted load changes nothing. Loads are serialised by an advisory
  lock (the derived catalogue-wide rows are shared by all datasets).
* `load_all`: a whole catalogue at once (make data, a first deployment): COPY into a staging schema without
  indexes, then indexes and relations in bulk, then one transaction swaps it in.
Every load is recorded in catalogue_loads.
"""
from __future__ import annotations

import asyncio
import io
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from . import answers, downloads, records, relations
from .dataset import Dataset
from .problems import MAX_PROBLEMS, Problem, Problems

SQL = Path(__file__).parent / "sql"
STAGING = "catalogue_load"
COPY_BATCH = 200_000
Outcome = records.Outcome
Progress = Callable[[int], object]  # called with the number of rows just written (its result is ignored)


def sql(name: str) -> str:
    return (SQL / name).read_text()


def csv_chunks(dataset: Dataset, ingested_at: datetime) -> list[pa.Table]:
    """The rows in perturb_seq's column order, in batches."""
    n = dataset.rows.num_rows
    table = pa.table({"dataset_id": pa.array([dataset.dataset_id] * n, pa.string()) if n else pa.array([], pa.string()),
                      **{name: dataset.rows[name] for name in dataset.rows.column_names},
                      "max_ingested_at": pa.array([ingested_at.replace(tzinfo=None)] * n, pa.timestamp("us"))})
    return [table.slice(start, COPY_BATCH) for start in range(0, n, COPY_BATCH)]


async def _csv(batches: list[pa.Table], progress: Progress | None) -> AsyncIterator[bytes]:
    # CSV as COPY reads it: empty unquoted field = NULL; Arrow writes nan/inf/-inf, which PostgreSQL reads, and the
    # shortest text that round-trips each double.
    for batch in batches:
        out = io.BytesIO()
        pa_csv.write_csv(batch, out, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
        yield out.getvalue()
        if progress:
            progress(batch.num_rows)


async def copy_rows(conn: asyncpg.Connection, dataset: Dataset, ingested_at: datetime, schema: str = "public",
                    progress: Progress | None = None) -> None:
    await conn.copy_to_table("perturb_seq", schema_name=schema, format="csv",
                             source=_csv(csv_chunks(dataset, ingested_at), progress))


async def ensure_schema(conn: asyncpg.Connection) -> None:
    """An empty catalogue (table, indexes, derived relations, load record, roles) where there is none. Only DDL
    that is needed runs: the writer role may not create anything, and needs not."""
    if await conn.fetchval("SELECT to_regclass('public.perturb_seq') IS NOT NULL AND to_regclass("
                           "'public.gene_reference') IS NOT NULL AND to_regclass('public.catalogue_state') IS NOT NULL "
                           "AND to_regclass('public.dataset_downloads') IS NOT NULL "
                           f"AND to_regclass('public.{answers.GROUPS}') IS NOT NULL "
                           "AND EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'catalogue_loads' "
                           "AND column_name = 'heartbeat_at')"):
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('catalogue-ingest'))")
        if not await conn.fetchval("SELECT to_regclass('public.perturb_seq') IS NOT NULL"):
            await conn.execute(sql("table.sql") + sql("indexes.sql") + sql("extra_indexes.sql")
                               + sql("gene_rows_indexes.sql") + sql("reference.sql") + relations.build_all()
                               + answers.CREATE)
        elif not await conn.fetchval(f"SELECT to_regclass('public.{answers.GROUPS}') IS NOT NULL"):
            await answers.upgrade(conn)  # a catalogue from before the stored groups
        await conn.execute(sql("loads.sql") + sql("reference.sql") + sql("roles.sql"))


async def record(conn: asyncpg.Connection, dataset_id: str, outcome: Outcome, started: datetime,
                 checksum: str | None = None, rows: int | None = None, detail: str | None = None,
                 warnings: str | None = None) -> None:
    """A finished load's row in one statement (a whole-catalogue load's datasets; records.Record for the others)."""
    await conn.execute("INSERT INTO catalogue_loads (dataset_id, checksum, rows, started_at, finished_at, outcome, "
                       "detail, warnings) VALUES ($1, $2, $3, $4, now(), $5, $6, $7)",
                       dataset_id, checksum, rows, started, outcome, detail, warnings)


UNPLACED = """
SELECT d.dataset_id, array_agg(g.gene_name ORDER BY g.gene_name COLLATE "C") AS symbols
FROM (SELECT DISTINCT dataset_id, gene_name FROM perturb_seq_gene_datasets WHERE dataset_id = ANY($1)) d
JOIN perturb_seq_genes g USING (gene_name)
WHERE g.gene_id IS NULL AND EXISTS (SELECT FROM gene_reference)
GROUP BY d.dataset_id"""


async def warn_unplaced(conn: asyncpg.Connection, datasets: list[Dataset] | list[Loaded]) -> None:
    """Adds to each dataset's warnings how many of its symbols the gene reference cannot place (when there is a
    reference): one query for all of them."""
    by_id = {d.dataset_id: d for d in datasets}
    for record_ in await conn.fetch(UNPLACED, list(by_id)):
        unplaced, dataset = record_["symbols"], by_id[record_["dataset_id"]]
        first = ", ".join(unplaced[:MAX_PROBLEMS])
        more = f" and {len(unplaced) - MAX_PROBLEMS} more" if len(unplaced) > MAX_PROBLEMS else ""
        dataset.warnings.add(Problem(dataset.results_file, None, None, f"{len(unplaced)} gene symbols the gene "
                                     f"reference cannot place (each stays a gene of its own): {first}{more}"))


async def _views(conn: asyncpg.Connection) -> set[str]:
    """The summaries that are materialised views (production's layout): refreshed whole, not per dataset."""
    return {r[0] for r in await conn.fetch("SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'")}


async def _refill(conn: asyncpg.Connection, dataset_id: str, genes: list[str]) -> None:
    views = await _views(conn)
    values: dict[str | None, list[Any]] = {"dataset": [dataset_id], "genes": [genes], None: []}
    for statement, parameter in relations.refill_dataset():
        if statement.split()[2] not in views:  # DELETE FROM <name> / INSERT INTO <name>
            await conn.execute(statement, *values[parameter])
    for view in sorted(views):  # the global refresh, proportional to the whole table (measured in BENCHMARKS.md)
        await conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
    await answers.refill(conn, dataset_id)  # last: it reads the summaries and the relations above


def symbols(dataset: Dataset) -> list[str]:
    both = pa.chunked_array([*dataset.rows["perturbed_target_symbol"].chunks, *dataset.rows["gene"].chunks])
    return cast(list[str], pc.unique(both).to_pylist())  # results.py refuses an empty (null) symbol


async def replace(conn: asyncpg.Connection, dataset: Dataset, record_id: int,
                  progress: Progress | None = None, files: downloads.Store | None = None) -> None:
    """The dataset's rows and everything derived from them, replaced in one transaction, which also records that
    PostgreSQL now holds them (`incomplete` until the document is written: records.py), and names its whole-dataset
    files, written and uploaded inside it (downloads.py; `files` None: none are written, the old ones unnamed)."""
    started = datetime.now(UTC)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('catalogue-ingest'))")
        before = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT gene_name FROM perturb_seq_gene_datasets WHERE dataset_id = $1", dataset.dataset_id)]
        await conn.execute("DELETE FROM perturb_seq WHERE dataset_id = $1", dataset.dataset_id)
        await copy_rows(conn, dataset, started, progress=progress)
        await _refill(conn, dataset.dataset_id, sorted({*before, *symbols(dataset)}))
        await warn_unplaced(conn, [dataset])
        await conn.execute("DELETE FROM dataset_downloads WHERE dataset_id = $1", dataset.dataset_id)
        if files is not None:
            await downloads.replace(conn, files, dataset.dataset_id, dataset.checksum, dataset.document)
        await records.in_transaction(conn, record_id, "incomplete", STORED, dataset.rows.num_rows,
                                     dataset.warnings.report() or None)


STORED = "PostgreSQL holds the new rows; Elasticsearch does not hold the new document yet"
REMOVED = "PostgreSQL no longer holds the dataset; Elasticsearch still holds its document"


async def delete(conn: asyncpg.Connection, dataset_id: str, record_id: int) -> int:
    """Removes the dataset's rows and derived rows in one transaction (recorded `incomplete` until its document is
    removed too); returns how many rows it had."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('catalogue-ingest'))")
        before = [r[0] for r in await conn.fetch(
            "SELECT DISTINCT gene_name FROM perturb_seq_gene_datasets WHERE dataset_id = $1", dataset_id)]
        deleted = await conn.execute("DELETE FROM perturb_seq WHERE dataset_id = $1", dataset_id)
        await conn.execute("DELETE FROM dataset_downloads WHERE dataset_id = $1", dataset_id)
        await _refill(conn, dataset_id, before)
        rows = int(deleted.split()[-1])
        await records.in_transaction(conn, record_id, "incomplete", REMOVED, rows)
    return rows


async def documents_index(conn: asyncpg.Connection) -> str | None:
    """The Elasticsearch generation PostgreSQL's catalogue belongs to (None before the first whole load)."""
    index: str | None = await conn.fetchval("SELECT documents_index FROM catalogue_state")
    return index


async def documents_written(conn: asyncpg.Connection) -> None:
    """Tells the API's warm functions that a document of the catalogue changed in place (catalogue/remembered.py):
    called after Elasticsearch took each dataset's document write or removal, never before. A catalogue made before
    the sequence has none until its next whole load (which makes it: sql/loads.sql); its API remembers nothing."""
    await conn.execute("SELECT nextval(s) FROM to_regclass('public.catalogue_documents_written') s WHERE s IS NOT NULL")


async def _public_relations(conn: asyncpg.Connection) -> dict[str, str]:
    """The catalogue's relations in the public schema that a whole load replaces, dependents first: name -> relkind."""
    kinds = {r["relname"]: r["relkind"] for r in await conn.fetch(
        "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "AND relkind IN ('r', 'm')")}
    names = [*answers.NAMES, *(r.name for r in reversed(relations.ALL)), "perturb_seq"]
    return {n: kinds[n] for n in names if n in kinds}


def _drop_public(public: dict[str, str]) -> str:
    return "".join(f"DROP {'MATERIALIZED VIEW' if kind == 'm' else 'TABLE'} public.{name};"
                   for name, kind in public.items())


@dataclass(frozen=True)
class Loaded:
    """What the load record keeps of a dataset copied by a bulk load."""
    dataset_id: str
    checksum: str
    rows: int
    warnings: Problems
    results_file: str


async def start_bulk(conn: asyncpg.Connection) -> datetime:
    """A whole-catalogue load begins: an empty perturb_seq in the staging schema; its rows are then COPYed there
    (copy_rows with schema=STAGING), without indexes (bulk index builds are far faster than row by row)."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {STAGING} CASCADE; CREATE SCHEMA {STAGING}; "
                       f"SET search_path = {STAGING}; {sql('table.sql')}; RESET search_path")
    return datetime.now(UTC)


async def abandon_bulk(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {STAGING} CASCADE")


async def prepare_bulk(conn: asyncpg.Connection, loaded: list[Loaded], production_views: bool = False,
                       phase: Callable[[str], None] = lambda _: None) -> None:
    """Indexes, derived relations and stored answers built in bulk in the staging schema (swap_bulk then swaps
    them in)."""
    await conn.execute(sql("reference.sql"))  # placement reads the reference, which a whole load keeps as it is
    await conn.execute(f"SET search_path = {STAGING}, public")
    phase("indexes")
    # Production has the four indexes of the contract; the project's own layout adds two, which every search
    # answer's top rows read (their measured gain: BENCHMARKS.md). The production layout is loaded without them.
    # Both layouts have the gene rows' two (gene_rows_indexes.sql): production needs them for that route's cost.
    await conn.execute(sql("indexes.sql") + ("" if production_views else sql("extra_indexes.sql"))
                       + sql("gene_rows_indexes.sql"))
    phase("derived relations")
    await conn.execute(relations.build_all(production_views))
    phase("vacuum")
    # Like production's long-settled tables: hint bits and the visibility map set now, not by the first queries.
    await conn.execute("VACUUM (ANALYZE) perturb_seq")
    await conn.execute("".join(f"ANALYZE {r.name};" for r in relations.ALL))
    await warn_unplaced(conn, loaded)  # before the swap, which holds its locks: not while readers wait
    phase("search answers")
    await conn.execute(answers.CREATE)
    await answers.write(conn, [r[0] for r in await conn.fetch("SELECT dataset_id FROM perturb_seq_dataset_statistics")])
    await conn.execute("".join(f"ANALYZE {name};" for name in answers.NAMES))
    await conn.execute("RESET search_path")


async def swap_bulk(conn: asyncpg.Connection, loaded: list[Loaded], started: datetime, generation: str | None,
                    production_views: bool = False, files: dict[str, list[downloads.File]] | None = None) -> None:
    """One transaction swaps the staged catalogue in, with the Elasticsearch generation its documents are in (built
    beforehand: documents.build_generation) and a record of each dataset; it gives way to readers (giving_way)."""
    await conn.execute(sql("loads.sql"))
    await giving_way(conn, lambda: _swap(conn, loaded, started, generation, production_views, files or {}))


async def _swap(conn: asyncpg.Connection, loaded: list[Loaded], started: datetime, generation: str | None,
                production_views: bool, files: dict[str, list[downloads.File]]) -> None:
    public = await _public_relations(conn)
    # The bookkeeping first (tables the swap does not replace: readers see it only at the commit), so that the
    # catalogue's locks, which make readers wait, are held for the DDL alone.
    await conn.execute(FORGOTTEN, started, [d.dataset_id for d in loaded])
    await conn.execute("DELETE FROM catalogue_state; DELETE FROM dataset_downloads")
    await downloads.record(conn, {d.dataset_id: (d.checksum, files[d.dataset_id]) for d in loaded
                                  if d.dataset_id in files})
    if generation is not None:
        await conn.execute("INSERT INTO catalogue_state VALUES ($1)", generation)
    for d in loaded:
        await record(conn, d.dataset_id, "loaded", started, d.checksum, d.rows, warnings=d.warnings.report() or None)
    tables = [f"public.{name}" for name, kind in public.items() if kind == "r"]  # (LOCK refuses materialized views)
    await conn.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")  # all first: then the DDL
    moves = "".join(f"ALTER {'MATERIALIZED VIEW' if production_views and r in relations.SUMMARIES else 'TABLE'} "
                    f"{STAGING}.{r.name} SET SCHEMA public;" for r in relations.ALL)
    await conn.execute(_drop_public(public) + f"ALTER TABLE {STAGING}.perturb_seq SET SCHEMA public;"
                       + moves + "".join(f"ALTER TABLE {STAGING}.{name} SET SCHEMA public;" for name in answers.NAMES)
                       + f"DROP SCHEMA {STAGING};" + sql("roles.sql"))


# How long the swap waits for a lock before it gives way, by attempt (then the last, again): each below
# PostgreSQL's deadlock_timeout (1 s by default, RDS's too), so when a reader and the swap wait for each other the
# swap's wait ends first, and the reader's query goes on (else the deadlock detector may end the reader's).
LOCK_WAITS_MS = (100, 200, 400, 800)
SWAP_ATTEMPTS = 40  # at most ~40 s of giving way: readers hold catalogue locks for one statement at a time
# An autovacuum worker on a catalogue table (after deletes and replaces, common) holds its lock for minutes, and
# PostgreSQL cancels it only for a lock request that has waited deadlock_timeout: while one runs in the database,
# the swap's attempts after the first few (a reader's hold ends in milliseconds) wait this long. Readers queue
# behind it meanwhile; a reader that would close a cycle with it meets the swap's deadlock check, started first,
# which ends the swap's attempt, not the reader.
AUTOVACUUM_WAIT_MS = 3000
AUTOVACUUM = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' " \
             "AND datname = current_database())"


async def giving_way(conn: asyncpg.Connection, work: Callable[[], Awaitable[None]]) -> None:
    """`work` in one transaction serialised with the other loads (the advisory lock, waited for without limit),
    whose lock waits are bounded: when one ends (a reader holds the relation, or waits for it behind the swap's
    own locks), everything is rolled back and tried again a moment later, readers served in between. Readers of
    the API are never the victims of a deadlock with a load, and wait at most LOCK_WAITS_MS for one (while an
    autovacuum worker holds a catalogue table: AUTOVACUUM_WAIT_MS, once PostgreSQL has cancelled the worker)."""
    vacuuming = False
    for attempt in range(SWAP_ATTEMPTS):
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('catalogue-ingest'))")
                wait = AUTOVACUUM_WAIT_MS if vacuuming else LOCK_WAITS_MS[min(attempt, len(LOCK_WAITS_MS) - 1)]
                await conn.execute(f"SET LOCAL lock_timeout = '{wait}ms'")
                await work()
                return
        except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
            if attempt == SWAP_ATTEMPTS - 1:
                raise
            vacuuming = attempt + 1 >= len(LOCK_WAITS_MS) and await conn.fetchval(AUTOVACUUM)
            await asyncio.sleep(random.uniform(0.05, 0.25))  # jitter


# A whole-catalogue load removes every dataset it does not hold: the record says so, or a later load of such a
# dataset with its old files would be taken for unchanged.
FORGOTTEN = """
INSERT INTO catalogue_loads (dataset_id, rows, started_at, finished_at, outcome, detail)
SELECT dataset_id, 0, $1, now(), 'deleted', 'not in a whole-catalogue load'
FROM (SELECT DISTINCT ON (dataset_id) dataset_id, outcome FROM catalogue_loads
      WHERE outcome IN ('loaded', 'deleted') ORDER BY dataset_id, id DESC) last
WHERE outcome = 'loaded' AND dataset_id <> ALL($2::text[])"""
