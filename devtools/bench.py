"""Benchmark GET /v1/search on 20 M rows (QUICK: 1 M): every query shape, ours against a baseline; then the
catalogue routes (devtools/bench_catalogue.py).

    PYTHONPATH=layers/catalogue python devtools/bench.py [--quick] [--reps 200] [--only search|catalogue]
    make bench [QUICK=1] [REPS=n]

Builds the data set once (SEED=1, 12 datasets; reused while the loaded data says it is that set), then per
shape: p50/p95/p99 of the query layer alone (warm pool, one connection in use), of the Lambda handler end to
end, and of HTTP through the local server at concurrency 1 and 8; PostgreSQL round trips and Elasticsearch
calls per request; the plan's node types on perturb_seq; and the baseline (top groups from the summary view,
then one detail query per group) alternating with ours. Then cold start and peak RSS of a function process.
--extra-indexes builds extra_indexes.sql (EXTRA_INDEXES) first (without it they are dropped). Writes
.local/bench/<scale>[-extra].json and this variant's figures section of BENCHMARKS.md; the catalogue part its own
file and section.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg
import load_data
import serve
import yaml

# Settings are read on first use, after configure().
from catalogue import clients
from catalogue.answers import to_json
from catalogue.clients import stores
from catalogue.endpoints import search
from catalogue.endpoints.search import query as queries
from catalogue.endpoints.search.response import search_results
from catalogue.parameters import check
from catalogue_common.settings import settings
from elasticsearch import Elasticsearch
from lambda_events import http_api_event, load_template
from lambda_runtime import LambdaContext, load_function
from roundtrips import RoundTripCounter

ROOT = Path(__file__).resolve().parent.parent
SCALES = {"20M": (20_000_000, "catalogue_bench", "bench-dataset-summary-v1"),
          "1M": (1_000_000, "catalogue_bench_quick", "bench-quick-dataset-summary-v1")}
SEED, DATASETS = 1, 12
TARGETS = {"p50_ms": 15, "p99_ms": 50, "baseline_ratio": 3, "cold_start_s": 1.5, "overhead_p50_ms": 2}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def configure(scale: str) -> None:
    """Before the layer's first use: the bench catalogue, and Lambda's environment as `sam local` gives it."""
    _, database, index = SCALES[scale]
    os.environ.update(PS_DB=database, ES_INDEX=index, AWS_SAM_LOCAL="true", POWERTOOLS_SERVICE_NAME="bench",
                      AWS_LAMBDA_FUNCTION_NAME="catalogue-search-bench")


@dataclass
class Shape:
    name: str
    query: list[tuple[str, str]]
    timings: dict[str, list[float]] = field(default_factory=dict)  # series -> seconds
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def query_string(self) -> str:
        return urlencode(self.query)


def shapes(genes: dict[str, dict[str, str]]) -> list[Shape]:
    """The fixed mix: every shape the query builder emits, with very common, rare and absent genes."""
    out = []
    for group_by in ("perturbation_gene_name", "phenotype_gene_name"):
        g = [("group_by", group_by)]
        short = group_by.split("_")[0][:5]
        out += [Shape(f"{short}: no filter", g)]
        out += [Shape(f"{short}: {d}", [("effect_direction", d), *g]) for d in ("increased", "decreased")]
        for role in ("perturbation", "phenotype"):
            out += [Shape(f"{short}: {role} {kind}", [(f"{role}_gene_name", gene), *g])
                    for kind, gene in genes[role].items()]
        out += [Shape(f"{short}: both genes", [("perturbation_gene_name", genes["perturbation"]["common"]),
                                                ("phenotype_gene_name", genes["phenotype"]["common"]), *g])]
    out += [Shape("pheno: perturbation common, decreased",
                  [("perturbation_gene_name", genes["perturbation"]["common"]), ("effect_direction", "decreased"),
                   ("group_by", "phenotype_gene_name")]),
            Shape("pertu: metadata", [("dataset_metadata", "k562")]),
            Shape("pertu: metadata + phenotype common",
                  [("dataset_metadata", "blood"), ("phenotype_gene_name", genes["phenotype"]["common"])])]
    return out


async def pick_genes(conn: Any) -> dict[str, dict[str, str]]:
    """From the summary views (cheap): the gene with most significant rows, and one in a single dataset only."""
    genes = {}
    for role, column, view in (("perturbation", "perturbed_target_symbol", "perturb_seq_summary_perturbation"),
                               ("phenotype", "gene", "perturb_seq_summary_effect")):
        common = await conn.fetchval(f"SELECT {column} FROM {view} GROUP BY 1 "
                                     f"ORDER BY sum(n_total) DESC, {column} COLLATE \"C\" LIMIT 1")
        rare = await conn.fetchval(f"SELECT {column} FROM {view} GROUP BY 1 HAVING count(*) = 1 "
                                   f"ORDER BY max(n_total), {column} COLLATE \"C\" LIMIT 1")
        genes[role] = {"common": common, "rare": rare, "absent": "NOSUCHGENE1"}
    return genes


# --- the baseline: what a first implementation would do ------------------------------------------------------

async def baseline(query: list[tuple[str, str]]) -> tuple[bytes, int, int]:
    """Top groups from the summary view in one query, then one detail query per group. (json, empty groups,
    PostgreSQL queries). Groups are chosen before the filters are looked at, so some come back empty."""
    documents, request = await search.prepare(check(search.SearchParameters, query))
    if not documents:
        return b"[]", 0, 0
    group, other = request.sides
    group_gene, other_gene = request.gene(group), request.gene(other)
    args: list[Any] = [request.dataset_ids] + ([group_gene] if group_gene else [])
    top = await stores().fetch(f"""
        SELECT d.ord, d.dataset_id, s.* FROM unnest($1::text[]) WITH ORDINALITY AS d(dataset_id, ord)
        CROSS JOIN LATERAL (
          SELECT s.{group.column} AS grp, s.n_total, s.n_up, s.n_down, {group.base_mean.format('s')} AS base_mean
          FROM {group.view} s
          WHERE s.dataset_id = d.dataset_id {f"AND s.{group.column} = $2" if group_gene else ""}
          ORDER BY s.n_total DESC, s.{group.column} COLLATE "C" LIMIT {queries.GROUPS_PER_DATASET}) s
        ORDER BY d.ord, s.n_total DESC, s.grp COLLATE "C\"""", *args)
    filters = ([f"r.{other.column} = $3"] if other_gene else []) + (
        [queries.DIRECTION_SQL[request.direction].format(r="r")] if request.direction else [])
    detail = f"""
        SELECT r.{other.column} AS other, r.log2foldchange, r.padj, coalesce(o.n_total, 0) AS other_n_total,
               coalesce(o.n_up, 0) AS other_n_up, coalesce(o.n_down, 0) AS other_n_down,
               {other.base_mean.format('o')} AS other_base_mean
        FROM perturb_seq r
        LEFT JOIN {other.view} o ON o.dataset_id = r.dataset_id AND o.{other.column} = r.{other.column}
        WHERE {" AND ".join(["r.dataset_id = $1", f"r.{group.column} = $2", *filters])}
        ORDER BY r.padj, r.{other.column} COLLATE "C" LIMIT {queries.ROWS_PER_GROUP}"""
    records, empty = [], 0
    for g in top:
        rows = await stores().fetch(detail, g["dataset_id"], g["grp"], *([other_gene] if other_gene else []))
        empty += not rows
        records += [{**g, **r} for r in rows]
    return to_json(search_results(request.group_by, documents, records)), empty, 1 + len(top)


