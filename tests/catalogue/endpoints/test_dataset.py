"""GET /v1/datasets/{dataset_id} (docs/contract.md, "One dataset") against a brute-force computation."""
from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.api import error, get
from tests.catalogue.reference import approx_equal, labels_of


def test_every_dataset_matches_brute_force(ref):
    for dataset_id in sorted(ref.documents)[::7]:
        body = get(f"/v1/datasets/{dataset_id}").json
        assert body["dataset"] == {"dataset_id": dataset_id, **labels_of(ref.documents[dataset_id])}
        assert {k: v for k, v in body["statistics"].items() if k != "ingested_at"} == ref.statistics(dataset_id)
        assert body["top_perturbations"] == ref.top("perturbation", dataset_id)
        assert approx_equal(body["top_phenotypes"], ref.top("phenotype", dataset_id))
    largest = max(ref.by_dataset, key=lambda i: len(ref.by_dataset[i]))
    body = get(f"/v1/datasets/{largest}").json
    assert len(body["top_phenotypes"]) == len(body["top_perturbations"]) == 10
    assert body["top_perturbations"] == ref.top("perturbation", largest)


@pytest.mark.parametrize("dataset_id", ["no_such_dataset", "DATLINGER_2017", "datlinger_2017 ", "%2e%2e"])
def test_unknown_dataset_is_404(dataset_id: str):
    body = error(get(f"/v1/datasets/{dataset_id}"), 404, "not_found")
    assert unquote(dataset_id) in body["message"]


@pytest.mark.unit
def test_no_query_parameters_are_accepted():
    body = error(get("/v1/datasets/datlinger_2017", "limit=3"), 400, "invalid_parameter")
    assert body["details"] == [{"parameter": "limit", "problem": "unknown parameter (accepted: none)"}]
