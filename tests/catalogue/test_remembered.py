"""Documents a warm function remembers (catalogue/remembered.py): the key's rules, and, on the real stores, that a
second answer needs no Elasticsearch request yet is the answer fetched documents give. That a dataset's new document
is answered after its load, by a function that remembered the old one: tests/ingestion/test_reloads.py."""
from __future__ import annotations

from typing import Any

import pytest
from catalogue import remembered
from catalogue.clients import Stores

from tests.api import get
from tests.support import LOOP, fetch


def docs(*ids: str) -> list[dict[str, Any]]:
    return [{"dataset_id": i} for i in ids]


@pytest.fixture(autouse=True)
def nothing_remembered():
    remembered.forget()
    yield
    remembered.forget()


def test_a_key_recalls_only_what_it_kept():
    remembered.keep(("g-1", 3), docs("a", "b"))
    assert remembered.recall(("g-1", 3), ["a", "c", "b"]) == (docs("a", "b"), ["c"])
    assert remembered.recall(("g-1", 4), ["a"]) == ([], ["a"])  # the ingestion changed a document since
    assert remembered.recall(("g-2", 3), ["a"]) == ([], ["a"])  # another generation


def test_a_newer_key_forgets_the_older_one_and_an_older_key_keeps_nothing():
    remembered.keep(("g-1", 3), docs("a"))
    remembered.keep(("g-1", 2), docs("b"))  # a request that read the catalogue before the last change
    assert remembered.recall(("g-1", 3), ["a", "b"]) == (docs("a"), ["b"])
    remembered.keep(("g-1", 4), docs("b"))
    assert remembered.recall(("g-1", 4), ["a", "b"]) == (docs("b"), ["a"])
    remembered.keep(("g-2", 0), docs("c"))  # a whole load's new generation
    assert remembered.recall(("g-2", 0), ["b", "c"]) == (docs("c"), ["b"])


def test_past_the_bound_everything_is_forgotten(monkeypatch):
    monkeypatch.setattr(remembered, "MOST", 3)
    remembered.keep(("g-1", 0), docs("a", "b"))
    remembered.keep(("g-1", 0), docs("c"))
    assert remembered.recall(("g-1", 0), ["a", "b", "c"]) == (docs("a", "b", "c"), [])
    remembered.keep(("g-1", 0), docs("d"))
    assert remembered.recall(("g-1", 0), ["a", "b", "c", "d"]) == (docs("d"), ["a", "b", "c"])


def document(dataset_id: str, tissue: str, *more: str) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "tissue_labels": [tissue, *more], "sex_labels": ["female"]}


def test_a_kept_documents_object_is_made_once_and_never_outlives_it():
    from catalogue.answers import to_json
    from catalogue.objects import dataset
    kept, other = document("a", "blood"), document("a", "blood")
    remembered.keep(("g-1", 0), [kept])
    first = remembered.dataset_json(kept)
    assert first == to_json(dataset(kept)) and b'"tissue":"blood"' in first
    assert remembered.dataset_json(kept) is first, "made once for the document kept"
    assert remembered.dataset_json(other) == first and remembered.dataset_json(other) is not first, "made anew"
    newer = document("a", "liver")  # the same key given a document again (another request fetched it)
    remembered.keep(("g-1", 0), [newer])
    assert b'"tissue":"liver"' in remembered.dataset_json(newer)
    remembered.keep(("g-1", 1), [kept])  # a newer key
    assert remembered.dataset_json(kept) == first and remembered.dataset_json(kept) is not first


def test_a_faulty_document_raises_every_time():
    from catalogue.errors import DataIntegrity
    faulty = document("a", "blood", "liver")
    remembered.keep(("g-1", 0), [faulty])
    for _ in range(2):
        with pytest.raises(DataIntegrity):
            remembered.dataset_json(faulty)


def test_only_a_generation_with_a_count_is_a_key(catalogue: dict):
    [(generation,)] = fetch(catalogue["database"], "SELECT documents_index FROM catalogue_state")

    async def keys() -> list[Any]:  # (a generation is judged by the function's settings, read in its loop)
        return [remembered.key(generation, 0), remembered.key(generation, None), remembered.key(None, 0),
                remembered.key("another-index-20260101", 0)]
    # A catalogue without the sequence; one read through the alias (production's own index); not ES_INDEX's.
    assert LOOP.run_until_complete(keys()) == [(generation, 0), None, None, None]


@pytest.fixture
def elasticsearch_calls(monkeypatch) -> list[str]:
    """The API's Elasticsearch requests (searches and multi-gets), counted on the real client."""
    calls: list[str] = []
    search, found = Stores.search, Stores.found

    async def counted_search(self, index=None, **body):
        calls.append("search")
        return await search(self, index, **body)

    async def counted_found(self, index, ids):
        calls.append("mget")
        return await found(self, index, ids)

    monkeypatch.setattr(Stores, "search", counted_search)
    monkeypatch.setattr(Stores, "found", counted_found)
    return calls


def gene_in_many_datasets(database: str) -> str:
    [(gene,)] = fetch(database, "SELECT gene_name FROM perturb_seq_gene_datasets WHERE role = 'perturbation' "
                                "GROUP BY gene_name ORDER BY count(*) DESC, gene_name LIMIT 1")
    return gene


@pytest.mark.parametrize("path", ["/v1/search?perturbation_gene_name={gene}", "/v1/search?limit=5",
                                  "/v1/search?perturbation_gene_name={gene}&max_padj=0.5",
                                  "/v1/search?group_by=phenotype_gene_name", "/v1/genes/{gene}",
                                  "/v1/genes/{gene}/rows?limit=20"])
def test_a_second_answer_reads_no_documents_and_is_the_fetched_answer(catalogue: dict, elasticsearch_calls: list,
                                                                       monkeypatch, path: str):
    path, _, query = path.format(gene=gene_in_many_datasets(catalogue["database"])).partition("?")
    first = get(path, query)
    assert first.status == 200 and elasticsearch_calls  # nothing remembered yet: the documents were fetched
    elasticsearch_calls.clear()
    second = get(path, query)
    assert (second.status, second.text, elasticsearch_calls) == (200, first.text, [])
    monkeypatch.setattr(remembered, "key", lambda generation, written: None)  # as before: fetched every time
    fetched = get(path, query)
    assert (fetched.status, fetched.text) == (200, first.text) and elasticsearch_calls