# --- measuring -------------------------------------------------------------------------------------------------

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
    began = time.perf_counter()
    result = loop.run_until_complete(make())
    return time.perf_counter() - began, result


def percentiles(seconds: list[float]) -> dict[str, float]:
    q = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000, "n": len(seconds)}


def in_process(loop: asyncio.AbstractEventLoop, mix: list[Shape], reps: int, handler: Callable) -> None:
    """Round robin over the shapes, so no shape runs on caches warmed by its own repetitions; per shape the query
    layer, the baseline and the handler alternate."""
    for rep in range(reps + 2):  # two warm-up rounds, not recorded
        for shape in mix:
            ours_s, ours = timed(loop, lambda s=shape: search.search(check(search.SearchParameters, s.query)))
            base_s, (theirs, empty, pg_queries) = timed(loop, lambda s=shape: baseline(s.query))
            # A context per invocation, as Lambda gives: the request's deadline comes from its remaining time.
            event, context = http_api_event("GET", "/v1/search", shape.query), LambdaContext("catalogue-search-bench")
            began = time.perf_counter()
            response = handler(event, context)
            handler_s = time.perf_counter() - began
            assert response["statusCode"] == 200, response
            if rep < 2:
                shape.facts.update(baseline_empty_groups=empty, baseline_pg_queries=pg_queries,
                                   baseline_same_answer=ours == theirs, datasets=len(json.loads(ours)),
                                   answer_bytes=len(ours))
                continue
            for series, seconds in (("layer", ours_s), ("baseline", base_s), ("handler", handler_s)):
                shape.timings.setdefault(series, []).append(seconds)
        if rep % 20 == 0:
            log(f"  in process: round {rep}/{reps + 2}")


