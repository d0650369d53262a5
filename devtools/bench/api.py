"""`make bench`: the API's benchmark: every shape of GET /v1/search and of the catalogue routes (devtools/bench/
shapes.py), measured as devtools/bench/routes.py says, with each function's cold start, at one or more scales.

    python -m devtools.bench.api [--quick | --scale full|tiny] [--reps 200] [--largest-rows N] [--data-only]
    make bench [QUICK=1 | SCALE=full | SCALE=tiny] [REPS=n] [LARGEST_ROWS=n] [DATA_ONLY=1]

Modes: 20 M rows in 12 datasets (the default), 1 M (QUICK), or three scales in one run (SCALE=full: 12 datasets /
20 M rows, 1,000 / 20 M and 1,200 / 100 M with heavy-tailed sizes; SCALE=tiny: the same shapes at 0.4 M, 0.4 M and
2 M rows, to check the benchmark itself in minutes). Each catalogue is built once through `make data`'s loader
(devtools/data/load_data.py) and reused while its table's comment says it holds that set, so an interrupted run
resumes where it stopped; before building one, the free disk is checked against what it will take (projected from
the bytes per row of the catalogues measured so far). Every catalogue is built first; then each is measured in
processes of its own (`--measure <name>`: its settings, pool and caches), then the report is written:
.local/bench/<catalogue>.json per catalogue, .local/bench/<mode>.json, and the mode's section of BENCHMARKS.md.

How the rounds are spread, and why (measured 2026-12-03 21:32-21:42 UTC: the 12-dataset catalogue measured five
times in a row, just after `make up`): the first measurement after the stores start was 2-2.5x slower on every shape
that asks Elasticsearch (a JVM not yet compiled, caches cold) and 1.3-1.8x on PostgreSQL's; and the four after it
alternated between two speeds, 0.88-0.95x and 0.73-0.74x of the first's median, openapi (no store) included: a
process's own speed, not the stores' (pyperf spreads a benchmark over many worker processes for such differences:
memory layout, hash seed). So whichever catalogue came first was measured slow, and each catalogue, measured in one
process, drew one speed.
Now a warm-up pass (WARM_ROUNDS on each catalogue, discarded) comes first, and each catalogue's rounds are split
over PROCESSES processes, interleaved with the other catalogues' (A B C A B C ...), and pooled.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from catalogue_common.settings import settings

from devtools.bench.harness import (
    CATALOGUES,
    OUT,
    ROOT,
    RUNS,
    Catalogue,
    cold_starts,
    configure,
    ensure_data,
    in_place,
    log,
    machine,
    percentiles,
    previous_and_store,
    stdout_discarded,
    write_benchmarks_md,
)

# Targets (issue 13 and the catalogue routes' issue), by a shape's goal; checked at every scale, the issue's at the
# largest: gene- and text-filtered searches within 1.5x of the same shape at the smallest scale of the run.
GOALS: dict[str, dict[str, float]] = {
    "filtered": {"p50_ms": 10, "p99_ms": 25, "vs_smallest": 1.5},
    "page": {"p50_ms": 15},
    "whole": {"p50_ms": 150, "gzip_bytes": 1_500_000},
    "route": {"p50_ms": 15, "p99_ms": 50},
    "genes": {"p50_ms": 10, "p99_ms": 50},
    "download": {"p50_ms": 10},  # the redirect: one PostgreSQL round trip and a URL signed in process
}
GOAL_TEXT = {"p50_ms": "p50 ≤ {:g} ms", "p99_ms": "p99 ≤ {:g} ms", "gzip_bytes": "gzip ≤ {:,.0f} bytes",
             "vs_smallest": "p50 ≤ {:g}x the smallest scale's"}
EVERY_SHAPE = {"pg_round_trips": 1, "es_calls": 1}  # per request; and no sequential scan of perturb_seq
COLD_START_S = 0.8  # import + first answer, per function
DEEP_PAGE_RATIO = 1.2  # rows page 1 and the page 10,000 rows deep, p50, larger / smaller
# Kept free beyond the catalogues' projected size: WAL (the local server's max_wal_size is 8 GB) and an index
# build's sort files (about the size of the index).
DISK_MARGIN_BYTES = 16 * 1024 ** 3
# Database, input files: before any catalogue was measured. 2026-12-01: 626 bytes a row at 20 M rows in 12 datasets,
# 647 at 20 M in 1,000 (the gene rows' indexes included); 500, the figure at 1 M rows, let a 60 M-row build start
# on a disk it then filled.
DEFAULT_BYTES_PER_ROW = (650.0, 80.0)
MODULE = "devtools.bench.api"  # run again, in a child process, to measure one catalogue
PROCESSES = 4  # per catalogue, each with its share of the rounds (see the module's docstring)
WARM_ROUNDS = 60  # per catalogue, discarded, before any is measured: about 20-30 s each


# --- one catalogue, in its own process -------------------------------------------------------------------------

def measure(catalogue: Catalogue, reps: int, part: str | None = None, http_reps: int = 20) -> None:
    """Every shape on this catalogue, then each function's cold start; writes .local/bench/<name>.json, with the
    handler timings of the earlier processes' rounds (`rounds_file`) pooled in. With `part`, only `reps` rounds in
    process: written to that part's file, or discarded when the part is "warm"."""
    from catalogue import clients

    from devtools.bench import routes, shapes
    configure(catalogue)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # Mangum adopts the current loop: the handlers share the layer's clients
    try:
        pick = loop.run_until_complete(superuser(catalogue.database, shapes.picks))
        log(f"{catalogue.name}: {pick}")
        functions = routes.Functions()
        with stdout_discarded():
            mix = shapes.shapes(pick, functions)
        if part is not None:
            with stdout_discarded():
                routes.in_process(mix, reps, functions)
            if part != "warm":
                rounds_file(catalogue, part).write_text(json.dumps({s.name: s.timings["handler"] for s in mix}))
            return
        seconds = routes.measure(loop, mix, functions, catalogue.database, reps, http_reps)
    finally:
        if clients._stores is not None:
            loop.run_until_complete(clients._stores.close())
    speeds = pool_rounds(catalogue, mix)
    cold, seconds["cold_starts"] = timed(lambda: measure_cold_starts(mix))
    result = {"catalogue": catalogue.__dict__, "when": now(), "reps": len(mix[0].timings["handler"]),
              "process_speeds": speeds, "seconds": seconds, "picks": pick, "cold_start": cold,
              "servers": loop.run_until_complete(superuser(catalogue.database, versions)),
              "disk": loop.run_until_complete(superuser(catalogue.database, disk)),
              "shapes": [{"name": s.name, "endpoint": s.endpoint, "function": s.function, "url": s.url, "goal": s.goal,
                          "facts": s.facts, "percentiles": {k: percentiles(v) for k, v in s.timings.items()}}
                         for s in mix]}
    (OUT / f"{catalogue.name}.json").write_text(json.dumps(result, indent=1))


