"""Dataset metadata documents in Elasticsearch (docs/contract.md, "Dataset documents"): text search, facet filters and
counts, one document.

Production indexes were made by dynamic mapping: labels are `text` with a `.keyword` sub-field, which exact
filters and facet counts use (byte order of UTF-8 = code-point order, as the contract's "ties by value" needs).
"""
from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from catalogue_common.vocabulary import LABELS

from . import generations, remembered
from .clients import stores
from .errors import NotFound

FIELDS = ["dataset_id", *(f"{name}_labels" for name in LABELS)]
FACET_VALUES = 50  # docs/contract.md, "Dataset browsing": at most 50 values per facet
SHARD_SIZE = 10_000  # exact counts on any number of shards while a facet has fewer distinct values
PAGE = 10_000  # Elasticsearch's default result window; more hits are read with search_after
ORDER = [{"_score": "desc"}, {"dataset_id.keyword": "asc"}]  # relevance, ties by dataset_id (byte order)
Filters = dict[str, list[str]]  # facet -> accepted labels (ORed); facets are ANDed


class Hit(TypedDict):
    """A hit as the API reads it: its document's fields (`_source`), the index it came from (a generation:
    generations.py) and, in a sorted search, its sort values (a cursor's key)."""
    _index: str
    _source: dict[str, Any]
    sort: NotRequired[list[Any]]


def text_query(text: str | None) -> dict[str, Any]:
    """Plain words over the eight fields, ANDed, case-insensitive; query syntax is never interpreted."""
    if not text:
        return {"match_all": {}}
    return {"multi_match": {"query": text, "fields": FIELDS, "type": "cross_fields", "operator": "and"}}


def facet_filters(filters: Filters, leave_out: str | None = None) -> list[dict[str, Any]]:
    return [{"terms": {f"{facet}_labels.keyword": values}}
            for facet, values in filters.items() if values and facet != leave_out]


def facet_aggregations(filters: Filters) -> dict[str, Any]:
    """Multi-select faceting: each facet counted over the datasets matching every *other* facet's filter."""
    return {facet: {"filter": {"bool": {"filter": facet_filters(filters, leave_out=facet)}},
                    "aggs": {"values": {"terms": {"field": f"{facet}_labels.keyword", "size": FACET_VALUES,
                                                  "shard_size": SHARD_SIZE,
                                                  "order": [{"_count": "desc"}, {"_key": "asc"}]}}}}
            for facet in LABELS}


def facets(aggregations: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {facet: [{"value": b["key"], "count": b["doc_count"]} for b in aggregations[facet]["values"]["buckets"]]
            for facet in LABELS}


async def one(dataset_id: str, index: str | None = None) -> Hit:
    """The hit of `dataset_id`'s document (matched on the field, not on _id; `_source` and `_index`), or 404."""
    page = await stores().search(index, query={"term": {"dataset_id.keyword": dataset_id}}, size=1, _source=FIELDS,
                                 track_total_hits=False)
    hits: list[Hit] = page["hits"]["hits"]
    if not hits:
        raise NotFound(f"There is no dataset {dataset_id}.")
    return hits[0]


async def ranked(text: str | None, after: list[Any] | None = None, index: str | None = None,
                 first: int | None = None) -> list[Hit]:
    """The hits of the text in output order (relevance, then dataset_id), after the sort values `after`: each hit
    with its `_source` (the API's fields), its `_index` and its `sort` values (a cursor's key). Every hit, or with
    `first`, the first `first` of them (one request while `first` ≤ 10,000)."""
    hits: list[Hit] = []
    while True:
        size = PAGE if first is None else min(PAGE, first - len(hits))
        page = await stores().search(index, query=text_query(text), size=size, _source=FIELDS, track_total_hits=False,
                                     sort=ORDER, **({"search_after": after} if after else {}))
        found: list[Hit] = page["hits"]["hits"]
        hits += found
        if len(found) < size or (first is not None and len(hits) >= first):
            return hits
        after = found[-1]["sort"]


async def many(dataset_ids: list[str], index: str | None = None, fields: list[str] = FIELDS) -> list[dict[str, Any]]:
    """The documents of these datasets (matched on the field, not on _id), in no particular order; a dataset
    without a document is absent. `index`: the generation to read (generations.py), else the alias; `fields`: what
    of each document to read. (A multi-get of their _ids in a generation was slower wherever sources are read: 62
    against 47 ms for the whole unfiltered search's 1,000 documents, 8.7 against 7.7 for a page of 50;
    docs/decisions.md, "Documents by id in a generation".)"""
    if not dataset_ids:
        return []
    page = await stores().search(index, query={"terms": {"dataset_id.keyword": dataset_ids}}, size=len(dataset_ids),
                                 _source=fields, track_total_hits=False)
    return [hit["_source"] for hit in page["hits"]["hits"]]


async def of_catalogue(dataset_ids: list[str], generation: str | None, written: int | None) -> list[dict[str, Any]]:
    """The documents of these datasets (as `many`), in the generation PostgreSQL's catalogue belongs to as an answer
    read it (`generation`, `written`: generations.SQL): those this process remembers under that key, and the others
    from Elasticsearch (one request, none when every one is remembered), then remembered (remembered.py)."""
    at = remembered.key(generation, written)
    if at is None:
        return await many(dataset_ids, generations.of_alias(generation))
    return await _remembering(at, dataset_ids)


async def _remembering(at: remembered.Key, dataset_ids: list[str]) -> list[dict[str, Any]]:
    """The documents remembered under `at`, and the others fetched from its generation (none asked for when every one
    is remembered), then remembered."""
    known, missing = remembered.recall(at, dataset_ids)
    fetched = await many(missing, at[0])
    remembered.keep(at, fetched)
    return known + fetched


async def present(dataset_ids: list[str], generation: str | None = None) -> set[str]:
    """Which of these datasets have a document (SPEC 5.1: rows without one are never served). In a generation (the
    ingestion's, whose _ids are dataset_ids) one multi-get of those _ids without sources; through the alias (which
    may name an index made before the project, whose _ids are not known) a search reading only `dataset_id`."""
    if generation is not None:
        return await stores().found(generation, dataset_ids)
    return {d["dataset_id"] for d in await many(dataset_ids, fields=["dataset_id"])}


async def present_in_catalogue(dataset_ids: list[str], generation: str | None, written: int | None) -> set[str]:
    """Which of these datasets have a document (as `present`) in PostgreSQL's catalogue's generation as an answer read
    it. Where documents may be remembered, their documents (`of_catalogue`: none fetched when every one is
    remembered, and those fetched are then remembered), else a multi-get without sources."""
    at = remembered.key(generation, written)
    if at is None:
        return await present(dataset_ids, generations.of_alias(generation))
    return {d["dataset_id"] for d in await _remembering(at, dataset_ids)}
