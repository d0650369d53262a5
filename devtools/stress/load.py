"""Load through the local server with Locust (devtools/stress/locustfile.py), restarting each store once during the
run.

    python -m devtools.stress.load [--seconds 90] [--users 16] [--environments 2] [--no-faults] [--no-reload]
    make load [LOAD_SECONDS=90] [LOAD_USERS=16]

Starts the local server (devtools/local/serve.py, as `make serve` does: every function of template.yaml, N warm
environments each; PS_DB / ES_INDEX choose the catalogue), has every environment answer once (warm_up), then runs
Locust headless for a fixed time: front-end-like
users over every catalogue route. Meanwhile:

* every 0.5 s, the PostgreSQL connections of the API: pg_stat_activity rows with application_name 'catalogue-api'
  in the served database, and per function environment its TCP connections to PostgreSQL (psutil); the limit is
  2 per environment (the pool's max_size);
* the memory of every function process, VmRSS and VmHWM from /proc/<pid>/status (not ru_maxrss: a spawned child
  inherits its parent's peak), before the load, after a warm-up (15 % of the run) and at the end;
* faults: at 20 % of the run PostgreSQL is stopped (pg_ctl fast: every connection is closed) and started again
  FAULT seconds later; at 40 % Elasticsearch likewise (it takes ~6 s to start). Both are started again in any case.
  At 65 %, the reload fault (devtools/stress/reload.py): a whole-catalogue load of another catalogue of the same
  200 datasets over the served one; the run goes on until 5 s after it ended. Every answer that overlapped it must
  be 200 and entirely the old or the new catalogue's (checked after the run). With the reload fault the run serves
  its own catalogue (database catalogue_load, index load-dataset-summary-v1; built on the first run).

Every request is logged (devtools/stress/locustfile.py). The report: throughput, p50/p99 and errors per route; per fault
the requests that failed from the store's stop until the first success after it was back, whether each failure was
the contract's 503 store_unavailable / 504 store_timeout body (or /v1/health's 503 "degraded" body, docs/contract.md
"Health"), and the recovery time; failures outside the faults; the reload's answers by route and catalogue; connections;
memory. Written to stdout and .local/load/last.json; the exit status is 1 if a failure was anything else, a failure
happened outside a store fault, an answer during the reload was not 200 or not one catalogue's, or a limit was exceeded.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from devtools.local import es_server, pg_server, serve
from devtools.stress import reload as reloads

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".local" / "load"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
POOL_MAX = 2  # connections per environment (layers/catalogue/catalogue/clients.py: max_size)
MEMORY_GROWTH_LIMIT_KB = 10_240  # "flat": VmRSS grows by at most this from the warm sample to the end
# Which store each route reads (a route not listed reads neither).
NEEDS = {
    "postgresql": {"/v1/search", "/v1/datasets", "/v1/datasets/{dataset_id}", "/v1/datasets/{dataset_id}/rows",
                   "/v1/genes", "/v1/summary", "/v1/health"},
    "elasticsearch": {"/v1/search", "/v1/datasets", "/v1/datasets/{dataset_id}", "/v1/datasets/{dataset_id}/rows",
                      "/v1/summary", "/v1/health"},
}
EXPECTED = {(503, "store_unavailable"), (504, "store_timeout")}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Fault:
    store: str
    stop_at: float = 0.0  # epoch seconds: stop requested
    stopped_at: float = 0.0
    start_at: float = 0.0  # start requested
    back_at: float = 0.0  # the store answers again (pg_ctl -w; Elasticsearch's primaries recovered)


@dataclass
class Monitor:
    """PostgreSQL connections of the API, sampled every `every` seconds while the load runs."""

    server_pid: int
    database: str
    every: float = 0.5
    samples: int = 0
    pg_stat_max: int = 0
    pg_stat_errors: int = 0  # samples missed while PostgreSQL was down
    per_environment_max: dict[str, int] = field(default_factory=dict)  # "<function> <pid>" -> max
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        connection: asyncpg.Connection | None = None
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'catalogue-api' AND datname = $1"
        while not self._stop.is_set():
            try:
                if connection is None or connection.is_closed():
                    connection = await asyncpg.connect(host="127.0.0.1", port=pg_server.PORT, user="postgres",
                                                       database="postgres", timeout=1,
                                                       server_settings={"application_name": "load-monitor"})
                self.pg_stat_max = max(self.pg_stat_max, await connection.fetchval(sql, self.database, timeout=1))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                self.pg_stat_errors += 1
                connection = None
            for key, n in environment_connections(self.server_pid).items():
                self.per_environment_max[key] = max(self.per_environment_max.get(key, 0), n)
            self.samples += 1
            await asyncio.sleep(self.every)
        if connection is not None:
            await connection.close()

    def stop(self) -> None:
        self._stop.set()


def workers(server_pid: int) -> dict[int, str]:
    """The server's function environments: pid -> function (each runs in its function's folder)."""
    found = {}
    for child in psutil.Process(server_pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cwd = Path(child.cwd())
            if cwd.parent.name == "functions":
                found[child.pid] = cwd.name
    return found


def environment_connections(server_pid: int) -> dict[str, int]:
    counts = {}
    for pid, function in workers(server_pid).items():
        with contextlib.suppress(psutil.Error):
            counts[f"{function} {pid}"] = sum(1 for c in psutil.Process(pid).net_connections("tcp")
                                              if c.raddr and c.raddr.port == pg_server.PORT
                                              and c.status == psutil.CONN_ESTABLISHED)
    return counts


def memory(server_pid: int) -> dict[str, dict[str, int]]:
    """VmRSS and VmHWM (kB) of every function process, from /proc."""
    found = {}
    for pid, function in workers(server_pid).items():
        with contextlib.suppress(OSError):
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            found[f"{function} {pid}"] = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    return found


def server_pid(url: str) -> int:
    """The local server's process listening at `url` (started as `python -m devtools.local.serve --port N`)."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if serve.MODULE in cmdline and port in cmdline:
            return process.pid
    raise RuntimeError(f"no local server ({serve.MODULE}) on port {port}")


