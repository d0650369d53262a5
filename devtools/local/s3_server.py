"""Local S3 endpoint for the whole-dataset files (docs/contract.md, "Dataset files"): moto's server, which stands in
for S3 and nothing else, on 127.0.0.1 at the port of S3_ENDPOINT_URL (default 59500, from the settings; 59300 is
the local Elasticsearch's transport port).

    python -m devtools.local.s3_server start|stop|status

Why an S3 endpoint rather than a folder: the ingestion writes the files and the API presigns their URLs with the
very boto3 calls they make deployed, so the local server, the demo and the tests run the deployed code path, and a
`307` from the download route is followed to a real object. moto keeps objects in memory: a restart loses them, and
`make data` / the test catalogue notice (devtools.data.load_data.in_place checks an object) and load again.
The ingestion makes its bucket when missing (ingestion.downloads.Store); deployed, the template does.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from catalogue_common.settings import settings

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".local" / "s3"
PORT = settings().s3_port
START_TIMEOUT = 30.0


class S3ServerError(RuntimeError):
    """moto's server failed to start."""


def is_up(port: int = PORT) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _pid() -> int | None:
    try:
        pid = int((HOME / "pid").read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def start(port: int = PORT) -> None:
    if not is_up(port):
        HOME.mkdir(parents=True, exist_ok=True)
        with open(HOME / "log", "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        (HOME / "pid").write_text(str(process.pid))
        began = time.monotonic()
        while not is_up(port):
            if process.poll() is not None or time.monotonic() - began > START_TIMEOUT:
                raise S3ServerError(f"moto's S3 server did not start on port {port}: see {HOME / 'log'}")
            time.sleep(0.1)
        print(f"S3 (moto) started in {time.monotonic() - began:.1f} s on http://127.0.0.1:{port}")


def stop() -> None:
    pid = _pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if _pid() is None:
                break
            time.sleep(0.1)
    (HOME / "pid").unlink(missing_ok=True)


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "status"
    if command == "start":
        start()
    elif command == "stop":
        stop()
    else:
        print("up" if is_up() else "down")


if __name__ == "__main__":
    main(sys.argv[1:])
