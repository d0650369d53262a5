"""Each dataset's filter-free search answers, written when the dataset is loaded (docs/decisions.md, "Search at the
catalogue's breadth").

A search without a gene filter or threshold (no filter at all, a direction, free text over the datasets) answers,
for every dataset it returns, the same groups whatever else is in the catalogue: the dataset's top three groups
by each grouping, with their top ten rows, for no direction, `increased` or `decreased`. Computing them per request
cost about a millisecond per dataset, so the unfiltered answer over 1,000 datasets took over a second; written once
per load, the API assembles it from stored JSON. The groups are computed by the same query and the same answer
builder the API runs for filtered searches (catalogue_common.search), so stored and computed answers cannot differ.

The relation is refilled for a dataset inside the transaction that replaces the dataset's rows (readers see both
change together), rebuilt whole by a whole-catalogue load, and rebuilt when the gene reference changes (its objects
name genes). It holds no row for a dataset and variant without any group.
"""
from __future__ import annotations

from collections.abc import Callable

import asyncpg
from catalogue_common.search import answer, query
from catalogue_common.vocabulary import ROLES, Direction, Role

NAME = "perturb_seq_search_answers"
NO_DIRECTION = "any"
VARIANTS: tuple[tuple[Role, Direction | None], ...] = tuple(
    (group_by, direction) for group_by in ROLES for direction in (None, "increased", "decreased"))
CREATE = f"""
CREATE TABLE {NAME} (
    dataset_id text COLLATE "C" NOT NULL,  -- byte order: the API pages unfiltered searches by dataset_id
    group_by   text NOT NULL CHECK (group_by IN ('perturbation', 'phenotype')),
    direction  text NOT NULL CHECK (direction IN ('{NO_DIRECTION}', 'increased', 'decreased')),
    groups     text NOT NULL,             -- the dataset's groups as JSON, as the search answer holds them
    PRIMARY KEY (group_by, direction, dataset_id)
);
"""


async def write(conn: asyncpg.Connection, dataset_ids: list[str],
                progress: Callable[[int], object] | None = None) -> int:
    """Computes and inserts the answers of these datasets (none may be present yet); returns how many rows."""
    written = 0
    for group_by, direction in VARIANTS:
        sql, args = query.build(query.Search(group_by, direction=direction, dataset_ids=dataset_ids))
        groups = answer.by_dataset(group_by, await conn.fetch(sql, *args))
        rows = [(g.dataset_id, group_by, direction or NO_DIRECTION, g.groups.decode()) for g in groups]
        await conn.copy_records_to_table(NAME, records=rows, columns=["dataset_id", "group_by", "direction", "groups"])
        written += len(rows)
        if progress:
            progress(1)
    return written


async def refill(conn: asyncpg.Connection, dataset_id: str) -> None:
    """The dataset's answers as its rows now are (none when it was deleted); inside the caller's transaction."""
    await conn.execute(f"DELETE FROM {NAME} WHERE dataset_id = $1", dataset_id)
    await write(conn, [dataset_id])


async def rebuild(conn: asyncpg.Connection, progress: Callable[[int], object] | None = None) -> int:
    """Every dataset's answers, written anew (a new gene reference: the objects name genes); `progress` is called
    after each of the six variants."""
    await conn.execute(f"DELETE FROM {NAME}")  # not TRUNCATE: the writer role may not
    ids = [r[0] for r in await conn.fetch("SELECT dataset_id FROM perturb_seq_dataset_statistics")]
    return await write(conn, ids, progress)