def inject(faults: list[tuple[float, Fault]], down_seconds: float, stop: threading.Event) -> None:
    """At each (epoch, fault): stop the store, keep it down `down_seconds`, start it, note when it answers."""
    control = {"postgresql": (pg_server.stop, pg_server.start), "elasticsearch": (es_server.stop, es_server.start)}
    for at, fault in faults:
        if stop.wait(max(0.0, at - time.time())):
            return
        halt, start = control[fault.store]
        log(f"fault: stopping {fault.store}")
        fault.stop_at = time.time()
        with contextlib.redirect_stdout(sys.stderr):
            halt()
        fault.stopped_at = time.time()
        stop.wait(down_seconds)
        fault.start_at = time.time()
        with contextlib.redirect_stdout(sys.stderr):
            start()
        fault.back_at = time.time()
        log(f"fault: {fault.store} back after {fault.back_at - fault.stop_at:.1f} s")


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] if ordered else 0.0


def analyse(requests: list[dict[str, Any]], faults: list[Fault]) -> dict[str, Any]:
    requests.sort(key=lambda r: r["t"])
    began, ended = requests[0]["t"], max(r["t"] + r["ms"] / 1000 for r in requests)
    failed = [r for r in requests if r["status"] != 200]
    routes = {}
    for route in sorted({r["route"] for r in requests}):
        mine = [r for r in requests if r["route"] == route]
        ms = [r["ms"] for r in mine]
        routes[route] = {"requests": len(mine), "per_second": round(len(mine) / (ended - began), 1),
                         "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1),
                         "errors": sum(1 for r in mine if r["status"] != 200)}
    attributed: set[int] = set()
    fault_reports = []
    for fault in faults:
        if not fault.back_at:
            fault_reports.append({"store": fault.store, "injected": False})
            continue
        needs = NEEDS[fault.store]
        # Recovered: the first success of a route reading this store among requests sent once it was back.
        after = [r for r in requests if r["t"] >= fault.back_at and r["route"] in needs and r["status"] == 200]
        recovered = (after[0]["t"] + after[0]["ms"] / 1000) if after else ended
        window = [r for r in failed if fault.stop_at <= r["t"] <= recovered or
                  (r["t"] < fault.stop_at and r["t"] + r["ms"] / 1000 >= fault.stop_at)]
        attributed.update(id(r) for r in window)
        kinds = Counter(f"{r['status']} {r['code']}" for r in window)
        spec = [r for r in window if (r["status"], r["code"]) in EXPECTED
                or (r["route"] == "/v1/health" and r["status"] == 503 and str(r["code"]).startswith("degraded:"))]
        fault_reports.append({
            "store": fault.store, "injected": True,
            "down_s": round(fault.back_at - fault.stop_at, 1), "stop_s": round(fault.stopped_at - fault.stop_at, 1),
            "start_s": round(fault.back_at - fault.start_at, 1),
            "requests_during": sum(1 for r in requests if fault.stop_at <= r["t"] <= recovered),
            "failed": len(window), "failures": dict(kinds), "all_spec_bodies": len(spec) == len(window),
            "recovery_s": round(recovered - fault.back_at, 2) if after else None,
            "last_failure_after_back_s": round(max(r["t"] + r["ms"] / 1000 for r in window) - fault.back_at, 2)
            if window else None,
        })
    outside = [r for r in failed if id(r) not in attributed]
    return {
        "requests": len(requests), "seconds": round(ended - began, 1),
        "per_second": round(len(requests) / (ended - began), 1),
        "statuses": dict(sorted(Counter(r["status"] for r in requests).items())),
        "p50_ms": round(percentile([r["ms"] for r in requests], 50), 1),
        "p99_ms": round(percentile([r["ms"] for r in requests], 99), 1),
        "routes": routes, "faults": fault_reports, "failed": len(failed),
        "failed_outside_faults": len(outside),
        "outside_examples": [f"{r['route']} {r['status']} {r['code']}" for r in outside[:10]],
    }


