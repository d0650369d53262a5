"""The documentation's examples, run against the demo catalogue: every request it shows answers what it shows.

An example is a fenced block of language `http` whose first line is a request (`GET /v1/...` or `HEAD ...`, then
optional `Name: value` request headers), followed, with only blank lines between, by an optional `http` block
starting with `HTTP/1.1 <status>` (the status and the headers to check) and an optional body: a `json` block (an
excerpt: objects may leave fields out, lists may stop early, and "…" stands for any value) or a `tsv` block (the
answer's first lines). Without a status block the answer must be 200. docs/development.md says how to add one.

The demo catalogue is `make data`'s (ROWS=200000, DATASETS=12, SEED=1, the demo gene reference), loaded into a
database and index of its own unless they already hold it; requests go through the functions' handlers, routed as
template.yaml routes them, and every answer is also checked against the OpenAPI document (tests/api.py).

Numbers shown match answered numbers within a relative 1e-12, not bit for bit: the demo generator's numbers come from
numpy's vectorised math, whose last bit differs between CPUs (2026-12-01: a base mean shown as 2.296374742603456 was
generated as 2.2963747426034566 on another machine). Names, counts and every other text must match exactly.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest

from devtools.data import load_data
from tests import api
from tests.docs.markdown import Block, blocks, files
from tests.support import load_catalogue

DEMO_DB, DEMO_INDEX = "catalogue_docs", "docs-dataset-summary-v1"
DEMO_ROWS, DEMO_DATASETS, DEMO_SEED = 200_000, 12, 1
ANY = "…"
# What `make serve` passes on: the answers' own URLs (Link) then read http://127.0.0.1:3000/...
CLIENT = {"accept": "*/*", "host": "127.0.0.1:3000", "user-agent": "curl/8.5.0", "x-forwarded-proto": "http",
          "x-forwarded-port": "3000"}
REQUEST = re.compile(r"^(GET|HEAD) (/\S*)$")
STATUS = re.compile(r"^HTTP/[\d.]+ (\d{3})\b")


@dataclass
class Example:
    request: Block
    method: str
    path: str
    query: str
    headers: dict[str, str]
    status: int = 200
    expected_headers: dict[str, str] = field(default_factory=dict)
    body: Block | None = None

    @property
    def id(self) -> str:
        return f"{self.request.where} {self.method} {self.path}{'?' if self.query else ''}{self.query}"


def _headers(lines: list[str]) -> dict[str, str]:
    pairs = [line.split(":", 1) for line in lines if line.strip()]
    return {name.strip().lower(): value.strip() for name, value in pairs}


def examples() -> list[Example]:
    found = []
    for path in files():
        items = blocks(path)
        lines = path.read_text().splitlines()
        for i, block in enumerate(items):
            first, *rest = block.text.splitlines() or [""]
            request = REQUEST.match(first)
            if block.language != "http" or not request:
                continue
            target, _, query = request.group(2).partition("?")
            example = Example(block, request.group(1), unquote(target), query, _headers(rest))
            previous = block
            for following in items[i + 1:i + 3]:
                if any(line.strip() for line in lines[previous.end:following.line - 1]):
                    break  # prose between: not part of this example
                status = STATUS.match(following.text)
                if following.language == "http" and status and example.body is None and previous is block:
                    example.status = int(status.group(1))
                    example.expected_headers = _headers(following.text.splitlines()[1:])
                elif following.language in ("json", "tsv") and example.body is None:
                    example.body = following
                else:
                    break
                previous = following
            found.append(example)
    return found


def matches(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """How `actual` differs from the excerpt `expected` (empty: it matches)."""
    if expected == ANY:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {json.dumps(actual)[:80]}"]
        problems = [f"{where}.{k}: missing" for k in expected if k not in actual]
        return problems + [p for k in expected if k in actual for p in matches(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{where}: expected a list, got {json.dumps(actual)[:80]}"]
        if len(expected) > len(actual):
            return [f"{where}: {len(expected)} items shown, {len(actual)} answered"]
        return [p for i, item in enumerate(expected) for p in matches(item, actual[i], f"{where}[{i}]")]
    if type(expected) is not type(actual) and not (isinstance(expected, int | float) and isinstance(actual, int | float)
                                                   and not isinstance(expected, bool)):
        return [f"{where}: shown {json.dumps(expected)}, answered {json.dumps(actual)}"]
    if isinstance(expected, float) or isinstance(actual, float):
        same = math.isclose(expected, actual, rel_tol=NUMBER_TOLERANCE)
    else:
        same = expected == actual
    return [] if same else [f"{where}: shown {json.dumps(expected)}, answered {json.dumps(actual)}"]


def cells_match(shown: str, answered: str) -> bool:
    """A TSV line as shown against the line answered: cell by cell, numbers as in `matches`."""
    left, right = shown.split("\t"), answered.split("\t")
    return len(left) == len(right) and all(a == b or _close_numbers(a, b) for a, b in zip(left, right, strict=True))


def _close_numbers(a: str, b: str) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=NUMBER_TOLERANCE)
    except ValueError:
        return False


NUMBER_TOLERANCE = 1e-12


def header_matches(expected: str, actual: str | None) -> bool:
    if actual is None:
        return False
    pattern = ".*".join(re.escape(part) for part in expected.split(ANY))
    return re.fullmatch(pattern, actual) is not None


@pytest.fixture(scope="module")
def demo_catalogue(stores_up: None) -> None:
    """`make data`'s catalogue in a database and index of its own (a developer's `make demo` keeps its own)."""
    if not load_data.in_place(DEMO_DB, DEMO_INDEX, DEMO_ROWS, DEMO_DATASETS, DEMO_SEED, "demo"):
        load_catalogue(["--rows", str(DEMO_ROWS), "--seed", str(DEMO_SEED), "--datasets", str(DEMO_DATASETS),
                        "--database", DEMO_DB, "--es-index", DEMO_INDEX, "--genes", "demo"])


@pytest.fixture
def on_demo(demo_catalogue: None, with_stores) -> None:
    with_stores(ps_db=DEMO_DB, es_index=DEMO_INDEX)


ALL = examples()


def test_examples_are_found() -> None:
    """The parser finds the examples the docs mark (a broken fence would silently drop them)."""
    assert len(ALL) >= 10
    checks_nothing = [e.id for e in ALL if not (e.body or e.expected_headers or e.status != 200)]
    assert not checks_nothing, f"examples that show no answer: {checks_nothing}"


@pytest.mark.parametrize("example", ALL, ids=lambda e: e.id)
def test_example(example: Example, on_demo: None) -> None:
    answer = api.get(example.path, example.query, headers={**CLIENT, **example.headers}, method=example.method)
    assert answer.status == example.status, f"{example.id}: answered {answer.status}: {answer.text[:300]}"
    wrong = {name: answer.headers.get(name) for name, value in example.expected_headers.items()
             if not header_matches(value, answer.headers.get(name))}
    assert not wrong, f"{example.id}: headers differ from the example: {wrong}"
    if example.body is None:
        return
    if example.body.language == "json":
        problems = matches(json.loads(example.body.text), answer.json)
        assert not problems, f"{example.body.where}: " + "; ".join(problems[:10])
    else:
        shown = example.body.text.splitlines()
        answered = answer.text.splitlines()[:len(shown)]
        assert len(answered) == len(shown) and all(cells_match(a, b) for a, b in zip(shown, answered, strict=True)), \
            f"{example.body.where}: {answer.text[:500]}"


def test_excerpts_match_as_docs_development_says() -> None:
    answer = {"total": 8, "rows": [{"a": 1.5, "b": None}, {"a": 2}], "when": "2026-01-01"}
    assert matches({"total": 8, "rows": [{"a": 1.5}], "when": ANY}, answer) == []
    assert matches({"total": 9}, answer) == ["$.total: shown 9, answered 8"]
    assert matches({"rows": [{}, {}, {}]}, answer) == ["$.rows: 3 items shown, 2 answered"]
    assert matches({"missing": 1}, answer) == ["$.missing: missing"]
    assert matches({"rows": [{"b": 0}]}, answer) == ["$.rows[0].b: shown 0, answered null"]
    assert header_matches('<http://h/v1?cursor=…>; rel="next"', '<http://h/v1?cursor=abc.def>; rel="next"')
    assert not header_matches('"…-gzip"', '"abc"') and not header_matches("x", None)
