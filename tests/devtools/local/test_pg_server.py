"""Local PostgreSQL from any clone location. As root the server runs as the system user `catalogue-pg`, which cannot
enter a clone under a mode-700 folder (as /root is): the server's binaries and data must then live where it can."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from devtools.local import pg_server
from tests.support import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def locked_clone(folder: Path) -> tuple[Path, Path]:
    """What the server needs of a clone (devtools, the common layer, and the wheel as .venv holds it), copied under a
    fresh mode-700 folder: (the clone, the folder holding the wheel)."""
    locked = folder / "locked"
    locked.mkdir(mode=0o700)
    locked.chmod(0o700)  # whatever the umask
    clone = locked / "clone"
    ignore = shutil.ignore_patterns("target", "__pycache__")
    for part in ("devtools", "layers/common"):
        shutil.copytree(ROOT / part, clone / part, ignore=ignore)
    site = clone / ".venv" / "site-packages"
    for name in (pg_server.WHEEL.name, f"{pg_server.WHEEL.name}.libs"):
        if (pg_server.WHEEL.parent / name).is_dir():
            shutil.copytree(pg_server.WHEEL.parent / name, site / name, symlinks=True, ignore=ignore)
    return clone, site


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_postgresql_starts_from_a_clone_its_system_user_cannot_enter(tmp_path: Path):
    clone, site = locked_clone(tmp_path)
    pg_server.system_user()  # created if missing
    entered = subprocess.run(["test", "-x", str(clone)], user=pg_server.SYSTEM_USER, cwd="/", check=False)
    assert entered.returncode != 0, "the system user must not be able to enter the clone, or this tests nothing"
    port = free_port()
    env = {**os.environ, "PS_PORT": str(port), "PYTHONPATH": os.pathsep.join([str(site), str(clone / "layers/common")])}

    def tool(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devtools.local.pg_server", command], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    state = pg_server.state_dir(clone)
    try:
        started = tool("start")
        assert started.returncode == 0, started.stdout + started.stderr

        async def data_directory() -> str:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database="postgres")
            try:
                return await conn.fetchval("SHOW data_directory")
            finally:
                await conn.close()
        assert run(data_directory()) == str(state / "pg" / "data")
        postmaster = int((state / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        assert Path(f"/proc/{postmaster}/exe").resolve().is_relative_to(state), "the binaries are the copy's"
        assert (state / "clone").read_text().strip() == str(clone)
    finally:
        stopped = tool("stop")
        shutil.rmtree(state, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pg_server.is_up(port)
