"""The store clients: credentials read again for every new connection (issue 10, finding 3), and transport security
(finding 4) against a temporary PostgreSQL with TLS and an https endpoint in front of the local Elasticsearch, both
with certificates from a CA made by the tests (tests/tls.py)."""
from __future__ import annotations

import contextlib
import inspect
import json

import asyncpg
import boto3
import pytest
from catalogue import clients
from catalogue.errors import DataIntegrity, StoreUnavailable
from catalogue_common.settings import Settings
from moto import mock_aws

from tests.support import LOOP, run, search_engine, terminate_backend
from tests.tls import tls_in_front_of_elasticsearch

SECRET = "catalogue/dev/postgres"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    from aws_lambda_powertools.utilities import parameters
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


async def _call(password) -> str:
    value = password()
    return await value if inspect.isawaitable(value) else value


@pytest.mark.unit
def test_a_rotated_postgres_password_reaches_the_next_new_connection(aws, monkeypatch):
    """asyncpg calls a callable password for every new connection: PS_PASSWORD, a secret reference, is resolved
    through Powertools Parameters each time, so once its cache age has passed a rotated password is used without a
    redeploy. Checked on the pool's connect arguments, at the level of the callable: the local server trusts loopback
    connections, so it would accept any password."""
    from aws_lambda_powertools.utilities import parameters
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=SECRET, SecretString="before-rotation")
    monkeypatch.setenv("PS_PASSWORD", f"secretsmanager:{SECRET}")
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        password = run(stores.pool())._connect_kwargs["password"]
        assert callable(password), "the pool connects with the password read when the function started"
        assert run(_call(password)) == "before-rotation"
        secrets.put_secret_value(SecretId=SECRET, SecretString="after-rotation")
        assert run(_call(password)) == "before-rotation", "read from Secrets Manager at every connection"
        parameters.clear_caches()  # as when SECRET_TTL_SECONDS have passed
        assert run(_call(password)) == "after-rotation"
    finally:
        run(stores.close())


@pytest.mark.unit
def test_a_plain_postgres_password_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PS_PASSWORD", "plain-value")
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        password = run(stores.pool())._connect_kwargs["password"]
        assert run(_call(password)) == "plain-value"
    finally:
        run(stores.close())


# --- Transport security (issue 10, finding 4) -------------------------------------------------------------------


def tls_stores(port: int, **overrides) -> clients.Stores:
    config = Settings.from_env().replace(**{"ps_host": "localhost", "ps_port": port, "ps_user": "postgres",
                                            "ps_db": "postgres", **overrides})
    return clients.Stores(config, LOOP)


SSL_IN_USE = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.mark.slow
def test_verify_full_with_the_servers_ca_connects_over_tls(tls_postgres: int, tls: dict):
    stores = tls_stores(tls_postgres, ps_sslmode="verify-full", ps_sslrootcert=tls["ca"])
    try:
        [row] = run(stores.fetch(SSL_IN_USE))
        assert row["ssl"] is True and row["version"].startswith("TLS")
    finally:
        run(stores.close())


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
def test_a_server_certificate_from_another_ca_is_503_store_unavailable(tls_postgres: int, tls: dict, mode: str):
    stores = tls_stores(tls_postgres, ps_sslmode=mode, ps_sslrootcert=tls["wrong_ca"])
    try:
        with pytest.raises(StoreUnavailable):
            run(stores.fetch(SSL_IN_USE))
    finally:
        run(stores.close())


@pytest.mark.slow
def test_verify_full_refuses_a_certificate_for_another_host_name(tls_postgres: int, tls: dict):
    """The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server under another name."""
    stores = tls_stores(tls_postgres, ps_host="127.0.0.2", ps_sslmode="verify-full", ps_sslrootcert=tls["ca"])
    try:
        with pytest.raises(StoreUnavailable):
            run(stores.fetch(SSL_IN_USE))
    finally:
        run(stores.close())


@pytest.mark.slow
def test_sslmode_disable_connects_without_tls(tls_postgres: int):
    stores = tls_stores(tls_postgres, ps_sslmode="disable")
    try:
        [row] = run(stores.fetch(SSL_IN_USE))
        assert row["ssl"] is False
    finally:
        run(stores.close())


