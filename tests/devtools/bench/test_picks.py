"""The genes `make bench` asks at a scale (devtools/bench/shapes.py, `picks`): each role's like-for-like gene is the
stored symbol whose search answer holds the number of datasets nearest the goal (more datasets, then the symbol in
byte order, breaking ties). Checked against datasets counted here from perturb_seq's significant rows, a symbol
reading every spelling placed on its gene, and against the search answer itself."""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import asyncpg
import pytest
from catalogue_common.settings import settings
from catalogue_common.vocabulary import COLUMN, significant

from devtools.bench.shapes import LIKE_FOR_LIKE, picks
from tests.api import get
from tests.support import LOOP

# The test catalogue's genes answer in 1 to 6 datasets, a few phenotypes in 46 or 67: 26 is as near 6 as 46.
GOALS = [1, 2, 3, 4, 5, 6, 8, LIKE_FOR_LIKE, 26]


async def picked_and_counted(database: str, role: str) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """The picks for each goal, and each stored symbol's datasets where a spelling of its gene is significant."""
    conn = await asyncpg.connect(settings().superuser_dsn(database))
    try:
        rows = await conn.fetch(f"SELECT DISTINCT dataset_id, {COLUMN[role]} AS gene FROM perturb_seq r "
                                f"WHERE {significant('r')}")
        placed = {r["gene_name"]: r["gene_id"] for r in await conn.fetch("SELECT gene_name, gene_id "
                                                                          "FROM perturb_seq_genes")}
        found = [await picks(conn, goal) for goal in GOALS]
    finally:
        await conn.close()
    by_gene: dict[Any, set[str]] = defaultdict(set)
    for row in rows:
        by_gene[placed[row["gene"]] or row["gene"]].add(row["dataset_id"])
    return found, {name: by_gene[gene or name] for name, gene in placed.items() if by_gene[gene or name]}


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_the_like_for_like_gene_answers_in_the_number_of_datasets_nearest_the_goal(catalogue, role):
    found, datasets = LOOP.run_until_complete(picked_and_counted(catalogue["database"], role))
    n = {name: len(ids) for name, ids in datasets.items()}
    tied = []
    for goal, pick in zip(GOALS, found, strict=True):
        best = min(n, key=lambda name: (abs(n[name] - goal), -n[name], name.encode()))
        assert (pick[f"{role}_like"], pick[f"{role}_like_datasets"]) == (best, n[best]), goal
        nearest = min(abs(count - goal) for count in n.values())
        tied += [goal] if len({count for count in n.values() if abs(count - goal) == nearest}) > 1 else []
    assert tied or role == "perturbation", "a goal equally near two counts tries the tie-break"
    assert len({pick[f"{role}_like_datasets"] for pick in found}) > 3, "the goals are told apart"
    for pick in (found[0], found[-1]):  # the search answer holds exactly the datasets counted
        answer = get("/v1/search", [(f"{role}_gene_name", pick[f"{role}_like"]),
                                    ("group_by", f"{role}_gene_name")])
        assert {element["dataset"]["dataset_id"] for element in answer.json} == datasets[pick[f"{role}_like"]]
