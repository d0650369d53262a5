"""Local PostgreSQL and Elasticsearch (docs/contract.md, "Local servers"): real servers the project installs, started
from nothing."""
from __future__ import annotations

import json
import shutil
import socket
import urllib.request

import asyncpg
import pytest
from catalogue_common.settings import settings
from elasticsearch import AsyncElasticsearch

from devtools.local import es_server, pg_server
from tests.support import fetch, run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fresh_home():
    home = pg_server.new_home("test-")  # beside the main server's home, which its system user can reach as root
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_postgresql_starts_from_an_empty_directory(fresh_home):
    port = free_port()
    pg_server.start(fresh_home / "pg", port)
    try:
        async def version() -> str:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
            try:
                return await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
        assert run(version()).startswith("18.")
    finally:
        pg_server.stop(fresh_home / "pg")
    assert not pg_server.is_up(port)


@pytest.mark.slow
def test_elasticsearch_starts_from_an_empty_directory_and_passes_the_product_check(fresh_home):
    port = free_port()
    es_server.start(port, fresh_home / "es")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.headers["X-Elastic-Product"] == "Elasticsearch"

        async def info() -> dict:
            async with AsyncElasticsearch(f"http://127.0.0.1:{port}") as es:  # the official client's product check
                return (await es.info()).body
        assert run(info())["version"]["number"].startswith("8.")
    finally:
        es_server.stop(fresh_home / "es")
    assert not es_server.is_up(port)


def test_the_development_services_listen_on_loopback_only(stores_up):
    assert pg_server.is_up(settings().ps_port) and es_server.is_up(settings().es_port)
    assert fetch("postgres", "SHOW listen_addresses")[0][0] == "127.0.0.1"
    with urllib.request.urlopen(f"{settings().es_url}/_nodes/_local/settings") as response:
        node = next(iter(json.load(response)["nodes"].values()))
    assert node["settings"]["network"]["host"] == "127.0.0.1"


def test_a_server_of_another_checkout_on_the_port_is_refused_not_shared(stores_up, fresh_home, capsys):
    """Two checkouts on the default ports: the second's `make up` would find the first's servers answering and use
    them, its tests and `make data` writing into the first's catalogues. Each tool refuses a server that is not its
    home's, naming the holder; its own server, already running, is accepted."""
    with pytest.raises(SystemExit) as refused:
        pg_server.start(fresh_home / "pg", settings().ps_port)
    message = str(refused.value)
    assert f"127.0.0.1:{settings().ps_port} answers, but not as the server of {fresh_home / 'pg' / 'data'}" in message
    if pg_server.AS_ROOT:
        assert f"the server of the checkout {pg_server.ROOT}" in message
    assert not (fresh_home / "pg").exists()
    with pytest.raises(SystemExit) as refused:
        es_server.start(settings().es_port, fresh_home / "es")
    assert f"this checkout's node ({(fresh_home / 'es').resolve()}) is not running" in str(refused.value)
    assert "its data are in" in str(refused.value) and str(es_server.HOME) in str(refused.value)
    pg_server.start()
    es_server.start()
    assert capsys.readouterr().out.count("already running") == 2