STORE_FAULTS_AT = (0.2, 0.4)  # shares of the run
RELOAD_AT = 0.65
AFTER_RELOAD_SECONDS = 5.0


def start_locust(url: str, users: int, seconds: float, request_log: Path) -> subprocess.Popen[bytes]:
    """Locust headless against `url`, with a generous time limit: finish() stops it when the run is over."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
               "-r", str(users), "-t", f"{int(seconds * 10 + 600)}s", "--host", url, "--only-summary",
               "--stop-timeout", "5", "--loglevel", "WARNING"]
    return subprocess.Popen(command, env={**os.environ, "LOAD_REQUEST_LOG": str(request_log)},
                            stdout=sys.stderr, stderr=sys.stderr)


def first_request(locust: subprocess.Popen[bytes], request_log: Path) -> float:
    """When the run's clock starts: its first request (Locust first reads the catalogue from the API)."""
    while locust.poll() is None and not (request_log.exists() and request_log.stat().st_size):
        time.sleep(0.05)
    return time.time()


def schedule(began: float, seconds: float, faults: list[Fault], reload: reloads.Reload | None,
             down_seconds: float, stop: threading.Event) -> list[threading.Thread]:
    """The store faults and the reload, each in its own thread, at their shares of the run."""
    at = [(began + seconds * share, fault) for share, fault in zip(STORE_FAULTS_AT, faults, strict=False)]
    threads = [threading.Thread(target=inject, args=(at, down_seconds, stop), daemon=True)]
    if reload is not None:
        threads.append(threading.Thread(target=reload.inject, args=(began + seconds * RELOAD_AT, stop), daemon=True))
    for thread in threads:
        thread.start()
    return threads


def finish(locust: subprocess.Popen[bytes], began: float, seconds: float, reload: reloads.Reload | None) -> None:
    """Stop Locust `seconds` after the run began, or AFTER_RELOAD_SECONDS after the reload ended if later."""
    while locust.poll() is None:
        ends = began + seconds
        if reload is not None and reload.started:
            ends = max(ends, reload.ended + AFTER_RELOAD_SECONDS) if reload.done.is_set() else math.inf
        if time.time() >= ends:
            locust.send_signal(signal.SIGTERM)  # Locust stops its users, prints its summary, closes the log
            break
        time.sleep(0.2)
    locust.wait(timeout=120)


