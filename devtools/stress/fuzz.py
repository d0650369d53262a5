"""Schemathesis against the local server: every route of the document the API serves (GET /v1/openapi.json).

    python -m devtools.stress.fuzz [--requests 10000] [--seconds 900] [--environments 2] [--workers 2] [--seed N]
    make fuzz [FUZZ_REQUESTS=10000] [FUZZ_SECONDS=900]

Starts the local server (devtools/local/serve.py, as `make serve` does: every function of template.yaml, warm
environments; it reads PS_DB / ES_INDEX like the functions) unless --url names a running server, loads the schema
from the server's own /v1/openapi.json and runs Schemathesis's phases (examples, coverage, fuzzing, stateful; valid
and invalid data) until --requests requests were sent or --seconds ran out, whichever comes first. The run fails
unless at least --requests requests were sent and no check failed: no 5xx, every status, content type, body and
documented header as the document declares, and every request the document says is invalid refused (4xx).

Checks left out, and why:
  positive_data_acceptance  a cursor is valid only when the API signed it, and a parameter and its synonym
                            (effect_direction / change_direction) exclude each other: a schema cannot say either,
                            so requests the document allows may rightly be refused with 400 (docs/contract.md, "Lists
                            and caching" and "Search parameters")
  unsupported_method        a method no route serves is "no such endpoint", 404 not_found, not 405
                            (docs/contract.md, "Errors")
  the stateful/auth ones    the API is read-only and public: nothing to create, delete or authorise
Requests whose request line and headers exceed API Gateway's HTTP API quota (10,240 bytes) are not generated:
they never reach a function (the local server refuses them above 64 KiB with its own 414).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
# Hypothesis and Schemathesis keep their state under .local/, not in the working tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(ROOT / ".local" / "hypothesis"))

import schemathesis  # noqa: E402
from schemathesis.engine import events, from_schema  # noqa: E402
from schemathesis.engine.recorder import ScenarioRecorder  # noqa: E402

from devtools.local import serve  # noqa: E402

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "negative_data_rejection")
GATEWAY_LIMIT = 10_240  # bytes of request line and header values an HTTP API accepts (API Gateway quota)


@dataclass
class Violation:
    check: str
    operation: str
    title: str
    message: str
    reproduce: str


@dataclass
class Result:
    target: int
    seconds: float
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)
    phases: Counter[str] = field(default_factory=Counter)  # "<phase> <positive|negative>"
    checks_passed: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # network errors, schema or engine errors
    elapsed: float = 0.0
    stop_reason: str = ""

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def ok(self) -> bool:
        return self.requests >= self.target and not self.violations and not self.errors and not self.server_errors

    def unique_violations(self) -> dict[tuple[str, str, str], list[Violation]]:
        grouped: dict[tuple[str, str, str], list[Violation]] = {}
        for v in self.violations:
            grouped.setdefault((v.check, v.operation, v.title), []).append(v)
        return grouped

    def report(self) -> str:
        rate = self.requests / self.elapsed if self.elapsed else 0.0
        lines = [f"requests: {self.requests:,} in {self.elapsed:.0f} s ({rate:.0f}/s; target {self.target:,}, "
                 f"bound {self.seconds:.0f} s; stopped: {self.stop_reason})",
                 "statuses: " + ", ".join(f"{s}: {n:,}" for s, n in sorted(self.statuses.items())),
                 f"5xx: {self.server_errors}",
                 "per route: " + ", ".join(f"{op} {n:,}" for op, n in sorted(self.operations.items())),
                 "per phase: " + ", ".join(f"{p} {n:,}" for p, n in sorted(self.phases.items())),
                 "checks passed: " + ", ".join(f"{c} {n:,}" for c, n in sorted(self.checks_passed.items())),
                 f"violations: {len(self.violations)} ({len(self.unique_violations())} distinct)",
                 f"errors: {len(self.errors)}"]
        for (check, operation, title), found in self.unique_violations().items():
            first = found[0]
            lines.append(f"\n[{check}] {operation}: {title} ({len(found)}x)\n{first.message}\n{first.reproduce}")
        lines.extend(f"\n[error] {error}" for error in self.errors[:20])
        return "\n".join(lines)


def request_size(case: schemathesis.Case) -> int:
    """Bytes of the request line and header values the case makes (as API Gateway counts them), near enough."""
    query = urlencode(case.query or {}, doseq=True)
    path = case.formatted_path if hasattr(case, "formatted_path") else case.path
    headers = sum(len(str(k)) + len(str(v)) for k, v in (case.headers or {}).items())
    return len(case.method) + len(path.encode()) + len(query) + 12 + headers


def config(seed: int | None, workers: int, seconds: float) -> schemathesis.Config:
    checks: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    data: dict[str, Any] = {
        "max-time": max(1, int(seconds)),
        "workers": workers,
        "cache": {"enabled": False},
        "generation": {"mode": "all", "database": "none"},
        "checks": checks,
        "phases": {"coverage": {"unexpected-methods": []}},
        "request-timeout": 30,
    }
    if seed is not None:
        data["seed"] = seed
    return schemathesis.Config.from_dict(data)


def _record(result: Result, recorder: ScenarioRecorder) -> None:
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            if node.failure_info is None:
                result.checks_passed[node.name] += 1
                continue
            failure = node.failure_info.failure
            case = recorder.cases.get(case_id)
            operation = case.value.operation.label if case is not None else str(failure.operation)
            result.violations.append(Violation(node.name, operation, failure.title, failure.message,
                                               node.failure_info.code_sample))


def run(url: str, requests: int = 10_000, seconds: float = 900, workers: int = 2, seed: int | None = None) -> Result:
    """Fuzz the server at `url` until `requests` requests were sent or `seconds` ran out."""
    result = Result(target=requests, seconds=seconds)
    # Loaded here rather than by from_url, which would leave out the operation the document is served by.
    with urllib.request.urlopen(f"{url}/v1/openapi.json", timeout=30) as response:
        document = json.load(response)
    schema = schemathesis.openapi.from_dict(document, config=config(seed, workers, seconds))
    schema.config.update(base_url=url)
    lock = threading.Lock()
    stream: Any = None

    def filter_case(context: Any, case: schemathesis.Case) -> bool:
        return request_size(case) <= GATEWAY_LIMIT

    def after_call(context: Any, case: schemathesis.Case, response: schemathesis.Response) -> None:
        with lock:
            result.requests += 1
            result.statuses[response.status_code] += 1
            result.operations[case.operation.label] += 1
            if case.meta is not None:
                result.phases[f"{case.meta.phase.name.value} {case.meta.generation.mode.value}"] += 1
            if result.requests >= requests and stream is not None:
                stream.stop()

    schema.hooks.register_hook_with_name(filter_case, "filter_case")
    schema.hooks.register_hook_with_name(after_call, "after_call")
    began = time.monotonic()
    stream = from_schema(schema).execute()
    for event in stream:
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            _record(result, event.recorder)
        elif isinstance(event, events.NonFatalError):
            result.errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            result.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = "target reached" if result.requests >= requests else str(event.stop_reason)
    result.elapsed = time.monotonic() - began
    return result


@contextlib.contextmanager
def _server(url: str | None, environments: int) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    with serve.background(environments=environments) as (served, _):
        yield served


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="stop after this many requests (the target)")
    parser.add_argument("--seconds", type=float, default=900, help="time bound of the run")
    parser.add_argument("--environments", type=int, default=2, help="warm environments per function")
    parser.add_argument("--workers", type=int, default=2, help="concurrent Schemathesis workers")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--url", help="a running server instead of starting the local server")
    args = parser.parse_args()
    with _server(args.url, args.environments) as url:
        print(f"fuzzing {url} (PS_DB={os.environ.get('PS_DB', 'catalogue')}, "
              f"ES_INDEX={os.environ.get('ES_INDEX', 'dataset-summary-v1')})", file=sys.stderr, flush=True)
        result = run(url, args.requests, args.seconds, args.workers, args.seed)
    print(result.report())
    sys.exit(0 if result.ok else 1)


if __name__ == "__main__":
    main()
