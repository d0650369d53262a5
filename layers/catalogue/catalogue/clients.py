"""Store clients, created lazily on the event loop that Mangum keeps and reused by every warm invocation.

Mangum runs the ASGI lifespan on every invocation, so clients cannot live there: they live at module level,
bound to the running loop, and are rebuilt only if the loop changes (a new process or a test's own loop).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import asyncpg
import elasticsearch
from aws_lambda_powertools import Logger
from elasticsearch import AsyncElasticsearch

from .config import Settings, settings
from .errors import StoreTimeout, StoreUnavailable

logger = Logger()

# A pooled connection that died while the environment was idle or frozen (server restart, idle close, proxy
# recycling): the read is retried once on a fresh connection.
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError, OSError,
)


def connection_lost(error: BaseException) -> bool:
    """asyncpg reports a closed connection as a bare InterfaceError, but raises InterfaceError too (and its DataError)
    for a wrong argument count or a value it cannot encode: a bug in the request, which no retry fixes."""
    if isinstance(error, CONNECTION_LOST):
        return True
    return type(error) is asyncpg.InterfaceError and "closed" in str(error)
TIMEOUTS = (asyncio.TimeoutError, asyncpg.QueryCanceledError)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's RESET ALL on release (a round trip per request): the API only runs single read-only
    statements and never changes session state (no SET, LISTEN, advisory locks or temporary tables)."""


class Stores:
    def __init__(self, config: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.config, self.loop = config, loop
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.es = AsyncElasticsearch(
            config.es_url, request_timeout=config.store_timeout, max_retries=1, retry_on_timeout=False,
            basic_auth=(config.es_username, config.es_password or "") if config.es_username else None)

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                c = self.config
                # One request at a time per Lambda environment: two connections cover a replacement in flight.
                self._pool = await asyncpg.create_pool(
                    host=c.ps_host, port=c.ps_port, user=c.ps_user, password=c.ps_password, database=c.ps_db,
                    min_size=0, max_size=2, timeout=c.store_timeout, command_timeout=c.store_timeout,
                    statement_cache_size=c.ps_statement_cache_size, max_inactive_connection_lifetime=300,
                    reset=_keep_session,
                    server_settings={"application_name": "catalogue-api",
                                     "statement_timeout": str(int(c.store_timeout * 1000)),
                                     # The best plan depends on the genes asked for (common, rare, absent):
                                     # never let a cached generic plan ignore them.
                                     "plan_cache_mode": "force_custom_plan",
                                     # Small index reads only; and a rows page relies on a serial Append.
                                     "max_parallel_workers_per_gather": "0"})
            return self._pool

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        for attempt in (1, 2):
            try:
                pool = await self.pool()
                return await pool.fetch(sql, *args)
            except TIMEOUTS as error:
                raise StoreTimeout("The database did not answer in time.") from error
            except (*CONNECTION_LOST, asyncpg.InterfaceError) as error:
                if not connection_lost(error):
                    raise
                if attempt == 2:
                    raise StoreUnavailable("The database cannot be reached.") from error
                logger.warning("database connection lost; retrying once", extra={"error": repr(error)})
        raise AssertionError("unreachable")

    async def ping_postgres(self, timeout: float) -> None:
        """One trivial query on a pooled connection, within `timeout` (connecting included); reads no data."""
        async def ping() -> None:
            pool = await self.pool()
            await pool.fetchval("SELECT 1", timeout=timeout)
        await asyncio.wait_for(ping(), timeout)

    async def ping_elasticsearch(self, timeout: float) -> None:
        """The cluster's health (no index is read), within `timeout`."""
        await self.es.options(request_timeout=timeout).cluster.health(timeout=f"{int(timeout * 1000)}ms")

    async def close(self) -> None:
        """For tools and tests that end their loop; a Lambda environment just freezes with its clients open."""
        await self.es.close()
        if self._pool is not None:
            self._pool.terminate()  # no graceful wait: the server may be gone already

    async def search(self, **body: Any) -> dict:
        try:
            return (await self.es.search(index=self.config.es_index, **body)).body
        except elasticsearch.ConnectionTimeout as error:
            raise StoreTimeout("The search engine did not answer in time.") from error
        except elasticsearch.ConnectionError as error:
            raise StoreUnavailable("The search engine cannot be reached.") from error


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Independent store calls at once (an Elasticsearch search and a PostgreSQL query): the request waits for the
    slower, not for both in turn. Every call is awaited to its end; the first failure, in argument order, is raised."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


_stores: Stores | None = None


def stores() -> Stores:
    global _stores
    loop = asyncio.get_running_loop()
    if _stores is None or _stores.loop is not loop:
        _stores = Stores(settings(), loop)
    return _stores
