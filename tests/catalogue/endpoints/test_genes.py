"""GET /v1/genes against a brute-force lookup over every row and an independent reading of the gene reference."""
from __future__ import annotations

from collections import OrderedDict

import pytest

from tests.api import error, get


@pytest.mark.parametrize("prefix", ["t", "TP", "tp53", "my", "MYC", "a", "AC0", "rp11-34p13.", "LINC0047", "mt-",
                                    "Gapdh", "zz-none", "%", "_", "C19ORF", "septin", "SEPT", "marchf", "ensg",
                                    "gapdh", "non-"])
@pytest.mark.parametrize("role", [None, "perturbation", "phenotype"])
def test_prefix_lookup_matches_brute_force(ref, prefix: str, role: str | None):
    query = [("prefix", prefix), ("limit", "50"), *([("role", role)] if role else [])]
    want = ref.genes(prefix, role, 50)
    assert get("/v1/genes", query).json["genes"] == want
    # Only these compare [] with []: no symbol starts with them (% and _ are not wildcards).
    assert bool(want) is (prefix not in ("zz-none", "%", "_")), "the prefix list has lost its matches"


def test_exact_match_first_and_case_variants_both_found(ref):
    genes = get("/v1/genes", "prefix=tp53").json["genes"]
    names = [g["gene_name"] for g in genes]
    assert {"TP53", "Tp53"} <= set(names) and all(n.lower() == "tp53" for n in names[:2])
    assert get("/v1/genes", "prefix=T&limit=3").json["genes"] == ref.genes("T", None, 3)


@pytest.mark.unit
def test_prefix_is_required_and_bounded():
    error(get("/v1/genes"), 400, "invalid_parameter")
    error(get("/v1/genes", "prefix=" + "A" * 51), 400, "invalid_parameter")
    error(get("/v1/genes", "prefix=A&limit=51"), 400, "invalid_parameter")


def test_approved_symbols_complete_to_every_spelling_of_their_gene(ref):
    """With the reference, `SEPTIN` finds the datasets' `SEPT2` too, each entry naming its gene."""
    genes = get("/v1/genes", "prefix=septin&limit=50").json["genes"]
    by_name = {g["gene_name"]: g for g in genes}
    assert {"SEPT2", "SEPTIN2", "ENSG00000168385.15"} <= set(by_name)
    assert {by_name[n]["approved_symbol"] for n in ("SEPT2", "SEPTIN2", "ENSG00000168385.15")} == {"SEPTIN2"}
    assert {by_name[n]["ensembl_gene_id"] for n in ("SEPT2", "SEPTIN2")} == {"ENSG00000168385"}
    unplaced = get("/v1/genes", "prefix=non-targeting").json["genes"]
    assert unplaced[0]["gene_name"] == "non-targeting" and unplaced[0]["approved_symbol"] is None


@pytest.mark.parametrize(("common", "walk"), [(0, 5000), (0, 3)], ids=["walked", "walk-too-short"])
@pytest.mark.parametrize("role", [None, "perturbation", "phenotype"])
def test_common_prefixes_walked_in_rank_order_give_the_same_answers(ref, monkeypatch, role: str | None, common: int,
                                                                    walk: int):
    """The test catalogue's prefixes are all rare at the deployed bound; with none rare, every prefix takes the walk
    in rank order (and, with a walk of 3 symbols, finds too few and sorts its range after all): still brute force's
    answer, exact matches first. `septin2` at limit 2 walks to two exact matches of its gene and adds the third: an
    exact match the walk has found is not added twice."""
    from catalogue.endpoints import genes as endpoint
    monkeypatch.setattr(endpoint, "COMMON", common)
    monkeypatch.setattr(endpoint, "WALK", walk)
    monkeypatch.setattr(endpoint, "_known_common", OrderedDict())
    for prefix in ("t", "TP", "tp53", "a", "AC0", "LINC0047", "septin", "septin2", "SEPT", "ensg", "non-", "zz-none"):
        for limit in (1, 2, 10, 50):
            query = [("prefix", prefix), ("limit", str(limit)), *([("role", role)] if role else [])]
            assert get("/v1/genes", query).json["genes"] == ref.genes(prefix, role, limit), (prefix, limit)


def test_a_common_prefix_is_remembered_and_its_next_lookup_walks_at_once(ref, monkeypatch):
    """The first lookup of a common prefix reads its range (capped), learns it is common, then walks; the process
    remembers it and the next lookup walks at once. Either way brute force's answer; the memory is bounded."""
    from catalogue.endpoints import genes as endpoint
    monkeypatch.setattr(endpoint, "COMMON", 20)  # `t`, `ac` and `a` hold more than 20 symbols; `tp53` 2
    monkeypatch.setattr(endpoint, "KNOWN", 2)
    monkeypatch.setattr(endpoint, "_known_common", OrderedDict())
    statements: list[str] = []
    from catalogue.clients import Stores
    fetch = Stores.fetch

    async def counted(self, sql, *args):  # type: ignore[no-untyped-def]
        statements.append("walk" if "walk AS" in sql else "range")
        return await fetch(self, sql, *args)
    monkeypatch.setattr(Stores, "fetch", counted)
    for prefix, first, again in [("t", ["range", "walk"], ["walk"]), ("tp53", ["range"], ["range"]),
                                 ("AC", ["range", "walk"], ["walk"]), ("a", ["range", "walk"], ["walk"])]:
        for expected in (first, again):
            statements.clear()
            assert get("/v1/genes", [("prefix", prefix), ("limit", "5")]).json["genes"] == ref.genes(prefix, None, 5)
            assert statements == expected, (prefix, statements)
    assert list(endpoint._known_common) == ["ac", "a"]  # `t` forgotten, the least recently found
