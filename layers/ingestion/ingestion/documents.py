"""Dataset documents in Elasticsearch (SPEC 2.1, 7): written after PostgreSQL commits, removed after it deletes.

No explicit mapping: production indexes were made by dynamic mapping (text with a .keyword sub-field), so are
these. The document's _id is its dataset_id.
"""
from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch, helpers


def ensure_index(es: Elasticsearch, index: str) -> None:
    if not es.indices.exists(index=index):
        es.options(ignore_status=400).indices.create(index=index, settings={"number_of_shards": 1,
                                                                             "number_of_replicas": 0})


def put(es: Elasticsearch, index: str, document: dict[str, Any]) -> None:
    ensure_index(es, index)
    es.index(index=index, id=document["dataset_id"], document=document, refresh=True)


def remove(es: Elasticsearch, index: str, dataset_id: str) -> None:
    es.options(ignore_status=404).delete(index=index, id=dataset_id, refresh=True)


def replace_all(es: Elasticsearch, index: str, documents: list[dict[str, Any]]) -> None:
    """The index holds exactly `documents` (a whole-catalogue load)."""
    es.options(ignore_status=404).indices.delete(index=index)
    ensure_index(es, index)
    helpers.bulk(es, ({"_index": index, "_id": d["dataset_id"], "_source": d} for d in documents), refresh=True)
