"""The local PgBouncer (devtools/local/pgbouncer.py): Debian's, started from an empty folder in front of the local
PostgreSQL, in transaction mode, as a user other than root; and the local server's settings reaching a server that
was initialised before they changed."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
from pathlib import Path

import asyncpg
import pytest
from catalogue_common.settings import settings

from devtools.local import pg_server, pgbouncer
from tests.support import run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def home():
    folder = pg_server.new_home("test-")  # where pg_server's system user can reach it, as root too
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_pooler_port_follows_ps_port():
    assert pgbouncer.POSTGRES_PORT == settings().ps_port and pgbouncer.PORT == settings().ps_port + 1


def test_pgbouncer_starts_from_an_empty_folder_in_transaction_mode_and_stops(stores_up: None, home: Path):
    port = free_port()
    pgbouncer.start(home / "pgbouncer", port)
    try:
        pid = int((home / "pgbouncer" / "pgbouncer.pid").read_text())
        owner = pwd.getpwuid(Path(f"/proc/{pid}").stat().st_uid).pw_name
        assert owner != "root" and (os.geteuid() != 0 or owner == pg_server.SYSTEM_USER)
        config = {row["key"]: row["value"] for row in pgbouncer.console("SHOW CONFIG", port)}
        assert (config["pool_mode"], config["listen_addr"], config["auth_type"]) == ("transaction", "127.0.0.1",
                                                                                     "trust")

        async def through(**options) -> str:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres",
                                         statement_cache_size=0, **options)
            try:
                return await conn.fetchval("SELECT current_setting('application_name')")
            finally:
                await conn.close()
        assert run(through(server_settings={"application_name": "passed-on"})) == "passed-on"
        with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup parameter: statement_timeout"):
            run(through(server_settings={"statement_timeout": "1000"}))
    finally:
        pgbouncer.stop(home / "pgbouncer", port)
    assert not pgbouncer.is_up(port)


def test_a_server_initialised_before_a_setting_changed_gets_it_when_started(home: Path):
    port = free_port()
    pg_server.init(home / "pg", port, settings={"listen_addresses": "'127.0.0.1'", "synchronous_commit": "off"})
    pg_server.start(home / "pg", port)

    async def synchronous_commit() -> str:
        conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
        try:
            return await conn.fetchval("SHOW synchronous_commit")
        finally:
            await conn.close()
    try:
        assert run(synchronous_commit()) == "off"
        pg_server._settle(home / "pg" / "data", port, {"synchronous_commit": "on"})
        deadline = time.monotonic() + 10
        while run(synchronous_commit()) != "on":  # the reload is a signal: new sessions see it shortly
            assert time.monotonic() < deadline, "the running server did not reload its configuration"
            time.sleep(0.05)
        pg_server._settle(home / "pg" / "data", port, {"synchronous_commit": "on"})
        assert (home / "pg" / "data" / "postgresql.conf").read_text().splitlines().count("synchronous_commit = on") == 1
    finally:
        pg_server.stop(home / "pg")
