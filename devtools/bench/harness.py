"""What every benchmark shares, so each benchmark module holds only what it measures: the benchmark catalogue
(its scales, built once and reused), timing and percentiles, counted store round trips, plan inspection, a
function's cold start in a fresh interpreter, the machine, and the writing of a section of BENCHMARKS.md.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from catalogue import clients
from catalogue_common.settings import settings

from devtools.bench.roundtrips import RoundTripCounter
from devtools.data import load_data

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".local" / "bench"  # each benchmark's last figures, against which the next run is compared
# scale -> rows, database, Elasticsearch index of the benchmark catalogue (the search and catalogue benchmarks run
# on it, the ingestion benchmark loads it)
SCALES = {"20M": (20_000_000, "catalogue_bench", "bench-dataset-summary-v1"),
          "1M": (1_000_000, "catalogue_bench_quick", "bench-quick-dataset-summary-v1")}
SEED, DATASETS = 1, 12


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the benchmark catalogue -----------------------------------------------------------------------------------

def configure(scale: str) -> None:
    """Before the layer's first use: the bench catalogue, and Lambda's environment as `sam local` gives it."""
    _, database, index = SCALES[scale]
    os.environ.update(PS_DB=database, ES_INDEX=index, AWS_SAM_LOCAL="true", POWERTOOLS_SERVICE_NAME="bench",
                      AWS_LAMBDA_FUNCTION_NAME="catalogue-search-bench")


def ensure_data(scale: str) -> None:
    """The benchmark catalogue of this scale in place, built (once) through `make data`'s loader."""
    rows, database, index = SCALES[scale]
    if load_data.in_place(database, index, rows, DATASETS, SEED):
        log(f"data: {database} already holds {rows:,} rows (seed {SEED}, {DATASETS} datasets)")
        return
    log(f"data: building {rows:,} rows into {database} (once; later runs reuse it)")
    # In a child process: the load reads whole input files (GBs at 20 M rows), and this process's high-water RSS
    # would otherwise stay that high for the rest of the run.
    subprocess.run([sys.executable, "-m", load_data.__name__, "--rows", str(rows), "--seed", str(SEED),
                    "--datasets", str(DATASETS), "--database", database, "--es-index", index], check=True, cwd=ROOT)


# --- timing ----------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def stdout_discarded() -> Iterator[None]:
    """The function's JSON logs and EMF metrics are written (as on Lambda, where stdout is its log) but discarded.
    At the file-descriptor level: Powertools' logger holds on to the stream it was created with."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def timed(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(seconds, result) of running make() on `loop`."""
    began = time.perf_counter()
    result = loop.run_until_complete(make())
    return time.perf_counter() - began, result


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds, and the number of samples."""
    q = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000, "n": len(seconds)}


# --- round trips -----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def counted_stores(loop: asyncio.AbstractEventLoop) -> Iterator[tuple[RoundTripCounter, RoundTripCounter,
                                                                      clients.Stores]]:
    """The layer's store clients on `loop` replaced, meanwhile, by clients that reach both stores through counting
    proxies: yields (PostgreSQL's counter, Elasticsearch's counter, the clients); the timed rounds' clients are put
    back afterwards."""
    pg, es = RoundTripCounter(settings().ps_port), RoundTripCounter(settings().es_port)
    original = clients._stores  # the clients the timed rounds used, on this loop
    assert original is not None, "the timed rounds run first: their clients are the ones to proxy"
    proxied = clients.Stores(replace(original.config, ps_port=pg.port, es_url=f"http://127.0.0.1:{es.port}"), loop)
    clients._stores = proxied
    try:
        yield pg, es, proxied
    finally:
        loop.run_until_complete(proxied.close())
        clients._stores = original
        pg.close()
        es.close()


# --- plans -----------------------------------------------------------------------------------------------------

def scans(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(relation, node type, index) of every plan node that reads a relation; a bitmap heap scan's index is in its
    child. CTE and subquery scans read no relation."""
    children = plan.get("Plans", [])
    own = []
    if "Relation Name" in plan:
        index = plan.get("Index Name") or ",".join(c["Index Name"] for c in children if "Index Name" in c)
        own = [(plan["Relation Name"], plan["Node Type"], index)]
    return own + [scan for child in children for scan in scans(child)]


def scans_of_perturb_seq(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, index) of every plan node reading perturb_seq."""
    return [(node, index) for relation, node, index in scans(plan) if relation == "perturb_seq"]


# --- cold start ------------------------------------------------------------------------------------------------

# Run in a fresh interpreter. argv: the layer's folder, the repository's, the function, the path it serves, a JSON
# list of query strings, the parent's time.time() at launch.
COLD = """
import time
began, began_wall = time.perf_counter(), time.time()
import json, os, sys
result = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the function's logs and metrics
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from devtools.local.lambda_runtime import LambdaContext, load_function
from devtools.local.lambda_events import http_api_event
function = load_function(sys.argv[3])
imported = time.perf_counter()
events = [http_api_event("GET", sys.argv[4], q) for q in json.loads(sys.argv[5])]
assert function.handler(events[0], LambdaContext())["statusCode"] == 200
first = time.perf_counter()
for _ in range(20):
    for event in events:
        assert function.handler(event, LambdaContext())["statusCode"] == 200
result.write(json.dumps({"interpreter_s": began_wall - float(sys.argv[6]), "import_s": imported - began,
                         "first_answer_s": first - began,
                         # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the parent (this
                         # benchmark process), VmHWM is this process's own.
                         "peak_rss_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                                                 if line.startswith("VmHWM:"))) / 1024}))
result.flush()
"""


def cold_starts(function: str, path: str, queries: list[str], times: int = 5) -> dict[str, Any]:
    """A fresh interpreter per run: the import of the function and its layer, its first answer; then 20 warm rounds
    of `queries` on GET `path`, for peak RSS. Medians over `times` runs."""
    runs = []
    for _ in range(times):
        command = [sys.executable, "-c", COLD, str(ROOT / "layers" / "catalogue"), str(ROOT), function, path,
                   json.dumps(queries), repr(time.time())]
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        if out.returncode:
            raise RuntimeError(f"cold start run failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"runs": times}


# --- the report --------------------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 1024 ** 2
    return {"cpu": f"{os.cpu_count()} x {cpu}", "memory": f"{memory:.0f} GiB", "os": platform.platform(),
            "python": platform.python_version()}


def previous_and_store(store: Path, result: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of the last run kept in `store` (or None), which `result` then replaces."""
    previous = json.loads(store.read_text()) if store.exists() else None
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(result, indent=1))
    return previous


def write_benchmarks_md(variant: str, text: str, heading: str | None = None) -> None:
    """Replaces this variant's figures in BENCHMARKS.md (between its markers); the prose around them stays. A new
    variant's section is appended under `heading` (default: "Figures: <variant>")."""
    path = ROOT / "BENCHMARKS.md"
    begin, end = f"<!-- bench:{variant} -->", f"<!-- /bench:{variant} -->"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{text}\n{end}"
    if begin in current:
        head, rest = current.split(begin, 1)
        current = head + block + rest.split(end, 1)[1]
    else:
        current = current.rstrip() + f"\n\n## {heading or f'Figures: {variant}'}\n\n{block}\n"
    path.write_text(current)
