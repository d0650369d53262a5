"""A gene under more spellings in one dataset than a dataset shows groups (docs/contract.md, "Genes" and "Search"):
SEPTIN2 stored as SEPTIN2, SEPT2 (its previous symbol), DIFF6 and NEDD5 (its aliases) and ENSG00000168385.15 in one
dataset, in both roles. A search for it on the grouping's role answers from stored groups (endpoints/search/stored.py),
and that dataset has five groups of it, of which the answer shows the first three: whole (one range of the key, a
window per dataset) and walked in pages (a probe per dataset) alike, as brute force says.

Why its own catalogue: the demo data spells a gene two ways at most, so no test there can tell three groups from four.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
from catalogue_common.search.query import GROUPS_PER_DATASET
from catalogue_common.settings import settings
from ingestion import run as ingestion

from devtools.data import load_data
from tests.catalogue import gene_ties
from tests.catalogue.gene_reference import Book, read
from tests.catalogue.reference import CatalogueReference, Row, approx_equal
from tests.catalogue.test_search_contract import call, expected, walk
from tests.conftest import TEST_GENES
from tests.support import LOOP, drop_index, fetch, search_engine

DATABASE, INDEX = "catalogue_spellings", "test-spellings-dataset-summary-v1"
SPELLINGS = ("SEPTIN2", "SEPT2", "DIFF6", "NEDD5", "ENSG00000168385.15")
PARTNERS = 4


def _rows(rng: random.Random, spellings: tuple[str, ...]) -> list[tuple]:
    """Each spelling against PARTNERS partners, in each role; every row significant (padj < 0.05), so that every
    spelling is a group (SPEC 3.2: a gene absent from its summary view is never a group)."""
    out = []
    for spelling in spellings:
        for j in range(PARTNERS):
            for pair in ((spelling, f"P{j:02d}"), (f"G{j:02d}", spelling)):
                out.append((*pair, round(rng.uniform(-3, 3), 6), rng.uniform(1e-12, 0.04),
                            round(rng.uniform(1, 500), 3)))
    return out


@pytest.fixture(scope="module")
def spelled(stores_up: None, tmp_path_factory: pytest.TempPathFactory) -> CatalogueReference:
    """The catalogue (a dataset with all five spellings, one with two, one without the gene), loaded whole with the
    test reference; the functions pointed at it; its brute-force reference."""
    rng, folder = random.Random(11), tmp_path_factory.mktemp("spellings")
    folders = [gene_ties.dataset(folder, "spellings_00", _rows(rng, SPELLINGS)),
               gene_ties.dataset(folder, "spellings_01", _rows(rng, SPELLINGS[1:3])),
               gene_ties.dataset(folder, "spellings_02", _rows(rng, ("TP53",)))]
    target = settings("ingest").at(DATABASE, INDEX)
    drop_index(INDEX)
    LOOP.run_until_complete(load_data.ensure_database(DATABASE))
    summary = LOOP.run_until_complete(ingestion.load_all(target, folders, quiet=True))
    assert not summary.refusals
    assert LOOP.run_until_complete(ingestion.load_genes(target, Path(TEST_GENES), quiet=True)) is None
    rows = [Row(*r) for r in fetch(DATABASE, "SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange, padj,"
                                             " basemean FROM perturb_seq")]
    documents = [h["_source"] for h in search_engine().search(index=INDEX, size=100)["hits"]["hits"]]
    stored = {s for r in rows for s in (r.perturbation, r.phenotype)}
    return CatalogueReference(rows, documents, Book(read(Path(TEST_GENES)), stored))


@pytest.fixture
def pointed(spelled: CatalogueReference, with_stores) -> CatalogueReference:
    with_stores(ps_db=DATABASE, es_index=INDEX)
    return spelled


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
@pytest.mark.parametrize("term", ["SEPTIN2", "nedd5", "ENSG00000168385"])
@pytest.mark.parametrize("direction", [None, "increased", "decreased"])
def test_a_dataset_shows_its_first_three_groups_of_the_gene(pointed: CatalogueReference, role: str, term: str,
                                                            direction: str | None):
    params = {f"{role}_gene_name": term, "group_by": f"{role}_gene_name",
              **({"effect_direction": direction} if direction else {})}
    whole = call(**params)
    assert approx_equal(whole, expected(pointed, INDEX, params)), params
    assert walk(1, **params) == whole
    groups = {e["dataset"]["dataset_id"]: len(e[f"by_{role}"]) for e in whole}
    if direction is None:  # every spelling has rows: five groups in the first dataset, two in the second
        assert groups == {"spellings_00": GROUPS_PER_DATASET, "spellings_01": 2}, groups
