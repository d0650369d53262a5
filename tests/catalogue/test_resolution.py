"""Gene resolution (docs/contract.md, "Genes") on every route that takes a gene, against an independent reading of
the test reference (tests/data/gene_reference.tsv; gene_reference.py): each of the six steps, ambiguous terms,
symbols no reference places, and `GET /v1/genes/{gene}`."""
from __future__ import annotations

import pytest

from tests.api import error, get

from .reference import Ambiguous, CatalogueReference, approx_equal, gene_across
from .test_search_contract import call, expected

# SEPTIN2's names: its approved symbol in another case, its previous symbol (a stored spelling, from before 2020),
# its Ensembl ID with and without a version, and an unambiguous alias (NEDD5; no dataset stores it).
SEPTIN2 = ["SEPT2", "septin2", "ENSG00000168385", "ENSG00000168385.9", "ensg00000168385", "NEDD5"]
SPELLINGS = {"SEPT2", "SEPTIN2", "ENSG00000168385.15"}  # what the demo data stores of it


def test_the_reference_places_what_the_independent_reading_places(ref: CatalogueReference, catalogue: dict):
    from tests.support import fetch
    placed = {r[0]: r[1] for r in fetch(catalogue["database"], "SELECT gene_name, ensembl_gene_id FROM "
                                                                "perturb_seq_genes")}
    assert placed == {s: ref.book.ensembl(s) for s in ref.book.stored}
    assert ref.book.ensembl("Tp53") == ref.book.ensembl("TP53") == "ENSG00000141510", "a case variant is placed"
    assert ref.book.ensembl("LINC00474") is None, "an alias of two genes places nothing"
    assert ref.book.ensembl("non-targeting") is None and ref.book.ensembl("CBL+CNN1") is None


@pytest.mark.parametrize("term", SEPTIN2)
def test_every_name_of_a_gene_finds_the_rows_of_every_spelling(ref: CatalogueReference, catalogue: dict, term: str):
    assert ref.book.resolve(term).spellings == SPELLINGS
    for role, group_by in (("phenotype", "perturbation_gene_name"), ("phenotype", "phenotype_gene_name")):
        params = {f"{role}_gene_name": term, "group_by": group_by}
        got = call(**params)
        assert got and approx_equal(got, expected(ref, catalogue["index"], params)), params
        names = {g["phenotype"]["phenotype_gene_name"] for e in got for g in e.get("by_phenotype", [])} | {
            row["phenotype"]["phenotype_gene_name"] for e in got for g in e.get("by_perturbation", [])
            for row in g["change_phenotype"]}
        assert names <= SPELLINGS and len(names) >= 2, names  # rows of more than one spelling


@pytest.mark.parametrize("term", SEPTIN2)
def test_rows_of_a_dataset_under_every_spelling(ref: CatalogueReference, term: str):
    datasets = sorted({r.dataset_id for r in ref.rows if r.phenotype in SPELLINGS})
    for dataset_id in datasets[:3]:
        answer = get(f"/v1/datasets/{dataset_id}/rows", [("phenotype_gene_name", term), ("limit", "1000")])
        want = ref.rows_of(dataset_id, phenotype=term)
        assert want and approx_equal(answer.json["rows"], [ref.row(r) for r in want])


@pytest.mark.parametrize("term", [*SEPTIN2, "tp53", "TP53", "Tp53", "P53", "ENSG00000141510.16", "MARCH1",
                                  "marchf1", "non-targeting", "CBL+CNN1", "LINC00474"])
def test_one_gene_across_the_catalogue(ref: CatalogueReference, term: str):
    answer = get(f"/v1/genes/{term}")
    assert answer.status == 200, answer.text
    assert approx_equal(answer.json, gene_across(ref, term))


def test_one_gene_has_its_reference_names_and_is_found_in_both_roles(ref: CatalogueReference):
    body = get("/v1/genes/SEPT2").json
    assert body["gene"] == {"ensembl_gene_id": "ENSG00000168385", "approved_symbol": "SEPTIN2",
                            "previous_symbols": ["SEPT2"], "aliases": ["DIFF6", "NEDD5"],
                            "spellings": sorted(SPELLINGS, key=str.encode)}
    assert {e["phenotype_gene_name"] for e in body["as_phenotype"]} == SPELLINGS
    counts = [e["n_total"] for e in body["as_phenotype"]]
    assert counts == sorted(counts, reverse=True)


def test_a_symbol_no_reference_places_is_a_gene_of_its_own(ref: CatalogueReference):
    body = get("/v1/genes/non-targeting").json
    assert body["gene"] == {"ensembl_gene_id": None, "approved_symbol": None, "previous_symbols": [], "aliases": [],
                            "spellings": ["non-targeting"]}
    assert body["as_perturbation"] or body["as_phenotype"]
    for role in ("perturbation", "phenotype"):
        got = call(**{f"{role}_gene_name": "non-targeting"})
        assert approx_equal(got, expected(ref, "test-dataset-summary-v1", {f"{role}_gene_name": "non-targeting"}))


def test_an_alias_of_several_genes_is_400_ambiguous_gene_with_its_candidates():
    for answer in (get("/v1/search", "perturbation_gene_name=A1B"), get("/v1/genes/a1b"),
                   get("/v1/datasets/datlinger_2017/rows", "phenotype_gene_name=A1B")):
        body = error(answer, 400, "ambiguous_gene")
        assert [(d["approved_symbol"], d["ensembl_gene_id"]) for d in body["details"]] == [
            ("A1BG", "ENSG00000121410"), ("SNTB1", "ENSG00000172164")]
        assert "A1BG" in body["message"] and "SNTB1" in body["message"] and "approved symbol" in body["message"]


def test_the_brute_force_calls_it_ambiguous_too(ref: CatalogueReference):
    with pytest.raises(Ambiguous):
        ref.book.resolve("A1B") and gene_across(ref, "A1B")


def test_a_term_naming_nothing_matches_no_row_and_is_404_on_its_own_route():
    assert call(perturbation_gene_name="NO-SUCH-GENE") == []
    error(get("/v1/genes/NO-SUCH-GENE"), 404, "not_found")


@pytest.mark.parametrize("term", ["=TP53", "TP53 ", "a b", "x" * 201, "gene\u00a0x", "zero\u200bwidth"])
def test_a_gene_parameter_is_a_gene_name_or_400(term: str):
    for answer, name in ((get("/v1/search", [("perturbation_gene_name", term)]), "perturbation_gene_name"),
                         (get(f"/v1/genes/{term}"), "gene")):
        body = error(answer, 400, "invalid_parameter")
        assert [d["parameter"] for d in body["details"]] == [name]


def test_the_summary_names_the_gene_reference(catalogue: dict):
    reference = get("/v1/summary").json["gene_reference"]
    assert reference == {"source": "gene_reference.tsv", "date": reference["date"], "genes": 16}
