"""Ingestion tests write their own databases and index, from demo files written as input files (docs/contract.md, "Input
files")."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest
from catalogue_common.settings import Settings, settings
from ingestion import run

from devtools.data import demo_data, load_data
from tests.support import LOOP, drop_index

DATABASE, INDEX = "catalogue_ingest_test", "test-ingest-dataset-summary-v1"


def target(database: str = DATABASE, index: str = INDEX) -> Settings:
    return settings("ingest").at(database, index)


def ingest(coroutine):
    """Runs an ingestion coroutine on the tests' loop (ingestion opens and closes its own connections)."""
    return LOOP.run_until_complete(coroutine)


def fresh(database: str, folders: list[Path], index: str = INDEX, production_views: bool = False) -> None:
    LOOP.run_until_complete(load_data.ensure_database(database))
    summary = ingest(run.load_all(target(database, index), folders, production_views, quiet=True))
    assert not summary.refusals, summary.lines()


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory, stores_up) -> Path:
    """Two generations of demo files: `a` (seed 9, 6 datasets) and `b` (seed 10, 7 datasets); the first datasets'
    ids are the same, so b's folder of such a dataset is a new version of a's, and b has one dataset more."""
    root = tmp_path_factory.mktemp("demo-files")
    for name, seed, count in (("a", 9, 6), ("b", 10, 7)):
        demo_data.write(root / name, demo_data.plan(30_000, count, seed), seed)
    return root


async def _drop_database(database: str) -> None:
    conn = await asyncpg.connect(settings().superuser_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
def catalogue_a(demo_files: Path, tmp_path: Path) -> Path:
    """A fresh catalogue (a new database and index: no load record, no gene reference, no generation) loaded from
    generation a; returns a writable copy of its folders."""
    folders = tmp_path / "a"
    shutil.copytree(demo_files / "a", folders)
    LOOP.run_until_complete(_drop_database(DATABASE))
    drop_index(INDEX)
    fresh(DATABASE, sorted(folders.iterdir()))
    asyncio.set_event_loop(LOOP)
    return folders
