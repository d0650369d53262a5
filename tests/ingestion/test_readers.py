"""Readers during a replace (docs/contract.md, "Loading data"): a dataset replaced back and forth while clients hammer
the API over HTTP; every answer is entirely the old state or entirely the new one, and none fails."""
from __future__ import annotations

import shutil
import threading
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from ingestion import run

from devtools.local import serve
from devtools.stress.answers import comparable

from .conftest import DATABASE, INDEX, ingest, target

pytestmark = pytest.mark.slow

PATHS = ["/v1/search?dataset_metadata=datlinger_2017", "/v1/search?dataset_metadata=datlinger_2017&group_by="
         "phenotype_gene_name", "/v1/datasets/datlinger_2017/rows?limit=50", "/v1/datasets/datlinger_2017",
         "/v1/datasets/datlinger_2017/rows?limit=20&effect_direction=decreased", "/v1/summary", "/v1/genes?prefix=a"]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def answers(base: str) -> dict[str, object]:
    out = {}
    for path in PATHS:
        status, body = get(base + path)
        assert status == 200, body
        out[path] = comparable(body)
    return out


def test_every_answer_is_the_old_or_the_new_state(catalogue_a: Path, demo_files: Path, monkeypatch, tmp_path: Path):
    versions = {"a": catalogue_a / "datlinger_2017", "b": tmp_path / "b" / "datlinger_2017"}
    shutil.copytree(demo_files / "b" / "datlinger_2017", versions["b"])
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    with serve.background(environments=2) as (base, _):
        expected = {"a": answers(base)}
        seen: Counter[tuple[str, str]] = Counter()
        errors: list[tuple[str, int]] = []
        done = threading.Event()

        def hammer() -> None:
            while not done.is_set():
                for path in PATHS:
                    status, body = get(base + path)
                    if status != 200:
                        errors.append((path, status))
                    seen[path, "body"] += 1
                    results.append((path, body))
        results: list[tuple[str, bytes]] = []
        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for version in ("b", "a", "b"):
                summary = ingest(run.load(target(), [versions[version]], quiet=True))
                assert summary.outcomes == {"datlinger_2017": "loaded"}
        finally:
            done.set()
            for thread in threads:
                thread.join()
        expected["b"] = answers(base)
    assert errors == [], f"{len(errors)} failed requests"
    states = Counter()
    for path, body in results:
        state = next((v for v in ("a", "b") if expected[v][path] == comparable(body)), None)
        assert state is not None, f"{path}: an answer that is neither the old nor the new state"
        states[state] += 1
    assert all(expected["a"][p] != expected["b"][p] for p in PATHS[:5]), "the two versions must differ"
    assert len(results) > 3 * len(PATHS) and states["a"] and states["b"], (len(results), states)