def test_the_local_default_is_sslmode_disable(monkeypatch):
    monkeypatch.delenv("PS_SSLMODE", raising=False)
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        [row] = run(stores.fetch(SSL_IN_USE))
        assert row["ssl"] is False
    finally:
        run(stores.close())


@pytest.mark.slow
def test_the_handler_answers_503_store_unavailable_for_a_certificate_from_another_ca(tls_postgres: int, tls: dict,
                                                                                    with_stores):
    from devtools.local.lambda_events import http_api_event
    from devtools.local.lambda_runtime import LambdaContext, load_function
    genes = load_function("genes")
    with_stores(ps_host="localhost", ps_port=tls_postgres, ps_user="postgres", ps_db="postgres",
                ps_sslmode="verify-full", ps_sslrootcert=tls["wrong_ca"])
    response = genes.handler(http_api_event("GET", "/v1/genes", "prefix=tp"), LambdaContext("catalogue-tls"))
    assert response["statusCode"] == 503, response
    assert json.loads(response["body"])["error"]["code"] == "store_unavailable"


@pytest.mark.parametrize("ca", ["ca", "wrong_ca", None])
def test_https_elasticsearch_is_verified_against_es_ca_certs(tls: dict, catalogue: dict, ca: str | None):
    """ES_CA_CERTS names the CA bundle; without it the default bundle (certifi) is used, which knows no test CA."""
    with tls_in_front_of_elasticsearch(tls) as port:
        config = Settings.from_env().replace(es_url=f"https://localhost:{port}", es_ca_certs=tls[ca] if ca else None)
        stores = clients.Stores(config, LOOP)
        try:
            if ca == "ca":
                assert run(stores.search(query={"match_all": {}}, size=0, track_total_hits=True))["hits"]["total"]
            else:
                with pytest.raises(StoreUnavailable):
                    run(stores.search(query={"match_all": {}}, size=0))
        finally:
            run(stores.close())


@pytest.mark.slow
def test_a_rotated_password_reaches_a_server_that_checks_it(tls_postgres: int, aws, monkeypatch):
    """The same rotation against a server that checks the password (SCRAM for the role `rotating` on the temporary
    server): the open connection stays; a new one made while the old value is still cached is refused (503, not
    500); once the cache age has passed, a new connection logs in with the new password."""
    from aws_lambda_powertools.utilities import parameters

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(host="127.0.0.1", port=tls_postgres, user="postgres", database="postgres")
        try:
            await connection.execute(sql)
        finally:
            await connection.close()
    run(admin("DROP ROLE IF EXISTS rotating; CREATE ROLE rotating LOGIN PASSWORD 'before-rotation'"))
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=SECRET, SecretString="before-rotation")
    monkeypatch.setenv("PS_PASSWORD", f"secretsmanager:{SECRET}")
    stores = tls_stores(tls_postgres, ps_user="rotating", ps_host="127.0.0.1")
    try:
        whoami = "SELECT current_user, pg_backend_pid() AS pid"
        [first] = run(stores.fetch(whoami))
        assert first["current_user"] == "rotating"
        run(admin("ALTER ROLE rotating PASSWORD 'after-rotation'"))
        secrets.put_secret_value(SecretId=SECRET, SecretString="after-rotation")
        assert run(stores.fetch(whoami))[0]["pid"] == first["pid"], "the open connection is kept"
        run(run(stores.pool()).expire_connections())  # the next call needs a new connection
        with pytest.raises(StoreUnavailable):
            run(stores.fetch(whoami))  # the old password, still cached
        parameters.clear_caches()  # as when SECRET_TTL_SECONDS have passed
        [after] = run(stores.fetch(whoami))
        assert after["current_user"] == "rotating" and after["pid"] != first["pid"]
    finally:
        run(stores.close())


# --- Traces (issue 10, finding 6) -------------------------------------------------------------------------------


class RecordingProvider:
    """Stands in for Powertools' X-Ray provider (tracing is off outside Lambda): records the subsegments opened."""

    def __init__(self) -> None:
        self.subsegments: list[dict] = []

    @contextlib.asynccontextmanager
    async def in_subsegment_async(self, name: str, **kwargs):
        record = {"name": name, "annotations": {}, "open": True}
        self.subsegments.append(record)

        class Subsegment:
            def put_annotation(self, key: str, value) -> None:
                record["annotations"][key] = value
        try:
            yield Subsegment()
        finally:
            record["open"] = False


