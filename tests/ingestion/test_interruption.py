"""A load killed half-way (SIGKILL of the command line during its COPY) leaves the previous state, and its record,
left `running`, is shown as `interrupted` once its heartbeat has stopped long enough (ingestion/records.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.data import demo_data
from tests.support import fetch

from .conftest import DATABASE, INDEX
from .test_store import contents

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def backends() -> list[tuple]:
    return [tuple(r) for r in fetch(DATABASE, "SELECT pid, state, query FROM pg_stat_activity "
                                              "WHERE application_name = 'catalogue-ingest'")]


def test_a_load_killed_during_its_copy_leaves_the_previous_state(catalogue_a: Path, tmp_path: Path):
    big = tmp_path / "big"
    demo_data.write(big, demo_data.plan(1_500_000, 1, 3), 3)  # a new version of replogle_2022_k562_gw
    before, records = contents(DATABASE), fetch(DATABASE, "SELECT max(id) FROM catalogue_loads")[0][0]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # the layers, as the suite has them
    process = subprocess.Popen([sys.executable, "-m", "ingestion", "--database", DATABASE, "--es-index", INDEX,
                                "load", str(big / "replogle_2022_k562_gw")], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not any("COPY" in (q or "") for _, _, q in backends()):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the load never reached its COPY"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the COPY of 1.5 M rows
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 60
    while backends():  # the server notices the lost client and rolls its transaction back
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert contents(DATABASE) == before
    [(record_id, dataset_id, outcome)] = fetch(DATABASE, "SELECT id, dataset_id, outcome FROM catalogue_load_history "
                                                         "WHERE id > $1", records)
    assert (dataset_id, outcome) == ("replogle_2022_k562_gw", "running"), "recorded when it began; never finished"
    # As when two minutes have passed since its last heartbeat:
    fetch(DATABASE, "UPDATE catalogue_loads SET heartbeat_at = heartbeat_at - interval '2 minutes 1 second' "
                    "WHERE id = $1", record_id)
    assert fetch(DATABASE, "SELECT outcome FROM catalogue_load_history WHERE id = $1", record_id)[0][0] == "interrupted"
    lines = [line for line in history_lines() if "replogle_2022_k562_gw interrupted" in line]
    assert len(lines) == 1, "python -m ingestion history shows it as interrupted"


def history_lines() -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-m", "ingestion", "--database", DATABASE, "history"], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.splitlines()
