"""The search function through its Lambda handler, as `sam local invoke -e events/search/<case>.json` would run it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from catalogue import clients
from catalogue_common.settings import settings

from devtools.bench.roundtrips import RoundTripCounter
from devtools.local import pg_server
from devtools.local.lambda_runtime import LambdaContext, load_function
from tests.support import body, fetch, search_engine

EVENTS = sorted((Path(__file__).resolve().parents[2] / "events" / "search").glob("*.json"))


@pytest.fixture(scope="module")
def function(catalogue: dict):
    return load_function("search")


def invoke(function, event: dict) -> dict:
    return function.handler(event, LambdaContext())


def event(query: str = "") -> dict:
    e = json.loads((Path(__file__).resolve().parents[2] / "events" / "search" / "no_parameters.json").read_text())
    e["rawQueryString"] = query
    e["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&")) if query else None
    return e


def api_backends(database: str) -> set[int]:
    return {r[0] for r in fetch(database, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                          "'catalogue-api' AND datname = $1", database)}


@pytest.mark.parametrize("path", EVENTS, ids=[p.stem for p in EVENTS])
def test_every_event_through_the_handler(function, path: Path):
    response = invoke(function, json.loads(path.read_text()))
    assert response["headers"]["content-type"] == "application/json"
    payload = body(response)
    if path.stem.startswith("invalid"):
        assert response["statusCode"] == 400 and payload["error"]["code"] == "invalid_parameter"
        assert set(payload["error"]) >= {"code", "message"}
    else:
        assert response["statusCode"] == 200 and isinstance(payload, list)
        gene_filtered = "gene_name=" in json.loads(path.read_text())["rawQueryString"]
        assert payload or gene_filtered, "an event without gene filters matches the test catalogue"
        assert all({"dataset", "by_perturbation"} <= set(e) or {"dataset", "by_phenotype"} <= set(e)
                   for e in payload)


def test_warm_invocations_reuse_one_pool_and_connection(function, catalogue: dict):
    assert invoke(function, event())["statusCode"] == 200
    stores, backends = clients._stores, api_backends(catalogue["database"])
    assert len(backends) == 1
    for query in ["group_by=phenotype_gene_name", "effect_direction=increased", "", "phenotype_gene_name=GAPDH"] * 5:
        assert invoke(function, event(query))["statusCode"] == 200
    assert clients._stores is stores, "the module-level clients were rebuilt"
    assert api_backends(catalogue["database"]) == backends, "a warm invocation opened a new connection"


def test_next_invocation_answers_after_a_database_restart(function, catalogue: dict):
    assert invoke(function, event())["statusCode"] == 200
    before = api_backends(catalogue["database"])
    pg_server.stop()
    pg_server.start()
    assert api_backends(catalogue["database"]) == set()
    response = invoke(function, event("group_by=phenotype_gene_name"))
    assert response["statusCode"] == 200 and body(response)
    assert api_backends(catalogue["database"]).isdisjoint(before)


def test_store_down_answers_503_without_internals(function, catalogue: dict, with_stores):
    invoke(function, event())
    with_stores(ps_port=1, es_url="http://127.0.0.1:1")
    error = assert_error_body(invoke(function, event("perturbation_gene_name=TP53")), 503, "store_unavailable")
    assert set(error) == {"code", "message"}


@pytest.mark.parametrize("query", ["", "group_by=phenotype_gene_name", "effect_direction=decreased",
                                   "phenotype_gene_name=GAPDH", "perturbation_gene_name=TP53&group_by=effect_gene_name",
                                   "dataset_metadata=blood&phenotype_gene_name=MYC&change_direction=increased"])
def test_one_database_round_trip_and_at_most_one_search_per_request(function, catalogue: dict, with_stores, query: str):
    pg, es = RoundTripCounter(settings().ps_port), RoundTripCounter(settings().es_port)
    try:
        with_stores(ps_port=pg.port, es_url=f"http://127.0.0.1:{es.port}")
        assert invoke(function, event(query))["statusCode"] == 200  # connects and prepares: not counted
        pg.round_trips = es.round_trips = 0
        for _ in range(3):
            assert invoke(function, event(query))["statusCode"] == 200
        # Free text is Elasticsearch's to rank; otherwise the warm function remembers the documents it read
        # (catalogue/remembered.py) and asks for none.
        assert (pg.round_trips, es.round_trips) == (3, 3 if "dataset_metadata" in query else 0)
    finally:
        pg.close()
        es.close()


def assert_error_body(response: dict, status: int, code: str) -> dict:
    assert response["statusCode"] == status and response["headers"]["content-type"] == "application/json"
    error = body(response)["error"]
    assert error["code"] == code and error["message"].endswith(".")
    assert not any(word in response["body"] for word in ("Traceback", "SELECT", "File \"", "password", "asyncpg"))
    return error


def test_store_timeout_answers_504(function, catalogue: dict, with_stores):
    invoke(function, event())
    with_stores(store_timeout=0.0001)
    assert_error_body(invoke(function, event("perturbation_gene_name=TP53")), 504, "store_timeout")


def test_label_list_with_two_entries_answers_500_data_integrity(function, catalogue: dict, with_stores):
    es, index = search_engine(), "test-integrity-dataset-summary-v1"
    es.index(index=index, id="datlinger_2017", refresh=True, document={
        "dataset_id": "datlinger_2017", "tissue_labels": ["blood", "lymph node"], "cell_type_labels": ["T cell"]})
    invoke(function, event())
    with_stores(es_index=index)
    error = assert_error_body(invoke(function, event()), 500, "data_integrity")
    assert error["details"] == {"dataset_id": "datlinger_2017", "field": "tissue_labels"}
    assert "datlinger_2017" in error["message"] and "tissue_labels" in error["message"]


# A search the shared query computes (a threshold): one by a gene in its own role alone reads stored groups.
COMPUTED = "perturbation_gene_name=TP53&max_padj=0.5"


def test_unexpected_failure_answers_500_internal_without_details(function, catalogue: dict, monkeypatch):
    from catalogue_common.search import query as queries

    def broken(search, params=None):
        raise RuntimeError("boom: SELECT secret FROM somewhere")
    monkeypatch.setattr(queries, "build", broken)
    error = assert_error_body(invoke(function, event(COMPUTED)), 500, "internal")
    assert "boom" not in json.dumps(error)


def test_unknown_route_answers_404_not_found(function, catalogue: dict):
    e = event()
    e["rawPath"] = e["requestContext"]["http"]["path"] = "/v1/nothing-here"
    assert_error_body(invoke(function, e), 404, "not_found")


def emitted(capsys) -> list[dict]:
    """The JSON lines the handler printed: CloudWatch EMF metrics go to stdout, as on Lambda."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("breaks", "status"), [(False, 200), (True, 500)])