def timed(work: Any) -> tuple[Any, float]:
    began = time.monotonic()
    return work(), round(time.monotonic() - began, 1)


def measure_cold_starts(mix: list[Any]) -> dict[str, Any]:
    """Each function's cold start (harness.cold_starts), its first answer to one of its shapes that is not a whole
    search answer."""
    log("cold starts ...")
    cold = {}
    for function in dict.fromkeys(s.function for s in mix):
        ordered = sorted((s for s in mix if s.function == function), key=lambda s: s.goal == "whole")
        cold[function] = cold_starts(function, [s.event() for s in ordered], {s.status for s in ordered})
    return cold


def rounds_file(catalogue: Catalogue, part: str) -> Any:
    return OUT / f"{catalogue.name}.rounds-{part}.json"


def pool_rounds(catalogue: Catalogue, mix: list[Any]) -> list[float]:
    """Adds the handler timings of this catalogue's earlier processes (their files, then removed) to `mix`'s;
    returns each process's speed, this one's last: the median over the shapes of its p50 over the pooled p50."""
    processes = []
    for path in sorted(OUT.glob(f"{catalogue.name}.rounds-*.json")):
        processes.append(json.loads(path.read_text()))
        path.unlink()
    processes.append({shape.name: list(shape.timings["handler"]) for shape in mix})
    for shape in mix:
        shape.timings["handler"] = [t for timings in processes for t in timings[shape.name]]
    pooled = {shape.name: statistics.median(shape.timings["handler"]) for shape in mix}
    return [round(statistics.median(statistics.median(timings[name]) / pooled[name] for name in pooled), 3)
            for timings in processes]


