"""What every benchmark shares, so each benchmark module holds only what it measures: the benchmark catalogue
(its scales, built once and reused), timing and percentiles, counted store round trips, plan inspection, a
function's cold start in a fresh interpreter, the machine, and the writing of a section of BENCHMARKS.md.
"""
from __future__ import annotations

import asyncio
import compileall
import contextlib
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
from catalogue import clients
from catalogue_common.settings import settings

from devtools.bench.roundtrips import RoundTripCounter
from devtools.data import load_data
from devtools.local.lambda_runtime import lambda_environment

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".local" / "bench"  # each benchmark's last figures, against which the next run is compared
SEED, DATASETS = 1, 12


@dataclass(frozen=True)
class Catalogue:
    """A benchmark catalogue: the demo data of (rows, datasets, SEED, sizes), loaded once into its own database and
    Elasticsearch index through `make data`'s loader, and reused while the loaded data says it is that set."""
    name: str
    rows: int
    datasets: int
    sizes: str  # demo_data.SIZES
    database: str
    index: str

    def scaled(self, rows: int) -> Catalogue:
        """The same catalogue with another number of rows (the largest scale where the disk cannot hold it)."""
        return replace(self, name=f"{self.datasets}-{rows / 1e6:g}M", rows=rows)


def _catalogue(name: str, rows: int, datasets: int, sizes: str, database: str) -> Catalogue:
    return Catalogue(name, rows, datasets, sizes, database, database.replace("catalogue_", "").replace("_", "-")
                     + "-dataset-summary-v1")


CATALOGUES = {c.name: c for c in (
    # make bench (QUICK=1): 12 datasets
    Catalogue("20M", 20_000_000, DATASETS, "spread", "catalogue_bench", "bench-dataset-summary-v1"),
    Catalogue("1M", 1_000_000, DATASETS, "spread", "catalogue_bench_quick", "bench-quick-dataset-summary-v1"),
    # make bench SCALE=full: the breadth of the real catalogue (issue 13), heavy-tailed sizes
    _catalogue("1000-20M", 20_000_000, 1000, "heavy", "catalogue_bench_1000"),
    _catalogue("1200-100M", 100_000_000, 1200, "heavy", "catalogue_bench_1200"),
    # make bench SCALE=tiny: the same three shapes, small enough to check the benchmark itself in minutes
    _catalogue("tiny-12", 400_000, DATASETS, "spread", "catalogue_bench_tiny_12"),
    _catalogue("tiny-1000", 400_000, 1000, "heavy", "catalogue_bench_tiny_1000"),
    _catalogue("tiny-1200", 2_000_000, 1200, "heavy", "catalogue_bench_tiny_1200"),
)}
# What each mode of `make bench` measures, in one run (the largest last).
RUNS = {"20M": ["20M"], "1M": ["1M"], "full": ["20M", "1000-20M", "1200-100M"],
        "tiny": ["tiny-12", "tiny-1000", "tiny-1200"]}
# Kept for the ingestion benchmark: scale -> rows, database, Elasticsearch index (12 datasets, spread sizes).
SCALES = {name: (CATALOGUES[name].rows, CATALOGUES[name].database, CATALOGUES[name].index) for name in ("20M", "1M")}


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the benchmark catalogue -----------------------------------------------------------------------------------

def configure(catalogue: Catalogue) -> None:
    """Before the layer's first use: the bench catalogue, and Lambda's environment as `sam local` gives it."""
    os.environ.update(PS_DB=catalogue.database, ES_INDEX=catalogue.index, AWS_SAM_LOCAL="true",
                      POWERTOOLS_SERVICE_NAME="bench", AWS_LAMBDA_FUNCTION_NAME="catalogue-bench")


def in_place(catalogue: Catalogue) -> bool:
    """Whether the catalogue is loaded, whether or not its download files are still in the local S3 store: moto
    keeps them in memory, so every `make up` after a `make down` lost them, and each run after one rebuilt all three
    catalogues (about 30 minutes) for files that no shape reads (the download route's 307 names a file, and is
    measured without following it)."""
    c = catalogue
    return load_data.in_place(c.database, c.index, c.rows, c.datasets, SEED, sizes=c.sizes, files=False)


