"""Measuring requests as the API serves them: each shape (a GET with its query) through its own function's Lambda
handler in process (an API Gateway HTTP API v2 event, routed as template.yaml routes it, `Accept-Encoding: gzip`
as a browser sends), then over HTTP through the local server (devtools/local/serve.py).

Per shape: handler p50/p95/p99 after two warm-up rounds, REPS rounds round-robin over the shapes (no shape runs on
caches warmed by its own repetitions); the answer's size as identity and as gzip (and the identity request's status:
an answer over MAX_ANSWER_BYTES is refused with answer_too_large), its items; PostgreSQL round trips and
Elasticsearch calls of a warm request (counting TCP proxies); and each PostgreSQL query the request ran under
EXPLAIN (ANALYZE, BUFFERS) with the API's session settings: every relation scan (node type and index), shared
buffers, planning and execution time.
"""
from __future__ import annotations

import asyncio
import base64
import http.client
import json
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import asyncpg
from catalogue_common.settings import settings

from devtools.bench.harness import ROOT, counted_stores, log, scans, stdout_discarded
from devtools.local import serve
from devtools.local.lambda_events import DEFAULT_CLIENT_HEADERS, Route, http_api_event, routes_from_template
from devtools.local.lambda_runtime import LambdaContext, load_function

ROUTES = routes_from_template(ROOT / "template.yaml")
# The API's session settings (catalogue.clients, roles.sql): EXPLAIN plans what the functions run.
API_SETTINGS = {"plan_cache_mode": "force_custom_plan", "max_parallel_workers_per_gather": "0", "jit": "off"}
GZIP = {**DEFAULT_CLIENT_HEADERS, "accept-encoding": "gzip, deflate, br"}


@dataclass
class Shape:
    """One request to measure. `goal`: which targets apply (api.GOALS), None for figures only."""
    name: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    goal: str | None = "route"
    status: int = 200  # what the route answers (the download route: 307 to its file)
    timings: dict[str, list[float]] = field(default_factory=dict)  # series -> seconds
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

    def event(self, gzip: bool = True) -> dict[str, Any]:
        return http_api_event("GET", self.path, self.query, headers=GZIP if gzip else None,
                              route_key=self.route.route_key, path_parameters=self.path_parameters)

    @property
    def url(self) -> str:
        query = urlencode(self.query, quote_via=quote)
        return self.path + (f"?{query}" if query else "")


class Functions:
    """The functions' handlers, loaded in this process (each once), all sharing the layer's clients."""

    def __init__(self) -> None:
        self.loaded: dict[str, Callable] = {}

    def __call__(self, shape: Shape, gzip: bool = True, expect: int | None = -1) -> dict[str, Any]:
        """The handler's answer to `shape`, checked to have `expect` (-1: the shape's own status; None: any)."""
        expect = shape.status if expect == -1 else expect
        if shape.function not in self.loaded:
            self.loaded[shape.function] = load_function(shape.function).handler
        response = self.loaded[shape.function](shape.event(gzip), LambdaContext(shape.route.function))
        assert expect is None or response["statusCode"] == expect, (shape.url, response)
        return response

    def next_cursor(self, path: str, query: list[tuple[str, str]], pages: int = 1) -> str:
        """The cursor of the page `pages` after the first of GET path?query, from the answers' Link headers."""
        cursor = None
        for _ in range(pages):
            response = self(Shape("cursor", path, [*query, *([("cursor", cursor)] if cursor else [])]))
            link = response["headers"].get("link")
            assert link, f"{path}?{urlencode(query)} has fewer than {pages + 1} pages"
            cursor = dict(parse_qsl(urlsplit(link.split(">")[0].lstrip("<")).query))["cursor"]
        return cursor


def body_of(response: dict[str, Any]) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def answer_facts(functions: Functions, shape: Shape) -> dict[str, Any]:
    """The answer's sizes (identity, and gzip when it is encoded), its items, and the identity request's status."""
    sent = functions(shape)
    encoded = sent["headers"].get("content-encoding") == "gzip"
    identity = zlib.decompress(body_of(sent), 31) if encoded else body_of(sent)
    plain = functions(shape, gzip=False, expect=None)
    refused = None if plain["statusCode"] == shape.status else json.loads(body_of(plain))["error"]["code"]
    return {"identity_bytes": len(identity), "gzip_bytes": len(body_of(sent)) if encoded else None,
            "identity_status": plain["statusCode"], "identity_refused": refused,
            "content_type": sent["headers"].get("content-type", ""), "items": items(identity, sent)}