def run(seconds: float, users: int, environments: int, faults: bool, down_seconds: float,
        reload: reloads.Reload | None) -> dict[str, Any]:
    OUT.mkdir(parents=True, exist_ok=True)
    request_log = OUT / "requests.jsonl"
    request_log.unlink(missing_ok=True)
    if reload is not None:
        reload.prepare()
        os.environ.update(PS_DB=reloads.DATABASE, ES_INDEX=reloads.INDEX)
    database = os.environ.get("PS_DB", "catalogue")
    injected = [Fault("postgresql"), Fault("elasticsearch")] if faults else []
    stop = threading.Event()
    try:
        with serve.background(environments=environments) as (url, _):
            pid = server_pid(url)
            warm_up(url, environments)
            cold = memory(pid)
            monitor = Monitor(pid, database)
            sampler = threading.Thread(target=monitor.run, daemon=True)
            sampler.start()
            log(f"locust: {users} users for {seconds:.0f} s against {url} (PS_DB={database}, "
                f"{environments} environments per function)")
            locust = start_locust(url, users, seconds, request_log)
            began = first_request(locust, request_log)
            threads = schedule(began, seconds, injected, reload, down_seconds, stop)
            stop.wait(seconds * 0.15)  # warm: every environment has served requests, before the first fault
            warm = memory(pid)
            finish(locust, began, seconds, reload)
            stop.set()
            for thread in threads:
                thread.join(timeout=600)
            end = memory(pid)
            monitor.stop()
            sampler.join(timeout=10)
            requests = [json.loads(line) for line in request_log.read_text().splitlines() if line.strip()]
            reloaded = reloads.check(url, requests, reload) if reload is not None else None
    finally:
        stop.set()
        # Never leave a store stopped.
        with contextlib.redirect_stdout(sys.stderr):
            pg_server.start()
            es_server.start()
    result = analyse(requests, injected)
    result.update(
        users=users, environments=environments, database=database, load_seconds=seconds,
        fault_down_seconds=down_seconds, injected=[asdict(f) for f in injected], reload=reloaded,
        connections={"pg_stat_activity_max": monitor.pg_stat_max, "samples": monitor.samples,
                     "missed_while_down": monitor.pg_stat_errors,
                     "per_environment_max": max(monitor.per_environment_max.values(), default=0),
                     "environments_seen": len(monitor.per_environment_max),
                     "limit_per_environment": POOL_MAX},
        memory={key: {"cold": cold.get(key), "warm": warm.get(key), "end": end.get(key)}
                for key in sorted(set(warm) | set(end))},
        machine={"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                 "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    )
    (OUT / "last.json").write_text(json.dumps(result, indent=2))
    return result


def growth(result: dict[str, Any]) -> list[int]:
    """VmRSS growth from warm to end of each environment that lived the whole run (one the server started again
    after its process died, say of a timeout, has no cold sample and was still starting when sampled warm)."""
    return [m["end"]["VmRSS"] - m["warm"]["VmRSS"] for m in result["memory"].values()
            if m["cold"] and m["warm"] and m["end"]]


def warm_up(url: str, environments: int) -> None:
    """Every environment of every catalogue route answers once before the run: a cold start on this busy 2-core
    machine (seconds) is neither a store fault nor the reload's."""
    paths = ["/v1/search?limit=5", "/v1/datasets", "/v1/summary", "/v1/genes?prefix=a", "/v1/health"]
    first = json.loads(urllib.request.urlopen(f"{url}/v1/datasets?limit=1", timeout=120).read())
    dataset = first["datasets"][0]["dataset"]["dataset_id"]
    paths += [f"/v1/datasets/{dataset}", f"/v1/datasets/{dataset}/rows?limit=5",
              f"/v1/datasets/{dataset}/download?format=metadata"]
    with ThreadPoolExecutor(environments * 2) as pool:
        list(pool.map(lambda path: _status(url + path), paths * environments * 2))


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def verdict(result: dict[str, Any]) -> list[str]:
    problems = []
    if any(not f["all_spec_bodies"] for f in result["faults"] if f["injected"]):
        problems.append("a failure during a fault was not a 503/504 store body of the contract")
    if result["failed_outside_faults"]:
        problems.append(f"{result['failed_outside_faults']} failures outside the store faults")
    if result["reload"] is not None:
        problems += reloads.problems(result["reload"])
    if result["connections"]["per_environment_max"] > POOL_MAX:
        problems.append("an environment held more than 2 PostgreSQL connections")
    if any(g > MEMORY_GROWTH_LIMIT_KB for g in growth(result)):
        problems.append("a function process grew by more than 10 MB")
    return problems


def report(result: dict[str, Any]) -> str:
    lines = [f"{result['requests']:,} requests in {result['seconds']} s: {result['per_second']}/s; "
             f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; statuses {result['statuses']}",
             f"{'route':<34}{'requests':>9}{'/s':>7}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"]
    for route, r in result["routes"].items():
        lines.append(f"{route:<34}{r['requests']:>9,}{r['per_second']:>7}{r['p50_ms']:>9}{r['p99_ms']:>9}"
                     f"{r['errors']:>8}")
    for f in result["faults"]:
        if not f["injected"]:
            lines.append(f"fault {f['store']}: not injected (the run ended first)")
            continue
        lines.append(f"fault {f['store']}: down {f['down_s']} s (stop {f['stop_s']} s, start {f['start_s']} s); "
                     f"{f['failed']} of {f['requests_during']} requests failed: {f['failures']}; all SPEC bodies: "
                     f"{f['all_spec_bodies']}; first success {f['recovery_s']} s after it was back, last failure "
                     f"{f['last_failure_after_back_s']} s")
    lines.append(f"failures outside the store faults: {result['failed_outside_faults']} {result['outside_examples']}")
    if result["reload"] is not None:
        lines += reloads.lines(result["reload"])
    c = result["connections"]
    lines.append(f"PostgreSQL connections: pg_stat_activity max {c['pg_stat_activity_max']} "
                 f"({c['samples']} samples, {c['missed_while_down']} while down); per environment max "
                 f"{c['per_environment_max']} (limit {c['limit_per_environment']}, {c['environments_seen']} seen)")
    lines.append(f"{'memory (kB)':<34}{'cold RSS':>10}{'warm RSS':>10}{'end RSS':>10}{'warm HWM':>10}{'end HWM':>10}")
    for key, m in result["memory"].items():
        row = [m[s]["VmRSS"] if m[s] else "-" for s in ("cold", "warm", "end")]
        row += [m[s]["VmHWM"] if m[s] else "-" for s in ("warm", "end")]
        lines.append(f"{key:<34}" + "".join(f"{v:>10}" for v in row))
    if grown := growth(result):
        lines.append(f"VmRSS growth warm -> end: min {min(grown)} kB, median {statistics.median(grown):.0f} kB, "
                     f"max {max(grown)} kB (processes sampled cold, warm and at the end)")
    problems = verdict(result)
    lines.append("verdict: " + ("; ".join(problems) if problems else "ok"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="how long Locust runs")
    parser.add_argument("--users", type=int, default=16, help="concurrent Locust users")
    parser.add_argument("--environments", type=int, default=2, help="warm environments per function")
    parser.add_argument("--fault-seconds", type=float, default=5, help="how long each store stays stopped")
    parser.add_argument("--no-faults", action="store_true", help="do not stop the stores")
    parser.add_argument("--no-reload", action="store_true", help="no whole-catalogue load during the run (then the "
                                                                 "run serves PS_DB / ES_INDEX)")
    parser.add_argument("--reload-rows", type=int, default=reloads.ROWS, help="rows of each reloaded catalogue")
    parser.add_argument("--reload-datasets", type=int, default=reloads.DATASETS)
    args = parser.parse_args()
    if not args.no_faults and args.seconds < 40:
        parser.error("faults need --seconds 40 or more (or --no-faults)")
    reload = None if args.no_reload else reloads.Reload(rows=args.reload_rows, datasets=args.reload_datasets)
    result = run(args.seconds, args.users, args.environments, not args.no_faults, args.fault_seconds, reload)
    print(report(result))
    sys.exit(1 if verdict(result) else 0)


if __name__ == "__main__":
    main()