def ensure_data(catalogue: Catalogue, drop_files: bool = False) -> dict[str, Any]:
    """The benchmark catalogue in place, built (once) through `make data`'s loader; returns how it was built (rows,
    seconds, input bytes, when: kept in .local/bench/data-<name>.json, so a reused catalogue still reports them).
    `drop_files`: the input files are removed after the load (the largest scale cannot keep them beside the
    data)."""
    c, record = catalogue, OUT / f"data-{catalogue.name}.json"
    if in_place(c):
        log(f"data: {c.database} already holds {c.name} ({c.rows:,} rows, {c.datasets:,} datasets, {c.sizes} sizes)")
        built = json.loads(record.read_text()) if record.exists() else {}
        return built if built.get("rows") == c.rows else {}
    log(f"data: building {c.name} ({c.rows:,} rows, {c.datasets:,} datasets, {c.sizes} sizes) into {c.database} "
        "(once; later runs reuse it)")
    asyncio.run(drop_database(c.database))  # an outdated one: its space is needed
    began = time.monotonic()
    files = load_data.demo_files(c.rows, c.datasets, SEED, c.sizes)  # written before the load's clock starts
    files_s, input_bytes = time.monotonic() - began, sum(p.stat().st_size for p in files.rglob("*") if p.is_file())
    began = time.monotonic()
    # In a child process: the load reads whole input files (GBs at 20 M rows), and this process's high-water RSS
    # would otherwise stay that high for the rest of the run.
    subprocess.run([sys.executable, "-m", load_data.__name__, "--rows", str(c.rows), "--seed", str(SEED),
                    "--datasets", str(c.datasets), "--sizes", c.sizes, "--database", c.database,
                    "--es-index", c.index, *(["--drop-files"] if drop_files else [])], check=True, cwd=ROOT)
    built = {"rows": c.rows, "files_s": round(files_s, 1), "load_s": round(time.monotonic() - began, 1),
             "input_bytes": input_bytes,
             "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(built, indent=1))
    return built


async def drop_database(database: str) -> None:
    conn = await asyncpg.connect(settings().superuser_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


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

# Run in a fresh interpreter, given on stdin: the paths to put first on sys.path, the packages the Lambda layers do
# not hold (hidden, as on Lambda), the function, the events of its requests, warm rounds, the parent's time.time() at
# launch. The first event is the first answer; then warm rounds of them all.
PRELUDE = """
import time
began, began_wall = time.perf_counter(), time.time()
import json, os, sys
given = json.load(sys.stdin)
hidden = set(given["hidden"])


class Hidden:  # what the development venv holds beyond the layers is not importable (elasticsearch tries pyarrow)
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r} (not in the Lambda layers)", name=name)


sys.meta_path.insert(0, Hidden())
sys.path[:0] = given["path"]
from devtools.local.lambda_runtime import LambdaContext, load_function
"""
COLD = PRELUDE + """
result = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the function's logs and metrics
function = load_function(given["function"])
imported = time.perf_counter()
statuses = [function.handler(given["events"][0], LambdaContext())["statusCode"]]
first = time.perf_counter()
for _ in range(given["rounds"]):
    statuses += [function.handler(event, LambdaContext())["statusCode"] for event in given["events"]]
assert set(statuses) <= set(given["statuses"]), sorted(set(statuses))
result.write(json.dumps({"interpreter_s": began_wall - given["launched"], "import_s": imported - began,
                         "first_answer_s": first - began,
                         # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the parent (this
                         # benchmark process), VmHWM is this process's own.
                         "peak_rss_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                                                 if line.startswith("VmHWM:"))) / 1024}))
result.flush()
"""
# With `python -X importtime`: the function's import alone, where its time goes (other than in the project's code).
IMPORT_ONLY = PRELUDE + """
load_function(given["function"])
"""
OWN_PACKAGES = {"catalogue", "catalogue_common", "devtools", "site", "encodings"}
LAYER_REQUIREMENTS = [ROOT / "layers" / "catalogue" / "requirements.txt"]  # the API functions' layers (+ common's)
RUNTIME = {"snapshot_restore_py"}  # part of Lambda's Python runtime


def beyond_the_layers() -> list[str]:
    """Top-level modules of the development venv that the API functions' layers do not hold: the distributions
    outside the closure of the layers' requirements (extras followed; other markers taken as true)."""
    def name_of(requirement: str) -> tuple[str, set[str]]:
        found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^]]*)\])?", requirement)
        assert found, requirement
        return re.sub(r"[-_.]+", "-", found[1]).lower(), {e.strip() for e in (found[2] or "").split(",") if e.strip()}

    wanted = [name_of(line) for path in LAYER_REQUIREMENTS for line in path.read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    closure: set[str] = set()
    while wanted:
        name, extras = wanted.pop()
        if name in closure and not extras:
            continue
        closure.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            spec, _, marker = requirement.partition(";")
            extra = re.search(r"extra\s*==\s*[\"']([^\"']+)", marker)
            if extra is None or extra[1] in extras:
                wanted.append(name_of(spec))
    return sorted(module for module, dists in metadata.packages_distributions().items()
                  if not any(re.sub(r"[-_.]+", "-", d).lower() in closure for d in dists) and module not in RUNTIME)


@functools.cache
def compiled_packages() -> None:
    """Bytecode for the installed packages, as pip writes it when `sam build` builds a layer. uv installs without it,
    and where PYTHONDONTWRITEBYTECODE is set no interpreter writes it, so each fresh interpreter compiled every module
    it imported: `import elasticsearch` took 2.3-3.2 s instead of 0.8-1.3 s (2026-12-01). The layers' own modules are
    left as a deployed layer has them, as source."""
    compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=1, workers=0)


