"""GET /v1/search against an independent brute-force computation over the whole test catalogue (SPEC 3)."""
from __future__ import annotations

import json
import math
import random
from urllib.parse import urlencode

import pytest
from catalogue.endpoints.search import SearchParameters, search
from catalogue.parameters import check

from tests.support import fetch, run

from .reference import Reference, approx_equal, relevance_order

WORDS = ["blood", "T cell", "leukemia", "knockdown", "KNOCKOUT", "jurkat", "female adult", "Blood Knockdown",
         "chronic myelogenous leukemia", "liver hepatocyte", "normal", "activation", "zebrafish", "k562 cell",
         "adamson_2016_pilot", "T-cell acute", "neuron brain male"]


@pytest.fixture(scope="module")
def reference(ref: Reference) -> Reference:
    return ref


def call(**params: str) -> list:
    return json.loads(run(search(check(SearchParameters, list(params.items())))))


def random_cases(reference: Reference, count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        row = rng.choice(reference.rows)
        other = rng.choice(reference.rows)
        params: dict[str, str] = {}
        if rng.random() < 0.5:
            params["perturbation_gene_name"] = rng.choice([row.perturbation, other.perturbation, "NOT_A_GENE",
                                                          row.perturbation.lower()])
        if rng.random() < 0.5:
            params["phenotype_gene_name"] = rng.choice([row.phenotype, other.phenotype, "GAPDH", "MISSING1"])
        if rng.random() < 0.5:
            params[rng.choice(["effect_direction", "change_direction"])] = rng.choice(["increased", "decreased"])
        if rng.random() < 0.3:
            params["dataset_metadata"] = rng.choice(WORDS)
        if rng.random() < 0.5:
            params["group_by"] = rng.choice(["perturbation_gene_name", "phenotype_gene_name", "effect_gene_name"])
        cases.append(params)
    return cases


def expected(reference: Reference, index: str, params: dict[str, str]) -> list:
    text = params.get("dataset_metadata")
    order = relevance_order(index, text) if text else sorted(reference.documents, key=str.encode)
    assert set(order) == reference.matching_datasets(text), "Elasticsearch matching is not words-ANDed"
    return reference.search(
        order, params.get("perturbation_gene_name"), params.get("phenotype_gene_name"),
        params.get("effect_direction") or params.get("change_direction"),
        "perturbation" if params.get("group_by", "perturbation_gene_name") == "perturbation_gene_name"
        else "phenotype")


@pytest.mark.parametrize("batch", range(6))
def test_random_parameter_combinations_match_brute_force(reference: Reference, catalogue: dict, batch: int):
    for params in random_cases(reference, 60, seed=batch):
        got, want = call(**params), expected(reference, catalogue["index"], params)
        assert approx_equal(got, want), f"mismatch for ?{urlencode(params)}"


@pytest.mark.parametrize("group_by", ["perturbation_gene_name", "phenotype_gene_name"])
def test_no_filter_returns_every_dataset_with_full_groups(reference: Reference, catalogue: dict, group_by: str):
    got = call(group_by=group_by)
    assert len(got) == catalogue["datasets"], "every dataset with a result is returned, no silent cap"
    assert [e["dataset"]["dataset_id"] for e in got] == sorted(reference.documents, key=str.encode)
    assert approx_equal(got, expected(reference, catalogue["index"], {"group_by": group_by}))
    key, rows_key = ("by_perturbation", "change_phenotype") if group_by.startswith("perturbation") else (
        "by_phenotype", "perturbation_change")
    assert max(len(e[key]) for e in got) == 3 and max(len(g[rows_key]) for e in got for g in e[key]) == 10
    assert all(e[key] and all(g[rows_key] for g in e[key]) for e in got), "no empty dataset or group"


def test_metadata_words_are_anded_and_case_insensitive(catalogue: dict):
    both = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="JURKAT knockdown")}
    jurkat = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="jurkat")}
    knockdown = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="Knockdown")}
    assert both and both == jurkat & knockdown and both < jurkat
    assert "nadig_2025_jurkat" in both and "datlinger_2017" not in both  # datlinger is a knockout screen