def round_trips(loop: asyncio.AbstractEventLoop, mix: list[Shape]) -> None:
    """PostgreSQL round trips and Elasticsearch requests per warm request, through counting proxies."""
    pg, es = RoundTripCounter(settings().ps_port), RoundTripCounter(settings().es_port)
    original = clients._stores  # the clients the timed rounds used, on this loop
    proxied = clients.Stores(replace(original.config, ps_port=pg.port, es_url=f"http://127.0.0.1:{es.port}"), loop)
    clients._stores = proxied
    try:
        for shape in mix:
            # warm: connection and prepared statement
            loop.run_until_complete(search.search(check(search.SearchParameters, shape.query)))
            pg.round_trips = es.round_trips = 0
            loop.run_until_complete(search.search(check(search.SearchParameters, shape.query)))
            shape.facts.update(pg_round_trips=pg.round_trips, es_calls=es.round_trips)
    finally:
        loop.run_until_complete(proxied.close())
        clients._stores = original
        pg.close()
        es.close()


def scans_of_perturb_seq(plan: dict) -> list[tuple[str, str]]:
    """(node type, index) of every plan node reading perturb_seq; a bitmap heap scan's index is in its child."""
    children = plan.get("Plans", [])
    index = plan.get("Index Name") or ",".join(c["Index Name"] for c in children if "Index Name" in c)
    own = [(plan["Node Type"], index)] if plan.get("Relation Name") == "perturb_seq" else []
    return own + [scan for child in children for scan in scans_of_perturb_seq(child)]


def plans(loop: asyncio.AbstractEventLoop, mix: list[Shape], database: str) -> None:
    """EXPLAIN ANALYZE of each shape's query: the scans of perturb_seq, and the server's execution time."""
    async def explain() -> None:
        conn = await asyncpg.connect(settings().superuser_dsn(database),
                                     server_settings={"plan_cache_mode": "force_custom_plan"})
        try:
            for shape in mix:
                documents, request = await search.prepare(check(search.SearchParameters, shape.query))
                if not documents:
                    shape.facts.update(plan=[], execution_ms=0.0, planning_ms=0.0)
                    continue
                sql, args = queries.build(request)
                [plan] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args))
                scans = {f"{node} {index}".strip() for node, index in scans_of_perturb_seq(plan["Plan"])}
                shape.facts.update(plan=sorted(scans), execution_ms=plan["Execution Time"],
                                   planning_ms=plan["Planning Time"],
                                   buffers=plan["Plan"].get("Shared Hit Blocks", 0)
                                   + plan["Plan"].get("Shared Read Blocks", 0))
        finally:
            await conn.close()
    loop.run_until_complete(explain())


