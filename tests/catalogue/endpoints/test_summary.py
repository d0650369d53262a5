"""GET /v1/summary (docs/contract.md, "Catalogue summary") against brute-force totals and facets."""
from __future__ import annotations

from tests.api import get
from tests.catalogue.reference import byte_key, significant


def test_totals_and_facets_match_brute_force(ref, catalogue):
    body = get("/v1/summary").json
    assert body["datasets"] == catalogue["datasets"] == len(ref.documents)
    assert body["rows"] == len(ref.rows) == catalogue["rows"]
    assert body["significant_rows"] == sum(significant(r) for r in ref.rows)
    assert body["perturbations"] == len({r.perturbation for r in ref.rows})
    assert body["phenotypes"] == len({r.phenotype for r in ref.rows})
    assert body["ingested_at"].startswith("20")
    assert body["facets"] == ref.datasets(None, {}, sorted(ref.documents, key=byte_key))["facets"]