async def superuser(database: str, work: Any) -> Any:
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        return await work(conn)
    finally:
        await conn.close()


async def versions(conn: asyncpg.Connection) -> str:
    from elasticsearch import Elasticsearch
    es = Elasticsearch(**settings().elasticsearch_options()).info()["version"]["number"]
    return f"PostgreSQL {await conn.fetchval('SHOW server_version')}, Elasticsearch {es}"


async def disk(conn: asyncpg.Connection) -> dict[str, int]:
    """Bytes on disk: the database, perturb_seq with its indexes, and the Elasticsearch index (primaries)."""
    from elasticsearch import Elasticsearch
    stats = Elasticsearch(**settings().elasticsearch_options()).indices.stats(index=settings().es_index)
    return {"database": await conn.fetchval("SELECT pg_database_size(current_database())"),
            "perturb_seq": await conn.fetchval("SELECT pg_total_relation_size('perturb_seq')"),
            "elasticsearch": stats["_all"]["primaries"]["store"]["size_in_bytes"]}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- the run ---------------------------------------------------------------------------------------------------

def bytes_per_row() -> tuple[float, float]:
    """On disk per row, (database, input files), from the largest catalogue measured so far."""
    measured = []
    for path in OUT.glob("*.json"):
        result = json.loads(path.read_text())
        record = OUT / f"data-{path.stem}.json"
        if "disk" in result and result["catalogue"]["rows"] >= 100_000 and record.exists():
            rows, built = result["catalogue"]["rows"], json.loads(record.read_text())
            measured.append((rows, result["disk"]["database"] / rows, built["input_bytes"] / rows))
    return max(measured)[1:] if measured else DEFAULT_BYTES_PER_ROW


async def database_bytes(conn: asyncpg.Connection, names: list[str]) -> int:
    return await conn.fetchval("SELECT coalesce(sum(pg_database_size(datname)), 0)::bigint FROM pg_database "
                               "WHERE datname = ANY($1)", names)


def check_disk(catalogues: list[Catalogue], dropping: list[Catalogue]) -> None:
    """Stops the run, before it builds anything, when the catalogues it must build would not fit on the disk beside
    those in place; names the largest last scale that would. Projected from the bytes per row measured so far: each
    database, the input files (kept for 20M, removed after their load for the others), DISK_MARGIN_BYTES."""
    if not dropping:
        return
    db, files = bytes_per_row()
    need = sum(c.rows * db for c in dropping) + sum(c.rows * files for c in dropping if c.name == "20M") + \
        max(c.rows * files for c in dropping) + DISK_MARGIN_BYTES
    replaced = asyncio.run(superuser("postgres", lambda conn: database_bytes(conn, [c.database for c in dropping])))
    free = shutil.disk_usage(ROOT).free + replaced
    log(f"disk: to build {', '.join(c.name for c in dropping)}: about {need / 1e9:.0f} GB ({db:.0f} bytes per row in "
        f"the database, {files:.0f} in input files, {DISK_MARGIN_BYTES / 1e9:.0f} GB for WAL and sorts); "
        f"{free / 1e9:.0f} GB free (with the outdated catalogues it replaces)")
    if need > free:
        last = catalogues[-1]
        others = need - last.rows * (db + files) if last in dropping else need
        fits = int((free - others) / (db + files)) // 5_000_000 * 5_000_000
        sys.exit(f"make bench: the catalogues would not fit on the disk; the largest last scale that would: "
                 f"LARGEST_ROWS={fits} ({last.datasets:,} datasets)")


