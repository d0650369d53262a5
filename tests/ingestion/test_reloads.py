"""Whole-catalogue reloads while clients read (docs/contract.md, "Loading data"; ingestion/documents.py), the
first one migrating production's concrete index, and a load Elasticsearch refuses half-way (ingestion/run.py).

Readers are HTTP clients of the local server (two warm environments per function) over the catalogue's routes;
each answer, 200 or 304, must be entirely the old catalogue's or entirely the new one's, and none may fail: no
error while the index changes, no 404 for a dataset both catalogues hold.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from elasticsearch import helpers
from ingestion import documents, run

from devtools.local import serve
from devtools.stress.answers import comparable
from tests.support import drop_index, fetch, search_engine

from .conftest import DATABASE, INDEX, ingest, target

ES = search_engine()
BOTH = "adamson_2016_pilot"  # in both catalogues, another version in each
ONLY_B = "nadig_2025_hepg2"  # b's seventh dataset
PATHS = ["/v1/search?limit=50", "/v1/search?dataset_metadata=datlinger_2017&max_padj=0.05",
         "/v1/search?dataset_metadata=blood&limit=2",
         "/v1/search?dataset_metadata=blood&effect_direction=increased&limit=1",
         "/v1/search?group_by=phenotype_gene_name&limit=20", "/v1/datasets", f"/v1/datasets/{BOTH}",
         f"/v1/datasets/{BOTH}/rows?limit=50", f"/v1/datasets/{ONLY_B}", "/v1/genes?prefix=a", "/v1/summary"]


def get(url: str, etag: str | None = None) -> tuple[int, str | None, bytes]:
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("ETag"), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("ETag"), error.read()


def state(base: str, paths: list[str]) -> dict[str, tuple[int, object]]:
    """Each path's status and body (load times left out: each load of the same files has its own)."""
    out = {}
    for path in paths:
        status, _, body = get(base + path)
        out[path] = status, comparable(body)
    return out


class Readers:
    """Threads reading every path over and over; a thread sends the ETag of its last 200 of a path, and a 304 is
    the body that 200 carried. Every answer is kept with its status, to be matched against the states after."""

    def __init__(self, base: str, paths: list[str], threads: int = 3) -> None:
        self.base, self.paths, self.done = base, paths, threading.Event()
        self.answers: list[tuple[str, int, bytes]] = []  # path, status as received, body (a 304's: the cached one)
        self.threads = [threading.Thread(target=self._read) for _ in range(threads)]

    def _read(self) -> None:
        cached: dict[str, tuple[str, bytes]] = {}
        while not self.done.is_set():
            for path in self.paths:
                etag, body = cached.get(path, (None, b""))
                status, new_etag, new_body = get(self.base + path, etag)
                if status == 200 and new_etag:
                    cached[path] = new_etag, new_body
                self.answers.append((path, status, body if status == 304 else new_body))

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join()


def to_concrete_index() -> None:
    """The catalogue's documents moved to a concrete index named like the alias, PostgreSQL recording no
    generation: production's layout before this version of the ingestion."""
    hits = [h["_source"] for h in helpers.scan(ES, index=INDEX, query={"query": {"match_all": {}}})]
    drop_index(INDEX)
    ES.indices.create(index=INDEX, settings=documents.SETTINGS)
    helpers.bulk(ES, ({"_index": INDEX, "_id": d["dataset_id"], "_source": d} for d in hits), refresh=True)
    fetch(DATABASE, "DELETE FROM catalogue_state")
    assert not ES.indices.exists_alias(name=INDEX) and documents.current(ES, INDEX) == INDEX


