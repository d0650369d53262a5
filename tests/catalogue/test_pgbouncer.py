"""The API as both stages deploy it: PostgreSQL through a transaction pooler (RDS Proxy there, Debian's PgBouncer 1.18
in transaction mode here: devtools/local/pgbouncer.py) with PS_STATEMENT_CACHE_SIZE=0.

A server connection then serves one transaction of one client, then one of any other. So nothing a session carries
survives: a startup parameter the pooler does not track is refused ("unsupported startup parameter"), a named
prepared statement may be looked for on another server connection. The sessions' settings are the roles' defaults
(ingestion/sql/roles.sql), which every server connection the pooler opens has; the clients send only
application_name. The ingestion through the pooler: tests/ingestion/test_pgbouncer.py.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from catalogue import clients
from catalogue_common.settings import settings

from devtools.local import pgbouncer
from devtools.local.lambda_runtime import LambdaContext
from tests import api
from tests.catalogue.endpoints.test_rows import special_dataset, walk
from tests.support import LOOP, body, fetch, payload, run, terminate_backend
from tests.test_template import API_EVENTS, ROOT, expected_answer

# The API's sessions, whoever connects and however: the catalogue_api role's defaults (roles.sql).
API_SESSION = {"default_transaction_read_only": "on", "statement_timeout": "5s",
               "plan_cache_mode": "force_custom_plan", "max_parallel_workers_per_gather": "0", "jit": "off"}
WRITER_SESSION = {"synchronous_commit": "on"}
# What PgBouncer passes from a startup packet (it refuses any other parameter): its tracked parameters.
POOLER_PASSES = {"client_encoding", "datestyle", "timezone", "standard_conforming_strings", "application_name"}
# Each setting as SHOW prints it, and where its value came from (`user`: the role's default).
SETTINGS_SQL = "SELECT name, current_setting(name) AS value, source FROM pg_settings WHERE name = ANY($1::text[])"


async def _settings_of(user: str, port: int, database: str, names: list[str]) -> dict[str, tuple[str, str]]:
    """A bare connection as `user` (no server_settings, no statement cache): the session as the role makes it."""
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user=user, database=database, statement_cache_size=0)
    try:
        return {r["name"]: (r["value"], r["source"]) for r in await conn.fetch(SETTINGS_SQL, names)}
    finally:
        await conn.close()


@pytest.mark.parametrize("via", ["postgresql", "pgbouncer"])
@pytest.mark.parametrize(("user", "wanted"), [("catalogue_api", API_SESSION), ("catalogue_ingest", WRITER_SESSION)])
def test_the_roles_sessions_have_their_settings_when_the_client_sends_none(catalogue: dict, pooler: int, via: str,
                                                                            user: str, wanted: dict[str, str]):
    """The settings the API's answers and costs depend on come from the role (source `user`: ALTER ROLE ... SET),
    not from a startup packet that a pooler refuses or drops."""
    port = pooler if via == "pgbouncer" else settings().ps_port
    pgbouncer.console(f"RECONNECT {catalogue['database']}")  # new server connections: none made before this test
    got = run(_settings_of(user, port, catalogue["database"], list(wanted)))
    assert got == {name: (value, "user") for name, value in wanted.items()}


def test_the_store_clients_send_only_what_a_pooler_passes(catalogue: dict, through_pooler):
    stores = through_pooler()
    pgbouncer.console(f"RECONNECT {catalogue['database']}")
    sent = run(stores.pool())._connect_kwargs["server_settings"]
    assert {name.lower() for name in sent} <= POOLER_PASSES, sent
    [row] = run(stores.fetch("SELECT current_user, current_setting('application_name') AS application_name, "
                             "current_setting('statement_timeout') AS statement_timeout, "
                             "current_setting('plan_cache_mode') AS plan_cache_mode, "
                             "current_setting('max_parallel_workers_per_gather') AS max_parallel_workers_per_gather, "
                             "current_setting('jit') AS jit, "
                             "current_setting('default_transaction_read_only') AS default_transaction_read_only"))
    assert dict(row) == {"current_user": "catalogue_api", "application_name": "catalogue-api", **API_SESSION}


def test_the_templates_store_timeout_ends_before_the_roles_statement_timeout():
    """The client gives up first (STORE_TIMEOUT_SECONDS); the role's statement_timeout only stops a statement whose
    client has gone (its connection terminated on timeout, the server not told)."""
    for route in api.ROUTES:
        assert float(route.environment["STORE_TIMEOUT_SECONDS"]) <= int(API_SESSION["statement_timeout"][:-1])


def pooled_transactions(database: str) -> int:
    return sum(int(row["total_xact_count"]) for row in pgbouncer.console("SHOW STATS") if row["database"] == database)


def test_every_api_event_answers_through_the_pooler_as_directly(catalogue: dict, with_stores, through_pooler,
                                                               monkeypatch):
    """Every event of every API function (events/), each query shape its endpoint sends: through the pooler the same
    status and the same body as from PostgreSQL directly (health: the same statuses, its timings aside)."""
    with_stores()
    direct = clients._stores
    pooled = through_pooler()
    before = pooled_transactions(catalogue["database"])
    for path in API_EVENTS:
        event = json.loads(path.read_text())
        function = api.function(f"functions/{path.parent.name}")
        answers = []
        for stores in (direct, pooled):
            monkeypatch.setattr(clients, "_stores", stores)
            answers.append(function.handler(event, LambdaContext(function.__name__)))
        name = str(path.relative_to(ROOT / "events"))
        status, _ = expected_answer(path)
        assert [a["statusCode"] for a in answers] == [status, status], (name, answers[1])
        if path.parent.name == "health":
            assert [{k: v["status"] for k, v in body(a)["stores"].items()} for a in answers] == [
                {"postgresql": "ok", "elasticsearch": "ok"}] * 2
        else:
            assert payload(answers[1]) == payload(answers[0]), name
            assert answers[1]["headers"].get("etag") == answers[0]["headers"].get("etag"), name
    assert pooled_transactions(catalogue["database"]) > before, "the pooled answers came through PgBouncer"


def test_a_rows_walk_through_the_pooler_is_the_walk_made_directly(ref, with_stores, through_pooler):
    """Every page of a dataset whose padj crosses numbers, NaN and NULL, 7 rows a page, cursors followed: the same
    pages (rows, totals, cursors) through the pooler as directly."""
    dataset_id = special_dataset(ref)
    with_stores()
    direct_pages, _ = walk(dataset_id, [])
    through_pooler()
    pooled_pages, pooled_rows = walk(dataset_id, [])
    assert len(pooled_rows) == len(ref.rows_of(dataset_id)) and len(pooled_pages) > 3
    assert pooled_pages == direct_pages


def search(query: str = "") -> dict:
    event = json.loads((ROOT / "events" / "search" / "no_parameters.json").read_text())
    event["rawQueryString"] = query
    event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    function = api.function("functions/search")
    return function.handler(event, LambdaContext(function.__name__))


def test_a_pooled_connection_the_pooler_closed_while_idle_is_replaced_not_a_500(catalogue: dict, through_pooler,
                                                                                caplog):
    """The pooler ends the API's idle client connection (RDS Proxy's idle client timeout, a proxy failover; here
    PgBouncer's restart, whose immediate shutdown closes its clients): the next request retries once on a new
    connection (docs/contract.md, "Operation"), 200, not a 500 or a 503."""
    through_pooler()
    for query in ("", "group_by=phenotype_gene_name", "perturbation_gene_name=TP53"):
        assert search(query)["statusCode"] == 200
        caplog.clear()
        pgbouncer.stop()
        pgbouncer.start()
        response = search(query)
        assert response["statusCode"] == 200 and body(response), response
        assert "database connection lost; retrying once" in caplog.text, "the call met the ended connection"


def test_a_server_connection_ended_behind_the_pooler_is_replaced_by_the_pooler(catalogue: dict, through_pooler,
                                                                              caplog):
    """The server ends a connection the pooler holds idle (pg_terminate_backend, a restart, a failover): the pooler
    drops it and lends the API's next transaction another one. The API's own connection is untouched: no retry."""
    stores = through_pooler()
    for query in ("", "effect_direction=increased"):
        assert search(query)["statusCode"] == 200
        [[before]] = run(stores.fetch("SELECT pg_backend_pid()"))
        caplog.clear()
        terminate_backend(before)
        response = search(query)
        assert response["statusCode"] == 200 and body(response)
        [[after]] = run(stores.fetch("SELECT pg_backend_pid()"))
        assert after != before
        assert "retrying" not in caplog.text


QUERIES = [("SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", 1),
           ("SELECT count(*) FROM perturb_seq WHERE dataset_id = $1 AND perturbed_target_symbol = $2", 2),
           ("SELECT max(basemean) FROM perturb_seq WHERE dataset_id = $1 AND perturbed_target_symbol = $2", 2)]


def test_a_load_of_concurrent_environments_through_the_pooler(catalogue: dict, ref, pooler: int):
    """Eight API environments at once (eight Stores, each its pool, as eight Lambda environments), each sending a
    mix of statements, over the pooler's 4 server connections: every answer is the direct one."""
    datasets = sorted(ref.by_dataset)[:24]
    work = [(sql, (d, ref.by_dataset[d][0].perturbation)[:arity]) for d in datasets for sql, arity in QUERIES]
    want = [r[0][0] for r in (fetch(catalogue["database"], sql, *args) for sql, args in work)]
    config = settings().replace(ps_port=pooler, ps_statement_cache_size=0)
    environments = [clients.Stores(config, LOOP) for _ in range(8)]

    async def environment(stores: clients.Stores, order: list[int]) -> dict[int, object]:
        return {i: (await stores.fetch(work[i][0], *work[i][1]))[0][0] for i in order}
    try:
        orders = [[(i + 7 * k) % len(work) for i in range(len(work))] for k in range(len(environments))]
        results = run(asyncio.gather(*(environment(s, o) for s, o in zip(environments, orders, strict=True))))
    finally:
        for stores in environments:
            run(stores.close())
    for answers in results:
        assert [answers[i] for i in range(len(work))] == want
    [pool] = [p for p in pgbouncer.console("SHOW POOLS") if (p["database"], p["user"]) == (catalogue["database"],
                                                                                              "catalogue_api")]
    assert int(pool["sv_idle"]) + int(pool["sv_used"]) + int(pool["sv_active"]) <= pgbouncer.POOL_SIZE