def search_only_template() -> Path:
    """template.yaml with the search function only (its paths made absolute), under .local/bench/: the local
    server starts `environments` warm environments of every function of its template, and the HTTP part calls
    only /v1/search (8 environments of each of nine functions: 72 processes, which also outlast serve.background's
    30 s to stop)."""
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    for name, resource in list(resources.items()):
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and Path(properties["CodeUri"]).name != "search":
            del resources[name]
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = str(ROOT / properties[key])
    path = ROOT / ".local" / "bench" / "template-search.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@contextlib.contextmanager
def search_server(environments: int) -> Iterator[str]:
    """devtools/serve.py serving search_only_template() on a free port (as serve.background does for the whole
    template); yields its URL once it serves, stops it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, serve.__file__, "--port", str(port), "--environments",
                                str(environments), "--template", str(search_only_template())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    # Drained for the server's whole life: it logs every request, and a full pipe would block it.
    threading.Thread(target=lambda: [*map(lines.put, process.stderr), lines.put("")], daemon=True).start()
    log_lines: list[str] = []
    try:
        while (line := lines.get(timeout=300)) and not line.startswith("Serving on"):
            log_lines.append(line)
        if not line:
            raise RuntimeError(f"serve.py exited before serving:\n{''.join(log_lines)}")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def over_http(mix: list[Shape], reps: int) -> dict[str, Any]:
    """Through the local server (8 warm environments): one client, then eight at once."""
    def client(url: str) -> Callable[[str], float]:
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

        def get(query: str) -> float:
            began = time.perf_counter()
            conn.request("GET", f"/v1/search?{query}")
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status
            return time.perf_counter() - began
        return get

    with search_server(environments=8) as url:
        with ThreadPoolExecutor(8) as pool:  # every environment warm before measuring
            list(pool.map(lambda _: [client(url)(s.query_string) for s in mix], range(16)))
        get = client(url)
        for _ in range(reps):
            for shape in mix:
                shape.timings.setdefault("http_c1", []).append(get(shape.query_string))
        began = time.perf_counter()

        def worker(offset: int) -> None:  # every client goes round all shapes, each starting elsewhere
            get = client(url)
            for _ in range(reps):
                for i in range(len(mix)):
                    shape = mix[(i + offset * 3) % len(mix)]
                    shape.timings.setdefault(f"http_c8_{offset}", []).append(get(shape.query_string))
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(worker, range(8)))
        elapsed = time.perf_counter() - began
    for shape in mix:
        shape.timings["http_c8"] = [s for i in range(8) for s in shape.timings.pop(f"http_c8_{i}", [])]
    return {"c8_requests_per_s": 8 * reps * len(mix) / elapsed}


COLD = """
import time
began, began_wall = time.perf_counter(), time.time()
import json, os, sys
result = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the function's logs and metrics
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from lambda_runtime import LambdaContext, load_function
from lambda_events import http_api_event
function = load_function("search")
imported = time.perf_counter()
events = [http_api_event("GET", "/v1/search", q) for q in json.loads(sys.argv[3])]
assert function.handler(events[0], LambdaContext())["statusCode"] == 200
first = time.perf_counter()
for _ in range(20):
    for event in events:
        assert function.handler(event, LambdaContext())["statusCode"] == 200
