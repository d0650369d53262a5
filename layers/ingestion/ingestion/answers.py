"""Each dataset's stored search answers, written when the dataset is loaded (docs/decisions.md, "Search at the
catalogue's breadth" and "A gene's groups are stored"). Two relations, from one computation per grouping and
direction (no direction, `increased`, `decreased`):
* perturb_seq_search_groups: every group of the dataset (a group qualifies for a direction when it has a row with
  it), with its rank in the dataset and its top ten rows, as the answer's JSON. A search whose one gene filter is on
  the grouping's role, without threshold, answers each dataset with that gene's groups there, whatever else is in
  the catalogue: the API reads them (catalogue/endpoints/search/stored.py). Computed per request, a common gene's
  answer cost about 12 microseconds a row.
* perturb_seq_search_answers: the dataset's filter-free answer, its first three groups. A search without a gene filter
  or threshold (no filter, a direction, free text over the datasets) answers each dataset so; computed per request
  it cost about a millisecond per dataset (over a second for 1,000 datasets); stored, the API assembles it from JSON.

Both are computed by the same query and the same answer builder the API runs for the other searches
(catalogue_common.search), so stored and computed answers cannot differ. They are refilled for a dataset inside the
transaction that replaces the dataset's rows (readers see both change together), rebuilt whole by a whole-catalogue
load, and rebuilt when the gene reference changes (their objects name genes). Neither holds a row for a dataset and
variant without any group.
"""
from __future__ import annotations

from collections.abc import Callable
from itertools import groupby

import asyncpg
from catalogue_common.search import answer, query
from catalogue_common.vocabulary import ROLES, Direction, Role

NAME = "perturb_seq_search_answers"
GROUPS = "perturb_seq_search_groups"
NAMES = (NAME, GROUPS)
NO_DIRECTION = "any"
VARIANTS: tuple[tuple[Role, Direction | None], ...] = tuple(
    (group_by, direction) for group_by in ROLES for direction in (None, "increased", "decreased"))
BATCH_GROUPS = 20_000  # at most about this many groups (ten rows each) computed in one query
# A filter-free answer (about 7 KB of JSON) is kept as written, not pglz-compressed (PostgreSQL compresses a row over
# 2 KB unless the table's toast_tuple_target says more): an unfiltered search reads every dataset's, and decompressing
# them took about 40 % of its time (docs/decisions.md, "Filter-free answers are stored uncompressed"). A group (about
# 2.3 KB) stays compressed: the gain there was 5-7 % for 2.3 times the relation's size. A catalogue made before
# this gets it with its next whole-catalogue load (which makes the tables anew); until then it answers the same.
UNCOMPRESSED = "toast_tuple_target=8160"  # the most a row can hold on a page of 8 KB
_VARIANT = f"""
    group_by   text NOT NULL CHECK (group_by IN ('perturbation', 'phenotype')),
    direction  text NOT NULL CHECK (direction IN ('{NO_DIRECTION}', 'increased', 'decreased')),"""
CREATE = f"""
CREATE TABLE {NAME} (
    dataset_id text COLLATE "C" NOT NULL,  -- byte order: the API pages unfiltered searches by dataset_id{_VARIANT}
    groups     text NOT NULL,             -- the dataset's groups as JSON, as the search answer holds them
    PRIMARY KEY (group_by, direction, dataset_id)
) WITH ({UNCOMPRESSED});
CREATE TABLE {GROUPS} (
    dataset_id text COLLATE "C" NOT NULL,{_VARIANT}
    gene_name  text NOT NULL,             -- the group's gene, as the dataset spells it
    rank       integer NOT NULL,          -- the group's place among the dataset's (1: the most rows)
    group_json text NOT NULL,             -- the group as JSON, as the search answer holds it
    PRIMARY KEY (group_by, direction, gene_name, dataset_id) INCLUDE (rank)
);
"""


async def write(conn: asyncpg.Connection, dataset_ids: list[str],
                progress: Callable[[int], object] | None = None) -> int:
    """Computes and inserts the answers and groups of these datasets (none may be present yet), in batches of
    about BATCH_GROUPS groups; returns how many groups. `progress` is called with each batch's datasets."""
    written = 0
    for batch in await _batches(conn, dataset_ids):
        for group_by, direction in VARIANTS:
            written += await _write_variant(conn, batch, group_by, direction)
        if progress:
            progress(len(batch))
    return written


async def _batches(conn: asyncpg.Connection, dataset_ids: list[str]) -> list[list[str]]:
    """The datasets in batches whose groups (at most their perturbations and phenotypes) stay about BATCH_GROUPS."""
    sizes: dict[str, int] = {r[0]: r[1] for r in await conn.fetch(
        "SELECT dataset_id, n_perturbations + n_phenotypes FROM perturb_seq_dataset_statistics "
        "WHERE dataset_id = ANY($1)", dataset_ids)}
    batches: list[list[str]] = [[]]
    total = 0
    for dataset_id in dataset_ids:
        size = sizes.get(dataset_id) or 0
        if batches[-1] and total + size > BATCH_GROUPS:
            batches.append([])
            total = 0
        batches[-1].append(dataset_id)
        total += size
    return [b for b in batches if b]


async def _write_variant(conn: asyncpg.Connection, dataset_ids: list[str], group_by: Role,
                         direction: Direction | None) -> int:
    """Every group of these datasets for one grouping and direction, and each dataset's answer (its first groups)."""
    sql, args = query.build(query.Search(group_by, direction=direction, dataset_ids=dataset_ids,
                                         groups_per_dataset=None))
    variant = (group_by, direction or NO_DIRECTION)
    found = list(answer.by_group(group_by, await conn.fetch(sql, *args)))
    await conn.copy_records_to_table(GROUPS, records=[(g.dataset_id, *variant, g.gene_name, g.rank, g.json.decode())
                                                      for g in found],
                                     columns=["dataset_id", "group_by", "direction", "gene_name", "rank", "group_json"])
    datasets = [(dataset_id, *variant, answer.joined([g.json for g in groups]).decode())
                for dataset_id, groups in groupby((g for g in found if g.rank <= query.GROUPS_PER_DATASET),
                                                  key=lambda g: g.dataset_id)]
    await conn.copy_records_to_table(NAME, records=datasets, columns=["dataset_id", "group_by", "direction", "groups"])
    return len(found)


async def refill(conn: asyncpg.Connection, dataset_id: str) -> None:
    """The dataset's answers and groups as its rows now are (none when it was deleted); inside the caller's
    transaction."""
    for name in NAMES:
        await conn.execute(f"DELETE FROM {name} WHERE dataset_id = $1", dataset_id)
    await write(conn, [dataset_id])


async def rebuild(conn: asyncpg.Connection, progress: Callable[[int], object] | None = None) -> int:
    """Every dataset's answers and groups, written anew (a new gene reference: the objects name genes); `progress`
    is called with each batch's datasets."""
    for name in NAMES:
        await conn.execute(f"DELETE FROM {name}")  # not TRUNCATE: the writer role may not
    ids = [r[0] for r in await conn.fetch("SELECT dataset_id FROM perturb_seq_dataset_statistics")]
    return await write(conn, ids, progress)


async def upgrade(conn: asyncpg.Connection) -> None:
    """A catalogue from before the stored groups gets them, with its answers written anew (once, in the caller's
    transaction)."""
    await conn.execute(f"DROP TABLE IF EXISTS {NAME};" + CREATE)
    await write(conn, [r[0] for r in await conn.fetch("SELECT dataset_id FROM perturb_seq_dataset_statistics")])
