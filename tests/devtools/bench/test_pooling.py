"""make bench's rounds spread over processes (devtools/bench/api.py, `pool_rounds`): the earlier processes' timings
are pooled with the last one's, their files removed, and each process's speed is its shapes' median p50 ratio to the
pooled p50, computed here again by hand. No timing is measured."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest

from devtools.bench import api
from devtools.bench.harness import Catalogue

pytestmark = pytest.mark.unit


def test_earlier_processes_are_pooled_and_their_speeds_reported(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "OUT", tmp_path)
    catalogue = Catalogue("tiny", 1000, 12, "spread", "d", "i")
    slow = {"a": [2.0, 2.0, 2.2], "b": [4.0, 4.4, 4.0]}  # twice the last process's times
    (tmp_path / "tiny.rounds-1.json").write_text(json.dumps(slow))
    (tmp_path / "other.rounds-1.json").write_text(json.dumps({"a": [9.0]}))  # another catalogue's: left alone
    mix = [SimpleNamespace(name="a", timings={"handler": [1.0, 1.0, 1.1]}),
           SimpleNamespace(name="b", timings={"handler": [2.0, 2.2, 2.0]})]

    speeds = api.pool_rounds(catalogue, mix)

    assert mix[0].timings["handler"] == [2.0, 2.0, 2.2, 1.0, 1.0, 1.1]
    assert mix[1].timings["handler"] == [4.0, 4.4, 4.0, 2.0, 2.2, 2.0]
    pooled = {"a": statistics.median([2.0, 2.0, 2.2, 1.0, 1.0, 1.1]), "b": statistics.median([4.0, 4.4, 4.0, 2.0,
                                                                                             2.2, 2.0])}
    by_hand = [statistics.median([2.0 / pooled["a"], 4.0 / pooled["b"]]),
               statistics.median([1.0 / pooled["a"], 2.0 / pooled["b"]])]
    assert speeds == [round(x, 3) for x in by_hand]
    assert speeds[0] > 1 > speeds[1]
    assert not (tmp_path / "tiny.rounds-1.json").exists()
    assert (tmp_path / "other.rounds-1.json").exists()


def test_a_catalogue_measured_in_one_process_is_reported_so() -> None:
    results = [{"catalogue": {"name": "a"}, "process_speeds": [1.0]}, {"catalogue": {"name": "b"}}]
    assert "one process" in api.how_measured(results)
    results = [{"catalogue": {"name": "a"}, "process_speeds": [1.1, 0.9]},
               {"catalogue": {"name": "b"}, "process_speeds": [1.0, 1.0]}]
    assert "a 1.10 · 0.90; b 1.00 · 1.00" in api.how_measured(results)
