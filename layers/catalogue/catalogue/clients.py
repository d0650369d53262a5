"""Store clients, created lazily on the event loop that Mangum keeps and reused by every warm invocation.

Mangum runs the ASGI lifespan on every invocation, so clients cannot live there: they live at module level,
bound to the running loop, and are rebuilt only if the loop changes (a new process or a test's own loop).

Every store call of a request shares the request's deadline (`request_deadline`, set by `function.py` from the
Lambda context): each call gets the time left, at most STORE_TIMEOUT_SECONDS, and past it the request answers 504.

The PostgreSQL sessions' settings (read-only transactions, a server-side statement_timeout, custom plans only, no
parallel plans, no JIT) are the `catalogue_api` role's defaults (ingestion/sql/roles.sql), not startup parameters: both
stages connect through RDS Proxy, and a transaction pooler need not carry a startup parameter to the server
connections it lends (PgBouncer refuses one it does not track, "unsupported startup parameter: statement_timeout",
every request then 503; told to ignore it, it drops it silently). So the pool sends only application_name, which
poolers pass on. Tested through PgBouncer in transaction mode with PS_STATEMENT_CACHE_SIZE=0
(tests/catalogue/test_pgbouncer.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import asyncpg
from aws_lambda_powertools import Logger, Tracer
from catalogue_common.settings import Settings, settings

from .errors import DataIntegrity, StoreTimeout, StoreUnavailable

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy
    from elastic_transport import AsyncTransport  # imported on first use at run time (Stores.es)

    Connection = PoolConnectionProxy[asyncpg.Record]  # what the pool lends

# The one Tracer (Powertools shares one configuration between instances: the first made sets it). Nothing is patched:
# `traced` records each store call itself, and auto-patching would import botocore and aiohttp (to patch them) at
# every traced cold start, about 0.1 s (BENCHMARKS.md, "Cold start as deployed").
logger, tracer = Logger(), Tracer(auto_patch=False)

# A pooled connection that died while the environment was idle or frozen (server restart, idle close, proxy
# recycling): the read is retried once on a fresh connection. InternalClientError too: when the server has ended a
# pooled connection (a restart's fast shutdown, pg_terminate_backend, a failover) and a call reaches it before the
# loop has processed the close, asyncpg's protocol is still consuming the server's FATAL ("cannot switch to state 12;
# another operation (2) is in progress"); that connection is terminated, never reused.
OUT_OF_STEP = asyncpg.InternalClientError
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError, OSError, OUT_OF_STEP,
)


def connection_lost(error: BaseException) -> bool:
    """asyncpg reports a closed connection as a bare InterfaceError, but raises InterfaceError too (and its DataError)
    for a wrong argument count or a value it cannot encode: a bug in the request, which no retry fixes."""
    if isinstance(error, CONNECTION_LOST):
        return True
    return type(error) is asyncpg.InterfaceError and "closed" in str(error)
TIMEOUTS = (asyncio.TimeoutError, asyncpg.QueryCanceledError)
# Elasticsearch has lost the generation of documents PostgreSQL's catalogue names (generations.py).
MISSING_DOCUMENTS = "The catalogue's dataset documents are missing; an operator must reload the whole catalogue."

# When the current request must have its answer (time.monotonic()); None: no deadline but each call's own timeout.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


@contextlib.contextmanager
def request_deadline(at: float | None) -> Iterator[None]:
    """Store calls made inside share the deadline `at` (a time.monotonic() value)."""
    token = _deadline.set(at)
    try:
        yield
    finally:
        _deadline.reset(token)


async def _within[T](seconds: float, call: Awaitable[T], on_timeout: Callable[[], None] = lambda: None) -> T:
    """`call`'s result, or TimeoutError after `seconds` at once: the call is then abandoned (`on_timeout` first,
    then cancelled) without waiting for it to wind down, which may need the very server that does not answer."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        on_timeout()
        task.cancel()
        raise
    if not done:
        on_timeout()
        task.cancel()
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved" log
        raise TimeoutError
    return task.result()


