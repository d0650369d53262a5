"""The layer's tests share one brute-force reference over the whole test catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalogue.gene_reference import Book, read
from tests.catalogue.reference import CatalogueReference, Row
from tests.support import fetch, search_engine


@pytest.fixture(scope="session")
def ref(catalogue: dict) -> CatalogueReference:
    rows = [Row(*r) for r in fetch(catalogue["database"],
                                   "SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange, padj, basemean"
                                   " FROM perturb_seq")]
    es = search_engine()
    documents = [h["_source"] for h in es.search(index=catalogue["index"], size=10_000)["hits"]["hits"]]
    stored = {s for r in rows for s in (r.perturbation, r.phenotype)}
    return CatalogueReference(rows, documents, Book(read(Path(catalogue["genes"])), stored))