def test_metadata_searches_only_the_eight_fields(catalogue: dict):
    # Every document's `title` says "Perturb-seq screen", but the title is not a searchable field.
    assert call(dataset_metadata="screen") == []


@pytest.mark.parametrize("text", ["blood AND (", '"', "*", "\\", "blood OR", "cell:[* TO", "~!@#$%^&()", "/regex/"])
def test_metadata_user_syntax_is_plain_text(catalogue: dict, text: str):
    result = call(dataset_metadata=text)
    assert isinstance(result, list)
    if text.startswith("blood AND"):
        assert result == []  # "and" is a word that no dataset carries: plain words, ANDed


def test_non_finite_values_are_null_and_nan_never_has_a_direction(reference: Reference, catalogue: dict):
    special = [r for r in fetch(catalogue["database"], """
        SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange FROM perturb_seq
        WHERE log2foldchange IN ('NaN', 'Infinity', '-Infinity') OR padj = 'NaN' OR log2foldchange IS NULL""")
        if (r[0], r[1]) in reference.summary["perturbation"]]  # only rows whose group can be chosen
    assert {math.isnan(r[3]) if r[3] is not None else None for r in special} >= {True, False, None}
    for dataset_id, perturbation, phenotype, log2fc in special:
        for direction in (None, "increased", "decreased"):
            params = {"perturbation_gene_name": perturbation, "phenotype_gene_name": phenotype,
                      "dataset_metadata": dataset_id, **({"effect_direction": direction} if direction else {})}
            changes = [c["change"] for e in call(**params) if e["dataset"]["dataset_id"] == dataset_id
                       for g in e["by_perturbation"] for c in g["change_phenotype"]]
            if log2fc is None or math.isnan(log2fc):
                assert changes == [] if direction else changes[0]["direction"] is None
                assert direction or changes[0]["log2fc"] is None
            elif math.isinf(log2fc):
                matches = direction in (None, "increased" if log2fc > 0 else "decreased")
                assert bool(changes) == matches
                assert not changes or changes[0]["log2fc"] is None


def test_exact_gene_match_is_case_sensitive(reference: Reference):
    gene = next(r.perturbation for r in reference.rows if r.perturbation != r.perturbation.lower())
    assert call(perturbation_gene_name=gene) and call(perturbation_gene_name=gene.lower()) == []


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_gene_with_only_insignificant_rows_in_some_datasets(reference: Reference, catalogue: dict, role: str):
    """The builder walks the summary view where the filtered gene is significant and gathers from its rows where it
    is not: a gene with both kinds of datasets exercises both in one request."""
    column, view = (("perturbed_target_symbol", "perturb_seq_summary_perturbation") if role == "perturbation"
                    else ("gene", "perturb_seq_summary_effect"))
    [(gene, sparse, significant)] = fetch(catalogue["database"], f"""
        SELECT r.{column}, count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NULL),
               count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NOT NULL)
        FROM perturb_seq r LEFT JOIN {view} v ON v.dataset_id = r.dataset_id AND v.{column} = r.{column}
        GROUP BY 1 HAVING count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NULL) > 0
                      AND count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NOT NULL) > 0
        ORDER BY 2 DESC, r.{column} COLLATE "C" LIMIT 1""")
    assert sparse and significant
    for group_by in ("perturbation_gene_name", "phenotype_gene_name"):
        for direction in (None, "increased", "decreased"):
            params = {f"{role}_gene_name": gene, "group_by": group_by, **({"effect_direction": direction}
                                                                          if direction else {})}
            got = call(**params)
            assert approx_equal(got, expected(reference, catalogue["index"], params)), params
            assert got or direction, params
