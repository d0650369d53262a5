"""Local PgBouncer in transaction mode in front of the local PostgreSQL: how both deployed stages reach the database
(RDS Proxy, with PS_STATEMENT_CACHE_SIZE=0), made testable here.

    python -m devtools.local.pgbouncer start|stop|status

Debian's `pgbouncer` package (1.18 on bookworm; the Makefile installs it), on 127.0.0.1 at PORT, one above the local
PostgreSQL's PS_PORT (PS_PORT + 1000 would be another checkout's PostgreSQL: checkouts here step PS_PORT by 1000).
Every database of the local server is served (`* =`), in transaction mode: a server connection is lent to a client
for one transaction and then to any other client, as RDS Proxy multiplexes. Hence what the API must do behind it:

* no named prepared statements (1.18 has no `max_prepared_statements`): PS_STATEMENT_CACHE_SIZE=0;
* no session state: PgBouncer refuses a startup parameter it does not track (it tracks client_encoding, DateStyle,
  TimeZone, standard_conforming_strings and application_name) with "unsupported startup parameter", and a SET would
  reach one server connection and not the next. `ignore_startup_parameters` is left empty on purpose: a setting the
  API depends on must not be dropped silently (they are its role's defaults: ingestion/sql/roles.sql).

Authentication is `trust` on loopback, as the local server's: PgBouncer only needs the user names (USERS, in its
auth_file) and passes them on. PgBouncer refuses to run as root, so as root it runs as pg_server's system user, with
its configuration, log and pid file under pg_server's state folder (`/var/lib/catalogue-pg/<digest>/pgbouncer/`);
otherwise under `.local/pgbouncer`.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devtools.local import pg_server

HOME = pg_server.STATE / "pgbouncer"
POSTGRES_PORT = pg_server.PORT
PORT = POSTGRES_PORT + 1 if POSTGRES_PORT < 65535 else POSTGRES_PORT - 1
BINARIES = (Path("/usr/sbin/pgbouncer"), Path("/usr/bin/pgbouncer"))  # Debian's, then another distribution's
# The roles that log in locally: the superuser (tools, tests), the API's and the writer's (roles.sql), and the
# rotating-password test's. trust needs a user's name in the auth_file, not its password.
USERS = ("postgres", "catalogue_api", "catalogue_ingest")
POOL_SIZE = 4  # server connections per (database, user): fewer than the clients of a load, so they are shared
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class PgBouncerError(RuntimeError):
    """PgBouncer is missing, or failed to start or stop."""


def binary() -> Path:
    for candidate in BINARIES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PgBouncerError("pgbouncer is not installed: `make test` installs Debian's package as root "
                         "(apt-get install --no-install-recommends pgbouncer)")


def installed() -> bool:
    return any(candidate.is_file() for candidate in BINARIES)


def is_up(port: int = PORT) -> bool:
    return pg_server.is_up(port)


def config(home: Path = HOME, port: int = PORT, postgres_port: int = POSTGRES_PORT) -> str:
    """pgbouncer.ini: every database of the local server at postgres_port, served in transaction mode on port."""
    return "\n".join([
        "[databases]",
        f"* = host=127.0.0.1 port={postgres_port}",
        "",
        "[pgbouncer]",
        "listen_addr = 127.0.0.1",
        f"listen_port = {port}",
        "unix_socket_dir =",  # TCP only: the server's sockets live elsewhere, and the API connects by TCP
        "auth_type = trust",
        f"auth_file = {home / 'userlist.txt'}",
        "admin_users = postgres",  # the console (database `pgbouncer`): SHOW POOLS, RECONNECT, KILL for the tests
        "pool_mode = transaction",
        f"default_pool_size = {POOL_SIZE}",
        "max_client_conn = 200",
        "ignore_startup_parameters =",
        f"logfile = {home / 'pgbouncer.log'}",
        f"pidfile = {home / 'pgbouncer.pid'}",
        "",
    ])


def _run_as() -> dict:
    if not pg_server.AS_ROOT:
        return {}
    pg_server.system_user()
    return {"user": pg_server.SYSTEM_USER, "cwd": "/"}


def _prepare(home: Path, port: int, postgres_port: int) -> Path:
    """The home folder with a fresh configuration and auth_file, writable by whoever runs PgBouncer."""
    if home.is_relative_to(pg_server.STATE):
        pg_server._make_state()
    home.mkdir(parents=True, exist_ok=True)
    ini = home / "pgbouncer.ini"
    ini.write_text(config(home, port, postgres_port))
    (home / "userlist.txt").write_text("".join(f'"{user}" ""\n' for user in USERS))
    if pg_server.AS_ROOT:
        uid, gid = pg_server.system_user()
        for path in (home, ini, home / "userlist.txt"):
            os.chown(path, uid, gid)
        home.chmod(0o755)
    return ini


def _pid(home: Path) -> int | None:
    try:
        pid = int((home / "pgbouncer.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    with contextlib.suppress(OSError):
        if b"pgbouncer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None  # a reused pid
    return pid


def _tail(home: Path, chars: int = 3000) -> str:
    try:
        return (home / "pgbouncer.log").read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def console(command: str, port: int = PORT) -> list[dict[str, str]]:
    """A command of PgBouncer's admin console (`SHOW POOLS`, `SHOW STATS`, ...) as the superuser, one dict per row.
    Through psql: the console speaks only the simple query protocol, and asyncpg returns no rows by it."""
    psql = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True)), None)
    if psql is None:
        raise PgBouncerError("psql not found: Debian's postgresql package provides it (`make test` installs it)")
    result = subprocess.run([str(psql), "-X", "-A", "-F", "\t", "-P", "footer=off", "-h", "127.0.0.1", "-p", str(port),
                             "-U", "postgres", "-d", "pgbouncer", "-c", command], capture_output=True, text=True,
                            check=False, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
    if result.returncode != 0:
        raise PgBouncerError(f"pgbouncer console, {command}: {result.stderr.strip()}")
    header, *rows = result.stdout.splitlines()
    names = header.split("\t")
    return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]


def start(home: Path = HOME, port: int = PORT, postgres_port: int = POSTGRES_PORT) -> None:
    """PgBouncer in the background (`-d`), once it accepts connections on port; nothing to do if something does."""
    if is_up(port):
        print(f"pgbouncer already running on 127.0.0.1:{port}")
        return
    executable = binary()
    ini = _prepare(home, port, postgres_port)
    began = time.monotonic()
    result = subprocess.run([str(executable), "-d", str(ini)], capture_output=True, text=True, check=False,
                            **_run_as())
    if result.returncode != 0:
        raise PgBouncerError(f"pgbouncer failed to start: {(result.stdout + result.stderr).strip()}\n{_tail(home)}")
    while not is_up(port):
        if time.monotonic() - began > START_TIMEOUT:
            raise PgBouncerError(f"pgbouncer did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s\n"
                                 f"{_tail(home)}")
        time.sleep(0.02)
    print(f"pgbouncer started in {time.monotonic() - began:.2f} s on 127.0.0.1:{port} (transaction pooling in front "
          f"of 127.0.0.1:{postgres_port})")


def stop(home: Path = HOME, port: int = PORT) -> None:
    """SIGTERM (PgBouncer's immediate shutdown: its client connections are closed at once, as a proxy that goes
    away closes them); nothing to do if it is not running."""
    pid = _pid(home)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _pid(home) is not None or is_up(port):
        if time.monotonic() > deadline:
            raise PgBouncerError(f"pgbouncer (pid {pid}) still running {STOP_TIMEOUT:.0f} s after SIGTERM")
        time.sleep(0.02)
    (home / "pgbouncer.pid").unlink(missing_ok=True)
    print("pgbouncer stopped")


def _status() -> None:
    pid = _pid(HOME)
    if not is_up(PORT):
        sys.exit(f"pgbouncer not answering on 127.0.0.1:{PORT}" + (f" (pid {pid} running)" if pid else ""))
    print(f"pgbouncer up on 127.0.0.1:{PORT}" + (f" (pid {pid})" if pid else ""))


def main(argv: list[str]) -> None:
    commands = {"start": start, "stop": stop, "status": _status}
    if len(argv) != 1 or argv[0] not in commands:
        sys.exit(f"usage: python -m devtools.local.pgbouncer {'|'.join(commands)}")
    try:
        commands[argv[0]]()
    except PgBouncerError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main(sys.argv[1:])