async def _fetch(sql: str, args: tuple[Any, ...], timeout: float, connection: Connection) -> list[asyncpg.Record]:
    return await connection.fetch(sql, *args, timeout=timeout)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's RESET ALL on release (a round trip per request): the API only runs single read-only
    statements and never changes session state (no SET, LISTEN, advisory locks or temporary tables)."""


class Stores:
    def __init__(self, config: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.config, self.loop = config, loop
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        # Made on first use: a function that never reads Elasticsearch never imports it.
        self._es: AsyncTransport | None = None

    async def _postgres_password(self) -> str | None:
        """Called by asyncpg for every new connection. Reading a secret may reach Secrets Manager or SSM (when its
        cache has expired): off the event loop, so a concurrent Elasticsearch call is not held up."""
        return await asyncio.to_thread(self.config.postgres_password)

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                c = self.config
                # One request at a time per Lambda environment: two connections cover a replacement in flight.
                self._pool = await asyncpg.create_pool(
                    **c.postgres_options(password=self._postgres_password),
                    min_size=0, max_size=2, timeout=c.store_timeout, command_timeout=c.store_timeout,
                    max_inactive_connection_lifetime=300, reset=_keep_session,
                    # application_name only: what a pooler passes (the module's docstring).
                    server_settings={"application_name": "catalogue-api"})
            return self._pool

    def time_left(self, message: str) -> float:
        """Seconds the next store call may take: what is left until the request's deadline, at most
        STORE_TIMEOUT_SECONDS; StoreTimeout(message) if the deadline has passed."""
        at = _deadline.get()
        left = self.config.store_timeout if at is None else min(self.config.store_timeout, at - time.monotonic())
        if left <= 0:
            raise StoreTimeout(message)
        return left

    async def _on_connection[T](self, seconds: float, work: Callable[[Connection], Awaitable[T]]) -> T:
        """`work` on a pooled connection within `seconds`, connecting included. A connection that has not answered
        in time is terminated, not cancelled gracefully: asyncpg's cancel request (and the release that waits for
        it) would wait on the same unresponsive server. The next call connects afresh."""
        held: list[Connection] = []

        async def run() -> T:
            pool = await self.pool()
            connection = await pool.acquire(timeout=seconds)
            held.append(connection)
            try:
                return await work(connection)
            except (TimeoutError, asyncio.CancelledError, OUT_OF_STEP):
                connection.terminate()
                raise
            finally:
                await pool.release(connection)

        def terminate() -> None:
            for connection in held:
                connection.terminate()
        return await _within(seconds, run(), terminate)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with traced("postgresql"):
            return await self._fetch(sql, args)

    async def _fetch(self, sql: str, args: tuple[Any, ...]) -> list[asyncpg.Record]:
        for attempt in (1, 2):
            try:
                left = self.time_left("The database did not answer in time.")
                return await self._on_connection(left, partial(_fetch, sql, args, left))
            except TIMEOUTS as error:
                raise StoreTimeout("The database did not answer in time.") from error
            except asyncpg.InvalidAuthorizationSpecificationError as error:
                # Refused credentials (a rotated password whose old value is still cached): not reachable for now.
                raise StoreUnavailable("The database cannot be reached.") from error
            except (*CONNECTION_LOST, asyncpg.InterfaceError) as error:
                if not connection_lost(error):
                    raise
                if attempt == 2:
                    raise StoreUnavailable("The database cannot be reached.") from error
                logger.warning("database connection lost; retrying once", extra={"error": repr(error)})
        raise AssertionError("unreachable")

    async def ping_postgres(self, timeout: float) -> None:
        """One trivial query on a pooled connection, within `timeout` (connecting included); reads no data."""
        timeout = min(timeout, self.time_left("The database did not answer in time."))
        await self._on_connection(timeout, lambda connection: connection.fetchval("SELECT 1", timeout=timeout))

    @property
    def es(self) -> AsyncTransport:
        """Elasticsearch's own HTTP transport (elastic-transport, the layer the official client is built on), made on
        first use: the API makes three kinds of request, so it does without the client's generated API, about 0.1 s
        of every cold start that reads Elasticsearch and 12 MB of the layer (docs/decisions.md, "Elasticsearch's
        transport, not its client")."""
        if self._es is None:
            from . import transport
            self._es = transport.connect(self.config)
        return self._es

    async def ping_elasticsearch(self, timeout: float) -> None:
        """The cluster's health (no index is read), within `timeout`."""
        timeout = min(timeout, self.time_left("The search engine did not answer in time."))
        status, _ = await self._request("GET", f"/_cluster/health?timeout={int(timeout * 1000)}ms", None, timeout)
        if status >= 300:
            raise StoreUnavailable(f"The search engine answered {status}.")

    async def close(self) -> None:
        """For tools and tests that end their loop; a Lambda environment just freezes with its clients open."""
        if self._es is not None:
            await self._es.close()
        if self._pool is not None:
            self._pool.terminate()  # no graceful wait: the server may be gone already

    async def search(self, index: str | None = None, **body: Any) -> dict[str, Any]:
        """An Elasticsearch search of `index` (default: ES_INDEX, the alias) with this request body (the Search API's
        fields: query, size, _source, sort, search_after, aggs...), within the request's deadline."""
        async with traced("elasticsearch"):
            return await self._elasticsearch(f"/{quote(index or self.config.es_index, safe='')}/_search", body)

    async def found(self, index: str, ids: list[str]) -> set[str]:
        """Which of these document _ids `index` (a concrete index) holds, as of its last refresh (as a search sees
        it): one multi-get without sources, within the request's deadline. A multi-get answers 200 and reports a
        missing index or an unavailable shard per document: those are the errors a search raises."""
        if not ids:
            return set()
        async with traced("elasticsearch"):
            answer = await self._elasticsearch(f"/{quote(index, safe='')}/_mget?_source=false&realtime=false",
                                               {"ids": ids})
        docs = answer["docs"]
        if errors := [doc["error"] for doc in docs if "error" in doc]:
            if any(error.get("type") == "index_not_found_exception" for error in errors):
                raise DataIntegrity(MISSING_DOCUMENTS)
            raise StoreUnavailable("The search engine cannot be reached.")
        return {doc["_id"] for doc in docs if doc["found"]}

    async def _elasticsearch(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` to `target`, within the request's deadline; the answer's JSON."""
        left = self.time_left("The search engine did not answer in time.")
        status, answer = await self._request("POST", target, body, left)
        if status >= 400:
            # The node answers but cannot serve: 503 while the index's primary shards are not (yet) allocated, as
            # during a start (search_phase_execution_exception), or a cluster block; 429 when it rejects work.
            if status in (429, 503):
                raise StoreUnavailable("The search engine cannot be reached.")
            if status == 404:  # the generation PostgreSQL's catalogue names is gone (documents.py)
                raise DataIntegrity(MISSING_DOCUMENTS)
            raise RuntimeError(f"Elasticsearch answered {status} to {target}: {str(answer)[:500]}")
        found: dict[str, Any] = answer
        return found

    async def _request(self, method: str, target: str, body: dict[str, Any] | None,
                       seconds: float) -> tuple[int, Any]:
        """One request within `seconds`: the transport's own timeout closes the connection; _within also bounds its
        retry after a lost connection. Its status and decoded body (statuses are not errors here)."""
        import elastic_transport  # loaded by the first `es` already

        from . import transport
        try:
            call = self.es.perform_request(method, target, body=body, headers=transport.JSON_HEADERS,
                                           request_timeout=seconds)
            answered = await _within(seconds, call)
        except (TimeoutError, elastic_transport.ConnectionTimeout) as error:
            raise StoreTimeout("The search engine did not answer in time.") from error
        except elastic_transport.ConnectionError as error:
            raise StoreUnavailable("The search engine cannot be reached.") from error
        return answered.meta.status, answered.body


@contextlib.asynccontextmanager
async def traced(store: str) -> AsyncIterator[None]:
    """A store call as an X-Ray subsegment annotated with its store (searchable: `annotation.store = "postgresql"`);
    no response is recorded (a page of rows would exceed a segment's size)."""
    async with tracer.provider.in_subsegment_async(name=f"## {store}") as subsegment:
        subsegment.put_annotation("store", store)
        yield


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Independent store calls at once (an Elasticsearch search and a PostgreSQL query): the request waits for the
    slower, not for both in turn. Every call is awaited to its end; the first failure, in argument order, is raised."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


_stores: Stores | None = None


def warm() -> None:
    """Imports what the first Elasticsearch call would (a SnapStart snapshot then holds it already loaded)."""
    from . import transport  # noqa: F401


def forget() -> None:
    """Drops the clients (after a SnapStart restore: connections made before the snapshot are not to be trusted,
    and every restored environment must open its own); the next request makes new ones."""
    global _stores
    _stores = None


def stores() -> Stores:
    global _stores
    loop = asyncio.get_running_loop()
    if _stores is None or _stores.loop is not loop:
        _stores = Stores(settings(), loop)
    return _stores