def measure_interleaved(catalogues: list[Catalogue], reps: int) -> None:
    """WARM_ROUNDS on each catalogue (discarded), then its `reps` rounds over PROCESSES processes, the catalogues
    taking turns; the last process of each also measures the rest (round trips, plans, HTTP, cold starts)."""
    processes = max(1, min(PROCESSES, reps))
    share = reps // processes
    for path in OUT.glob("*.rounds-*.json"):  # left by an interrupted run
        path.unlink()
    for catalogue in catalogues:
        log(f"=== warming the stores: {catalogue.name}, {WARM_ROUNDS} rounds")
        child(catalogue, WARM_ROUNDS, ["--part", "warm"])
    for k in range(1, processes):
        for catalogue in catalogues:
            log(f"=== measuring {catalogue.name}: process {k}/{processes}, {share} rounds")
            child(catalogue, share, ["--part", str(k)])
    last = reps - share * (processes - 1)
    for catalogue in catalogues:
        log(f"=== measuring {catalogue.name}: process {processes}/{processes}, {last} rounds, then the rest")
        child(catalogue, last, ["--http-reps", str(max(10, reps // 10))])


def child(catalogue: Catalogue, reps: int, more: list[str]) -> None:
    subprocess.run([sys.executable, "-m", MODULE, "--measure", json.dumps(catalogue.__dict__), "--reps", str(reps),
                    *more], check=True, cwd=ROOT)


def run(mode: str, names: list[str], reps: int, largest_rows: int | None, data_only: bool = False) -> str:
    catalogues = [CATALOGUES[name] for name in names]
    if largest_rows:
        catalogues[-1] = catalogues[-1].scaled(largest_rows)
    check_disk(catalogues, [c for c in catalogues if not in_place(c)])
    built = {}
    for i, catalogue in enumerate(catalogues, 1):
        log(f"=== data {i}/{len(catalogues)}: {catalogue.name}")
        built[catalogue.name] = ensure_data(catalogue, drop_files=catalogue.name not in ("20M", "1M"))
    if data_only:
        return f"data in place: {', '.join(c.name for c in catalogues)}"
    measure_interleaved(catalogues, reps)
    results = same_names([json.loads((OUT / f"{c.name}.json").read_text()) | {"built": built[c.name]}
                          for c in catalogues])
    combined = {"mode": mode, "when": now(), "machine": machine(), "reps": reps, "results": results}
    text = report(combined, previous_and_store(OUT / f"run-{mode}.json", combined))
    write_benchmarks_md(mode, text, f"Figures: {mode}")
    return text


# --- targets and report ----------------------------------------------------------------------------------------

DEPTH = re.compile(r"(\d[\d,]*) rows deep")


def same_names(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scale's shapes under one name: a deep page is named by its depth, which differs between scales where the
    gene has fewer rows than DEEP_ROWS (the report's rows are the shapes' names); it is named by every scale's
    depth instead ("7,000 / 10,000 rows deep")."""
    deep = [(shape, DEPTH.sub("{} rows deep", shape["name"]), found[1])
            for r in results for shape in r["shapes"] if (found := DEPTH.search(shape["name"]))]
    depths: dict[str, list[str]] = {}
    for _, kind, depth in deep:
        depths.setdefault(kind, []).append(depth)
    for shape, kind, _ in deep:
        shape["name"] = kind.format(" / ".join(dict.fromkeys(depths[kind])))
    return results


def misses(shape: dict[str, Any], smallest: dict[str, Any] | None) -> list[str]:
    """What a shape's figures at one scale miss of its targets; `smallest`: the same shape at the run's smallest
    scale (for the breadth ratio)."""
    p, f, goal, out = shape["percentiles"]["handler"], shape["facts"], GOALS.get(shape["goal"] or "", {}), []
    if "p50_ms" in goal and p["p50"] > goal["p50_ms"]:
        out.append(f"p50 {p['p50']:.1f} > {goal['p50_ms']:g} ms")
    if "p99_ms" in goal and p["p99"] > goal["p99_ms"]:
        out.append(f"p99 {p['p99']:.1f} > {goal['p99_ms']:g} ms")
    if "gzip_bytes" in goal and (f["gzip_bytes"] or f["identity_bytes"]) > goal["gzip_bytes"]:
        out.append(f"gzip {(f['gzip_bytes'] or f['identity_bytes']) / 1e6:.2f} > {goal['gzip_bytes'] / 1e6:g} MB")
    if "vs_smallest" in goal and smallest is not None:
        ratio = p["p50"] / smallest["percentiles"]["handler"]["p50"]
        if ratio > goal["vs_smallest"]:
            out.append(f"p50 {ratio:.1f}x the smallest scale's > {goal['vs_smallest']:g}x")
    if shape["goal"]:
        out += [f"{f[key]} {key.replace('_', ' ')}" for key, limit in EVERY_SHAPE.items() if f[key] > limit]
        if any(scan.startswith("perturb_seq: Seq Scan") for q in f["plans"] for scan in q["scans"]):
            out.append("sequential scan of perturb_seq")
    return out


def targets(results: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The issue's targets at the run's largest scale."""
    first, last = results[0], results[-1]
    name = last["catalogue"]["name"]
    smallest = {s["name"]: s for s in first["shapes"]} if len(results) > 1 else {}
    out = []
    for goal, limits in GOALS.items():
        shapes = [s for s in last["shapes"] if s["goal"] == goal]
        missed = [f"{s['name']} ({'; '.join(m)})" for s in shapes if (m := misses(s, smallest.get(s["name"])))]
        out.append((f"{goal} shapes at {name} ({', '.join(GOAL_TEXT[k].format(v) for k, v in limits.items())}; "
                    f"{len(shapes)} shapes): " + ("; ".join(missed) if missed else "all met"), not missed))
    rows = {s["name"]: s["percentiles"]["handler"]["p50"] for s in last["shapes"]}
    deep = next(v for k, v in rows.items() if k.startswith("rows:") and "deep" in k)
    ratio = max(deep, rows["rows: page 1"]) / min(deep, rows["rows: page 1"])
    out.append((f"rows page 1 and the deep page within {DEEP_PAGE_RATIO}x, p50 at {name} ({rows['rows: page 1']:.1f} "
                f"and {deep:.1f} ms: {ratio:.2f}x)", ratio <= DEEP_PAGE_RATIO))
    cold = {f: c["first_answer_s"] for f, c in last["cold_start"].items()}
    slow = {f: s for f, s in cold.items() if s > COLD_START_S}
    out.append((f"cold start (import + first answer) ≤ {COLD_START_S} s per function at {name} (worst "
                f"{max(cold.values()):.2f} s, {max(cold, key=cold.get)}; over: "
                f"{', '.join(f'{f} {s:.2f}' for f, s in slow.items()) or 'none'})", not slow))
    return out


MAIN_RELATIONS = ("perturb_seq", "perturb_seq_search_answers", "perturb_seq_search_groups")  # named in full in scans
ONE_ROW = {"catalogue_state", "gene_reference_source", "perturb_seq_catalogue_statistics"}  # read whole, always


def scans_of(plans: list[dict[str, Any]]) -> tuple[list[str], int, list[str]]:
    """A request's relation scans: those of perturb_seq and the stored answers and groups; how many of other
    relations; which of those are read sequentially (one-row relations aside)."""
    found = sorted({scan for q in plans for scan in q["scans"]})
    main = [scan for scan in found if scan.split(":")[0] in MAIN_RELATIONS]
    others = [scan.split(":")[0] for scan in found if scan.split(":")[0] not in MAIN_RELATIONS]
    seq = sorted({scan.split(":")[0] for scan in found if ": Seq Scan" in scan} - ONE_ROW - set(MAIN_RELATIONS))
    return main, len(others), seq


def scans_text(plans: list[dict[str, Any]], compared: bool = False) -> str:
    """scans_of as text; `compared`: only what tells two plans apart (not the count of other scans)."""
    main, others, seq = scans_of(plans)
    text = ", ".join(main)
    if others and not compared:
        text += f"{'; ' if text else ''}{others} scans of other relations"
    if seq:
        text += f"{'; ' if text else ''}sequential: {', '.join(seq)}"
    return text or "(none)"


def load_text(built: dict[str, Any]) -> str:
    """How long the catalogue's build took (when it was built: a run reuses catalogues built before)."""
    if not built.get("load_s"):
        return "(not recorded)"
    files = f"files {built['files_s']:.0f} s + " if "files_s" in built else ""
    return f"{files}load {built['load_s']:.0f} s ({built['when']})"


def like(picks: dict[str, Any]) -> str:
    """The like-for-like genes a scale was asked (devtools/bench/shapes.py, LIKE_FOR_LIKE), where it was."""
    if "perturbation_like" not in picks:
        return ""
    return (f", like-for-like perturbation `{picks['perturbation_like']}` (significant in "
            f"{picks['perturbation_like_datasets']:,} datasets) and phenotype `{picks['phenotype_like']}` "
            f"({picks['phenotype_like_datasets']:,})")


def size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.2f} MB" if n >= 1e6 else \
        f"{n / 1e3:.1f} KB" if n >= 1e3 else f"{n} B"


def how_measured(results: list[dict[str, Any]]) -> str:
    """The processes a run measured in, and how fast each was against its scale's pooled figures."""
    speeds = [(r["catalogue"]["name"], r.get("process_speeds", [1.0])) for r in results]
    if all(len(s) == 1 for _, s in speeds):
        return "Each scale measured in one process, one after the other, after 2 warm-up rounds."
    return (f"A warm-up pass first ({WARM_ROUNDS} rounds on each scale, discarded); then each scale's rounds in "
            f"{len(speeds[0][1])} processes, the scales taking turns, each after 2 warm-up rounds, pooled. Each "
            "process's speed (the median over the shapes of its p50 over the pooled p50): " +
            "; ".join(f"{name} {' · '.join(f'{x:.2f}' for x in s)}" for name, s in speeds) + ".")


def report(run_: dict[str, Any], previous: dict[str, Any] | None) -> str:
    results, m = run_["results"], run_["machine"]
    names = [r["catalogue"]["name"] for r in results]
    ms = "{:.1f}".format
    lines = [f"Run {run_['when']} (`make bench` mode {run_['mode']}: {', '.join(names)}), {run_['reps']} rounds per "
             f"shape; {m['cpu']}, {m['memory']}, {m['os']}, Python {m['python']}; {results[0]['servers']}.", "",
             how_measured(results), "",
             "| scale | datasets | rows | sizes | largest dataset | median dataset | database | of it perturb_seq | "
             "Elasticsearch | input files | database per row | build |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c, d, b = r["catalogue"], r["disk"], r["built"]
        lines.append(
            f"| {c['name']} | {c['datasets']:,} | {c['rows']:,} | {c['sizes']} | {r['picks']['dataset_rows']:,} | "
            f"{r['picks'].get('median_rows', 0):,} | {size(d['database'])} | {size(d['perturb_seq'])} | "
            f"{size(d['elasticsearch'])} | {size(b.get('input_bytes'))} | {d['database'] / c['rows']:.0f} B | "
            f"{load_text(b)} |")
    lines += ["", "Asked at each scale (picked from its own catalogue): " + "; ".join(
        f"{r['catalogue']['name']}: common perturbation `{r['picks']['perturbation_common']}` (in "
        f"{r['picks']['perturbation_common_datasets']:,} datasets), rare `{r['picks']['perturbation_rare']}`, common "
        f"phenotype `{r['picks']['phenotype_common']}`, largest dataset `{r['picks']['dataset']}`{like(r['picks'])}"
        for r in results)
        + ".", ""]
    by_scale = [{s["name"]: s for s in r["shapes"]} for r in results]
    header = " | ".join(names)
    lines += ["Handler latency in ms, p50 / p95 / p99 (in process, `Accept-Encoding: gzip`); HTTP p50 through the "
              "local server; the targets each shape misses, at any scale.", "",
              f"| shape | {header} | HTTP p50 | targets |", f"|---|{'---|' * len(names)}---|---|"]
    for name in by_scale[0]:
        cells = [f"{ms(p['p50'])} / {ms(p['p95'])} / {ms(p['p99'])}"
                 for s in by_scale if (p := s[name]["percentiles"]["handler"])]
        http = " · ".join(ms(s[name]["percentiles"]["http"]["p50"]) for s in by_scale)
        missed = [f"{n}: {'; '.join(x)}" for n, s in zip(names, by_scale, strict=True)
                  if (x := misses(s[name], by_scale[0][name] if len(names) > 1 else None))]
        lines.append(f"| {name} | {' | '.join(cells)} | {http} | {'; '.join(missed) or 'met'} |")
    lines += ["", "Answers: items (datasets, rows or genes), bytes as identity / as gzip (`-`: under 1 KB, never "
              "encoded); an identity request the API refuses says so.", "",
              f"| shape | {header} |", f"|---|{'---|' * len(names)}"]
    for name in by_scale[0]:
        cells = []
        for s in by_scale:
            f = s[name]["facts"]
            refused = f" (identity: {f['identity_status']} {f['identity_refused']})" if f["identity_refused"] else ""
            cells.append(f"{'' if f['items'] is None else f'{f['items']:,} · '}{size(f['identity_bytes'])} / "
                         f"{size(f['gzip_bytes'])}{refused}")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "Store calls per warm request (PostgreSQL round trips / Elasticsearch calls, counted by TCP "
              "proxies), each PostgreSQL query's execution time and shared buffers (EXPLAIN ANALYZE, the API's "
              f"session settings), and its relation scans at {names[-1]}: of `perturb_seq` and of the stored answers "
              "in full, of the load-time relations counted, those read sequentially named (one-row relations aside); "
              "where a smaller scale's differ, they are named. Every plan: `.local/bench/<scale>.json`.", "",
              "| shape | round trips | execution ms | buffers | scans |", "|---|---|---|---|---|"]
    for name in by_scale[0]:
        facts = [s[name]["facts"] for s in by_scale]
        trips = " · ".join(f"{f['pg_round_trips']}/{f['es_calls']}" for f in facts)
        execution = " · ".join(" + ".join(ms(q["execution_ms"]) for q in f["plans"]) or "-" for f in facts)
        buffers = " · ".join(" + ".join(str(q["buffers"]) for q in f["plans"]) or "-" for f in facts)
        plan = [scans_text(f["plans"], compared=True) for f in facts]
        other = [f"{n}: {p}" for n, p in zip(names[:-1], plan[:-1], strict=True) if p != plan[-1]]
        lines.append(f"| {name} | {trips} | {execution} | {buffers} | {scans_text(facts[-1]['plans'])}"
                     f"{' (' + '; '.join(other) + ')' if other else ''} |")
    lines += ["", "Cold start per function (median of 5 fresh interpreters in Lambda's environment, tracing active: "
              "import of the function and its layer; import + first answer; peak RSS after 5 warm rounds of its "
              f"shapes), at each scale; the packages that took most of its import at {names[-1]} (`-X importtime`: "
              "the self time of each package's own modules).", "",
              "| function | import s | first answer s | peak RSS MB | heaviest imports |", "|---|---|---|---|---|"]
    for function in results[-1]["cold_start"]:
        cold = [r["cold_start"][function] for r in results]
        lines.append(f"| {function} | {' · '.join(f'{c['import_s']:.2f}' for c in cold)} | "
                     f"{' · '.join(f'{c['first_answer_s']:.2f}' for c in cold)} | "
                     f"{' · '.join(f'{c['peak_rss_mb']:.0f}' for c in cold)} | "
                     f"{', '.join(f'{n} {s:.2f}' for n, s in cold[-1]['top_imports'])} |")
    lines += ["", f"Targets at {names[-1]}:", ""]
    lines += [f"- {'met' if ok else '**missed**'}: {text}" for text, ok in targets(results)]
    if previous and previous["results"][-1]["catalogue"]["name"] == names[-1]:
        before = {s["name"]: s for s in previous["results"][-1]["shapes"]}
        lines += ["", f"Change against the previous run of this mode ({previous['when']}), handler p50 in ms at "
                  f"{names[-1]}:", "", "| shape | before | now |", "|---|---|---|"]
        lines += [f"| {n} | {ms(before[n]['percentiles']['handler']['p50'])} | "
                  f"{ms(s['percentiles']['handler']['p50'])} |" for n, s in by_scale[-1].items() if n in before]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 M rows in 12 datasets instead of 20 M")
    parser.add_argument("--scale", choices=("full", "tiny"), help="three scales in one run")
    parser.add_argument("--reps", type=int, default=200, help="rounds per shape")
    parser.add_argument("--largest-rows", type=int, help="rows of the largest scale (where the disk cannot hold it)")
    parser.add_argument("--data-only", action="store_true", help="build the catalogues, measure nothing")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # one catalogue (its JSON), in this process
    parser.add_argument("--part", help=argparse.SUPPRESS)  # with --measure: only rounds ("warm": discarded)
    parser.add_argument("--http-reps", type=int, default=20, help=argparse.SUPPRESS)  # with --measure
    args = parser.parse_args()
    mode = args.scale or ("1M" if args.quick else "20M")
    if args.measure:
        measure(Catalogue(**json.loads(args.measure)), args.reps, args.part, args.http_reps)
        return
    print(run(mode, RUNS[mode], args.reps, args.largest_rows, args.data_only))


if __name__ == "__main__":
    main()