@pytest.mark.parametrize("start", ["generation", "concrete index"])
def test_readers_see_the_old_or_the_new_catalogue_during_whole_reloads(catalogue_a: Path, demo_files: Path,
                                                                        monkeypatch, start: str, tmp_path: Path):
    if start == "concrete index":
        to_concrete_index()
    folders = {v: sorted((demo_files / v).iterdir()) for v in ("a", "b")}
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    functions_log = tmp_path / "functions.log"
    with serve.background(environments=2, function_log=functions_log) as (base, log):
        gene = json.loads(get(base + "/v1/genes?prefix=a&limit=1")[2])["genes"][0]["gene_name"]
        paths = [*PATHS, f"/v1/genes/{gene}"]
        with ThreadPoolExecutor(4) as pool:  # every environment warm: a cold start on a busy machine is no reload fault
            list(pool.map(lambda path: get(base + path), paths * 4))
        expected = {"a": state(base, paths)}
        with Readers(base, paths) as readers:
            for version in ("b", "a", "b"):
                summary = ingest(run.load_all(target(), folders[version], quiet=True))
                assert not summary.refusals and len(summary.outcomes) == len(folders[version])
                expected.setdefault(version, state(base, paths))
    assert expected["a"][f"/v1/datasets/{ONLY_B}"][0] == 404 and expected["b"][f"/v1/datasets/{ONLY_B}"][0] == 200
    assert all(expected["a"][p] != expected["b"][p] for p in paths if "genes" not in p), "the catalogues differ"
    statuses = Counter((path, status) for path, status, _ in readers.answers)
    wrong = {k: n for k, n in statuses.items() if k[1] not in (200, 304)
             and not (k[0] == f"/v1/datasets/{ONLY_B}" and k[1] == 404)}
    errors = [line for line in log if "rror" in line or "imeout" in line] + [
        line[:3000] for line in functions_log.read_text().splitlines() if '"level":"ERROR"' in line] + [
        f"{path}: {body[:300]!r}" for path, status, body in readers.answers if status not in (200, 304, 404)]
    assert not wrong, f"answers neither 200 nor 304, by route: {wrong}; the server logged: {errors[:20]}"
    seen = Counter()
    for path, status, body in readers.answers:
        answer = 200 if status == 304 else status, comparable(body)
        which = [v for v in ("a", "b") if expected[v][path] == answer]
        assert which, f"{path}: {status}, an answer of neither catalogue"
        seen[path, "a" if len(which) == 2 else which[0]] += 1
    for path in paths:
        assert seen[path, "a"] + seen[path, "b"] >= 3, (path, seen)
    assert sum(n for (_, v), n in seen.items() if v == "b") and sum(n for (_, v), n in seen.items() if v == "a")
    assert ES.indices.exists_alias(name=INDEX), "the alias names the last generation"
    assert documents.current(ES, INDEX) != INDEX and documents.current(ES, INDEX) in documents.generations(ES, INDEX)
    assert len(documents.generations(ES, INDEX)) == 2, "the current generation and the one before it"


def test_per_dataset_loads_write_to_a_concrete_index_until_a_whole_load_migrates_it(catalogue_a: Path,
                                                                                      demo_files: Path):
    to_concrete_index()
    summary = ingest(run.load(target(), [demo_files / "b" / ONLY_B], quiet=True))
    assert summary.outcomes == {ONLY_B: "loaded"}
    assert ES.exists(index=INDEX, id=ONLY_B) and documents.current(ES, INDEX) == INDEX, "still the concrete index"
    replaced = cli("replace", str(demo_files / "b"))  # the operator's whole load: python -m ingestion replace
    assert replaced.returncode == 0, replaced.stderr
    assert f"{len(list((demo_files / 'b').iterdir()))} loaded;" in replaced.stderr, replaced.stderr
    generation = documents.current(ES, INDEX)
    assert generation != INDEX and ES.indices.get_alias(name=INDEX).body == {generation: {"aliases": {INDEX: {}}}}
    assert fetch(DATABASE, "SELECT documents_index FROM catalogue_state")[0][0] == generation
    held = {h["_id"] for h in helpers.scan(ES, index=INDEX, query={"query": {"match_all": {}}})}
    assert held == {p.name for p in (demo_files / "b").iterdir()}
    summary = ingest(run.load(target(), [demo_files / "a" / BOTH], quiet=True))  # through the alias now
    assert summary.outcomes == {BOTH: "loaded"} and documents.current(ES, INDEX) == generation


def lost_generation() -> str:
    """The generation PostgreSQL's catalogue reads its documents from, deleted from Elasticsearch (as a restore of
    an older snapshot, or an operator's cleanup, leaves it); its name."""
    [(generation,)] = fetch(DATABASE, "SELECT documents_index FROM catalogue_state")
    assert generation and ES.indices.exists(index=generation)
    ES.indices.delete(index=generation)
    return generation


def test_a_dataset_load_into_a_lost_generation_stops_before_changing_anything(catalogue_a: Path, demo_files: Path,
                                                                               monkeypatch):
    generation = lost_generation()
    [(gene,)] = fetch(DATABASE, "SELECT perturbed_target_symbol FROM perturb_seq WHERE dataset_id = $1 LIMIT 1", BOTH)
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    with serve.background(environments=1) as (base, _):
        # The gene's rows check their datasets' documents with a multi-get, which reports the lost index per document.
        for path in ("/v1/search?limit=5", "/v1/datasets", f"/v1/datasets/{BOTH}", f"/v1/genes/{gene}/rows?limit=5"):
            status, _, body = get(base + path)
            assert (status, json.loads(body)["error"]["code"]) == (500, "data_integrity"), (path, body)
            assert "reload the whole catalogue" in json.loads(body)["error"]["message"]
    attempt = cli("load", str(demo_files / "b" / ONLY_B))
    assert attempt.returncode == 2, attempt.stderr
    assert f"Elasticsearch index {generation}, which Elasticsearch does not have" in attempt.stderr, attempt.stderr
    assert "make ingest-all" in attempt.stderr and "Traceback" not in attempt.stderr, attempt.stderr
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", ONLY_B)[0][0] == 0
    assert fetch(DATABASE, "SELECT documents_index FROM catalogue_state")[0][0] == generation, "nothing changed"


