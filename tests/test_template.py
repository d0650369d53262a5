"""template.yaml: valid for SAM, consistent with functions/ and events/, and its build answers every event.

The build test runs each function as Lambda would: from `sam build` output only, in a fresh interpreter
whose sys.path is the built function folder and the built layer's python/ folder (plus the stdlib).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from lambda_events import load_template, routes_from_template

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".local" / "sam" / "bin" / "sam"
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-2"}
EVENTS = sorted(ROOT.glob("events/*/*.json"))
ROUTES = routes_from_template(TEMPLATE)


def sam(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if not SAM.exists():
        pytest.fail(
            f"AWS SAM CLI not found at {SAM}: install it with `python3.11 -m venv .local/sam && "
            ".local/sam/bin/pip install aws-sam-cli==1.170.0` (or run `make test`)."
        )
    return subprocess.run(
        [str(SAM), *args], cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def function_of(events_dir: str) -> str:
    """events/<name>/ holds the events of the function whose CodeUri is functions/<name>/."""
    [function] = {r.function for r in ROUTES if Path(r.code_uri) == Path("functions", events_dir)}
    return function


def test_sam_validate_lint() -> None:
    result = sam("validate", "--lint", "--template", str(TEMPLATE), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_store_timeout_is_below_the_function_timeout() -> None:
    for route in ROUTES:
        assert float(route.environment["STORE_TIMEOUT_SECONDS"]) < route.timeout, route


def test_every_function_has_its_handler_and_events() -> None:
    assert ROUTES
    for route in ROUTES:
        module = route.handler.rpartition(".")[0].replace(".", "/")
        assert (ROOT / route.code_uri / f"{module}.py").is_file(), route
        assert any(function_of(e.parent.name) == route.function for e in EVENTS), f"no events/ for {route}"


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: str(p.relative_to(ROOT / "events")))
def test_event_file_is_what_api_gateway_sends(path: Path) -> None:
    event = json.loads(path.read_text())
    context = event["requestContext"]
    assert event["version"] == "2.0" and event["isBase64Encoded"] is False
    required = {"accountId", "apiId", "domainName", "requestId", "routeKey", "stage", "time", "timeEpoch"}
    assert required <= set(context)
    assert set(context["http"]) == {"method", "path", "protocol", "sourceIp", "userAgent"}
    route = next(r for r in ROUTES if r.route_key == event["routeKey"] == context["routeKey"])
    assert route.function == function_of(path.parent.name)
    prefix = "" if context["stage"] == "$default" else f"/{context['stage']}"
    assert event["rawPath"] == context["http"]["path"]
    assert route.match(context["http"]["method"], event["rawPath"].removeprefix(prefix)) is not None
    expected: dict[str, str] = {}
    for name, value in parse_qsl(event["rawQueryString"], keep_blank_values=True):
        expected[name] = f"{expected[name]},{value}" if name in expected else value
    assert event.get("queryStringParameters", {}) == expected
    assert all(name == name.lower() for name in event["headers"])


# Runs in `python -I -S`: no site-packages, no PYTHONPATH, no script folder; only the stdlib is on sys.path.
INVOKE = """
import importlib.util, json, sys, traceback
out, function_dir, layer_dir, runtime_file, repo, *events = sys.argv[1:]
sys.path[:0] = [function_dir, layer_dir]
assert not any(p.startswith(repo) for p in sys.path), sys.path
# The fake Lambda runtime (stdlib only) is loaded from its file, without putting the repository on sys.path.
spec = importlib.util.spec_from_file_location("lambda_runtime", runtime_file)
runtime = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runtime)

from app import handler
results = {}
for path in events:
    with open(path) as f:
        event = json.load(f)
    try:
        results[path] = handler(event, runtime.LambdaContext("catalogue-build-test"))
    except Exception:
        results[path] = {"exception": traceback.format_exc()}
with open(out, "w") as f:
    json.dump(results, f)
