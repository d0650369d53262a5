"""Benchmark the catalogue routes (SPEC 5) at the bench's scale: part of `make bench` (devtools/bench/api.py, which
builds the data and runs the search benchmark, then this; `python -m devtools.bench.api --only catalogue` runs this
alone).

Per request shape, through the function's own Lambda handler in process (API Gateway HTTP API v2 events, routed
as template.yaml routes them): p50/p95/p99 after two warm-up rounds, then REPS rounds round-robin over the shapes;
PostgreSQL round trips and Elasticsearch calls of a warm request (counting TCP proxies); and each PostgreSQL query
the request ran, under EXPLAIN (ANALYZE, BUFFERS) with the API's session settings: every relation scan (those of
perturb_seq first), shared buffers, planning and execution time. Paging cursors are made by the layer itself (the
rows page 10,000 rows deep: ten pages of 1,000). Writes .local/bench/<scale>[-extra]-catalogue.json and this
variant's catalogue section of BENCHMARKS.md.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from catalogue.endpoints import datasets as datasets_endpoint
from catalogue.endpoints import rows as rows_endpoint
from catalogue.parameters import check
from catalogue_common.settings import settings

from devtools.bench.harness import (
    ROOT,
    counted_stores,
    log,
    percentiles,
    previous_and_store,
    scans,
    scans_of_perturb_seq,
    stdout_discarded,
    write_benchmarks_md,
)
from devtools.local.lambda_events import Route, http_api_event, routes_from_template
from devtools.local.lambda_runtime import LambdaContext, load_function

ROUTES = routes_from_template(ROOT / "template.yaml")
# From the issue: handler latency of every new route, a deep rows page against page 1, the autocomplete, and the
# store calls of one request.
TARGETS = {"p50_ms": 15, "p99_ms": 50, "genes_p50_ms": 10, "deep_page_p50_ratio": 1.2, "pg_round_trips": 1,
           "es_calls": 1}
# The API's session settings (catalogue.clients): EXPLAIN plans what the functions run.
API_SETTINGS = {"plan_cache_mode": "force_custom_plan", "max_parallel_workers_per_gather": "0"}
DEEP_ROWS, DEEP_STEP = 10_000, 1000
# SPEC's datasets of the bench's seed: two tissues, a word of the text and a perturbation type.
TWO_TISSUES = [("tissue", "blood"), ("tissue", "liver")]
TEXT_AND_FACET = [("dataset_metadata", "k562"), ("library_perturbation_type", "knockdown")]


@dataclass
class Shape:
    name: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)  # handler, seconds
    facts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for route in ROUTES:
            if (parameters := route.match("GET", self.path)) is not None:
                self.route: Route = route
                self.path_parameters = parameters or None
                return
        raise ValueError(f"no route of template.yaml serves {self.path}")

    @property
    def function(self) -> str:
        return Path(self.route.code_uri).name

    @property
    def endpoint(self) -> str:
        return self.route.path

    def event(self) -> dict[str, Any]:
        return http_api_event("GET", self.path, self.query, route_key=self.route.route_key,
                              path_parameters=self.path_parameters)

    @property
    def url(self) -> str:
        query = urlencode(self.query, quote_via=quote)
        return self.path + (f"?{query}" if query else "")


# --- what to ask ---------------------------------------------------------------------------------------------------

async def picks(conn: asyncpg.Connection) -> dict[str, Any]:
    """The largest dataset; in it, the perturbation present in the most datasets and a phenotype likewise; the
    most frequent first letter of a symbol, then its most frequent 2- and 4-letter continuations (lower case)."""
    largest, n_rows = await conn.fetchrow(
        "SELECT dataset_id, n_rows FROM perturb_seq_dataset_statistics ORDER BY n_rows DESC, dataset_id LIMIT 1")
    common = {}
    for role, rank in (("perturbation", "perturbation_n_datasets DESC, perturbation_n_significant_datasets DESC"),
                       ("phenotype", "phenotype_n_datasets DESC, phenotype_n_significant_datasets DESC")):
        common[role] = await conn.fetchval(
            f"""SELECT g.gene_name FROM perturb_seq_genes g JOIN perturb_seq_gene_datasets d
                ON d.gene_name = g.gene_name AND d.role = $2 AND d.dataset_id = $1
                ORDER BY {rank}, g.gene_name COLLATE "C" LIMIT 1""", largest, role)
    prefixes: list[str] = []
    for length in (1, 2, 4):
        prefixes.append(await conn.fetchval(
            """SELECT left(lower(gene_name), $1) AS prefix FROM perturb_seq_genes
               WHERE starts_with(lower(gene_name) COLLATE "C", $2) AND length(gene_name) >= $1
               GROUP BY 1 ORDER BY count(*) DESC, left(lower(gene_name), $1) COLLATE "C"
               LIMIT 1""", length, prefixes[-1] if prefixes else ""))
    return {"dataset": largest, "dataset_rows": n_rows, "perturbation": common["perturbation"],
            "phenotype": common["phenotype"], "prefixes": prefixes}


async def datasets_cursor(limit: int) -> str:
    """The next_cursor of the first page of /v1/datasets at `limit`, as the layer makes it."""
    _, cursor = await datasets_endpoint.datasets(check(datasets_endpoint.DatasetsParameters, [("limit", str(limit))]))
    assert cursor, "the first page has no next page"
    return cursor


async def deep_rows_cursor(dataset_id: str) -> str:
    """The cursor of the rows page that starts DEEP_ROWS rows into the dataset: DEEP_ROWS / DEEP_STEP pages."""
    cursor = None
    for _ in range(DEEP_ROWS // DEEP_STEP):
        pairs = [("limit", str(DEEP_STEP))] + ([("cursor", cursor)] if cursor else [])
        _, cursor = await rows_endpoint.page(dataset_id, check(rows_endpoint.RowsParameters, pairs))
        assert cursor, f"{dataset_id} has fewer than {DEEP_ROWS} rows"
    return cursor


def shapes(loop: asyncio.AbstractEventLoop, pick: dict[str, Any]) -> list[Shape]:
    dataset = pick["dataset"]
    rows = f"/v1/datasets/{quote(dataset, safe='')}/rows"
    deep = loop.run_until_complete(deep_rows_cursor(dataset))
    page_2 = loop.run_until_complete(datasets_cursor(5))
    out = [Shape("datasets: no filter", "/v1/datasets"),
           Shape("datasets: tissue blood or liver", "/v1/datasets", TWO_TISSUES),
           Shape("datasets: text k562 + knockdown", "/v1/datasets", TEXT_AND_FACET),
           Shape("datasets: page 2 (limit 5, cursor)", "/v1/datasets", [("limit", "5"), ("cursor", page_2)]),
           Shape("dataset: largest", f"/v1/datasets/{quote(dataset, safe='')}"),
           Shape("rows: page 1", rows),
           Shape(f"rows: {DEEP_ROWS:,} rows deep (cursor)", rows, [("cursor", deep)]),
           Shape("rows: perturbation", rows, [("perturbation_gene_name", pick["perturbation"])]),
           Shape("rows: perturbation + phenotype", rows, [("perturbation_gene_name", pick["perturbation"]),
                                                          ("phenotype_gene_name", pick["phenotype"])]),
           Shape("rows: decreased", rows, [("effect_direction", "decreased")]),
           Shape("rows: max_padj 0.01", rows, [("max_padj", "0.01")]),
           Shape("rows: tsv", rows, [("format", "tsv")]),
           Shape("rows: limit 1000", rows, [("limit", "1000")]),
           Shape("rows: tsv, limit 1000", rows, [("format", "tsv"), ("limit", "1000")])]
    for prefix in pick["prefixes"]:
        out += [Shape(f"genes: {len(prefix)} letter{'s' if len(prefix) > 1 else ''}", "/v1/genes",
                      [("prefix", prefix)])]
        out += [Shape(f"genes: {len(prefix)} letter{'s' if len(prefix) > 1 else ''}, {role}", "/v1/genes",
                      [("prefix", prefix), ("role", role)]) for role in ("perturbation", "phenotype")]
    out += [Shape("summary", "/v1/summary"), Shape("health", "/v1/health"), Shape("openapi", "/v1/openapi.json")]
    return out


# --- measuring -----------------------------------------------------------------------------------------------------

def handlers(mix: list[Shape]) -> dict[str, Callable]:
    return {name: load_function(name).handler for name in dict.fromkeys(s.function for s in mix)}


def call(handler: Callable, shape: Shape) -> dict[str, Any]:
    response = handler(shape.event(), LambdaContext(shape.route.function))
    assert response["statusCode"] == 200, (shape.url, response)
    return response


def in_process(mix: list[Shape], reps: int, functions: dict[str, Callable]) -> None:
    """Two warm-up rounds, then `reps` rounds round-robin: no shape runs on caches warmed by its own repetitions."""
    for rep in range(reps + 2):
        for shape in mix:
            handler, event, context = functions[shape.function], shape.event(), LambdaContext(shape.route.function)
            began = time.perf_counter()
            response = handler(event, context)
            elapsed = time.perf_counter() - began
            assert response["statusCode"] == 200, (shape.url, response)
            if rep < 2:
                body = response.get("body") or ""
                shape.facts.update(answer_bytes=len(body.encode()), content_type=response["headers"].get(
                    "content-type", response.get("multiValueHeaders", {}).get("content-type", [""])[0]))
                shape.facts.update(summary(shape, body))
                continue
            shape.timings.append(elapsed)
        if rep % 20 == 0:
            log(f"  catalogue, in process: round {rep}/{reps + 2}")


def summary(shape: Shape, body: str) -> dict[str, Any]:
    """What the answer held: items on the page (rows, datasets, genes)."""
    if shape.facts.get("content_type", "").startswith("text/tab-separated-values"):
        return {"items": body.count("\n") - 1}
    payload = json.loads(body)
    for key in ("rows", "datasets", "genes"):
        if isinstance(payload, dict) and isinstance(payload.get(key), list):
            return {"items": len(payload[key])}
    return {"items": None}


def round_trips(loop: asyncio.AbstractEventLoop, mix: list[Shape], functions: dict[str, Callable]) -> None:
    """PostgreSQL round trips and Elasticsearch requests of one warm request, through counting proxies; and the
    PostgreSQL queries it ran (for EXPLAIN)."""
    recorded: list[tuple[str, tuple]] = []
    with counted_stores(loop) as (pg, es, proxied):
        fetch = proxied.fetch

        async def recording(sql: str, *args: Any) -> Any:
            recorded.append((sql, args))
            return await fetch(sql, *args)
        proxied.fetch = recording  # type: ignore[method-assign]
        for shape in mix:
            call(functions[shape.function], shape)  # warm: connection and prepared statements
            pg.round_trips = es.round_trips = 0
            recorded.clear()
            call(functions[shape.function], shape)
            shape.facts.update(pg_round_trips=pg.round_trips, es_calls=es.round_trips, queries=list(recorded))


def plans(loop: asyncio.AbstractEventLoop, mix: list[Shape], database: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each query a shape's request ran, on a connection with the API's settings."""
    async def explain() -> None:
        conn = await asyncpg.connect(settings().superuser_dsn(database), server_settings=API_SETTINGS)
        try:
            for shape in mix:
                explained = []
                for sql, args in shape.facts.pop("queries"):
                    [plan] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args))
                    top = plan["Plan"]
                    found = scans(top)
                    perturb_seq = sorted({f"{node} {index}".strip() for node, index in scans_of_perturb_seq(top)})
                    others = sorted({f"{relation}: {node} {index}".strip() for relation, node, index in found
                                     if relation != "perturb_seq"})
                    explained.append({"perturb_seq": perturb_seq, "other_scans": others,
                                      "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
                                      "read_buffers": top.get("Shared Read Blocks", 0),
                                      "planning_ms": plan["Planning Time"], "execution_ms": plan["Execution Time"],
                                      "sql": sql, "args": [str(a) for a in args], "plan": plan})
                shape.facts["plans"] = explained
        finally:
            await conn.close()
    loop.run_until_complete(explain())


