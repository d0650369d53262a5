"""Local Elasticsearch 8 (one node, no security) on 127.0.0.1 at the port of ES_URL (default 59200, from the settings),
data under `.local/es`.

The node is the `org.elasticsearch:elasticsearch` server jar and its Netty4 plugin from Maven Central, embedded by
the small launcher in `es_launcher/` beside this module (see its pom.xml). Needs `java` (17 or newer) and `mvn`;
Maven downloads go to Maven's own per-user repository (`~/.m2/repository`, or what the user's Maven settings name), as
uv's go to its per-user cache: a second clone on the same machine builds the launcher without downloading Elasticsearch
again (56.7 s of a fresh clone's `make demo` with a repository of its own, in `.local/m2`).

    python -m devtools.local.es_server build|start|stop|status
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from catalogue_common.settings import settings

from devtools.local import pg_server

ROOT = Path(__file__).resolve().parents[2]
PROJECT = Path(__file__).resolve().parent / "es_launcher"
TARGET = PROJECT / "target"
JAR = TARGET / "es-launcher.jar"
LIB = TARGET / "lib"
STAMP = TARGET / "es-launcher.stamp"
HOME = ROOT / ".local" / "es"
PORT = settings().es_port  # the port of ES_URL, which every client reads from the same settings
MAIN_CLASS = "catalogue.devtools.EsLauncher"
# Appended to by ES_JAVA_OPTS (e.g. ES_JAVA_OPTS="-Xmx2g"); later flags win.
JVM_OPTIONS = ("-Xms512m", "-Xmx1g", "-XX:+ExitOnOutOfMemoryError", "-Dfile.encoding=UTF-8", "-Djava.awt.headless=true")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0

# Never send requests for the local node through an HTTP proxy from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EsServerError(RuntimeError):
    """Building, starting or stopping the local Elasticsearch failed."""


def _tool(name: str) -> str:
    if name == "java" and (java_home := os.environ.get("JAVA_HOME")):
        java = Path(java_home) / "bin" / "java"
        if java.is_file():
            return str(java)
    path = shutil.which(name)
    if path is None:
        raise EsServerError(f"`{name}` not found on PATH: the local Elasticsearch needs a JDK 17+ and Maven (mvn)")
    return path


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in [PROJECT / "pom.xml", *sorted(p for p in (PROJECT / "src").rglob("*") if p.is_file())]:
        digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _built(digest: str) -> bool:
    return (
        JAR.is_file()
        and LIB.is_dir()
        and any(LIB.glob("elasticsearch-*.jar"))
        and STAMP.is_file()
        and STAMP.read_text().strip() == digest
    )


def build() -> None:
    """Build the launcher jar and its classpath into `es_launcher/target`, unless already built from the
    same pom and sources."""
    digest = _sources_digest()
    if _built(digest):
        return
    mvn = _tool("mvn")
    _tool("java")
    began = time.monotonic()
    shutil.rmtree(LIB, ignore_errors=True)  # no stale jars from an earlier Elasticsearch version
    STAMP.unlink(missing_ok=True)
    command = [mvn, "-q", "-B", "-f", str(PROJECT / "pom.xml"), "package"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise EsServerError(f"building the Elasticsearch launcher failed: {shlex.join(command)}\n{output}")
    STAMP.write_text(digest + "\n")
    print(f"elasticsearch launcher built in {time.monotonic() - began:.1f} s", file=sys.stderr)


def _root(port: int, timeout: float = 1.0) -> dict | None:
    """The JSON of `GET /` if an Elasticsearch answers on 127.0.0.1:port, else None."""
    try:
        with _HTTP.open(f"http://127.0.0.1:{port}/", timeout=timeout) as response:
            if response.status != 200 or response.headers.get("X-Elastic-Product") != "Elasticsearch":
                return None
            return json.load(response)
    except (OSError, ValueError):  # refused, reset, timed out, HTTP error status, not JSON
        return None


def is_up(port: int = PORT) -> bool:
    """Whether an Elasticsearch answers `GET http://127.0.0.1:<port>/`."""
    return _root(port) is not None


def _holder(port: int) -> str:
    """Whose node answers on `port`: its data path, from the node's own settings."""
    try:
        with _HTTP.open(f"http://127.0.0.1:{port}/_nodes/_local/settings?filter_path=nodes.*.settings.path",
                        timeout=2) as response:
            nodes = json.load(response).get("nodes", {})
        path = next(iter(nodes.values()))["settings"]["path"]
        return f"its data are in {path.get('data', path.get('home'))}"
    except (OSError, ValueError, KeyError, StopIteration):
        return "it does not say where its data are"


def _pid_file(home: Path) -> Path:
    return home / "es.pid"


def _log_file(home: Path) -> Path:
    return home / "logs" / "launcher.log"


