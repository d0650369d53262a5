"""The genes `make bench` asks at a scale (devtools/bench/shapes.py, `picks`), against the rows themselves: each
role's like-for-like gene is the one significant in the number of datasets nearest LIKE_FOR_LIKE (more datasets,
then the name in byte order, breaking ties), counted here from perturb_seq, not from the load-time relations."""
from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest
from catalogue_common.settings import settings
from catalogue_common.vocabulary import COLUMN, significant

from devtools.bench.shapes import LIKE_FOR_LIKE, picks


async def picked_and_counted(database: str, goals: list[int]) -> tuple[list[dict[str, Any]], dict[str, Counter[str]]]:
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        counted = {}
        for role in ("perturbation", "phenotype"):
            rows = await conn.fetch(f"SELECT DISTINCT dataset_id, {COLUMN[role]} AS gene FROM perturb_seq r "
                                    f"WHERE {significant('r')}")
            counted[role] = Counter(row["gene"] for row in rows)
        return [await picks(conn, goal) for goal in goals], counted
    finally:
        await conn.close()


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_the_like_for_like_gene_is_significant_in_the_number_of_datasets_nearest_the_goal(catalogue, role):
    goals = [1, 2, 3, 4, 5, 6, LIKE_FOR_LIKE]  # the test catalogue's genes are significant in 1 to about 7 datasets
    found, counted = asyncio.run(picked_and_counted(catalogue["database"], goals))
    datasets = counted[role]
    for goal, pick in zip(goals, found, strict=True):
        best = min(datasets, key=lambda gene: (abs(datasets[gene] - goal), -datasets[gene], gene.encode()))
        assert (pick[f"{role}_like"], pick[f"{role}_like_datasets"]) == (best, datasets[best]), goal
    assert len({found[0][f"{role}_like_datasets"], found[-1][f"{role}_like_datasets"]}) > 1, "goals are told apart"
