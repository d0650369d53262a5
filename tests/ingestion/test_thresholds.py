"""Thresholds (docs/contract.md, "Thresholds": `max_padj`, `min_abs_log2fc`) on rows holding every special value a
dataset may hold — NULL, NaN, ±Infinity, ±0, subnormals, the extremes — and cut exactly at values present, on every
route that takes them, against the brute-force reference (tests/catalogue/reference.py: NULL and NaN never pass,
±Infinity pass the fold-change cut, a value equal to the threshold passes).

The test catalogue's synthetic rows hold none of these values; this dataset holds them all (test_downloads'
special_dataset, loaded through the ingestion beside the demo datasets).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from ingestion import run

from tests.api import get
from tests.catalogue.reference import CatalogueReference, Row, approx_equal
from tests.catalogue.test_search_contract import call, expected
from tests.support import fetch, search_engine

from .conftest import DATABASE, INDEX, ingest, target
from .test_downloads import DATASET, special_dataset

# Cuts at values the dataset holds (0.1, 0.30000000000000004, 2.5, the largest double), at 0 and at 1.
CUTS = [{"max_padj": "0"}, {"max_padj": "0.1"}, {"max_padj": "0.30000000000000004"}, {"max_padj": "1"},
        {"min_abs_log2fc": "0"}, {"min_abs_log2fc": "2.5"}, {"min_abs_log2fc": "1.7976931348623157e308"},
        {"max_padj": "1", "min_abs_log2fc": "0"}, {"max_padj": "0.1", "min_abs_log2fc": "0.1"}]


@pytest.fixture
def special(catalogue_a: Path, tmp_path: Path, with_stores) -> CatalogueReference:
    assert ingest(run.load(target(), [special_dataset(tmp_path / DATASET)], quiet=True)).outcomes == {
        DATASET: "loaded"}
    with_stores(ps_db=DATABASE, es_index=INDEX)
    rows = [Row(*r) for r in fetch(DATABASE, "SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange, "
                                             "padj, basemean FROM perturb_seq")]
    held = [r for r in rows if r.dataset_id == DATASET]
    assert any(r.log2fc is not None and math.isinf(r.log2fc) for r in held)
    assert any(r.padj is not None and math.isnan(r.padj) for r in held) and any(r.padj is None for r in held)
    documents = [h["_source"] for h in search_engine().search(index=INDEX, size=100)["hits"]["hits"]]
    return CatalogueReference(rows, documents)


def walk(query: dict[str, str]) -> list[dict]:
    out, cursor = [], None
    while True:
        answer = get(f"/v1/datasets/{DATASET}/rows", [*query.items(), ("limit", "7"),
                                                      *([("cursor", cursor)] if cursor else [])])
        assert answer.status == 200, answer.text
        out += answer.json["rows"]
        if not (cursor := answer.json["next_cursor"]):
            return out


def number(cut: dict[str, str], name: str) -> float | None:
    return float(cut[name]) if name in cut else None


@pytest.mark.parametrize("cut", CUTS, ids=lambda c: "&".join(f"{k}={v}" for k, v in c.items()))
def test_rows_pages_cut_as_the_brute_force(special: CatalogueReference, cut: dict[str, str]):
    want = special.rows_of(DATASET, max_padj=number(cut, "max_padj"), min_abs_log2fc=number(cut, "min_abs_log2fc"))
    got = walk(cut)
    assert [(r["perturbation"]["perturbation_gene_name"], r["phenotype"]["phenotype_gene_name"]) for r in got] == [
        (r.perturbation, r.phenotype) for r in want], cut
    assert got == [special.row(r) for r in want]


def test_the_cuts_keep_and_drop_what_the_contract_says(special: CatalogueReference):
    """The rule itself, on this dataset's values: NULL and NaN are never kept; ±Infinity pass the fold-change cut
    however large; a row exactly at a threshold is kept."""
    held = special.rows_of(DATASET)
    kept = {(r.perturbation, r.phenotype) for r in special.rows_of(DATASET, min_abs_log2fc=1.7976931348623157e308)}
    assert kept and all(r.log2fc is not None and abs(r.log2fc) >= 1.7976931348623157e308 for r in held
                        if (r.perturbation, r.phenotype) in kept)
    assert {(r.perturbation, r.phenotype) for r in held if r.log2fc is not None and math.isinf(r.log2fc)} <= kept
    at = special.rows_of(DATASET, max_padj=0.1)
    assert any(r.padj == 0.1 for r in at) and not any(r.padj is None or math.isnan(r.padj) for r in at)
    assert len(walk({"max_padj": "0.1"})) == len(at)
    assert expected(special, INDEX, {"max_padj": "1", "dataset_metadata": DATASET}), "the search cases have answers"


@pytest.mark.parametrize("cut", CUTS, ids=lambda c: "&".join(f"{k}={v}" for k, v in c.items()))
def test_search_cuts_as_the_brute_force(special: CatalogueReference, cut: dict[str, str]):
    for params in ({**cut, "dataset_metadata": DATASET}, {**cut, "perturbation_gene_name": "P3"},
                   {**cut, "group_by": "phenotype_gene_name", "dataset_metadata": DATASET}):
        got, want = call(**params), expected(special, INDEX, params)
        assert approx_equal(got, want), params