"""


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = tmp_path_factory.mktemp("sam") / "build"
    result = sam("build", "--template", str(TEMPLATE), "--build-dir", str(build), timeout=900)
    if result.returncode != 0:
        pytest.fail(f"sam build failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}", pytrace=False)
    return build


@pytest.fixture(scope="module")
def responses(build_dir: Path, catalogue: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Any]:
    """Each function's handler from the build, warm across its events, as one Lambda environment."""
    resources = load_template(build_dir / "template.yaml")["Resources"]
    work = tmp_path_factory.mktemp("invoke")  # the cwd: outside the repository
    results: dict[Path, Any] = {}
    for events_dir in sorted({p.parent for p in EVENTS}):
        function = function_of(events_dir.name)
        [layer] = [ref["Ref"] for ref in load_template(TEMPLATE)["Globals"]["Function"]["Layers"]]
        assert layer in resources and function in resources
        out = work / f"{function}.json"
        events = sorted(str(p) for p in events_dir.glob("*.json"))
        command = [sys.executable, "-I", "-S", "-c", INVOKE, str(out), str(build_dir / function)]
        command += [str(build_dir / layer / "python"), str(ROOT / "devtools" / "lambda_runtime.py"), str(ROOT), *events]
        run = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0:
            message = f"{function} from the build, in a fresh interpreter:\n{run.stderr[-4000:]}"
            pytest.fail(message, pytrace=False)
        results |= {Path(path): response for path, response in json.loads(out.read_text()).items()}
    return results


def check_search_body(body: Any, group_by: str | None) -> None:
    """The shape of SPEC 3.3."""
    assert isinstance(body, list)
    by_phenotype = group_by in ("phenotype_gene_name", "effect_gene_name")
    dataset_keys = {"dataset_id", "tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease"}
    perturbation_keys = {"perturbation_gene_name", "n_total", "n_up", "n_down"}
    phenotype_keys = {"phenotype_gene_name", "base_mean", "n_total", "n_up", "n_down"}
    for element in body:
        assert set(element) == {"dataset", "by_phenotype" if by_phenotype else "by_perturbation"}
        assert set(element["dataset"]) == dataset_keys | {"library_perturbation_type"}
        groups = element["by_phenotype" if by_phenotype else "by_perturbation"]
        assert 1 <= len(groups) <= 3
        for group in groups:
            if by_phenotype:
                assert set(group) == {"phenotype", "perturbation_change"}
                assert set(group["phenotype"]) == phenotype_keys
                rows, other, other_keys = group["perturbation_change"], "perturbation", perturbation_keys
            else:
                assert set(group) == {"perturbation", "change_phenotype"}
                assert set(group["perturbation"]) == perturbation_keys
                rows, other, other_keys = group["change_phenotype"], "phenotype", phenotype_keys
            assert 1 <= len(rows) <= 10
            for row in rows:
                assert set(row) == {"change", other}
                assert set(row["change"]) == {"direction", "log2fc", "padj"}
                assert row["change"]["direction"] in ("increased", "decreased", None)
                assert set(row[other]) == other_keys


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: str(p.relative_to(ROOT / "events")))
def test_built_function_answers_event(path: Path, responses: dict[Path, Any]) -> None:
    response = responses[path]
    assert "exception" not in response, response.get("exception")
    event = json.loads(path.read_text())
    parameters = event.get("queryStringParameters", {})
    invalid = path.stem.startswith("invalid")
    assert response["statusCode"] == (400 if invalid else 200), response
    assert response["headers"]["content-type"].startswith("application/json")
    body = json.loads(response["body"])
    if invalid:
        assert body["error"]["code"] == "invalid_parameter"
        assert isinstance(body["error"]["message"], str)
        assert any(name in body["error"]["message"] for name in parameters), body
    elif path.parent.name == "search":
        check_search_body(body, parameters.get("group_by"))
        if not parameters:
            assert body, "an unfiltered search over the test catalogue found nothing"