result.write(json.dumps({"interpreter_s": began_wall - float(sys.argv[4]), "import_s": imported - began,
                         "first_answer_s": first - began,
                         # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the parent (this
                         # benchmark process), VmHWM is this process's own.
                         "peak_rss_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                                                 if line.startswith("VmHWM:"))) / 1024}))
result.flush()
"""


def cold_starts(mix: list[Shape], times: int = 5) -> dict[str, Any]:
    """A fresh interpreter: import of the function and the layer, the first answer; then warm, for peak RSS."""
    runs = []
    for _ in range(times):
        out = subprocess.run([sys.executable, "-c", COLD, str(ROOT / "layers" / "catalogue"), str(ROOT / "devtools"),
                              json.dumps([s.query_string for s in mix]), repr(time.time())],
                             capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"cold start run failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"runs": times}


# --- report -----------------------------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 1024 ** 2
    return {"cpu": f"{os.cpu_count()} x {cpu}", "memory": f"{memory:.0f} GiB", "os": platform.platform(),
            "python": platform.python_version()}


def report(result: dict[str, Any], previous: dict[str, Any] | None) -> str:
    ms = "{:.1f}".format
    lines = [f"Run {result['when']}: {result['variant']} ({result['rows']:,} rows), {result['reps']} repetitions per "
             f"shape and series; machine: {result['machine']['cpu']}, {result['machine']['memory']}, "
             f"{result['machine']['os']}, Python {result['machine']['python']}; {result['servers']}.", "",
             f"Genes: {json.dumps(result['genes'])}.", "",
             "Latency in ms (p50 / p95 / p99). *layer*: the query layer in-process (one Elasticsearch search + one "
             "PostgreSQL query + JSON); *handler*: the Lambda handler end to end (Mangum + FastAPI + Powertools); "
             "*overhead*: handler p50 - layer p50; *baseline*: top groups from the summary view, then one query per "
             "group; *ratio*: baseline p50 / layer p50.", "",
             "| shape | layer | handler | overhead | baseline | ratio | baseline empty groups | HTTP c1 | HTTP c8 |",
             "|---|---|---|---|---|---|---|---|---|"]
    def trio(p: dict[str, float]) -> str:
        return f"{ms(p['p50'])} / {ms(p['p95'])} / {ms(p['p99'])}"

    for s in result["shapes"]:
        p = s["percentiles"]
        lines.append(f"| {s['name']} | {trio(p['layer'])} | {trio(p['handler'])} | {ms(s['overhead_p50_ms'])} | "
                     f"{trio(p['baseline'])} | {s['ratio']:.1f}x | {s['facts']['baseline_empty_groups']}"
                     f"{'' if s['facts']['baseline_same_answer'] else ' (answer differs)'} | "
                     f"{ms(p['http_c1']['p50'])} / {ms(p['http_c1']['p99'])} | "
                     f"{ms(p['http_c8']['p50'])} / {ms(p['http_c8']['p99'])} |")
    lines += ["", "Per request: PostgreSQL round trips and Elasticsearch calls (counted by a TCP proxy, warm), the "
              "baseline's PostgreSQL queries, and the scans of `perturb_seq` in `EXPLAIN ANALYZE` with the server's "
              "execution time and shared buffers touched.", "",
              "| shape | datasets | PG round trips | ES calls | baseline PG queries | scans of perturb_seq | "
              "planning ms | execution ms | buffers |", "|---|---|---|---|---|---|---|---|---|"]
    for s in result["shapes"]:
        f = s["facts"]
        lines.append(f"| {s['name']} | {f['datasets']} | {f['pg_round_trips']} | {f['es_calls']} | "
                     f"{f['baseline_pg_queries']} | {', '.join(f['plan']) or '(none)'} | {f['planning_ms']:.1f} | "
                     f"{f['execution_ms']:.1f} | "
                     f"{f.get('buffers', 0)} |")
    c, t = result["cold_start"], result["targets"]
    lines += ["", f"Cold start (median of {c['runs']} fresh interpreters): import of the function and the layer "
              f"{c['import_s']:.2f} s, first answer {c['first_answer_s']:.2f} s after the start of the script (the "
              f"interpreter's own start before it: {c['interpreter_s']:.2f} s); peak RSS of a warm function process "
              f"{c['peak_rss_mb']:.0f} MB. HTTP at concurrency 8: "
              f"{result['http']['c8_requests_per_s']:.0f} requests/s.", "", "Targets:", ""]
    lines += [f"- {'met' if ok else '**missed**'}: {text}" for text, ok in t]
    if previous:
        before = {s["name"]: s for s in previous["shapes"]}
        lines += ["", f"Change against the previous run ({previous['when']}), handler p50 in ms:", "",
                  "| shape | before | now |", "|---|---|---|"]
        lines += [f"| {s['name']} | {ms(before[s['name']]['percentiles']['handler']['p50'])} | "
                  f"{ms(s['percentiles']['handler']['p50'])} |" for s in result["shapes"] if s["name"] in before]
    return "\n".join(lines)


def targets(shapes_out: list[dict], cold: dict[str, Any]) -> list[tuple[str, bool]]:
    worst50 = max(s["percentiles"]["handler"]["p50"] for s in shapes_out)
    worst99 = max(s["percentiles"]["handler"]["p99"] for s in shapes_out)
    ratio = statistics.median(s["ratio"] for s in shapes_out)
    overhead = statistics.median(s["overhead_p50_ms"] for s in shapes_out)
    pg = {s["facts"]["pg_round_trips"] for s in shapes_out if s["facts"]["datasets"]}
    es = max(s["facts"]["es_calls"] for s in shapes_out)
    seq = [s["name"] for s in shapes_out if any(n.startswith("Seq Scan") for n in s["facts"]["plan"])]
    return [(f"handler p50 ≤ {TARGETS['p50_ms']} ms for every shape (worst {worst50:.1f})",
             worst50 <= TARGETS["p50_ms"]),
            (f"handler p99 ≤ {TARGETS['p99_ms']} ms for every shape (worst {worst99:.1f})",
             worst99 <= TARGETS["p99_ms"]),
            (f"median over shapes ≥ {TARGETS['baseline_ratio']}x faster than the baseline ({ratio:.1f}x)",
             ratio >= TARGETS["baseline_ratio"]),
            (f"one PostgreSQL round trip per request with results (seen: {sorted(pg)})", pg == {1}),
            (f"at most one Elasticsearch call per request (max {es})", es <= 1),
            (f"cold start ≤ {TARGETS['cold_start_s']} s, import + first answer ({cold['first_answer_s']:.2f} s)",
             cold["first_answer_s"] <= TARGETS["cold_start_s"]),
            (f"handler overhead ≤ {TARGETS['overhead_p50_ms']} ms p50 (median over shapes {overhead:.2f})",
             overhead <= TARGETS["overhead_p50_ms"]),
            (f"no sequential scan of perturb_seq ({', '.join(seq) or 'none'})", not seq)]


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


# --- main ---------------------------------------------------------------------------------------------------------

DEVNULL = open(os.devnull, "w")


def ensure_data(scale: str) -> None:
    rows, database, index = SCALES[scale]
    if load_data.in_place(database, index, rows, DATASETS, SEED):
        log(f"data: {database} already holds {rows:,} rows (seed {SEED}, {DATASETS} datasets)")
        return
    log(f"data: building {rows:,} rows into {database} (once; later runs reuse it)")
    # In a child process: the load reads whole input files (GBs at 20 M rows), and this process's high-water RSS
    # would otherwise stay that high for the rest of the run.
    subprocess.run([sys.executable, load_data.__file__, "--rows", str(rows), "--seed", str(SEED), "--datasets",
                    str(DATASETS), "--database", database, "--es-index", index], check=True)


# Where the optional indexes are declared (the ingestion layer's SQL; devtools/sql before it).
EXTRA_INDEXES = [ROOT / "layers" / "ingestion" / "ingestion" / "sql" / "extra_indexes.sql",
                 ROOT / "devtools" / "sql" / "extra_indexes.sql"]


async def set_extra_indexes(database: str, wanted: bool) -> None:
    """Builds devtools/sql/extra_indexes.sql, or drops what it builds, so each run states which indexes it had."""
    sql = next(p for p in EXTRA_INDEXES if p.exists()).read_text()
    names = [line.split()[5] for line in sql.splitlines() if line.startswith("CREATE INDEX")]
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        present = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE indexname = ANY($1)", names)
        if wanted and present < len(names):
            log(f"extra indexes: building {', '.join(names)} (a minute or two at 20 M rows)")
            await conn.execute("SET maintenance_work_mem = '1GB';" + sql)
        elif not wanted and present:
            await conn.execute("".join(f"DROP INDEX IF EXISTS {name};" for name in names))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 M rows instead of 20 M")
    parser.add_argument("--reps", type=int, default=200, help="repetitions per shape and series")
    parser.add_argument("--extra-indexes", action="store_true", help="with the optional extra_indexes.sql")
    parser.add_argument("--only", choices=("search", "catalogue"), help="one part only (default: both)")
    args = parser.parse_args()
    scale = "1M" if args.quick else "20M"
    configure(scale)
    ensure_data(scale)
    asyncio.run(set_extra_indexes(SCALES[scale][1], args.extra_indexes))
    variant = f"{scale}, SPEC 2.2 indexes" + (" + extra indexes" if args.extra_indexes else "")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # Mangum adopts the current loop: the handler shares the layer's clients
    rows, database, _ = SCALES[scale]
    conn = loop.run_until_complete(asyncpg.connect(settings().superuser_dsn(database)))
    versions = loop.run_until_complete(conn.fetchval("SHOW server_version"))
    loop.run_until_complete(conn.close())
    es_version = Elasticsearch(**settings().elasticsearch_options()).info()["version"]["number"]
    store = ROOT / ".local" / "bench" / f"{scale}{'-extra' if args.extra_indexes else ''}"
    try:
        if args.only != "catalogue":
            search_part(loop, args, scale, variant, versions, es_version, store.with_name(f"{store.name}.json"))
        if args.only != "search":
            import bench_catalogue  # imports this module's helpers
            log(f"catalogue routes: {args.reps} rounds ...")
            text = bench_catalogue.run(
                loop, scale=scale, variant=variant, rows=rows, database=database, reps=args.reps,
                store=store.with_name(f"{store.name}-catalogue.json"),
                common={"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                        "servers": f"PostgreSQL {versions}, Elasticsearch {es_version}"})
            print(text)
    finally:
        if clients._stores is not None:
            loop.run_until_complete(clients._stores.close())


def search_part(loop: asyncio.AbstractEventLoop, args: argparse.Namespace, scale: str, variant: str, versions: str,
                es_version: str, store: Path) -> None:
    """GET /v1/search: every shape, ours against the baseline, in process, over HTTP, and cold starts."""
    rows, database, _ = SCALES[scale]
    conn = loop.run_until_complete(asyncpg.connect(settings().superuser_dsn(database)))
    genes = loop.run_until_complete(pick_genes(conn))
    loop.run_until_complete(conn.close())
    mix = shapes(genes)
    log(f"{len(mix)} shapes; genes {genes}")
    handler = load_function("search").handler
    log(f"in process: layer, baseline and handler, {args.reps} rounds ...")
    with stdout_discarded():
        in_process(loop, mix, args.reps, handler)
    log("plans and round trips ...")  # after the rounds: on warm caches, as the timed requests ran
    plans(loop, mix, database)
    round_trips(loop, mix)
    backends = loop.run_until_complete(clients._stores.pool()).get_size()
    log("HTTP ...")
    http = over_http(mix, max(20, args.reps // 4))
    log("cold starts ...")
    cold = cold_starts(mix)
    out = []
    for shape in mix:
        p = {series: percentiles(seconds) for series, seconds in shape.timings.items()}
        out.append({"name": shape.name, "query": shape.query_string, "facts": shape.facts, "percentiles": p,
                    "overhead_p50_ms": p["handler"]["p50"] - p["layer"]["p50"],
                    "ratio": p["baseline"]["p50"] / p["layer"]["p50"]})
    result = {"scale": scale, "variant": variant, "rows": rows, "reps": args.reps,
              "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "servers": f"PostgreSQL {versions}, Elasticsearch {es_version}, pool connections open after the "
                         f"in-process run: {backends}",
              "genes": genes, "shapes": out, "http": http, "cold_start": cold}
    result["targets"] = targets(out, cold)
    previous = json.loads(store.read_text()) if store.exists() else None
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(result, indent=1))
    text = report(result, previous)
    write_benchmarks_md(variant, text)
    print(text)


if __name__ == "__main__":
    main()