def cold_starts(function: str, events: list[dict[str, Any]], statuses: set[int], times: int = 5,
                rounds: int = 5) -> dict[str, Any]:
    """A fresh interpreter per run, holding only what the Lambda layers hold, in Lambda's environment with tracing
    active: the import of the function and its layer, its first answer (to events[0]); then `rounds` warm rounds of
    `events`, for peak RSS; every answer's status one of `statuses` (the download route's is 307). Medians over
    `times` runs, and the packages that took most of the import (`heaviest_imports`)."""
    compiled_packages()
    runs = []
    given = {"path": [str(ROOT / "layers" / "catalogue"), str(ROOT / "layers" / "common"), str(ROOT)],
             "hidden": beyond_the_layers(), "function": function, "events": events, "rounds": rounds,
             "statuses": sorted(statuses)}
    # As deployed: Lambda's environment with tracing active (until 2026-12-02 the runs had no LAMBDA_TASK_ROOT, and
    # the X-Ray SDK's import took its server path, about 0.2 s that no deployed function pays).
    env = os.environ | lambda_environment(f"catalogue-{function}", ROOT / "functions" / function, traced=True)
    for _ in range(times):
        out = subprocess.run([sys.executable, "-c", COLD], input=json.dumps(given | {"launched": time.time()}),
                             capture_output=True, text=True, check=False, env=env)
        if out.returncode:
            raise RuntimeError(f"cold start run of {function} failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout))
    medians = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", IMPORT_ONLY], input=json.dumps(given),
                         capture_output=True, text=True, check=False, env=env)
    return medians | {"runs": times, "top_imports": heaviest_imports(out.stderr)}


def heaviest_imports(importtime: str, count: int = 5) -> list[list[Any]]:
    """The top-level packages whose own modules took most of an import, from `-X importtime`'s lines ("import time:
    self [us] | cumulative | module"): each module's self time, summed per top-level package. Self time, not the
    cumulative time of the package's first line: a package whose `__init__` is small but whose submodule does the work
    at import (aws_xray_sdk.core made two botocore clients) showed as nothing."""
    seconds: dict[str, float] = {}
    for line in importtime.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            package = parts[2].strip().partition(".")[0]
            if package not in OWN_PACKAGES:
                seconds[package] = seconds.get(package, 0) + int(parts[0]) / 1e6
    return [[name, round(took, 3)] for name, took in sorted(seconds.items(), key=lambda kv: -kv[1])[:count]]


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