async def _hold_server_connection(port: int, database: str, pid: int) -> list[asyncpg.Connection]:
    """Open transactions on the pooler until one holds the server connection `pid` (the pooler lends the most
    recently used one first): the next client transaction cannot have it."""
    held = []
    for _ in range(pgbouncer.POOL_SIZE):
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="catalogue_api", database=database,
                                     statement_cache_size=0)
        held.append(conn)
        await conn.execute("BEGIN")
        if await conn.fetchval("SELECT pg_backend_pid()") == pid:
            return held
    raise AssertionError(f"no transaction got the server connection {pid}")


@pytest.mark.parametrize("cache", [0, 100])
def test_a_statement_cache_needs_a_session_the_pooler_does_not_keep(catalogue: dict, pooler: int, cache: int):
    """Why PS_STATEMENT_CACHE_SIZE=0 behind the pooler: with asyncpg's cache (100, the layer's default for a direct
    connection) a statement is prepared by name on the server connection of one transaction, and looked for by that
    name on whichever the pooler lends the next: 'prepared statement "__asyncpg_stmt_1__" does not exist', a 500.
    With 0, every statement is parsed anew, unnamed, in the transaction that runs it."""
    stores = clients.Stores(settings().replace(ps_port=pooler, ps_statement_cache_size=cache), LOOP)
    held: list[asyncpg.Connection] = []
    try:
        [[first]] = run(stores.fetch("SELECT pg_backend_pid()"))
        held = run(_hold_server_connection(pooler, catalogue["database"], first))
        if cache:
            with pytest.raises(asyncpg.InvalidSQLStatementNameError, match="does not exist"):
                run(stores.fetch("SELECT pg_backend_pid()"))
        else:
            [[second]] = run(stores.fetch("SELECT pg_backend_pid()"))
            assert second != first
    finally:
        for conn in held:
            run(conn.close())
        run(stores.close())


def test_the_pooler_is_debians_pgbouncer_in_transaction_mode(pooler: int):
    config = {row["key"]: row["value"] for row in pgbouncer.console("SHOW CONFIG")}
    assert (config["pool_mode"], config["listen_addr"], int(config["listen_port"])) == ("transaction", "127.0.0.1",
                                                                                         pooler)
    assert config["ignore_startup_parameters"] == "", "a dropped setting would go unnoticed"
    assert "max_prepared_statements" not in config, "1.18 (Debian bookworm's) cannot keep prepared statements"
    assert Path(pgbouncer.binary()).parts[:2] == ("/", "usr")
