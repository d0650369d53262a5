"""The search function through its Lambda handler, as `sam local invoke -e events/search/<case>.json` would run it."""
from __future__ import annotations

import json
from pathlib import Path

import pg_server
import pytest
from catalogue import clients
from catalogue.config import settings

from tests.support import LambdaContext, RoundTripCounter, body, fetch, load_function

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


def test_store_down_answers_503_without_internals(function, catalogue: dict, monkeypatch):
    dead = clients.Stores(settings().__class__(**{**settings().__dict__, "ps_port": 1, "es_url": "http://127.0.0.1:1"}),
                          clients._stores.loop)
    monkeypatch.setattr(clients, "_stores", dead)
    response = invoke(function, event("perturbation_gene_name=TP53"))
    assert response["statusCode"] == 503
    error = body(response)["error"]
    assert error["code"] == "store_unavailable" and set(error) == {"code", "message"}
    assert not any(word in response["body"] for word in ("Traceback", "SELECT", "127.0.0.1", "password"))


@pytest.mark.parametrize("query", ["", "group_by=phenotype_gene_name", "effect_direction=decreased",
                                   "phenotype_gene_name=GAPDH", "perturbation_gene_name=TP53&group_by=effect_gene_name",
                                   "dataset_metadata=blood&phenotype_gene_name=MYC&change_direction=increased"])
def test_one_database_round_trip_and_one_search_per_request(function, catalogue: dict, monkeypatch, query: str):
    pg, es = RoundTripCounter(55432), RoundTripCounter(59200)
    try:
        config = settings().__class__(**{**settings().__dict__, "ps_port": pg.port,
                                         "es_url": f"http://127.0.0.1:{es.port}"})
        monkeypatch.setattr(clients, "_stores", clients.Stores(config, clients._stores.loop))
        assert invoke(function, event(query))["statusCode"] == 200  # connects and prepares: not counted
        pg.round_trips = es.round_trips = 0
        for _ in range(3):
            assert invoke(function, event(query))["statusCode"] == 200
        assert (pg.round_trips, es.round_trips) == (3, 3)
    finally:
        pg.close()
        es.close()
