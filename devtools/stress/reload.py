"""The reload fault of `make load`: a whole-catalogue load while clients read, and the check that every answer during
it was entirely the old catalogue's or entirely the new one's (docs/ingestion.md, "Whole-catalogue loads").

Two catalogues of the same breadth (DATASETS datasets, the demo generator's seeds 1 and 2: the same dataset ids,
other rows and metadata) are input files under .local/demo-files/. The run serves the first from its own database
and index (DATABASE, INDEX), loads the second over it in the middle of the run (ingestion.run.load_all, as
`make ingest` and the S3-triggered function do), and afterwards:

* fetches every URL that was answered during the reload once in the new catalogue, then reloads the old one (which
  also leaves the catalogue as the next run expects it) and fetches them again;
* compares each answer given during the reload with those two, by `comparable` digest (load times left out: each
  load of the same files has its own `ingested_at`).

An answer that is neither, or any status other than 200 during the reload, is a failure of the run.
"""
from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from catalogue_common.settings import settings
from ingestion import run as ingestion

from devtools.data import load_data
from devtools.stress.answers import digest

DATABASE, INDEX = "catalogue_load", "load-dataset-summary-v1"
DATASETS, ROWS = 200, 1_000_000
OLD_SEED, NEW_SEED = 1, 2


def get(url: str) -> str:
    """The digest of a GET of `url` (an HTTP error's status and body included)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return digest(response.status, response.read())
    except urllib.error.HTTPError as error:
        return digest(error.code, error.read())


@dataclass
class Reload:
    """The fault: when the load of the new catalogue started and ended, and what it reported."""
    rows: int = ROWS
    datasets: int = DATASETS
    started: float = 0.0
    ended: float = 0.0
    seconds: float = 0.0
    outcome: str = "not run"
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def prepare(self) -> None:
        """The old catalogue in DATABASE / INDEX (loaded unless already there), the new one's files written."""
        args = ["--rows", str(self.rows), "--datasets", str(self.datasets), "--database", DATABASE, "--es-index", INDEX]
        if not load_data.in_place(DATABASE, INDEX, self.rows, self.datasets, OLD_SEED):
            load_data.main([*args, "--seed", str(OLD_SEED)])
        load_data.demo_files(self.rows, self.datasets, NEW_SEED)

    def load(self, seed: int) -> None:
        """A whole-catalogue load of the demo files of `seed` (with the gene reference already in place)."""
        folder = load_data.demo_files(self.rows, self.datasets, seed)
        target = settings("ingest").at(DATABASE, INDEX)
        summary = asyncio.run(ingestion.load_all(target, sorted(p for p in folder.iterdir() if p.is_dir()),
                                                 quiet=True))
        if summary.refusals:
            raise RuntimeError("\n".join(summary.lines()))

    def inject(self, at: float, stop: threading.Event) -> None:
        """At epoch `at`, the new catalogue's whole load (unless `stop` is set first)."""
        if stop.wait(max(0.0, at - time.time())):
            return
        self.started = time.time()
        try:
            self.load(NEW_SEED)
            self.outcome = "loaded"
        except Exception as error:  # reported as the fault's outcome; the run goes on
            self.outcome, self.error = "failed", repr(error)
        self.ended = time.time()
        self.seconds = round(self.ended - self.started, 1)
        self.done.set()

    def restore(self) -> None:
        """The old catalogue again, recorded as `make data` records it (so the next run finds it in place)."""
        load_data.main(["--rows", str(self.rows), "--datasets", str(self.datasets), "--database", DATABASE,
                        "--es-index", INDEX, "--seed", str(OLD_SEED)])


NOT_CATALOGUE = {"/v1/health"}  # answers about the stores, not the catalogue


def during(requests: list[dict[str, Any]], reload: Reload) -> list[dict[str, Any]]:
    """The requests whose answer may come from either catalogue: any that overlapped the load."""
    return [r for r in requests if r["t"] + r["ms"] / 1000 >= reload.started and r["t"] <= reload.ended
            and r["route"] not in NOT_CATALOGUE]


def states(base: str, urls: set[str]) -> dict[str, str]:
    """Each URL's answer digest now, four requests at a time."""
    ordered = sorted(urls)
    with ThreadPoolExecutor(4) as pool:
        return dict(zip(ordered, pool.map(lambda url: get(base + url), ordered), strict=True))


def verify(window: list[dict[str, Any]], new: dict[str, str], old: dict[str, str]) -> dict[str, Any]:
    """Each answer of the window matched against the two catalogues' answers to its URL."""
    statuses = Counter(f"{r['route']} {r['status']}" for r in window)
    matched: Counter[str] = Counter()
    neither = []
    for r in window:
        which = [name for name, state in (("old", old), ("new", new)) if state.get(r["url"]) == r["digest"]]
        matched[f"{r['route']} {'both' if len(which) == 2 else which[0] if which else 'neither'}"] += 1
        if not which:
            neither.append(r["url"])
    return {"requests": len(window), "by_route_and_status": dict(sorted(statuses.items())),
            "by_route_and_catalogue": dict(sorted(matched.items())), "neither": len(neither),
            "neither_examples": neither[:5], "not_200": sum(r["status"] != 200 for r in window)}


def check(base: str, requests: list[dict[str, Any]], reload: Reload) -> dict[str, Any]:
    """After the run (the new catalogue served): the answers during the reload against both catalogues; the old
    catalogue is loaded again on the way."""
    report: dict[str, Any] = {"datasets": reload.datasets, "rows": reload.rows, "outcome": reload.outcome,
                              "error": reload.error, "load_seconds": reload.seconds}
    if reload.outcome != "loaded":
        return report
    window = during(requests, reload)
    urls = {r["url"] for r in window if r["url"]}
    new = states(base, urls)
    reload.restore()
    old = states(base, urls)
    report.update(verify(window, new, old), distinct_urls=len(urls),
                  differ=sum(new[u] != old[u] for u in urls))
    return report


def problems(report: dict[str, Any]) -> list[str]:
    """What makes the reload fault fail the run."""
    if report["outcome"] != "loaded":
        return [f"the reload did not load: {report['outcome']} {report['error'] or ''}".strip()]
    out = []
    if report["not_200"]:
        out.append(f"{report['not_200']} answers during the reload were not 200")
    if report["neither"]:
        out.append(f"{report['neither']} answers during the reload were neither catalogue's: "
                   f"{report['neither_examples']}")
    if not report["requests"]:
        out.append("no request overlapped the reload")
    return out


def lines(report: dict[str, Any]) -> list[str]:
    """The reload fault in the run's report."""
    if report["outcome"] != "loaded":
        return [f"reload: {report['outcome']} {report['error'] or ''}"]
    out = [f"reload: {report['datasets']} datasets, {report['rows']:,} rows, whole load {report['load_seconds']} s; "
           f"{report['requests']:,} answers overlapped it ({report['distinct_urls']:,} URLs, {report['differ']:,} "
           f"of them answer differently in the two catalogues); not 200: {report['not_200']}; neither catalogue's: "
           f"{report['neither']}"]
    out += [f"  {key:<44}{n:>7,}" for key, n in report["by_route_and_catalogue"].items()]
    return out

