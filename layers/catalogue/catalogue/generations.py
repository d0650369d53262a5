"""Which catalogue an answer reads, so that none mixes two (docs/contract.md, "Reloads").

A whole-catalogue load swaps PostgreSQL's catalogue in one transaction and moves Elasticsearch's alias to a new
generation of documents (a concrete index) in one alias action, but the two happen one after the other. With its
catalogue PostgreSQL keeps the name of the generation that holds its datasets' documents (catalogue_state), and an
answer that reads both stores reads the documents of PostgreSQL's generation:
* read PostgreSQL first, then ask Elasticsearch for that generation by name;
* read Elasticsearch first (or both at once), then compare the generation its hits came from with PostgreSQL's,
  and in the moment between the swap and the alias's move, when they differ, read Elasticsearch again from
  PostgreSQL's generation (so only then does a request make a second Elasticsearch call).
A catalogue that has no generation yet (production's own index, before the project's first whole load) is read
through the alias as it is; so is one whose generation is not one of ES_INDEX's (the function was pointed at
another index: that choice stands).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .clients import stores

# The generation the catalogue PostgreSQL reads belongs to, as a value, and as a column of an answer's query; with it,
# how many times the ingestion has changed one of its documents in place (remembered.py), as a value and a column.
VALUE = "(SELECT documents_index FROM catalogue_state)"
# None where the sequence is missing or not granted (a catalogue made before it, until its next whole load): nothing
# is remembered. pg_sequence_last_value is what the pg_sequences view reads (NULL before the first value); the view
# itself cost 0.2-0.3 ms of planning in every statement, this 0.01-0.03.
WRITTEN = ("(SELECT CASE WHEN s IS NOT NULL AND has_sequence_privilege(s, 'SELECT') "
           "THEN coalesce(pg_sequence_last_value(s), 0) END "
           "FROM to_regclass('public.catalogue_documents_written') s)")
SQL = f"{VALUE} AS generation, {WRITTEN} AS written"


def seen(hits: Sequence[Mapping[str, Any]]) -> str | None:
    """The generation Elasticsearch's hits came from (None without hits)."""
    return hits[0]["_index"] if hits else None


def of_alias(postgresql: str | None) -> str | None:
    """PostgreSQL's generation when it is one of ES_INDEX's (`<ES_INDEX>-<time>`), else None (read the alias)."""
    alias = stores().config.es_index
    return postgresql if postgresql and postgresql.startswith(f"{alias}-") else None


def stale(elasticsearch: str | None, postgresql: str | None) -> bool:
    """Whether Elasticsearch answered from another generation of ES_INDEX than PostgreSQL's catalogue belongs
    to."""
    generation = of_alias(postgresql)
    return generation is not None and elasticsearch is not None and elasticsearch != generation
