"""Locust users browsing the catalogue as a front-end does (run by devtools/stress/load.py; `locust -f` works too).

Route weights: gene autocomplete and search most, then browsing datasets with facets, one dataset, "View all" rows
pages following next_cursor, the landing page's summary, and a health probe now and then. The values asked for
(dataset ids, gene names, facet labels) are read from the API itself when the run starts.

With LOAD_REQUEST_LOG set, every request is appended to that file as one JSON line: start (epoch seconds), route,
status, milliseconds, the `error.code` of an error body (or "degraded" for a /v1/health 503 body, "not-json"), the
URL asked (path and query) and a digest of the answer (devtools/stress/answers.py: what the reload fault compares).
"""
from __future__ import annotations

import json
import os
import random
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from locust import HttpUser, between, events, task

from devtools.stress.answers import digest

CATALOGUE: dict[str, list[Any]] = {"datasets": [], "perturbations": [], "phenotypes": [], "facets": [], "words": []}
_log_lock = threading.Lock()
_log_file: Any = None


@events.test_start.add_listener
def read_catalogue(environment: Any, **_: Any) -> None:
    """Dataset ids, gene names, facet values and metadata words, from the API under test."""
    host = environment.host.rstrip("/")
    page = requests.get(f"{host}/v1/datasets", params={"limit": 100}, timeout=30).json()
    CATALOGUE["datasets"] = [d["dataset"]["dataset_id"] for d in page["datasets"]]
    CATALOGUE["facets"] = [(facet, v["value"]) for facet, values in page["facets"].items() for v in values]
    CATALOGUE["words"] = sorted({w for d in page["datasets"] for k, v in d["dataset"].items()
                                 if k != "dataset_id" and v for w in str(v).lower().split() if len(w) > 2})
    for dataset_id in CATALOGUE["datasets"][:20]:
        one = requests.get(f"{host}/v1/datasets/{dataset_id}", timeout=30).json()
        CATALOGUE["perturbations"] += [g["perturbation_gene_name"] for g in one["top_perturbations"]]
        CATALOGUE["phenotypes"] += [g["phenotype_gene_name"] for g in one["top_phenotypes"]]
    if not (CATALOGUE["datasets"] and CATALOGUE["perturbations"] and CATALOGUE["phenotypes"]):
        raise RuntimeError(f"the catalogue at {host} is empty: load it first (make data)")
    global _log_file
    if os.environ.get("LOAD_REQUEST_LOG"):
        _log_file = open(os.environ["LOAD_REQUEST_LOG"], "a", buffering=1)  # closed at test_stop


@events.test_stop.add_listener
def close_log(**_: Any) -> None:
    global _log_file
    if _log_file is not None:
        _log_file.close()
        _log_file = None


def _code(response: Any, status: int) -> str | None:
    if status < 400 or response is None:
        return None
    try:
        body = response.json()
    except ValueError:
        return "not-json"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("code"))
    if isinstance(body, dict) and body.get("status") == "degraded":
        down = [name for name, store in body.get("stores", {}).items() if store.get("status") != "ok"]
        return "degraded:" + ",".join(down)
    return "unexpected-body"


@events.request.add_listener
def log_request(name: str, response_time: float, response: Any, start_time: float | None = None,
                exception: BaseException | None = None, **_: Any) -> None:
    if _log_file is None:
        return
    status = getattr(response, "status_code", 0) or 0
    line = {"t": start_time, "route": name, "status": status, "ms": round(response_time, 2),
            "code": _code(response, status) if status else f"exception: {exception!r}",
            "url": urlsplit(response.url)._replace(scheme="", netloc="").geturl() if status else None,
            "digest": digest(status, response.content) if status else None}
    with _log_lock:
        _log_file.write(json.dumps(line) + "\n")


class FrontEnd(HttpUser):
    wait_time = between(0.05, 0.25)

    def _get(self, path: str, name: str, **params: Any) -> Any:
        with self.client.get(path, params=params or None, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} {_code(response, response.status_code)}")
                return None
            return response.json() if "json" in response.headers.get("content-type", "") else response.text

    @task(25)
    def autocomplete(self) -> None:
        """Typing a gene name: one request per keystroke, the first three."""
        gene = random.choice(CATALOGUE["perturbations"] + CATALOGUE["phenotypes"])
        role = random.choice([None, "perturbation", "phenotype"])
        for length in range(1, min(3, len(gene)) + 1):
            params = {"prefix": gene[:length], **({"role": role} if role else {})}
            self._get("/v1/genes", "/v1/genes", **params)

    @task(30)
    def search(self) -> None:
        params: dict[str, Any] = random.choice([
            {"perturbation_gene_name": random.choice(CATALOGUE["perturbations"])},
            {"phenotype_gene_name": random.choice(CATALOGUE["phenotypes"]), "group_by": "phenotype_gene_name"},
            {"perturbation_gene_name": random.choice(CATALOGUE["perturbations"]), "effect_direction": "decreased"},
            {"dataset_metadata": random.choice(CATALOGUE["words"]),
             "phenotype_gene_name": random.choice(CATALOGUE["phenotypes"])},
        ])
        self._get("/v1/search", "/v1/search", **params)

    @task(20)
    def browse_datasets(self) -> None:
        params: dict[str, Any] = {}
        for facet, value in random.sample(CATALOGUE["facets"], k=min(2, len(CATALOGUE["facets"]))):
            params.setdefault(facet, value)
        if random.random() < 0.3:
            params["dataset_metadata"] = random.choice(CATALOGUE["words"])
        self._get("/v1/datasets", "/v1/datasets", limit=random.choice([10, 20]), **params)

    @task(15)
    def one_dataset(self) -> None:
        self._get(f"/v1/datasets/{random.choice(CATALOGUE['datasets'])}", "/v1/datasets/{dataset_id}")

    @task(15)
    def view_all_rows(self) -> None:
        """A search result's "View all": up to three pages, each from the previous page's next_cursor."""
        dataset_id = random.choice(CATALOGUE["datasets"])
        params: dict[str, Any] = random.choice([{}, {"max_padj": "0.05"}, {"effect_direction": "increased"},
                                                {"perturbation_gene_name": random.choice(CATALOGUE["perturbations"])}])
        params["limit"] = 100
        for _ in range(3):
            page = self._get(f"/v1/datasets/{dataset_id}/rows", "/v1/datasets/{dataset_id}/rows", **params)
            if not page or not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    @task(5)
    def summary(self) -> None:
        self._get("/v1/summary", "/v1/summary")

    @task(2)
    def health(self) -> None:
        self._get("/v1/health", "/v1/health")