# --- targets and report --------------------------------------------------------------------------------------------

def misses(s: dict[str, Any]) -> list[str]:
    """What this shape misses of the targets that apply to one request."""
    p, f, out = s["percentiles"], s["facts"], []
    p50_limit = TARGETS["genes_p50_ms"] if s["endpoint"] == "/v1/genes" else TARGETS["p50_ms"]
    if p["p50"] > p50_limit:
        out.append(f"p50 {p['p50']:.1f} > {p50_limit} ms")
    if p["p99"] > TARGETS["p99_ms"]:
        out.append(f"p99 {p['p99']:.1f} > {TARGETS['p99_ms']} ms")
    if f["pg_round_trips"] > TARGETS["pg_round_trips"]:
        out.append(f"{f['pg_round_trips']} PostgreSQL round trips")
    if f["es_calls"] > TARGETS["es_calls"]:
        out.append(f"{f['es_calls']} Elasticsearch calls")
    if any(scan.startswith("Seq Scan") for q in f["plans"] for scan in q["perturb_seq"]):
        out.append("sequential scan of perturb_seq")
    return out


def deep_ratio(out: list[dict[str, Any]]) -> tuple[float, float, float]:
    by_name = {s["name"]: s["percentiles"]["p50"] for s in out}
    first, deep = by_name["rows: page 1"], by_name[f"rows: {DEEP_ROWS:,} rows deep (cursor)"]
    return first, deep, max(first, deep) / min(first, deep)


