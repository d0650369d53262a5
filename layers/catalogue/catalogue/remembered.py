"""The dataset documents a warm function remembers between requests, so that an answer naming many datasets does not
fetch their documents from Elasticsearch every time.

Why: a search for a gene in 162 of 1,200 datasets spent 8.7 of its 16 ms in that one Elasticsearch request, a gene's
page across the catalogue 16 of 29 ms, and even a one-dataset answer about 5 ms (2026-12-03, 1,200 datasets / 35 M
rows; docs/decisions.md, "Documents remembered"). Documents change only when the ingestion writes them.

Why it is safe: what is remembered is keyed by what PostgreSQL's catalogue says, in the very statement that answers,
about its documents (generations.py): the generation that holds them, and `written`, how many times the ingestion has
changed one of them in place (the sequence catalogue_documents_written). The ingestion advances `written` only after
Elasticsearch took a dataset's document write or removal (SPEC 7: the document is written after PostgreSQL commits).
So a request that reads a value of `written` began after every change that value counts, and a document it fetches
is at least as new as that key says; when the key moves on, everything remembered under the old one is forgotten. A
whole load makes a new generation, so a new key. A catalogue read through the alias (no generation: production's own
index before the project's first whole load, or another index the function was pointed at) is never remembered:
nothing would tell when its documents change. A write made outside the ingestion is not seen until the next key.

What is kept: the `_source` of each document fetched (the API's eight fields), at most MOST documents (about 1.1 KB
each as Python objects, measured with tracemalloc: 23 MB at most of a 512 MB function; the public catalogue has about
1,200 datasets, 1.4 MB): past that, everything is forgotten and fetched again. A dataset without a document is not
remembered (it is asked for again): that is a load half done, and short-lived. Beside each document kept, its dataset
object's JSON once an answer has needed it (`dataset_json`, 0.26 KB): an unfiltered search names one per dataset,
3.1 ms of objects for 1,128 datasets when made anew every time.
"""
from __future__ import annotations

from typing import Any

from . import generations
from .answers import to_json
from .objects import dataset

MOST = 20_000

Key = tuple[str, int]  # a generation of ES_INDEX, and how many in-place document changes it had when read

_key: Key | None = None
_documents: dict[str, dict[str, Any]] = {}
_objects: dict[str, bytes] = {}  # dataset_id -> the dataset object's JSON of the document kept for it


def key(generation: str | None, written: int | None) -> Key | None:
    """The key of PostgreSQL's catalogue's documents as an answer read them, or None where none may be remembered."""
    generation = generations.of_alias(generation)
    return (generation, written) if generation is not None and written is not None else None


def recall(at: Key, dataset_ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The remembered documents of these datasets under the key `at`, and the datasets not remembered (in order)."""
    if at != _key:
        return [], dataset_ids
    known = [_documents[d] for d in dataset_ids if d in _documents]
    return known, [d for d in dataset_ids if d not in _documents]


def keep(at: Key, documents: list[dict[str, Any]]) -> None:
    """Remembers documents fetched under the key `at` (a newer key forgets what an older one kept; an older key than
    the one remembered keeps nothing, as it may be older than what is held)."""
    global _key
    if at != _key:
        if _key is not None and _key[0] == at[0] and at[1] < _key[1]:
            return
        _clear()
        _key = at
    if len(_documents) + len(documents) > MOST:
        _clear()
    for document in documents:
        _documents[document["dataset_id"]] = document
        _objects.pop(document["dataset_id"], None)


def dataset_json(document: dict[str, Any]) -> bytes:
    """The dataset object of a document as JSON (objects.dataset, answers.to_json): made once for a document this
    process keeps (that very dict, as `recall` returned it), anew for any other. A document whose labels are faulty
    raises DataIntegrity every time: nothing is kept for it."""
    dataset_id = document["dataset_id"]
    if _documents.get(dataset_id) is not document:
        return to_json(dataset(document))
    made = _objects.get(dataset_id)
    if made is None:
        made = _objects[dataset_id] = to_json(dataset(document))
    return made


def _clear() -> None:
    _documents.clear()
    _objects.clear()


def forget() -> None:
    """Forgets everything (tests; a SnapStart restore needs not: a key is checked on every request)."""
    global _key
    _key = None
    _clear()
