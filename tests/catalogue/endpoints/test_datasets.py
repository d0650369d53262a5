"""GET /v1/datasets (docs/contract.md, "Dataset browsing") against a brute-force computation: filters, totals,
multi-select facets, paging."""
from __future__ import annotations

import random

import pytest

from tests.api import error, get
from tests.catalogue.reference import LABELS, byte_key, labels_of, relevance_order


def walk(query: list[tuple[str, str]], limit: int = 7) -> tuple[list[dict], list[dict]]:
    """Every page from the first, by next_cursor: (the pages' bodies, every entry in order)."""
    pages, cursor = [], None
    while True:
        answer = get("/v1/datasets", [*query, ("limit", str(limit)), *([("cursor", cursor)] if cursor else [])])
        assert answer.status == 200, answer.text
        pages.append(answer.json)
        cursor = answer.json["next_cursor"]
        assert ("link" in answer.headers) == (cursor is not None)
        assert len(answer.json["datasets"]) == limit or cursor is None
        if cursor is None:
            return pages, [e for p in pages for e in p["datasets"]]


TEXTS = ["blood", "knockdown", "K562 cell", "normal", "adult male", "cell", "epithelial cell", "leukemia"]  # the
# last three order datasets otherwise than by id (test_search_contract.test_relevance_is_not_the_id_order)
NON_EMPTY_FLOOR = 0.5  # as in test_search_contract: a family that mostly compares [] with [] checks little


def cases(ref, count: int, seed: int) -> list[list[tuple[str, str]]]:
    """Queries of two kinds: most are drawn around one dataset (each chosen facet offers its label among others, the
    text is often one of its labels), so that they mostly match it; the rest draw each facet's values from any
    datasets, so that they often match nothing. Other texts come from TEXTS."""
    rng = random.Random(seed)
    documents = [ref.documents[i] for i in sorted(ref.documents, key=byte_key)]
    out = []
    for _ in range(count):
        anchor = labels_of(rng.choice(documents)) if rng.random() < 0.7 else None
        query: list[tuple[str, str]] = []
        for facet in rng.sample(LABELS, rng.randint(0, 3)):
            if anchor is not None and anchor[facet] is None:
                continue  # a filter on a facet the anchor has no label for would exclude it
            values = {labels_of(rng.choice(documents))[facet] for _ in range(rng.randint(1, 3))} - {None}
            values |= {anchor[facet]} if anchor is not None else set()
            query += [(facet, v) for v in sorted(values)] or [(facet, "no such label")]
        if rng.random() < 0.3:
            own = [v for v in (anchor or {}).values() if v]
            query.append(("dataset_metadata", rng.choice(own) if own and rng.random() < 0.5 else rng.choice(TEXTS)))
        out.append(query)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_walking_every_page_matches_brute_force(ref, catalogue, seed: int):
    count, non_empty = 10, 0
    for query in cases(ref, count, seed):
        text = dict(query).get("dataset_metadata")
        filters = {f: [v for k, v in query if k == f] for f in LABELS}
        order = (relevance_order(catalogue["index"], text, ref.matching_datasets(text)) if text
                 else sorted(ref.documents, key=byte_key))
        want = ref.datasets(text, filters, order)
        pages, entries = walk(query)
        assert [e["dataset"]["dataset_id"] for e in entries] == want["ids"], query
        assert all(p["total"] == want["total"] and p["facets"] == want["facets"] for p in pages), query
        for e in entries:
            dataset_id = e["dataset"]["dataset_id"]
            assert e["dataset"] == {"dataset_id": dataset_id, **labels_of(ref.documents[dataset_id])}
            statistics = {k: v for k, v in e["statistics"].items() if k != "ingested_at"}
            assert statistics == ref.statistics(dataset_id) and e["statistics"]["ingested_at"]
        non_empty += bool(want["ids"])
    assert non_empty >= NON_EMPTY_FLOOR * count, f"only {non_empty} of {count} queries match a dataset"


@pytest.mark.parametrize("text", ["cell", "epithelial cell", "leukemia", "T cell"])
def test_relevance_order_holds_across_pages(ref, catalogue, text: str):
    """Texts whose relevance order is not the id order (most texts tie in the test catalogue), walked by pages of
    3: the cursor carries the score, and the order is relevance_order's (which says what is independent)."""
    order = relevance_order(catalogue["index"], text, ref.matching_datasets(text))
    assert order != sorted(order, key=byte_key) and len(order) > 3
    pages, entries = walk([("dataset_metadata", text)], limit=3)
    assert [e["dataset"]["dataset_id"] for e in entries] == order and len(pages) > 1


def test_unfiltered_pages_cover_the_catalogue_once_in_id_order(ref, catalogue):
    _, entries = walk([], limit=23)
    ids = [e["dataset"]["dataset_id"] for e in entries]
    assert ids == sorted(ref.documents, key=byte_key) and len(ids) == catalogue["datasets"]


def test_multi_select_facets_keep_other_values_of_the_chosen_facet(ref):
    body = get("/v1/datasets", "tissue=blood&limit=1").json
    assert {v["value"] for v in body["facets"]["tissue"]} == {labels_of(d)["tissue"] for d in ref.documents.values()}
    assert body["total"] == sum(labels_of(d)["tissue"] == "blood" for d in ref.documents.values())
    assert len({v["value"] for v in body["facets"]["tissue"]}) > 3, "the test catalogue has several tissues"


def test_a_dataset_with_metadata_but_no_rows_has_zero_statistics(catalogue, with_index):
    with_index([{"dataset_id": "zz_metadata_only", "tissue_labels": ["lung"]}])
    [entry] = get("/v1/datasets", "dataset_metadata=zz_metadata_only").json["datasets"]
    assert entry["statistics"] == {"n_rows": 0, "n_significant_rows": 0, "n_perturbations": 0, "n_phenotypes": 0,
                                   "ingested_at": None}
    assert entry["dataset"]["cell_type"] is None


def test_a_cursor_is_bound_to_its_filters_and_cannot_be_forged():
    cursor = get("/v1/datasets", "tissue=blood&limit=2").json["next_cursor"]
    assert cursor
    assert get("/v1/datasets", [("tissue", "blood"), ("limit", "5"), ("cursor", cursor)]).status == 200
    for query in ([("tissue", "liver"), ("cursor", cursor)], [("cursor", cursor)],
                  [("tissue", "blood"), ("cursor", cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB"))],
                  [("tissue", "blood"), ("cursor", "abc.def")]):
        body = error(get("/v1/datasets", query), 400, "invalid_parameter")
        assert [d["parameter"] for d in body["details"]] == ["cursor"]
    rows_cursor = get("/v1/datasets/datlinger_2017/rows", "limit=1").json["next_cursor"]
    error(get("/v1/datasets", [("cursor", rows_cursor)]), 400, "invalid_parameter")


def test_facet_values_are_exact_and_case_sensitive(ref):
    assert get("/v1/datasets", "tissue=Blood").json["total"] == 0
    assert get("/v1/datasets", "tissue=blood").json["total"] > 0