def targets(out: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    def worst(key: str, shapes: list[dict[str, Any]]) -> dict[str, Any]:
        return max(shapes, key=lambda s: s["percentiles"][key])
    w50, w99 = worst("p50", out), worst("p99", out)
    genes = [s for s in out if s["endpoint"] == "/v1/genes"]
    g50 = worst("p50", genes)
    first, deep, ratio = deep_ratio(out)
    pg = max(out, key=lambda s: s["facts"]["pg_round_trips"])
    es = max(out, key=lambda s: s["facts"]["es_calls"])
    over = [s["name"] for s in out if s["percentiles"]["p50"] > TARGETS["p50_ms"]]
    over99 = [s["name"] for s in out if s["percentiles"]["p99"] > TARGETS["p99_ms"]]
    seq = [s["name"] for s in out
           if any(scan.startswith("Seq Scan") for q in s["facts"]["plans"] for scan in q["perturb_seq"])]
    touching = sorted({s["endpoint"] for s in out if any(q["perturb_seq"] for q in s["facts"]["plans"])})
    return [
        (f"handler p50 ≤ {TARGETS['p50_ms']} ms for every shape of every new route (worst "
         f"{w50['percentiles']['p50']:.1f}, {w50['name']}; over: {', '.join(over) or 'none'})", not over),
        (f"handler p99 ≤ {TARGETS['p99_ms']} ms for every shape (worst {w99['percentiles']['p99']:.1f}, {w99['name']}; "
         f"over: {', '.join(over99) or 'none'})", not over99),
        (f"/v1/genes p50 ≤ {TARGETS['genes_p50_ms']} ms (worst {g50['percentiles']['p50']:.1f}, {g50['name']})",
         g50["percentiles"]["p50"] <= TARGETS["genes_p50_ms"]),
        (f"rows page 1 and the page {DEEP_ROWS:,} rows deep within 20 % of each other, p50 (larger / smaller ≤ "
         f"{TARGETS['deep_page_p50_ratio']}: {first:.1f} and {deep:.1f} ms, {ratio:.2f})",
         ratio <= TARGETS["deep_page_p50_ratio"]),
        (f"at most {TARGETS['pg_round_trips']} PostgreSQL round trip per request (max {pg['facts']['pg_round_trips']}"
         f", {pg['name']})", pg["facts"]["pg_round_trips"] <= TARGETS["pg_round_trips"]),
        (f"at most {TARGETS['es_calls']} Elasticsearch call per request (max {es['facts']['es_calls']}, "
         f"{es['name']})", es["facts"]["es_calls"] <= TARGETS["es_calls"]),
        (f"no sequential scan of perturb_seq ({', '.join(seq) or 'none'}); routes that read perturb_seq: "
         f"{', '.join(touching) or 'none'}", not seq),
    ]


def report(result: dict[str, Any], previous: dict[str, Any] | None) -> str:
    ms = "{:.1f}".format
    pick = result["picks"]
    lines = [f"Run {result['when']}: {result['variant']} ({result['rows']:,} rows), {result['reps']} rounds after 2 "
             f"warm-up rounds; {result['servers']}.", "",
             f"Asked: the largest dataset `{pick['dataset']}` ({pick['dataset_rows']:,} rows); in it the perturbation "
             f"`{pick['perturbation']}` and the phenotype `{pick['phenotype']}` (each present in the most datasets "
             f"in its role); gene prefixes {', '.join(f'`{p}`' for p in pick['prefixes'])} (the most frequent first "
             f"letter, then its most frequent continuations). The rows page {DEEP_ROWS:,} rows deep starts at the "
             f"cursor of {DEEP_ROWS // DEEP_STEP} pages of {DEEP_STEP}; the datasets page 2 at the cursor of a first "
             f"page of 5.", "",
             f"Handler latency in ms (p50 / p95 / p99) through the function's Lambda handler in process; per warm "
             f"request the PostgreSQL round trips and Elasticsearch calls (counting proxies); each PostgreSQL query "
             f"under EXPLAIN (ANALYZE, BUFFERS): its scans (of `perturb_seq` first), shared buffers and execution "
             f"time. Target per shape: p50 ≤ {TARGETS['p50_ms']} ms (`/v1/genes`: ≤ {TARGETS['genes_p50_ms']}), "
             f"p99 ≤ {TARGETS['p99_ms']} ms, ≤ {TARGETS['pg_round_trips']} PostgreSQL round trip, "
             f"≤ {TARGETS['es_calls']} Elasticsearch call, no sequential scan of `perturb_seq`.", ""]
    for endpoint in dict.fromkeys(s["endpoint"] for s in result["shapes"]):
        lines += [f"`GET {endpoint}`", "",
                  "| shape | items | p50 / p95 / p99 | PG round trips | ES calls | scans of perturb_seq | "
                  "other scans | buffers | execution ms | target |", "|---|---|---|---|---|---|---|---|---|---|"]
        for s in result["shapes"]:
            if s["endpoint"] != endpoint:
                continue
            p, f = s["percentiles"], s["facts"]
            queries = f["plans"]
            missed = misses(s)
            lines.append(
                f"| {s['name']} | {'' if f['items'] is None else f['items']} | {ms(p['p50'])} / {ms(p['p95'])} / "
                f"{ms(p['p99'])} | {f['pg_round_trips']} | {f['es_calls']} | "
                f"{'; '.join(', '.join(q['perturb_seq']) for q in queries if q['perturb_seq']) or '(none)'} | "
                f"{'; '.join(', '.join(q['other_scans']) for q in queries if q['other_scans']) or '(none)'} | "
                f"{' + '.join(str(q['buffers']) for q in queries) or '-'} | "
                f"{' + '.join(ms(q['execution_ms']) for q in queries) or '-'} | "
                f"{'met' if not missed else '**missed**: ' + '; '.join(missed)} |")
        lines.append("")
    lines += ["Targets:", ""]
    lines += [f"- {'met' if ok else '**missed**'}: {text}" for text, ok in result["targets"]]
    if previous:
        before = {s["name"]: s for s in previous["shapes"]}
        lines += ["", f"Change against the previous run ({previous['when']}), handler p50 in ms:", "",
                  "| shape | before | now |", "|---|---|---|"]
        lines += [f"| {s['name']} | {ms(before[s['name']]['percentiles']['p50'])} | {ms(s['percentiles']['p50'])} |"
                  for s in result["shapes"] if s["name"] in before]
    return "\n".join(lines)


def run(loop: asyncio.AbstractEventLoop, *, scale: str, variant: str, rows: int, database: str, reps: int,
        store: Path, common: dict[str, Any]) -> str:
    """The catalogue routes' benchmark on `loop` (the one the layer's clients live on); returns the section text."""
    conn = loop.run_until_complete(asyncpg.connect(settings().superuser_dsn(database)))
    try:
        pick = loop.run_until_complete(picks(conn))
    finally:
        loop.run_until_complete(conn.close())
    mix = shapes(loop, pick)
    log(f"catalogue: {len(mix)} shapes; {pick}")
    functions = handlers(mix)
    with stdout_discarded():
        in_process(mix, reps, functions)
        log("catalogue: round trips and plans ...")  # after the rounds: on warm caches, as the timed requests ran
        round_trips(loop, mix, functions)
    plans(loop, mix, database)
    out = [{"name": s.name, "endpoint": s.endpoint, "function": s.function, "url": s.url, "facts": s.facts,
            "percentiles": percentiles(s.timings)} for s in mix]
    result = {"scale": scale, "variant": variant, "rows": rows, "reps": reps, **common, "picks": pick, "shapes": out}
    result["targets"] = targets(out)
    text = report(result, previous_and_store(store, result))
    write_benchmarks_md(f"catalogue {variant}", text, f"Figures: catalogue routes, {variant}")
    return text
