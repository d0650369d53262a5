"""GET /v1/genes (SPEC 5.5) against a brute-force lookup over every row."""
from __future__ import annotations

import pytest

from tests.api import error, get


@pytest.mark.parametrize("prefix", ["t", "TP", "tp53", "my", "MYC", "a", "AC0", "rp11-34p13.", "LINC0047", "mt-",
                                    "Gapdh", "zz-none", "%", "_", "C19ORF"])
@pytest.mark.parametrize("role", [None, "perturbation", "phenotype"])
def test_prefix_lookup_matches_brute_force(ref, prefix: str, role: str | None):
    query = [("prefix", prefix), ("limit", "50"), *([("role", role)] if role else [])]
    assert get("/v1/genes", query).json["genes"] == ref.genes(prefix, role, 50)


def test_exact_match_first_and_case_variants_both_found(ref):
    genes = get("/v1/genes", "prefix=tp53").json["genes"]
    names = [g["gene_name"] for g in genes]
    assert {"TP53", "Tp53"} <= set(names) and all(n.lower() == "tp53" for n in names[:2])
    assert get("/v1/genes", "prefix=T&limit=3").json["genes"] == ref.genes("T", None, 3)


def test_prefix_is_required_and_bounded():
    error(get("/v1/genes"), 400, "invalid_parameter")
    error(get("/v1/genes", "prefix=" + "A" * 51), 400, "invalid_parameter")
    error(get("/v1/genes", "prefix=A&limit=51"), 400, "invalid_parameter")
