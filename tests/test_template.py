"""template.yaml: valid for SAM, consistent with functions/, events/ and samconfig.toml, and its build answers every
event.

The build test runs each function as Lambda would: from `sam build` output only, in a fresh interpreter
whose sys.path is the built function folder and the built layer's python/ folder (plus the stdlib).

An event's file name says what it must answer: `invalid_*` 400 invalid_parameter, `unknown_*` 404 not_found,
anything else 200.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from devtools.local.lambda_events import load_template, routes_from_template
from tests.support import payload

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
SAM = ROOT / ".local" / "sam" / "bin" / "sam"
# `sam build` looks for python3.13 (with pip) on PATH: the interpreter this suite's virtual environment was made from.
PYTHON_BIN = os.path.dirname(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
SAM_ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-west-2",
           "PATH": f"{PYTHON_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
EVENTS = sorted(ROOT.glob("events/*/*.json"))
ROUTES = routes_from_template(TEMPLATE, with_default=True)
# File name prefix of an error event -> (status, error code); any other event answers 200.
ERROR_EVENTS = {"invalid_": (400, "invalid_parameter"), "unknown_": (404, "not_found")}
REDIRECTS = {"download"}  # functions whose success is a 307 to a file (docs/contract.md, "Dataset files")
LABELS = ("tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease", "library_perturbation_type")


def sam(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if not SAM.exists():
        pytest.fail(
            f"AWS SAM CLI not found at {SAM}: `make test` (or `make .local/sam/bin/sam`) installs it."
        )
    return subprocess.run(
        [str(SAM), *args], cwd=ROOT, env=SAM_ENV, capture_output=True, text=True, timeout=timeout, check=False
    )


def function_of(events_dir: str) -> str | None:
    """events/<name>/ holds the events of the function whose CodeUri is functions/<name>/ (None: no HttpApi route)."""
    functions = {r.function for r in ROUTES if Path(r.code_uri) == Path("functions", events_dir)}
    assert len(functions) <= 1, functions
    return next(iter(functions), None)


# The API Gateway events: those of the functions the HttpApi routes to (other functions' events are not requests).
API_EVENTS = [path for path in EVENTS if function_of(path.parent.name) is not None]


def expected_answer(path: Path) -> tuple[int, str | None]:
    """(status, error code or None) that the event in `path` must get, from its file name."""
    for prefix, answer in ERROR_EVENTS.items():
        if path.stem.startswith(prefix):
            return answer
    return (307 if path.parent.name in REDIRECTS else 200), None


@pytest.mark.slow
def test_sam_validate_lint() -> None:
    result = sam("validate", "--lint", "--template", str(TEMPLATE), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@pytest.mark.unit
def test_store_timeout_is_below_the_function_timeout() -> None:
    for route in ROUTES:
        assert float(route.environment["STORE_TIMEOUT_SECONDS"]) < route.timeout, route


@pytest.mark.unit
def test_every_function_has_its_handler_and_events() -> None:
    assert ROUTES
    for route in ROUTES:
        module = route.handler.rpartition(".")[0].replace(".", "/")
        assert (ROOT / route.code_uri / f"{module}.py").is_file(), route
        events = [e for e in EVENTS if function_of(e.parent.name) == route.function]
        assert events, f"no events/ for {route}"
        if route.is_default:  # the catch-all answers nothing but 404
            assert all(expected_answer(e)[0] == 404 for e in events), route
        else:
            assert any(expected_answer(e)[0] in (200, 307) for e in events), f"no successful event for {route}"


@pytest.mark.unit
def test_the_default_route_serves_what_no_other_route_serves() -> None:
    """Issue 10, finding 5: behind API Gateway an unknown path or method reaches the $default route's function, which
    answers the 404 of docs/contract.md "Errors" (without it, API Gateway answers {"message":"Not Found"})."""
    [default] = [route for route in ROUTES if route.is_default]
    assert (default.route_key, default.method) == ("$default", "ANY")
    assert Path(default.code_uri) == Path("functions/not_found")
    assert ROUTES[-1] is default, "tried last"
    events = [json.loads(p.read_text()) for p in EVENTS if p.parent.name == "not_found"]
    served = {(e["requestContext"]["http"]["method"], e["rawPath"]) for e in events}
    for method, path in served:
        others = [r for r in ROUTES if not r.is_default and r.match(method, path.removeprefix("/dev")) is not None]
        assert not others, f"{method} {path} is served by {others}: not an unknown request"
    assert {method for method, _ in served} > {"GET"}, "an unknown method on a known path too"


# Each per-function alarm: (logical id suffix, alarm name suffix, metric, threshold parameter).
FUNCTION_ALARMS = [("ErrorsAlarm", "5xx", "Status5xx", "Alarm5xxPer5Minutes"),
                   ("LatencyAlarm", "p99", "Latency", "AlarmLatencyP99Milliseconds"),
                   ("ThrottlesAlarm", "throttles", "Throttles", "AlarmThrottlesPer5Minutes")]
NOTIFY = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


@pytest.mark.unit
def test_every_api_function_has_its_three_alarms() -> None:
    """Issue 10, finding 6: per function, its 5xx answers (the `Status5xx` metric of its `function` dimension), its p99
    latency (`Latency`) and Lambda's throttles, each with its own threshold parameter; read from the template with
    its Fn::ForEach expanded (lambda_events.expand_for_each, checked against cfn-lint's expansion below)."""
    template = load_template(TEMPLATE)
    parameters, resources = template["Parameters"], template["Resources"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for function in sorted({route.function for route in ROUTES}):
        own = {k: a for k, a in alarms.items() if {"Ref": function} in [d["Value"] for d in a["Dimensions"]]}
        found = {(a["Namespace"], a["MetricName"]): a for a in own.values()}
        assert len(own) == 3 and set(found) == {
            (variables["POWERTOOLS_METRICS_NAMESPACE"], "Status5xx"),
            (variables["POWERTOOLS_METRICS_NAMESPACE"], "Latency"),
            ("AWS/Lambda", "Throttles")}, (function, sorted(found))
        # The logical ids and names of the hand-written alarms the loop replaced: an update keeps every alarm.
        for suffix, name, metric, threshold in FUNCTION_ALARMS:
            alarm = own[f"{function}{suffix}"]
            assert alarm["MetricName"] == metric
            assert alarm["AlarmName"] == {"Fn::Sub": f"${{AWS::StackName}}-{function}-{name}"}
            assert alarm["Threshold"] == {"Ref": threshold} and threshold in parameters, (function, alarm)
            assert alarm["AlarmActions"] == NOTIFY
        for (namespace, _), alarm in found.items():
            names = [d["Name"] for d in alarm["Dimensions"]]
            # The dimension set must be exactly the one the metric is emitted with.
            assert names == (["FunctionName"] if namespace == "AWS/Lambda" else ["service", "function"]), names
            if namespace != "AWS/Lambda":
                service = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}["service"]
                assert service == variables["POWERTOOLS_SERVICE_NAME"]
        latency = found[(variables["POWERTOOLS_METRICS_NAMESPACE"], "Latency")]
        assert latency["ExtendedStatistic"] == "p99" and (latency["EvaluationPeriods"], latency["DatapointsToAlarm"]) \
            == (3, 2)
    assert set(alarms) == {f"{route.function}{suffix}" for route in ROUTES for suffix, *_ in FUNCTION_ALARMS} | {
        "IngestFailureAlarm"}


@pytest.mark.unit
def test_the_per_function_alarms_are_written_once() -> None:
    """The template says each alarm once: one Fn::ForEach over the API functions (its list is the routes'
    functions), whose fragment holds the three alarms; no other alarm is written for an API function."""
    raw = load_template(TEMPLATE, expand_loops=False)["Resources"]
    [(loop, (identifier, names, fragment))] = [(k, v) for k, v in raw.items() if k.startswith("Fn::ForEach::")]
    assert loop == "Fn::ForEach::FunctionAlarms"
    assert sorted(f"{name}Function" for name in names) == sorted({route.function for route in ROUTES})
    assert {k: r["Type"] for k, r in fragment.items()} == {
        f"${{{identifier}}}Function{suffix}": "AWS::CloudWatch::Alarm" for suffix, *_ in FUNCTION_ALARMS}
    written = [k for k, r in raw.items() if isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Alarm"]
    assert written == ["IngestFailureAlarm"]
    assert TEMPLATE.read_text().count("AWS::CloudWatch::Alarm") == len(FUNCTION_ALARMS) + 1


# cfn-lint's own expansion of Fn::ForEach (what `sam validate --lint` checks), run where cfn-lint is installed.
CFN_LINT_EXPAND = """
import json, sys
from cfnlint.decode import decode
from cfnlint.template import Template
from cfnlint.template.transforms._language_extensions import language_extension
template, matches = decode(sys.argv[1])
assert not matches, matches
matches, expanded = language_extension(Template(sys.argv[1], template, ["eu-west-2"]))
assert not matches, matches
json.dump(expanded, sys.stdout)
"""


def sam_python(script: str, *args: str, stdin: str | None = None) -> str:
    """Runs `script` with the SAM CLI's interpreter (where cfn-lint and the SAM translator are installed)."""
    python = SAM.parent / "python"
    if not python.exists():
        sam("--version", timeout=60)  # fails with how to install it
    run = subprocess.run([str(python), "-c", script, *args], input=stdin, cwd=ROOT, env=SAM_ENV, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout


def test_the_loops_expand_as_cfn_lint_expands_them() -> None:
    """The tests and devtools read the template through lambda_events.expand_for_each: it must agree with cfn-lint's
    transform. (Conditions are left out: cfn-lint reorders their Fn::Equals operands as it reads them.)"""
    linted = json.loads(sam_python(CFN_LINT_EXPAND, str(TEMPLATE)))
    ours = load_template(TEMPLATE)
    for section in ("Resources", "Outputs", "Globals", "Parameters"):
        assert ours[section] == linted[section], section


# The SAM transform, as CloudFormation runs it after AWS::LanguageExtensions, on the template with its loops expanded
# (by lambda_events) and its local paths replaced by S3 locations, as `sam deploy` would have them.
SAM_TRANSFORM = """
import json, sys
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

template = json.load(sys.stdin)
template["Transform"] = "AWS::Serverless-2016-10-31"
for resource in template["Resources"].values():
    properties = resource.get("Properties", {})
    for uri in ("CodeUri", "ContentUri"):
        if isinstance(properties.get(uri), str):
            properties[uri] = "s3://artifacts/" + properties[uri].strip("/")
json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
"""


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    template = load_template(TEMPLATE)
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"], "in this order"
    return json.loads(sam_python(SAM_TRANSFORM, stdin=json.dumps(template)))["Resources"]


def test_routes_invoke_the_live_alias_of_a_snapstart_version(transformed: dict[str, Any]) -> None:
    """SnapStart applies to published versions: every function publishes one per change (AutoPublishAlias, all
    properties, a new layer version included) and API Gateway invokes the alias `live`, never $LATEST."""
    template = load_template(TEMPLATE)
    function_globals = template["Globals"]["Function"]
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function_globals["VersionDeletionPolicy"] == "Delete"
    for logical_id, properties in functions_of_template().items():
        assert properties["AutoPublishAliasAllProperties"] is True, logical_id
    layers = {k: r["Properties"] for k, r in template["Resources"].items()
              if r["Type"] == "AWS::Serverless::LayerVersion"}
    assert layers and all(p["PublishLambdaVersion"] is True for p in layers.values())
    paths = transformed["CatalogueApi"]["Properties"]["Body"]["paths"]
    for route in ROUTES:
        function = transformed[route.function]["Properties"]
        assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}, route
        [version] = [r for r in transformed.values() if r["Type"] == "AWS::Lambda::Version"
                     and r["Properties"]["FunctionName"] == {"Ref": route.function}]
        assert version["DeletionPolicy"] == "Delete"
        alias = transformed[f"{route.function}Aliaslive"]
        assert alias["Type"] == "AWS::Lambda::Alias" and alias["Properties"]["Name"] == "live"
        path = "/$default" if route.is_default else route.path  # SAM writes the $default route so
        method = "x-amazon-apigateway-any-method" if route.method == "ANY" else route.method.lower()
        uri = paths[path][method]["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
        assert uri.endswith(f"/functions/${{{route.function}Aliaslive}}/invocations"), (route, uri)
        permissions = [r["Properties"] for r in transformed.values() if r["Type"] == "AWS::Lambda::Permission"
                       and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
                       and r["Properties"]["FunctionName"] == {"Ref": f"{route.function}Aliaslive"}]
        methods = sorted(r.method for r in ROUTES if r.function == route.function)
        sources = sorted(json.dumps(p["SourceArn"]) for p in permissions)
        assert len(permissions) == len(methods), (route, methods, sources)  # one per route: GET and its HEAD
        pairs = zip(methods, sources, strict=True)
        assert all(f"/{method}/" in source or method == "ANY" for method, source in pairs), sources


def test_the_ingestion_has_no_snapstart_and_is_invoked_through_its_alias(transformed: dict[str, Any]) -> None:
    """SnapStart allows at most 512 MB of /tmp; the ingestion has 10 GB. S3 invokes its alias."""
    ingest = transformed["IngestFunction"]["Properties"]
    assert ingest["SnapStart"] == {"ApplyOn": "None"} and ingest["EphemeralStorage"]["Size"] > 512
    notifications = transformed["IngestBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    s3_events = [e for e in load_template(TEMPLATE)["Resources"]["IngestFunction"]["Properties"]["Events"].values()
                 if e["Type"] == "S3"]
    assert len(notifications) == len(s3_events) == 3  # _READY and _DELETE under incoming/, _READY under reference/
    assert all(n["Function"] == {"Ref": "IngestFunctionAliaslive"} for n in notifications)


def test_a_failed_load_goes_to_an_encrypted_queue_that_raises_an_alarm(transformed: dict[str, Any]) -> None:
    """Issue: the S3-triggered ingestion had no on-failure destination. Now a failed invocation (after its retry, or
    too old) is kept in an encrypted queue, the function may send to it, and the queue holding a message raises an
    alarm that notifies like the others."""
    resources = load_template(TEMPLATE)["Resources"]
    config = resources["IngestFunction"]["Properties"]["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"] == {"Type": "SQS",
                                                         "Destination": {"Fn::GetAtt": ["IngestFailureQueue", "Arn"]}}
    assert config["MaximumRetryAttempts"] in (0, 1, 2) and 60 <= config["MaximumEventAgeInSeconds"] <= 21600
    queue = resources["IngestFailureQueue"]
    assert queue["Type"] == "AWS::SQS::Queue" and queue["Properties"]["SqsManagedSseEnabled"] is True
    assert 4 * 86400 <= queue["Properties"]["MessageRetentionPeriod"] <= 14 * 86400
    # As deployed: the alias's configuration, and the role's permission to send to the queue.
    [invoke_config] = [r["Properties"] for r in transformed.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["FunctionName"] == {"Ref": "IngestFunction"} and invoke_config["Qualifier"] == "live"
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["IngestFailureQueue", "Arn"]}
    statements = [s for policy in transformed["IngestFunctionRole"]["Properties"]["Policies"]
                  for s in policy["PolicyDocument"]["Statement"]]
    assert {"Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": ["IngestFailureQueue", "Arn"]}} in statements
    alarm = resources["IngestFailureAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["IngestFailureQueue", "QueueName"]}}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Maximum", 1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == NOTIFY
    outputs = load_template(TEMPLATE)["Outputs"]
    assert outputs["IngestFailureQueueUrl"]["Value"] == {"Ref": "IngestFailureQueue"}
    assert outputs["IngestFunctionName"]["Value"] == {"Ref": "IngestFunction"}


def test_the_api_stage_writes_a_json_access_log_with_a_retention(transformed: dict[str, Any]) -> None:
    template = load_template(TEMPLATE)
    retention = template["Parameters"]["ApiAccessLogRetentionDays"]
    assert retention["Default"] == 30 and retention["Default"] in retention["AllowedValues"]
    group = template["Resources"]["ApiAccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "ApiAccessLogRetentionDays"}
    [stage] = [r["Properties"] for r in transformed.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    settings = stage["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    record = json.loads(settings["Format"])  # one JSON object per request
    assert {k: v for k, v in record.items() if k in {
        "requestId", "routeKey", "status", "responseLatency", "integrationLatency", "responseLength", "sourceIp",
        "requestTime"}} == {
        "requestId": "$context.requestId", "routeKey": "$context.routeKey", "status": "$context.status",
        "responseLatency": "$context.responseLatency", "integrationLatency": "$context.integrationLatency",
        "responseLength": "$context.responseLength", "sourceIp": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime"}
    assert all(isinstance(v, str) and v.startswith("$context.") for v in record.values())


def test_reserved_concurrency_is_a_parameter_with_its_connection_arithmetic(transformed: dict[str, Any]) -> None:
    """ApiReservedConcurrency on each API function (0: unreserved), the ingestion's own 1; the parameter's
    description does the PostgreSQL arithmetic with the pool size the API's client really uses."""
    template = load_template(TEMPLATE)
    parameter = template["Parameters"]["ApiReservedConcurrency"]
    assert parameter["Type"] == "Number" and parameter["MinValue"] == 0 and parameter["Default"] > 0
    assert template["Conditions"]["HasApiReservedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ApiReservedConcurrency"}, 0]}]}
    reserved = {"Fn::If": ["HasApiReservedConcurrency", {"Ref": "ApiReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    for route in ROUTES:
        assert transformed[route.function]["Properties"]["ReservedConcurrentExecutions"] == reserved, route
    assert transformed["IngestFunction"]["Properties"]["ReservedConcurrentExecutions"] == 1
    pool = re.search(r"max_size=(\d+)", (ROOT / "layers/catalogue/catalogue/clients.py").read_text())
    assert pool, "the API's PostgreSQL pool size"
    per_environment, functions, default = int(pool[1]), len({route.function for route in ROUTES}), parameter["Default"]
    description = " ".join(parameter["Description"].split())
    assert f"at most {per_environment} pooled connections" in description
    assert f"max_size={per_environment}" in description
    assert f"{functions} x {per_environment} x N" in description
    total = functions * per_environment * default + 1  # the ingestion: one environment, one connection
    assert f"{functions * per_environment} N + 1, {total} at N = {default}" in description, description
    assert f"{functions} N + 1 + 100 or more ({functions * default + 101} at N = {default})" in description


@pytest.mark.unit
def test_sam_commands_expand_the_language_extensions_and_deploys_acknowledge_them() -> None:
    """`sam build` and `sam local` fail on Fn::ForEach unless told to expand it; CloudFormation expands it at
    deploy time, which a change set must acknowledge (CAPABILITY_AUTO_EXPAND)."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "dev", "prod"):
        assert config[env]["build"]["parameters"]["language_extensions"] is True, env
    for command in ("local_invoke", "local_start_api"):
        assert config["default"][command]["parameters"]["language_extensions"] is True, command
    for stage in ("dev", "prod"):
        assert "CAPABILITY_AUTO_EXPAND" in config[stage]["deploy"]["parameters"]["capabilities"].split(), stage


@pytest.mark.unit
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", ["/", "/v1/nothing-here", "/v1/search/extra", "/dev/v1/genes"])
def test_the_not_found_function_answers_404_for_any_path_and_method(method: str, path: str) -> None:
    from devtools.local.lambda_events import http_api_event
    from devtools.local.lambda_runtime import LambdaContext, load_function
    response = load_function("not_found").handler(http_api_event(method, path, "a=1", route_key="$default"),
                                                  LambdaContext("catalogue-not-found"))
    assert response["statusCode"] == 404 and response["headers"]["content-type"] == "application/json"
    if method != "HEAD":
        error = json.loads(response["body"])["error"]
        assert error["code"] == "not_found" and set(error) == {"code", "message"}
        assert error["message"] == (f"There is no endpoint {method} {path}. "
                                    "The endpoints are listed in /v1/openapi.json.")


@pytest.mark.unit
def test_every_events_folder_belongs_to_a_function() -> None:
    assert {p.parent.name for p in EVENTS} <= {p.parent.name for p in ROOT.glob("functions/*/app.py")}


def functions_of_template() -> dict[str, dict]:
    return {k: r["Properties"] for k, r in load_template(TEMPLATE)["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"}


@pytest.mark.unit
def test_every_functions_folder_is_in_the_template() -> None:
    served = {Path(p["CodeUri"]) for p in functions_of_template().values()}
    assert {p.parent.relative_to(ROOT) for p in ROOT.glob("functions/*/app.py")} == served
    assert {Path(r.code_uri) for r in ROUTES} == served - {Path("functions/ingest")}


@pytest.mark.unit
def test_the_api_functions_have_the_api_layer_and_the_ingestion_function_only_its_own() -> None:
    """Lambda's 250 MB limit: the ingestion layer (pyarrow) and the API's layer are never both on one function; the
    common layer (one settings module, TLS included) is on every function."""
    for logical_id, properties in functions_of_template().items():
        layers = [ref["Ref"] for ref in properties["Layers"]]
        own = "IngestionLayer" if logical_id == "IngestFunction" else "CatalogueLayer"
        assert layers == ["CommonLayer", own], logical_id


@pytest.mark.unit
def test_the_ingestion_function_is_started_by_marker_objects_and_reads_only_its_secrets() -> None:
    ingest = functions_of_template()["IngestFunction"]
    rules = sorted(tuple(sorted((rule["Name"], rule["Value"]) for rule in e["Properties"]["Filter"]["S3Key"]["Rules"]))
                   for e in ingest["Events"].values())
    assert rules == [(("prefix", "incoming/"), ("suffix", "/_DELETE")),
                     (("prefix", "incoming/"), ("suffix", "/_READY")),
                     (("prefix", "reference/"), ("suffix", "/_READY"))]
    assert ingest["Environment"]["Variables"]["PS_USER"] == {"Ref": "IngestPsUser"}
    text = json.dumps(ingest["Policies"])
    assert "catalogue/${Stage}/ingest/*" in text and "/api/" not in text
    api_policy = json.dumps(load_template(TEMPLATE)["Resources"]["StoreSecretsReadPolicy"])
    assert "catalogue/${Stage}/api/*" in api_policy and "/ingest/" not in api_policy


@pytest.mark.unit
def test_cursor_secret_and_version_are_the_same_for_every_function() -> None:
    """A cursor made by one function is read by the next request, which another function may serve."""
    template = load_template(TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CURSOR_SECRET"] == {"Ref": "CursorSecret"}
    assert {"CACHE_MAX_AGE_SECONDS", "CATALOGUE_VERSION"} <= set(variables)
    for logical_id, resource in template["Resources"].items():
        own = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        assert not {"CURSOR_SECRET", "CATALOGUE_VERSION"} & set(own), logical_id


@pytest.mark.unit
def test_cors_lets_a_browser_page_and_revalidate() -> None:
    cors = load_template(TEMPLATE)["Resources"]["CatalogueApi"]["Properties"]["CorsConfiguration"]
    assert {"Link", "ETag"} <= set(cors["ExposeHeaders"])  # the next page's URL, the validator
    assert "If-None-Match" in cors["AllowHeaders"]  # not CORS-safelisted: needs the preflight's permission
    assert {"GET", "OPTIONS"} <= set(cors["AllowMethods"])


@pytest.mark.unit
def test_store_connections_are_verified_by_default_in_aws() -> None:
    """Issue 10, finding 4: PostgreSQL with sslmode verify-full unless a stage says otherwise; CA files for both
    stores can be named. `sam local` passes parameter defaults on, so it turns TLS off for the local PostgreSQL."""
    template = load_template(TEMPLATE)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert template["Parameters"]["PsSslMode"]["Default"] == "verify-full"
    assert variables["PS_SSLMODE"] == {"Ref": "PsSslMode"}
    assert variables["PS_SSLROOTCERT"] == {"Ref": "PsSslRootCert"}
    assert variables["ES_CA_CERTS"] == {"Ref": "EsCaCerts"}
    local = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]
    for command in ("local_invoke", "local_start_api"):
        assert "PsSslMode=disable" in local[command]["parameters"]["parameter_overrides"], command


@pytest.mark.unit
@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_samconfig_gives_each_stage_every_parameter_it_needs(stage: str) -> None:
    parameters = load_template(TEMPLATE)["Parameters"]
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())[stage]["deploy"]["parameters"]
    overrides = dict(item.split("=", 1) for item in config["parameter_overrides"])
    assert set(overrides) <= set(parameters), set(overrides) - set(parameters)
    assert {name for name, spec in parameters.items() if "Default" not in spec} <= set(overrides)
    assert overrides["Stage"] == stage
    for name, value in overrides.items():
        if "AllowedPattern" in parameters[name]:
            assert re.fullmatch(parameters[name]["AllowedPattern"], value), (name, value)
        if "AllowedValues" in parameters[name]:
            assert value in parameters[name]["AllowedValues"], (name, value)
    # The API's secrets under catalogue/<stage>/api/ (StoreSecretsReadPolicy), the writer's under .../ingest/.
    for name in ("EsPasswordSecret", "PsPasswordSecret", "CursorSecret"):
        assert overrides[name].split(":", 1)[1].startswith(f"catalogue/{stage}/api/"), (name, overrides[name])
    for name in ("IngestPsPasswordSecret", "IngestEsPasswordSecret"):
        assert overrides[name].split(":", 1)[1].startswith(f"catalogue/{stage}/ingest/"), (name, overrides[name])


@pytest.mark.unit
@pytest.mark.parametrize("path", API_EVENTS, ids=lambda p: str(p.relative_to(ROOT / "events")))
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
    path_parameters = route.match(context["http"]["method"], event["rawPath"].removeprefix(prefix))
    assert event.get("pathParameters", {}) == path_parameters
    assert path.stem.startswith(tuple(ERROR_EVENTS)) or not path.stem.startswith(("invalid", "unknown")), (
        f"{path.name}: error events are named {', '.join(f'{p}*' for p in ERROR_EVENTS)}")


# Runs in `python -I -S`: no site-packages, no PYTHONPATH, no script folder; only the stdlib is on sys.path.
INVOKE = """
import importlib.util, json, sys, traceback
out, function_dir, layer_dirs, runtime_file, repo, *events = sys.argv[1:]
sys.path[:0] = [function_dir, *layer_dirs.split(":")]
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
def responses(build_dir: Path, catalogue: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Any]:
    """Each function's handler from the build, warm across its events, as one Lambda environment."""
    resources = load_template(build_dir / "template.yaml")["Resources"]
    work = tmp_path_factory.mktemp("invoke")  # the cwd: outside the repository
    results: dict[Path, Any] = {}
    for events_dir in sorted({p.parent for p in API_EVENTS}):
        function = function_of(events_dir.name)
        layers = [ref["Ref"] for ref in load_template(TEMPLATE)["Resources"][function]["Properties"]["Layers"]]
        assert all(layer in resources for layer in layers) and function in resources
        out = work / f"{function}.json"
        events = sorted(str(p) for p in events_dir.glob("*.json"))
        command = [sys.executable, "-I", "-S", "-c", INVOKE, str(out), str(build_dir / function)]
        command += [":".join(str(build_dir / layer / "python") for layer in layers),
                    str(ROOT / "devtools" / "local" / "lambda_runtime.py"), str(ROOT), *events]
        run = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600, check=False)
        if run.returncode != 0:
            message = f"{function} from the build, in a fresh interpreter:\n{run.stderr[-4000:]}"
            pytest.fail(message, pytrace=False)
        results |= {Path(path): response for path, response in json.loads(out.read_text()).items()}
    return results


def check_search_body(body: Any, group_by: str | None) -> None:
    """The shape of docs/contract.md "Search answer"."""
    assert isinstance(body, list)
    by_phenotype = group_by in ("phenotype_gene_name", "effect_gene_name")
    dataset_keys = {"dataset_id", "tissue", "cell_type", "cell_line", "sex", "developmental_stage", "disease"}
    perturbation_keys = {"perturbation_gene_name", "ensembl_gene_id", "n_total", "n_up", "n_down"}
    phenotype_keys = {"phenotype_gene_name", "ensembl_gene_id", "base_mean", "n_total", "n_up", "n_down"}
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


def check_dataset(dataset: Any) -> None:
    assert set(dataset) == {"dataset_id", *LABELS}


def check_link(response: dict, body: Any, event: dict) -> None:
    """docs/contract.md "Lists and caching": `Link: <url>; rel="next"` exactly when there is a next page; its URL is
    this request's (stage included) with the next page's cursor."""
    link = response["headers"].get("link")
    if body.get("next_cursor") is None and link is None:
        return
    assert link is not None, "a next page without a Link header"
    found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert found, link
    url = urlsplit(found[1])
    assert url.path == event["rawPath"]
    query = parse_qs(url.query, keep_blank_values=True)
    asked = parse_qs(event["rawQueryString"], keep_blank_values=True)
    assert {k: v for k, v in query.items() if k != "cursor"} == {k: v for k, v in asked.items() if k != "cursor"}
    if "next_cursor" in body:
        assert query["cursor"] == [body["next_cursor"]]


def check_tsv(text: str, limit: int, event: dict, function: str) -> None:
    """docs/contract.md "Dataset rows": one header line and one line per row, twelve columns (docs/contract.md "Rows of
    a gene": with dataset_id first); and the very text the source's function answers in this process, which
    tests/catalogue/endpoints/test_rows.py and test_gene_rows.py compare column by column with the brute force (so the
    build is checked against the source, and the source against the contract)."""
    from tests.api import get
    first = ["dataset_id"] if function == "gene_rows" else []
    lines = [line.split("\t") for line in text.splitlines()]
    names = [*first, "perturbation_gene_name", "phenotype_gene_name"]
    assert lines[0][:len(names)] == names
    assert len(lines[0]) == 12 + len(first)
    assert 1 <= len(lines) - 1 <= limit, "a TSV event over the test catalogue found no rows"
    assert all(len(line) == 12 + len(first) for line in lines)
    assert text == get(event["rawPath"], event["rawQueryString"]).text


def check_gene_rows(body: Any, parameters: dict[str, str]) -> None:
    """docs/contract.md "Rows of a gene": the gene, its role, rows of its spellings (each with its dataset), the filters
    held."""
    role = parameters.get("role", "perturbation")
    assert set(body) == {"gene", "role", "rows", "next_cursor"} and body["role"] == role
    assert 1 <= len(body["rows"]) <= int(parameters.get("limit", 100)), "no rows in the test catalogue"
    for row in body["rows"]:
        assert set(row) == {"dataset_id", "perturbation", "change", "phenotype"}
        assert row[role][f"{role}_gene_name"] in body["gene"]["spellings"]
        if "max_padj" in parameters:
            assert row["change"]["padj"] <= float(parameters["max_padj"])
        if "effect_direction" in parameters:
            assert row["change"]["direction"] == parameters["effect_direction"]


def check_body(function: str, body: Any, event: dict, catalogue: dict) -> None:
    """The shape of each endpoint's answer (docs/contract.md, "Search answer" and the catalogue routes), and that it is
    not empty where the test catalogue has data."""
    parameters = event.get("queryStringParameters", {})
    if function == "search":
        check_search_body(body, parameters.get("group_by"))
        if not parameters:
            assert body, "an unfiltered search over the test catalogue found nothing"
    elif function == "datasets":
        assert set(body) == {"total", "datasets", "facets", "next_cursor"}
        assert set(body["facets"]) == set(LABELS)
        assert 1 <= len(body["datasets"]) <= int(parameters.get("limit", 20)) and body["total"] >= len(body["datasets"])
        for entry in body["datasets"]:
            assert set(entry) == {"dataset", "statistics"}
            check_dataset(entry["dataset"])
        if not parameters:
            assert body["total"] == catalogue["datasets"]
    elif function == "dataset":
        assert set(body) == {"dataset", "statistics", "top_perturbations", "top_phenotypes", "downloads"}
        assert [d["format"] for d in body["downloads"]] == ["parquet", "tsv.gz", "metadata"], body["downloads"]
        check_dataset(body["dataset"])
        assert body["dataset"]["dataset_id"] == event["pathParameters"]["dataset_id"]
        assert body["statistics"]["n_rows"] > 0 and body["top_perturbations"] and body["top_phenotypes"]
    elif function == "rows":
        assert set(body) == {"dataset", "total", "rows", "next_cursor"}
        assert body["dataset"]["dataset_id"] == event["pathParameters"]["dataset_id"]
        assert 1 <= len(body["rows"]) <= int(parameters.get("limit", 100)), "no rows in the test catalogue"
        for row in body["rows"]:
            assert set(row) == {"perturbation", "change", "phenotype"}
            for gene_filter, role in (("perturbation_gene_name", "perturbation"), ("phenotype_gene_name", "phenotype")):
                if gene_filter in parameters:
                    assert row[role][gene_filter] == parameters[gene_filter]
            if "max_padj" in parameters:
                assert row["change"]["padj"] <= float(parameters["max_padj"])
    elif function == "gene_rows":
        check_gene_rows(body, parameters)
    elif function == "genes":
        assert set(body) == {"genes"} and 1 <= len(body["genes"]) <= int(parameters.get("limit", 10))
        for gene in body["genes"]:
            # docs/contract.md "Gene lookup": the approved symbol matches too
            names = (gene["gene_name"], gene.get("approved_symbol") or "")
            assert any(name.lower().startswith(parameters["prefix"].lower()) for name in names), gene
            roles = [parameters["role"]] if "role" in parameters else ["perturbation", "phenotype"]
            assert any(gene[role] for role in roles), gene
    elif function == "summary":
        assert set(body) == {"datasets", "rows", "significant_rows", "perturbations", "phenotypes", "ingested_at",
                             "facets", "gene_reference"}
        assert (body["datasets"], body["rows"]) == (catalogue["datasets"], catalogue["rows"])
        assert set(body["facets"]) == set(LABELS)
    elif function == "health":
        assert body["status"] == "ok" and isinstance(body["version"], str)
        assert {store["status"] for store in body["stores"].values()} == {"ok"}
    elif function == "openapi":
        assert body["openapi"].startswith("3.1")
        assert set(body["paths"]) == {route.path for route in ROUTES if not route.is_default}, (
            "every route of the template, no other")


@pytest.mark.slow
@pytest.mark.parametrize("path", API_EVENTS, ids=lambda p: str(p.relative_to(ROOT / "events")))
def test_built_function_answers_event(path: Path, responses: dict[Path, Any], catalogue: dict) -> None:
    response = responses[path]
    assert "exception" not in response, response.get("exception")
    event = json.loads(path.read_text())
    parameters = event.get("queryStringParameters", {})
    status, code = expected_answer(path)
    assert response["statusCode"] == status, response
    headers = response["headers"]
    if code is not None:
        assert headers["content-type"].startswith("application/json")
        error = json.loads(response["body"])["error"]
        assert error["code"] == code and isinstance(error["message"], str)
        if code == "invalid_parameter":
            named = [detail["parameter"] for detail in error["details"]]
            assert named and all(name in error["message"] for name in named), error
            given = {**parameters, **event.get("pathParameters", {})}
            assert all(name in given or detail["problem"] == "required"
                       for name, detail in zip(named, error["details"], strict=True)), error
        elif "pathParameters" in event:
            assert any(value in error["message"] for value in event["pathParameters"].values()), error
        return
    function = path.parent.name
    if function in REDIRECTS:  # a presigned URL of the file, never cached; followed in tests/catalogue/...
        assert headers["cache-control"] == "no-store" and "Signature=" in headers["location"], headers
        return
    if function == "health":
        assert headers["cache-control"] == "no-store"  # docs/contract.md "Health": never cached
    else:
        # docs/contract.md "Lists and caching": every successful answer is cacheable and has a strong validator.
        assert headers["cache-control"].startswith("public, max-age=")
        assert re.fullmatch(r'"[^"]+"', headers["etag"]), headers
    if parameters.get("format") == "tsv":
        assert headers["content-type"].startswith("text/tab-separated-values")
        check_tsv(payload(response).decode(), int(parameters.get("limit", 100)), event, function)
        check_link(response, {}, event)
        return
    assert headers["content-type"].startswith("application/json")
    body = json.loads(payload(response))
    check_body(function, body, event, catalogue)
    if isinstance(body, dict) and "next_cursor" in body:
        check_link(response, body, event)