def _alive(pid: int) -> bool:
    """Whether pid is a live (not zombie) process running the launcher."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own exited child: reaped now
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no procfs (macOS): trust the pid
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and MAIN_CLASS.encode() in cmdline


def _running_pid(home: Path) -> int | None:
    try:
        pid = int(_pid_file(home).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Serialise start/stop of one home between processes (e.g. parallel test workers)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "es.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _launch(port: int, home: Path) -> int:
    """Start the launcher detached from this process (own session, reparented to init); return its pid."""
    log = _log_file(home)
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists():
        log.replace(log.with_name(log.name + ".1"))
    classpath = f"{JAR}{os.pathsep}{LIB / '*'}"
    command = [
        _tool("java"),
        *JVM_OPTIONS,
        *shlex.split(os.environ.get("ES_JAVA_OPTS", "")),
        "-cp",
        classpath,
        MAIN_CLASS,
        "--home",
        str(home),
        "--port",
        str(port),
    ]
    # The shell backgrounds java and exits at once, so java is nobody's child here: no zombie, no Popen to keep.
    script = '"$@" </dev/null >>"$ES_LAUNCHER_LOG" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", *command],
        cwd=home,
        env={**os.environ, "ES_LAUNCHER_LOG": str(log)},
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    pid = int(result.stdout.strip())
    _pid_file(home).write_text(f"{pid}\n")
    # The forked shell may not have exec'd java yet, and _alive() looks for the launcher's command line.
    cmdline = Path(f"/proc/{pid}/cmdline")
    deadline = time.monotonic() + 5
    while cmdline.exists() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if MAIN_CLASS.encode() in cmdline.read_bytes():
                break
        time.sleep(0.01)
    return pid


def _wait_until_up(pid: int, port: int, home: Path, began: float) -> dict:
    log = _log_file(home)
    while True:
        if (root := _root(port)) is not None:
            return root
        if not _alive(pid):
            _pid_file(home).unlink(missing_ok=True)
            raise EsServerError(f"elasticsearch (pid {pid}) exited during start-up; {log} ends with:\n{_tail(log)}")
        if time.monotonic() - began > START_TIMEOUT:
            _terminate(pid)
            _pid_file(home).unlink(missing_ok=True)
            raise EsServerError(
                f"elasticsearch did not answer on http://127.0.0.1:{port}/ within {START_TIMEOUT:.0f} s and was"
                f" stopped; {log} ends with:\n{_tail(log)}"
            )
        time.sleep(0.2)


def _wait_for_primaries(port: int) -> None:
    """Wait until the primary shards of existing indices are recovered: `GET /` answers before they are."""
    url = f"http://127.0.0.1:{port}/_cluster/health?wait_for_status=yellow&timeout=60s"
    try:
        with _HTTP.open(url, timeout=70) as response:
            status = json.load(response).get("status")
    except (OSError, ValueError) as error:  # 408 on timeout
        status = str(error)
    if status not in ("green", "yellow"):
        print(f"elasticsearch is up, but its cluster health is {status}: some indices may be missing", file=sys.stderr)


def start(port: int = PORT, home: Path = HOME) -> None:
    """Start the node in the background unless it already answers; return once `GET /` answers and the primary shards
    of existing indices are recovered (cluster health yellow)."""
    home = Path(home).resolve()
    if is_up(port):
        if _running_pid(home) is None:
            sys.exit(f"elasticsearch: http://127.0.0.1:{port} answers, but this checkout's node ({home}) is not "
                     f"running: {_holder(port)}. This checkout would read and write that node's indices: stop it, "
                     f"or give this checkout ports of its own ({pg_server.ELSEWHERE})")
        print(f"elasticsearch already running on http://127.0.0.1:{port}")
        return
    build()
    with _locked(home):
        if is_up(port):  # started by another process while this one waited for the lock
            print(f"elasticsearch already running on http://127.0.0.1:{port}")
            return
        began = time.monotonic()
        pid = _running_pid(home)
        if pid is None:
            pid = _launch(port, home)
        root = _wait_until_up(pid, port, home, began)
        _wait_for_primaries(port)
    version = root.get("version", {}).get("number", "?")
    print(f"elasticsearch {version} started in {time.monotonic() - began:.1f} s on http://127.0.0.1:{port}")


def _terminate(pid: int) -> None:
    """SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid):
        if time.monotonic() > deadline:
            print(f"elasticsearch (pid {pid}) still up {STOP_TIMEOUT:.0f} s after SIGTERM: killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
            return
        time.sleep(0.1)


def stop(home: Path = HOME) -> None:
    """Stop the node started from this home (its data stays on disk); nothing to do if it is not running."""
    home = Path(home).resolve()
    if not home.is_dir():
        print("elasticsearch not running")
        return
    with _locked(home):
        pid = _running_pid(home)
        if pid is None:
            _pid_file(home).unlink(missing_ok=True)
            print("elasticsearch not running")
            return
        began = time.monotonic()
        _terminate(pid)
        _pid_file(home).unlink(missing_ok=True)
    print(f"elasticsearch stopped in {time.monotonic() - began:.1f} s")


def _status() -> None:
    root = _root(PORT)
    pid = _running_pid(HOME)
    if root is None:
        print(f"elasticsearch not answering on http://127.0.0.1:{PORT}" + (f" (pid {pid} running)" if pid else ""))
        sys.exit(1)
    print(f"elasticsearch {root['version']['number']} up on http://127.0.0.1:{PORT}" + (f" (pid {pid})" if pid else ""))


def main(argv: list[str]) -> None:
    commands = {"build": build, "start": start, "stop": stop, "status": _status}
    if len(argv) != 1 or argv[0] not in commands:
        sys.exit(f"usage: python -m devtools.local.es_server {'|'.join(commands)}")
    try:
        commands[argv[0]]()
    except EsServerError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main(sys.argv[1:])
