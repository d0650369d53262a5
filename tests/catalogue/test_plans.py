"""At a realistic scale (1 M rows, ANALYZEd), no plan the builder emits reads `perturb_seq` sequentially (SPEC 3.4)."""
from __future__ import annotations

import itertools
import json

import bench
import pytest
from catalogue.endpoints.search import query as queries

from tests.support import fetch, load_catalogue

DATABASE, ROWS = "catalogue_plans", 1_000_000
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


@pytest.fixture(scope="module")
def genes(stores_up: None) -> dict[str, list[str]]:
    load_catalogue(["--rows", str(ROWS), "--seed", "3", "--datasets", "40", "--database", DATABASE, "--no-es"])
    pick = {}
    for role, column in (("perturbation", "perturbed_target_symbol"), ("phenotype", "gene")):
        by_count = [r[0] for r in fetch(DATABASE, f"SELECT {column} FROM perturb_seq GROUP BY 1 ORDER BY count(*) "
                                                  f"DESC, 1")]
        pick[role] = [by_count[0], by_count[-1], "ABSENT-GENE"]  # very common, rare, absent
    return pick


def scans_of_perturb_seq(plan: dict) -> list[str]:
    return [node for node, _ in bench.scans_of_perturb_seq(plan)]


def shapes(genes: dict[str, list[str]], datasets: list[str]):
    subset = datasets[::3]
    for group_by, perturbation, phenotype, direction, ids in itertools.product(
            ("perturbation", "phenotype"), (None, *genes["perturbation"]), (None, *genes["phenotype"]),
            (None, "increased", "decreased"), (datasets, subset)):
        yield queries.Search(ids, group_by, perturbation, phenotype, direction)


def test_no_sequential_scan_of_perturb_seq_in_any_shape(genes: dict[str, list[str]]):
    datasets = sorted(r[0] for r in fetch(DATABASE, "SELECT DISTINCT dataset_id FROM perturb_seq_summary_effect"))
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq")[0][0] == ROWS
    whole_table = json.loads(fetch(DATABASE, "EXPLAIN (FORMAT JSON) SELECT max(basemean) FROM perturb_seq")[0][0])
    assert not set(scans_of_perturb_seq(whole_table[0]["Plan"])) <= INDEX_SCANS, "the detector must see a seq scan"
    checked = 0
    for search in shapes(genes, datasets):
        sql, args = queries.build(search)
        plan = json.loads(fetch(DATABASE, "EXPLAIN (FORMAT JSON) " + sql, *args)[0][0])[0]["Plan"]
        scans = scans_of_perturb_seq(plan)
        assert scans and set(scans) <= INDEX_SCANS, f"{search}: {scans}"
        checked += 1
    assert checked == 2 * 4 * 4 * 3 * 2
