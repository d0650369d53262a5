"""Dataset documents in Elasticsearch (docs/contract.md, "Data" and "Loading data"): written after PostgreSQL
commits, removed after it deletes; a whole catalogue replaced without readers ever missing an index.

The name the API reads (ES_INDEX, `dataset-summary-v1`) is an alias of one concrete index, a *generation*:
`<alias>-<UTC time>`. A whole-catalogue load builds the next generation beside the current one, then moves the
alias to it in one atomic alias action, so a reader never sees the index missing, empty or without its mapping
(the failure of deleting and re-creating an index in place). The previous generation is kept until the next
whole load (a reader that began with it can still finish); older ones are deleted then. PostgreSQL records which
generation holds the documents of its catalogue (catalogue_state), in the transaction that swaps the catalogue in:
the API reads documents from the generation its rows belong to, so no answer mixes two catalogues.

Production's index may still be a concrete index named like the alias: the first whole load migrates it (the
alias action removes that index and adds the alias in one step). Per-dataset loads write through the alias (or to
that concrete index, before any migration).

No explicit mapping: production indexes were made by dynamic mapping (text with a .keyword sub-field), so are
these. A document's _id is its dataset_id.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0}


def generation_name(alias: str, now: datetime | None = None) -> str:
    """A new generation's concrete index name (sorts by time)."""
    return f"{alias}-{(now or datetime.now(UTC)):%Y%m%d%H%M%S%f}"


def generations(es: Elasticsearch, alias: str) -> list[str]:
    """The concrete generations of `alias` that exist (whether the alias points at them or not), oldest first."""
    found = es.options(ignore_status=404).indices.get(index=f"{alias}-*", expand_wildcards="open")
    return sorted(name for name in (found.body if hasattr(found, "body") else found) or {}
                  if name[len(alias) + 1:].isdigit())


def current(es: Elasticsearch, alias: str) -> str | None:
    """The concrete index `alias` names: the generation it points at, the concrete index of that very name
    (production's, before its migration), or None when neither exists."""
    if es.indices.exists_alias(name=alias):
        generations: dict[str, Any] = es.indices.get_alias(name=alias).body  # index -> its aliases
        return next(iter(generations))
    return alias if es.indices.exists(index=alias) else None


def ensure_index(es: Elasticsearch, alias: str) -> str:
    """The concrete index documents of `alias` go to, made (a first generation, with its alias) when there is none."""
    found = current(es, alias)
    if found is not None:
        return found
    first = generation_name(alias)
    es.options(ignore_status=400).indices.create(index=first, settings=SETTINGS, aliases={alias: {}})
    return current(es, alias) or first


class MissingGeneration(RuntimeError):
    """PostgreSQL's catalogue reads its documents from a generation Elasticsearch does not have (restored from an
    older snapshot, or its indexes deleted): a dataset's document written anywhere else would never be read."""

    def __init__(self, generation: str) -> None:
        super().__init__(
            f"PostgreSQL's catalogue reads its documents from Elasticsearch index {generation}, which Elasticsearch "
            "does not have: no dataset is served until a whole-catalogue load rebuilds the documents "
            "(`make ingest-all`, or `python -m ingestion replace <folder>`); nothing was changed")


def ready(es: Elasticsearch, alias: str, generation: str | None, writes: bool = True) -> str:
    """The index a load writes documents to: the generation PostgreSQL's catalogue belongs to (the alias is moved
    to it first if a whole load stopped before moving it), or, before any whole load, the alias's index.

    Raises MissingGeneration when that generation is gone and the caller `writes` a dataset's document there; a
    whole load (which builds its own generation), a delete or a gene reference load goes on without it."""
    if generation is None:
        return ensure_index(es, alias)
    if not es.indices.exists(index=generation):
        if writes:
            raise MissingGeneration(generation)
        return generation
    if current(es, alias) != generation:
        switch(es, alias, generation)
    return generation


def put(es: Elasticsearch, index: str, document: dict[str, Any]) -> None:
    es.index(index=index, id=document["dataset_id"], document=document, refresh=True)


def remove(es: Elasticsearch, index: str, dataset_id: str) -> None:
    es.options(ignore_status=404).delete(index=index, id=dataset_id, refresh=True)


def build_generation(es: Elasticsearch, alias: str, documents: list[dict[str, Any]]) -> str:
    """A new generation holding exactly `documents`, refreshed, not yet named by the alias; its name."""
    index = generation_name(alias)
    es.indices.create(index=index, settings=SETTINGS)
    helpers.bulk(es, ({"_index": index, "_id": d["dataset_id"], "_source": d} for d in documents), refresh=True)
    return index


def switch(es: Elasticsearch, alias: str, index: str) -> None:
    """The alias moved to `index` in one atomic action (a concrete index named like the alias is removed in the
    same action: the migration); then every generation older than the one it pointed at before is deleted."""
    before = current(es, alias)
    if before == alias:  # production's concrete index: replaced by the alias in the same step
        actions: list[dict[str, Any]] = [{"remove_index": {"index": alias}}]
    else:
        actions = [{"remove": {"index": old, "alias": alias}} for old in ([before] if before else [])]
    es.indices.update_aliases(actions=[*actions, {"add": {"index": index, "alias": alias}}])
    keep = {index, *([before] if before and before != alias else [])}
    for old in generations(es, alias):
        if old not in keep:
            es.options(ignore_status=404).indices.delete(index=old)