def test_a_whole_load_rebuilds_a_lost_generation_and_dataset_loads_follow(catalogue_a: Path, demo_files: Path):
    lost = lost_generation()
    replaced = cli("replace", str(demo_files / "b"))
    assert replaced.returncode == 0, replaced.stderr
    [(generation,)] = fetch(DATABASE, "SELECT documents_index FROM catalogue_state")
    assert generation != lost and documents.current(ES, INDEX) == generation
    held = {h["_id"] for h in helpers.scan(ES, index=INDEX, query={"query": {"match_all": {}}})}
    assert held == {p.name for p in (demo_files / "b").iterdir()}
    deleted = ingest(run.delete(target(), ONLY_B))
    assert deleted[0] == "deleted" and not ES.exists(index=INDEX, id=ONLY_B)
    summary = ingest(run.load(target(), [demo_files / "b" / ONLY_B], quiet=True))
    assert summary.outcomes == {ONLY_B: "loaded"} and ES.exists(index=generation, id=ONLY_B)


def test_a_delete_goes_on_when_the_generation_is_lost(catalogue_a: Path):
    lost_generation()
    outcome, rows = ingest(run.delete(target(), BOTH))
    assert outcome == "deleted" and rows > 0
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", BOTH)[0][0] == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-m", "ingestion", "--database", DATABASE, "--es-index", INDEX, *args],
                          env=env, capture_output=True, text=True, timeout=300)


def blocked_writes(blocked: bool) -> None:
    ES.indices.put_settings(index=INDEX, settings={"index.blocks.write": blocked})


def test_a_load_elasticsearch_refuses_is_incomplete_until_the_next_run_finishes_it(catalogue_a: Path,
                                                                                    demo_files: Path):
    folder = demo_files / "b" / ONLY_B
    blocked_writes(True)  # a real refusal of the document's write (cluster_block_exception)
    try:
        first = cli("load", str(folder))
    finally:
        blocked_writes(False)
    assert first.returncode == 1, first.stderr
    said = first.stdout + first.stderr
    assert f"{ONLY_B}: incomplete" in said and f"dataset {ONLY_B} incomplete: PostgreSQL holds the new rows; " \
        "Elasticsearch does not hold the new document yet; run the same load again to finish it" in said, said
    rows = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", ONLY_B)[0][0]
    assert rows > 0 and not ES.exists(index=INDEX, id=ONLY_B)
    [(outcome, detail)] = fetch(DATABASE, "SELECT outcome, detail FROM catalogue_load_history WHERE dataset_id = $1 "
                                          "ORDER BY id DESC LIMIT 1", ONLY_B)
    assert outcome == "incomplete" and "cluster_block_exception" in detail, detail
    second = cli("load", str(folder))
    assert second.returncode == 0 and f"{ONLY_B}: loaded" in second.stdout + second.stderr, second.stderr
    assert ES.exists(index=INDEX, id=ONLY_B)
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", ONLY_B)[0][0] == rows
    third = cli("load", str(folder))
    assert third.returncode == 0 and f"{ONLY_B}: unchanged" in third.stdout + third.stderr, third.stderr
    assert [r[0] for r in fetch(DATABASE, "SELECT outcome FROM catalogue_load_history WHERE dataset_id = $1 "
                                          "ORDER BY id", ONLY_B)] == ["incomplete", "loaded", "unchanged"]


def test_the_dataset_of_a_finished_load_is_served(catalogue_a: Path, demo_files: Path, monkeypatch):
    """Before the next run, the rows PostgreSQL holds are not found (no document, no dataset); after it, both."""
    folder = demo_files / "b" / ONLY_B
    blocked_writes(True)
    try:
        assert ingest(run.load(target(), [folder], quiet=True)).outcomes == {ONLY_B: "incomplete"}
    finally:
        blocked_writes(False)
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    with serve.background(environments=1) as (base, _):
        before = [get(f"{base}/v1/datasets/{ONLY_B}")[0], get(f"{base}/v1/datasets/{ONLY_B}/rows?limit=5")[0]]
        assert ingest(run.load(target(), [folder], quiet=True)).outcomes == {ONLY_B: "loaded"}
        after = [get(f"{base}/v1/datasets/{ONLY_B}")[0], get(f"{base}/v1/datasets/{ONLY_B}/rows?limit=5")[0]]
    assert before == [404, 404] and after == [200, 200]