def test_every_store_call_is_a_traced_subsegment_named_after_its_store(catalogue: dict, monkeypatch):
    provider = RecordingProvider()
    monkeypatch.setattr(clients, "tracer", type("FakeTracer", (), {"provider": provider})())
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        run(stores.fetch("SELECT 1"))
        run(stores.search(query={"match_all": {}}, size=0))
    finally:
        run(stores.close())
    assert [(s["name"], s["annotations"], s["open"]) for s in provider.subsegments] == [
        ("## postgresql", {"store": "postgresql"}, False),
        ("## elasticsearch", {"store": "elasticsearch"}, False)]


@pytest.mark.parametrize("statement", ["prepared", "new"])
def test_a_pooled_connection_the_server_ended_while_idle_is_replaced_not_a_500(catalogue: dict, statement: str):
    """Found by `make load` (500 internal from the functions whose pooled connections the restart ended as they were
    used). The server ends a pooled connection (a restart's fast shutdown, pg_terminate_backend, a failover) and the
    next call reaches it before the loop has processed the close: asyncpg's protocol is still consuming the server's
    FATAL and refuses the call ("cannot switch to state 12; another operation (2) is in progress",
    InternalClientError). docs/contract.md "Operation": the connection is re-established transparently, the call retried
    on a fresh one, the broken one never reused. Made deterministic by ending the backend while the layer's loop does
    not run; with the statement asyncpg has prepared on that connection (bind and execute) and with a new one (prepare
    first)."""
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        for attempt in range(3):
            [[before]] = run(stores.fetch("SELECT pg_backend_pid()"))
            terminate_backend(before)
            sql = "SELECT pg_backend_pid()" + ("" if statement == "prepared" else f" -- {attempt}")
            [[after]] = run(stores.fetch(sql))
            assert after != before
    finally:
        run(stores.close())


def test_an_elasticsearch_503_while_shards_are_unassigned_is_503_store_unavailable(catalogue: dict, with_stores):
    """Found by `make load` (500 internal for the last seconds of an Elasticsearch start). A node that answers HTTP
    but has not yet recovered the index's primary shard answers a search with its own 503
    (search_phase_execution_exception, all shards failed): the store cannot serve the request, the 503
    store_unavailable of docs/contract.md "Errors", not 500 internal. Reproduced with an index whose primary shard can
    never be allocated."""

    from tests import api
    es, index = search_engine(), "test-unassigned-dataset-summary-v1"
    es.options(ignore_status=404).indices.delete(index=index)
    es.indices.create(index=index, wait_for_active_shards="0", settings={
        "number_of_shards": 1, "number_of_replicas": 0, "index.routing.allocation.require._name": "no-such-node"})
    try:
        with_stores(es_index=index)
        async def search() -> dict:
            return await clients.stores().search(query={"match_all": {}}, size=0)
        with pytest.raises(StoreUnavailable):
            run(search())
        for path in ("/v1/summary", "/v1/datasets", "/v1/search"):
            api.error(api.get(path), 503, "store_unavailable")
    finally:
        es.options(ignore_status=404).indices.delete(index=index)


def test_found_reads_which_documents_a_generation_holds_and_a_lost_one_is_data_integrity(catalogue: dict):
    """Stores.found (the gene rows' document check, SPEC 5.1): the _ids of a generation's documents among those
    asked, none asked without a call; a generation Elasticsearch no longer has is 500 data_integrity, as for a
    search, although a multi-get answers 200 and reports the missing index per document."""
    es, index = search_engine(), "test-found-dataset-summary-v1"
    es.options(ignore_status=404).indices.delete(index=index)
    for dataset_id in ("a", "b"):
        es.index(index=index, id=dataset_id, document={"dataset_id": dataset_id}, refresh=True)
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        assert run(stores.found(index, ["b", "c", "a"])) == {"a", "b"}
        assert run(stores.found(index, [])) == set()
        es.indices.delete(index=index)
        with pytest.raises(DataIntegrity, match="reload the whole catalogue"):
            run(stores.found(index, ["a"]))
    finally:
        run(stores.close())
        es.options(ignore_status=404).indices.delete(index=index)
