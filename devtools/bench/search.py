"""Benchmark GET /v1/search on the benchmark catalogue (20 M rows; QUICK: 1 M): every query shape, ours against a
baseline. Part of `make bench` (devtools/bench/api.py, which builds the data and runs this, then the catalogue
routes):

    python -m devtools.bench.api [--quick] [--reps 200] --only search

Per shape: p50/p95/p99 of the query layer alone (warm pool, one connection in use), of the Lambda handler end to
end, and of HTTP through the local server (`make serve`'s, serving the search function alone) at concurrency 1 and
8; PostgreSQL round trips and Elasticsearch calls per request; the plan's node types on perturb_seq; and the
baseline (top groups from the summary view, then one detail query per group) alternating with ours. Then cold start
and peak RSS of a function process. Writes .local/bench/<scale>[-extra].json and this variant's figures section of
BENCHMARKS.md.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import asyncpg

# Settings are read on first use, after harness.configure().
from catalogue import clients
from catalogue.answers import to_json
from catalogue.clients import stores
from catalogue.endpoints import search
from catalogue.endpoints.search import query as queries
from catalogue.endpoints.search.response import search_results
from catalogue.parameters import check
from catalogue_common.settings import settings

from devtools.bench.harness import (
    SCALES,
    cold_starts,
    counted_stores,
    log,
    machine,
    percentiles,
    previous_and_store,
    scans_of_perturb_seq,
    stdout_discarded,
    timed,
    write_benchmarks_md,
)
from devtools.local import serve
from devtools.local.lambda_events import http_api_event
from devtools.local.lambda_runtime import LambdaContext, load_function

TARGETS = {"p50_ms": 15, "p99_ms": 50, "baseline_ratio": 3, "cold_start_s": 1.5, "overhead_p50_ms": 2}


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
    with counted_stores(loop) as (pg, es, _):
        for shape in mix:
            # warm: connection and prepared statement
            loop.run_until_complete(search.search(check(search.SearchParameters, shape.query)))
            pg.round_trips = es.round_trips = 0
            loop.run_until_complete(search.search(check(search.SearchParameters, shape.query)))
            shape.facts.update(pg_round_trips=pg.round_trips, es_calls=es.round_trips)


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


def over_http(mix: list[Shape], reps: int) -> dict[str, Any]:
    """Through the local server (8 warm environments of the search function): one client, then eight at once."""
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

    # The search function alone: 8 environments of every function would be 72 processes.
    with serve.background(environments=8, functions=["search"]) as (url, _):
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


# --- report -----------------------------------------------------------------------------------------------------

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


# --- the run ------------------------------------------------------------------------------------------------------

def measure(loop: asyncio.AbstractEventLoop, database: str, reps: int) -> tuple[dict, list[Shape], dict, dict, int]:
    """Every measurement, in order: (genes, shapes with timings and facts, HTTP, cold start, pool size)."""
    conn = loop.run_until_complete(asyncpg.connect(settings().superuser_dsn(database)))
    genes = loop.run_until_complete(pick_genes(conn))
    loop.run_until_complete(conn.close())
    mix = shapes(genes)
    log(f"{len(mix)} shapes; genes {genes}")
    handler = load_function("search").handler
    log(f"in process: layer, baseline and handler, {reps} rounds ...")
    with stdout_discarded():
        in_process(loop, mix, reps, handler)
    log("plans and round trips ...")  # after the rounds: on warm caches, as the timed requests ran
    plans(loop, mix, database)
    round_trips(loop, mix)
    assert clients._stores is not None
    backends = loop.run_until_complete(clients._stores.pool()).get_size()
    log("HTTP ...")
    http = over_http(mix, max(20, reps // 4))
    log("cold starts ...")
    cold = cold_starts("search", "/v1/search", [s.query_string for s in mix])
    return genes, mix, http, cold, backends


def run(loop: asyncio.AbstractEventLoop, *, scale: str, variant: str, reps: int, postgresql: str, es_version: str,
        store: Path) -> str:
    """GET /v1/search: every shape, ours against the baseline, in process, over HTTP, and cold starts, on `loop`
    (the one the layer's clients live on); returns the section text it wrote to BENCHMARKS.md."""
    rows, database, _ = SCALES[scale]
    genes, mix, http, cold, backends = measure(loop, database, reps)
    out = []
    for shape in mix:
        p = {series: percentiles(seconds) for series, seconds in shape.timings.items()}
        out.append({"name": shape.name, "query": shape.query_string, "facts": shape.facts, "percentiles": p,
                    "overhead_p50_ms": p["handler"]["p50"] - p["layer"]["p50"],
                    "ratio": p["baseline"]["p50"] / p["layer"]["p50"]})
    result = {"scale": scale, "variant": variant, "rows": rows, "reps": reps,
              "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "servers": f"PostgreSQL {postgresql}, Elasticsearch {es_version}, pool connections open after the "
                         f"in-process run: {backends}",
              "genes": genes, "shapes": out, "http": http, "cold_start": cold}
    result["targets"] = targets(out, cold)
    text = report(result, previous_and_store(store, result))
    write_benchmarks_md(variant, text)
    return text