def test_every_request_counts_its_status_class_and_latency(function, catalogue: dict, monkeypatch, capsys, caplog,
                                                            breaks: bool, status: int):
    from catalogue.function import logger
    from catalogue_common.search import query as queries
    if breaks:
        monkeypatch.setattr(queries, "build", lambda search, params=None: 1 / 0)
    level = logger.log_level
    logger.setLevel("INFO")  # the suite runs at WARNING; the template's default is INFO
    capsys.readouterr()
    try:
        assert invoke(function, event("effect_direction=increased&max_padj=0.01"))["statusCode"] == status
    finally:
        logger.setLevel(level)
    lines = emitted(capsys)
    [metric] = [line for line in lines if "_aws" in line and "Latency" in line]  # the cold start has its own
    assert metric[f"Status{status // 100}xx"] == [1.0] and metric["Latency"][0] > 0
    assert {"Status2xx", "Status4xx", "Status5xx"} & set(metric) == {f"Status{status // 100}xx"}
    [log] = [record for record in caplog.records if record.getMessage() == "request"]
    assert log.status == status and logger.get_correlation_id() == event()["requestContext"]["requestId"]


@pytest.mark.parametrize("bug", ["one argument too many", "an argument it cannot encode"])
def test_a_client_side_database_error_is_a_logged_500_not_an_outage(function, catalogue: dict, monkeypatch, bug: str):
    """asyncpg raises InterfaceError (or its DataError) for a wrong argument count or a value it cannot encode: a bug
    in the request, which must not be retried or reported as 503 store_unavailable (issue 10, finding 2)."""
    from catalogue_common.search import query as queries
    build = queries.build

    def broken(search, params=None):
        sql, args = build(search, params)
        return (sql, [*args, "extra"]) if bug.startswith("one") else (sql, [object(), *args[1:]])
    monkeypatch.setattr(queries, "build", broken)
    assert_error_body(invoke(function, event(COMPUTED)), 500, "internal")


def test_metrics_of_each_function_are_their_own_series(function, catalogue: dict, capsys):
    """Issue 10, finding 6: every function's metrics carry its name as the `function` dimension (the alarms in
    template.yaml select on it), so two functions' latencies and status counts never merge into one series."""
    from devtools.local.lambda_events import http_api_event
    genes = load_function("genes")
    capsys.readouterr()
    assert function.handler(event(), LambdaContext("catalogue-search-dev"))["statusCode"] == 200
    assert genes.handler(http_api_event("GET", "/v1/genes", "prefix=tp"),
                         LambdaContext("catalogue-genes-dev"))["statusCode"] == 200
    metrics = [line for line in emitted(capsys) if "_aws" in line and "Latency" in line]
    assert [m["function"] for m in metrics] == ["catalogue-search-dev", "catalogue-genes-dev"]
    for metric in metrics:
        [dimensions] = metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        assert "function" in dimensions
