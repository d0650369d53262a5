"""The load record (docs/ingestion.md, "The load record"): one row per load in catalogue_loads, written as the load
goes, so that an operator sees every load, including one that never finished.

A load's row is written when it starts (`running`), kept alive by a heartbeat from its own connection while the
load works on another, and finished with its outcome:
* `loaded`: PostgreSQL and Elasticsearch both hold the dataset as given;
* `unchanged`: they already did (same checksum);
* `refused`: the files break a rule; nothing changed (the problems are in `detail`);
* `incomplete`: PostgreSQL holds the new rows but Elasticsearch not yet the document (or still holds a deleted
  dataset's): `detail` says what each store holds; running the same load again finishes it;
* `failed`: an error stopped it before PostgreSQL committed; nothing changed;
* `deleted`: the dataset was removed from both stores.
A `running` row whose heartbeat is older than INTERRUPTED_AFTER is shown as `interrupted` (its process died or was
frozen: a killed command, a Lambda timeout): catalogue_load_history and `python -m ingestion history` show it so.
PostgreSQL rolled back whatever that load had not committed.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import asyncpg

Outcome = Literal["running", "loaded", "unchanged", "refused", "incomplete", "failed", "deleted"]
HEARTBEAT_SECONDS = 15.0
INTERRUPTED_AFTER = "2 minutes"  # eight missed heartbeats


class Record:
    """A load's row, on a connection of its own (autocommit), apart from the load's work."""

    def __init__(self, conn: asyncpg.Connection, record_id: int) -> None:
        self.conn, self.id = conn, record_id

    @classmethod
    async def begin(cls, conn: asyncpg.Connection, dataset_id: str, checksum: str | None = None) -> Record:
        record_id = await conn.fetchval(
            "INSERT INTO catalogue_loads (dataset_id, checksum, started_at, heartbeat_at, outcome) "
            "VALUES ($1, $2, now(), now(), 'running') RETURNING id", dataset_id, checksum)
        return cls(conn, record_id)

    async def finish(self, outcome: Outcome, rows: int | None = None, detail: str | None = None,
                     warnings: str | None = None, checksum: str | None = None) -> None:
        await self.conn.execute(
            "UPDATE catalogue_loads SET outcome = $2, rows = coalesce($3, rows), detail = $4, warnings = $5, "
            "checksum = coalesce($6, checksum), finished_at = now() WHERE id = $1",
            self.id, outcome, rows, detail, warnings, checksum)

    @contextlib.asynccontextmanager
    async def heartbeat(self) -> AsyncIterator[None]:
        """While the block runs, the row's heartbeat_at is renewed every HEARTBEAT_SECONDS."""
        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                await self.conn.execute("UPDATE catalogue_loads SET heartbeat_at = now() WHERE id = $1", self.id)
        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def in_transaction(conn: asyncpg.Connection, record_id: int, outcome: Outcome, detail: str,
                         rows: int | None = None, warnings: str | None = None) -> None:
    """Sets a record's outcome inside the caller's transaction, so that it commits (or not) with the data: the
    last statement before the commit (it briefly holds the row, which the heartbeat then waits for)."""
    await conn.execute("UPDATE catalogue_loads SET outcome = $2, detail = $3, rows = coalesce($4, rows), "
                       "warnings = $5, finished_at = now() WHERE id = $1", record_id, outcome, detail, rows, warnings)


async def last_state(conn: asyncpg.Connection, dataset_id: str) -> tuple[Outcome, str | None] | None:
    """The dataset as the stores last held it: (outcome, checksum) of its last loaded, incomplete or deleted
    record, or None when it was never loaded."""
    found = await conn.fetchrow("SELECT outcome, checksum FROM catalogue_loads WHERE dataset_id = $1 AND outcome IN "
                                "('loaded', 'incomplete', 'deleted') ORDER BY id DESC LIMIT 1", dataset_id)
    return (found["outcome"], found["checksum"]) if found else None