def items(body: bytes, response: dict[str, Any]) -> int | None:
    """What the answer held: rows, datasets or genes on the page (a search answer: its datasets)."""
    if not body:  # a redirect
        return None
    if response["headers"].get("content-type", "").startswith("text/tab-separated-values"):
        return body.count(b"\n") - 1
    payload = json.loads(body)
    if isinstance(payload, list):
        return len(payload)
    for key in ("rows", "datasets", "genes", "as_perturbation"):
        if isinstance(payload.get(key), list):
            return len(payload[key]) + (len(payload["as_phenotype"]) if key == "as_perturbation" else 0)
    return None


def in_process(mix: list[Shape], reps: int, functions: Functions) -> None:
    """Two warm-up rounds (the answers' facts taken there), then `reps` rounds round-robin."""
    for rep in range(reps + 2):
        for shape in mix:
            if rep == 0:
                shape.facts.update(answer_facts(functions, shape))
            event, context = shape.event(), LambdaContext(shape.route.function)
            handler = functions.loaded[shape.function]
            began = time.perf_counter()
            response = handler(event, context)
            elapsed = time.perf_counter() - began
            assert response["statusCode"] == shape.status, (shape.url, response)
            if rep >= 2:
                shape.timings.setdefault("handler", []).append(elapsed)
        if rep % 20 == 0:
            log(f"  in process: round {rep}/{reps + 2}")


def round_trips(loop: asyncio.AbstractEventLoop, mix: list[Shape], functions: Functions) -> None:
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
            functions(shape)  # warm: connection and prepared statements
            pg.round_trips = es.round_trips = 0
            recorded.clear()
            functions(shape)
            shape.facts.update(pg_round_trips=pg.round_trips, es_calls=es.round_trips, queries=list(recorded))


def plans(loop: asyncio.AbstractEventLoop, mix: list[Shape], database: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each query a shape's request ran, on a connection with the API's settings."""
    async def explain() -> None:
        conn = await asyncpg.connect(settings().superuser_dsn(database), server_settings=API_SETTINGS)
        try:
            for shape in mix:
                explained = []
                for sql, args in shape.facts.pop("queries"):
                    if sql.strip().upper() == "SELECT 1":  # /v1/health
                        continue
                    [plan] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args))
                    top = plan["Plan"]
                    explained.append({
                        "scans": sorted({f"{relation}: {node} {index}".strip()
                                         for relation, node, index in scans(top)}),
                        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
                        "read_buffers": top.get("Shared Read Blocks", 0),
                        "planning_ms": plan["Planning Time"], "execution_ms": plan["Execution Time"],
                        "sql": sql, "args": [str(a)[:200] for a in args]})
                shape.facts["plans"] = explained
        finally:
            await conn.close()
    loop.run_until_complete(explain())


def over_http(mix: list[Shape], reps: int) -> None:
    """Through the local server of `make serve` (one warm environment per function, gzip accepted), one client."""
    functions = sorted({s.function for s in mix})
    with serve.background(environments=1, functions=functions) as (url, _):
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        for rep in range(reps + 1):  # one warm-up round
            for shape in mix:
                began = time.perf_counter()
                conn.request("GET", shape.url, headers={"Accept-Encoding": "gzip"})
                response = conn.getresponse()
                response.read()
                elapsed = time.perf_counter() - began
                assert response.status == shape.status, (shape.url, response.status)  # a 307 is not followed
                if rep:
                    shape.timings.setdefault("http", []).append(elapsed)
        conn.close()


def measure(loop: asyncio.AbstractEventLoop, mix: list[Shape], functions: Functions, database: str, reps: int,
            http_reps: int) -> dict[str, float]:
    """Every measurement of every shape, in order; returns the seconds each part took."""
    seconds, began = {}, time.monotonic()

    def done(part: str) -> None:
        nonlocal began
        seconds[part], began = round(time.monotonic() - began, 1), time.monotonic()
    log(f"in process: {len(mix)} shapes, {reps} rounds ...")
    with stdout_discarded():
        in_process(mix, reps, functions)
        done("in_process")
        log("round trips ...")  # after the rounds: on warm caches, as the timed requests ran
        round_trips(loop, mix, functions)
        done("round_trips")
    log("plans ...")
    plans(loop, mix, database)
    done("plans")
    log(f"over HTTP: {http_reps} rounds ...")
    over_http(mix, http_reps)
    done("http")
    return seconds
