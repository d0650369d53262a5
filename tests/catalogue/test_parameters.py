"""Strict query-string validation (SPEC 3.1): every problem answers 400 naming the offending parameters."""
from __future__ import annotations

import pytest
from catalogue.errors import InvalidParameter
from catalogue.parameters import parse
from catalogue.search import PARAMETERS


def problems(pairs: list[tuple[str, str]]) -> dict[str, str]:
    with pytest.raises(InvalidParameter) as caught:
        parse(pairs, PARAMETERS)
    assert all(d["parameter"] in caught.value.message for d in caught.value.details)
    return {d["parameter"]: d["problem"] for d in caught.value.details}


def test_defaults_and_synonyms():
    assert parse([], PARAMETERS) == {"dataset_metadata": None, "perturbation_gene_name": None,
                                     "phenotype_gene_name": None, "effect_direction": None,
                                     "group_by": "perturbation_gene_name"}
    parsed = parse([("change_direction", "decreased"), ("group_by", "effect_gene_name")], PARAMETERS)
    assert parsed["effect_direction"] == "decreased" and parsed["group_by"] == "phenotype_gene_name"


@pytest.mark.parametrize(("pairs", "name", "problem"), [
    ([("colour", "red")], "colour", "unknown"),
    ([("perturbation_gene_name", "A"), ("perturbation_gene_name", "B")], "perturbation_gene_name", "more than once"),
    ([("effect_direction", "increased"), ("change_direction", "increased")], "effect_direction", "more than once"),
    ([("phenotype_gene_name", "")], "phenotype_gene_name", "empty"),
    ([("phenotype_gene_name", "   ")], "phenotype_gene_name", "empty"),
    ([("dataset_metadata", "x" * 201)], "dataset_metadata", "longer than 200"),
    ([("effect_direction", "up")], "effect_direction", "one of"),
    ([("group_by", "dataset")], "group_by", "one of"),
    ([("perturbation_gene_name", "TP53\x00")], "perturbation_gene_name", "control"),
])
def test_each_problem_names_its_parameter(pairs, name, problem):
    assert problem in problems(pairs)[name]


def test_all_problems_are_reported_together():
    assert set(problems([("colour", "red"), ("group_by", "x"), ("dataset_metadata", "")])) == {
        "colour", "group_by", "dataset_metadata"}


def test_longest_accepted_value():
    assert parse([("dataset_metadata", "x" * 200)], PARAMETERS)["dataset_metadata"] == "x" * 200