def tissues_of(answer: bytes, dataset_id: str) -> set[str]:
    """The tissue of every dataset object of `dataset_id` in a JSON answer, wherever it sits."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if value.get("dataset_id") == dataset_id and "tissue" in value:
                found.add(value["tissue"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
    walk(json.loads(answer))
    return found


def test_a_warm_function_answers_a_dataset_s_new_document_once_its_load_is_done(catalogue_a: Path, monkeypatch):
    """A warm function remembers the documents it fetched (catalogue/remembered.py); a dataset's load that changes
    its document is counted after Elasticsearch took the document, and the next answer has the new one."""
    [(gene,)] = fetch(DATABASE, "SELECT perturbed_target_symbol FROM perturb_seq WHERE dataset_id = $1 LIMIT 1", BOTH)
    paths = [f"/v1/search?perturbation_gene_name={gene}", "/v1/search?limit=50", f"/v1/genes/{gene}"]
    metadata = catalogue_a / BOTH / "metadata.json"
    document = json.loads(metadata.read_text())
    old, new = document["tissue_labels"][0], "tissue of the new version"
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    with serve.background(environments=1) as (base, _):
        for _ in range(2):  # the second time from what the one environment of each function remembers
            assert [tissues_of(get(base + path)[2], BOTH) for path in paths] == [{old}] * len(paths)
        metadata.write_text(json.dumps({**document, "tissue_labels": [new]}))
        assert ingest(run.load(target(), [catalogue_a / BOTH], quiet=True)).outcomes == {BOTH: "loaded"}
        assert [tissues_of(get(base + path)[2], BOTH) for path in paths] == [{new}] * len(paths)


def test_a_catalogue_made_before_the_count_is_served_loaded_and_given_it_by_a_whole_load(catalogue_a: Path,
                                                                                        demo_files: Path,
                                                                                        monkeypatch):
    """Without catalogue_documents_written (a catalogue from before it) the API answers and remembers nothing, and a
    dataset's load goes on; the next whole load makes the sequence."""
    fetch(DATABASE, "DROP SEQUENCE catalogue_documents_written")
    assert ingest(run.load(target(), [demo_files / "b" / ONLY_B], quiet=True)).outcomes == {ONLY_B: "loaded"}
    monkeypatch.setenv("PS_DB", DATABASE)
    monkeypatch.setenv("ES_INDEX", INDEX)
    with serve.background(environments=1) as (base, _):
        for path in ("/v1/search?limit=50", f"/v1/datasets/{ONLY_B}", "/v1/summary"):
            status, _, body = get(base + path)
            assert status == 200 and (path == "/v1/summary" or ONLY_B.encode() in body), (path, body)
    replaced = cli("replace", str(demo_files / "b"))
    assert replaced.returncode == 0, replaced.stderr
    assert fetch(DATABASE, "SELECT to_regclass('public.catalogue_documents_written') IS NOT NULL")[0][0]


def autovacuum_of_perturb_seq() -> list:
    return fetch(DATABASE, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' "
                           "AND datname = current_database() AND query LIKE '%perturb_seq%'")


def test_a_whole_load_outlasts_an_autovacuum_of_the_catalogue(catalogue_a: Path, demo_files: Path):
    """An autovacuum worker on perturb_seq (common after deletes and replaces; here made slow: one page a tenth of a
    second) holds its lock for minutes, and the swap's short lock waits alone gave up after 40 attempts
    (LockNotAvailableError, found by make bench-ingest). PostgreSQL cancels the worker for a lock request that
    waits deadlock_timeout, which the swap now does while a worker runs: the load finishes."""
    fetch(DATABASE, "ALTER TABLE perturb_seq SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,"
                    " autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)")
    fetch(DATABASE, "DELETE FROM perturb_seq WHERE ctid IN (SELECT ctid FROM perturb_seq LIMIT 1000)")
    deadline = time.monotonic() + 150  # the launcher visits each database once per autovacuum_naptime (60 s)
    while not autovacuum_of_perturb_seq():
        assert time.monotonic() < deadline, "no autovacuum of perturb_seq started"
        time.sleep(0.5)
    summary = ingest(run.load_all(target(), sorted((demo_files / "b").iterdir()), quiet=True))
    assert not summary.refusals and set(summary.outcomes.values()) == {"loaded"}, summary.lines()
    assert fetch(DATABASE, "SELECT count(DISTINCT dataset_id) FROM perturb_seq")[0][0] == len(summary.outcomes)
