"""Test helpers that talk to the real stores: plain connections, the loop the layer binds to, the loader."""
from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import zlib
from typing import Any

import asyncpg
from catalogue_common.settings import settings
from elasticsearch import Elasticsearch

from devtools.data import load_data

# One loop for the whole session, as Mangum keeps one per Lambda environment: the layer's clients bind to it.
LOOP = asyncio.new_event_loop()
asyncio.set_event_loop(LOOP)  # Mangum adopts the current loop, so tests and handler share it


def fetch(database: str, sql: str, *args: Any, server_settings: dict[str, str] | None = None) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(settings().superuser_dsn(database), server_settings=server_settings or {})
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()
    return LOOP.run_until_complete(run())  # not asyncio.run: it would unset the loop Mangum relies on


def search_engine() -> Elasticsearch:
    """A client of the local Elasticsearch node the settings name."""
    return Elasticsearch(**settings().elasticsearch_options())


def drop_index(name: str) -> None:
    """An index the ingestion wrote, gone: its generations (and with them its alias), or a concrete index of that
    name (ingestion/documents.py)."""
    es = search_engine()
    generations = list(es.indices.get(index=f"{name}-*").body)  # deletes must name indexes, not patterns
    if generations:
        es.indices.delete(index=",".join(generations))
    if es.indices.exists(index=name) and not es.indices.exists_alias(name=name):
        es.indices.delete(index=name)


def load_catalogue(argv: list[str]) -> None:
    """The project's own loader; its asyncio.run unsets the current loop, which Mangum would then replace."""
    load_data.main(argv)
    asyncio.set_event_loop(LOOP)


def run(awaitable: Any) -> Any:
    return LOOP.run_until_complete(awaitable)


def payload(response: dict) -> bytes:
    """The identity body of a Lambda HTTP response, as a client reads it: base64 and gzip undone."""
    raw = response.get("body") or ""
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    return zlib.decompress(data, 31) if data and headers.get("content-encoding") == "gzip" else data


def body(response: dict) -> Any:
    return json.loads(payload(response))


def terminate_backend(pid: int) -> None:
    """pg_terminate_backend on the server, from another thread and loop: the layer's loop does not run meanwhile, as
    between two invocations of a Lambda environment, so its idle connection reads the server's FATAL only on its next
    call (directly, or through the pooler, which then finds its server connection gone)."""
    async def terminate() -> None:
        connection = await asyncpg.connect(settings().superuser_dsn("postgres"))
        try:
            assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await connection.close()
    thread = threading.Thread(target=lambda: asyncio.run(terminate()))
    thread.start()
    thread.join()
    time.sleep(0.2)  # the FATAL and the close are in the socket's buffer before the next call
