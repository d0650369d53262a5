"""Parameter kinds and the contract's rules (docs/contract.md, "Search parameters", "Catalogue routes", "Lists and
caching"): every problem answers 400 naming the offending parameters."""
from __future__ import annotations

import pytest
from catalogue.endpoints.datasets import DatasetsParameters
from catalogue.endpoints.genes import GenesParameters
from catalogue.endpoints.rows import RowsParameters
from catalogue.endpoints.search import SearchParameters
from catalogue.errors import InvalidParameter
from catalogue.parameters import NoParameters, check

pytestmark = pytest.mark.unit


def problems(model, pairs: list[tuple[str, str]]) -> dict[str, str]:
    with pytest.raises(InvalidParameter) as caught:
        check(model, pairs)
    assert all(d["parameter"] in caught.value.message for d in caught.value.details)
    return {d["parameter"]: d["problem"] for d in caught.value.details}


def test_defaults_and_synonyms():
    parsed = check(SearchParameters, [])
    assert (parsed.dataset_metadata, parsed.perturbation_gene_name, parsed.phenotype_gene_name, parsed.direction,
            parsed.group_by) == (None, None, None, None, "perturbation_gene_name")
    parsed = check(SearchParameters, [("change_direction", "decreased"), ("group_by", "effect_gene_name")])
    assert parsed.direction == "decreased" and parsed.grouping == "phenotype"
    assert (parsed.limit, parsed.cursor, parsed.max_padj, parsed.min_abs_log2fc) == (None, None, None, None)


@pytest.mark.parametrize(("pairs", "name", "problem"), [
    ([("colour", "red")], "colour", "unknown"),
    ([("perturbation_gene_name", "A"), ("perturbation_gene_name", "B")], "perturbation_gene_name", "more than once"),
    ([("effect_direction", "increased"), ("change_direction", "increased")], "effect_direction", "more than once"),
    ([("phenotype_gene_name", "")], "phenotype_gene_name", "empty"),
    ([("phenotype_gene_name", "   ")], "phenotype_gene_name", "empty"),
    ([("dataset_metadata", "x" * 201)], "dataset_metadata", "longer than 200"),
    ([("effect_direction", "up")], "effect_direction", "one of: increased, decreased"),
    ([("group_by", "dataset")], "group_by", "one of"),
    ([("perturbation_gene_name", "TP53\x00")], "perturbation_gene_name", "control"),
    ([("perturbation_gene_name", "TP\n53")], "perturbation_gene_name", "control"),
    # A cursor not of the form the API writes is refused as one it did not produce (cursors.py), not for characters.
    ([("cursor", "garbage")], "cursor", "is not a cursor this API produced, or was altered; start again"),
    ([("cursor", "a b.c")], "cursor", "is not a cursor this API produced"),
    ([("min_abs_log2fc", "inf")], "min_abs_log2fc", "must be a finite number"),
    ([("max_padj", "nan")], "max_padj", "must be a finite number"),
    ([("max_padj", "low")], "max_padj", "must be a number"),
])
def test_each_search_problem_names_its_parameter(pairs, name, problem):
    assert problem in problems(SearchParameters, pairs)[name]


def test_all_problems_are_reported_together():
    assert set(problems(SearchParameters, [("colour", "red"), ("group_by", "x"), ("dataset_metadata", "")])) == {
        "colour", "group_by", "dataset_metadata"}


def test_longest_accepted_value():
    assert check(SearchParameters, [("dataset_metadata", "x" * 200)]).dataset_metadata == "x" * 200


@pytest.mark.parametrize("value", ["0", "101", "-1", "+5", " 5", "5 ", "1.0", "1_0", "0x10", "1e2", "\uff15", "",
                                   "9" * 40, "twenty"])
def test_limit_is_a_decimal_integer_within_bounds(value: str):
    problem = problems(DatasetsParameters, [("limit", value)])["limit"]
    assert problem == ("empty value" if not value.strip() else "must be a decimal integer") or "at " in problem


@pytest.mark.parametrize(("model", "most"), [(DatasetsParameters, 100), (RowsParameters, 1000), (GenesParameters, 50)])
def test_limit_bounds_and_default(model, most: int):
    base = [("prefix", "TP")] if model is GenesParameters else []
    assert check(model, [*base, ("limit", "1")]).limit == 1
    assert check(model, [*base, ("limit", str(most))]).limit == most
    assert check(model, [*base, ("limit", "007")]).limit == 7
    assert "at most" in problems(model, [*base, ("limit", str(most + 1))])["limit"]
    assert "at least" in problems(model, [*base, ("limit", "0")])["limit"]


def test_facets_repeat_and_other_parameters_do_not():
    parsed = check(DatasetsParameters, [("tissue", "blood"), ("tissue", "liver"), ("sex", "female")])
    assert parsed.tissue == ["blood", "liver"] and parsed.sex == ["female"] and parsed.cell_type == []
    assert "more than once" in problems(DatasetsParameters, [("limit", "5"), ("limit", "6")])["limit"]
    assert "more than 50 times" in problems(DatasetsParameters, [("disease", f"d{i}") for i in range(51)])["disease"]
    assert "empty" in problems(DatasetsParameters, [("tissue", "blood"), ("tissue", "")])["tissue"]


@pytest.mark.parametrize(("value", "ok"), [("0", True), ("1", True), ("0.05", True), ("1e-10", True), ("1.5", False),
                                           ("-0.1", False), ("nan", False), ("inf", False), ("x", False)])
def test_max_padj_is_a_number_in_the_unit_interval(value: str, ok: bool):
    if ok:
        assert check(RowsParameters, [("max_padj", value)]).max_padj == float(value)
    else:
        assert "max_padj" in problems(RowsParameters, [("max_padj", value)])


def test_genes_prefix_is_required_and_bounded():
    assert problems(GenesParameters, [])["prefix"] == "required"
    assert "longer than 50" in problems(GenesParameters, [("prefix", "A" * 51)])["prefix"]
    assert "one of" in problems(GenesParameters, [("prefix", "A"), ("role", "both")])["role"]


def test_an_endpoint_without_parameters_refuses_any():
    assert "unknown parameter (accepted: none)" in problems(NoParameters, [("x", "1")])["x"]
