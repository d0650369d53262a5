"""At a realistic scale (1 M rows, ANALYZEd), no plan the builder emits reads `perturb_seq` sequentially (SPEC 3.4)."""
from __future__ import annotations

import itertools
import json

import pytest
from catalogue.endpoints import dataset as dataset_endpoint
from catalogue.endpoints import datasets as datasets_endpoint
from catalogue.endpoints import genes as genes_endpoint
from catalogue.endpoints import summary as summary_endpoint
from catalogue.endpoints.rows import query as rows_query
from catalogue.endpoints.search import query as queries
from catalogue.parameters import check

from devtools.bench import harness
from tests.support import fetch, load_catalogue

DATABASE, ROWS = "catalogue_plans", 1_000_000
API_SETTINGS = {"max_parallel_workers_per_gather": "0", "plan_cache_mode": "force_custom_plan"}
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
    return [node for node, _ in harness.scans_of_perturb_seq(plan)]


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


# --- the catalogue endpoints (SPEC 5): every PostgreSQL query shape they send, at the same 1 M rows ---------------

def plan_of(sql: str, args: list, analyze: bool = False) -> dict:
    """The plan with the API's session settings (no parallel plans)."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    return json.loads(fetch(DATABASE, f"EXPLAIN ({options}) " + sql, *args, server_settings=API_SETTINGS)[0][0])[0]


def perturb_seq_nodes(plan: dict) -> list[dict]:
    own = [plan] if plan.get("Relation Name") == "perturb_seq" else []
    return own + [n for child in plan.get("Plans", []) for n in perturb_seq_nodes(child)]


def rows_shapes(genes: dict[str, list[str]], dataset_id: str, key: rows_query.Key) -> list[rows_query.Rows]:
    shapes = []
    for perturbation, phenotype, direction, max_padj, after in itertools.product(
            (None, *genes["perturbation"]), (None, genes["phenotype"][0]), (None, "increased"), (None, 0.01),
            (None, key, rows_query.Key(None, "A", "B"), rows_query.Key(float("nan"), "A", "B"))):
        shapes.append(rows_query.Rows(dataset_id, perturbation, phenotype, direction, max_padj, 100, after))
    return shapes


def deep_key(dataset_id: str, depth: int) -> rows_query.Key:
    """The key of the row `depth` rows into the dataset, by brute force (the order of SPEC 5.4)."""
    [(padj, perturbation, phenotype)] = fetch(DATABASE, """
        SELECT padj, perturbed_target_symbol, gene FROM perturb_seq WHERE dataset_id = $1
        ORDER BY padj, perturbed_target_symbol COLLATE "C", gene COLLATE "C" OFFSET $2 LIMIT 1""", dataset_id, depth)
    return rows_query.Key(padj, perturbation, phenotype)


def largest_dataset() -> str:
    return fetch(DATABASE, "SELECT dataset_id FROM perturb_seq_dataset_statistics ORDER BY n_rows DESC LIMIT 1")[0][0]


def test_rows_pages_are_index_scans_in_every_shape(genes: dict[str, list[str]]):
    dataset_id = largest_dataset()
    checked = 0
    for shape in rows_shapes(genes, dataset_id, deep_key(dataset_id, 10_000)):
        scans = scans_of_perturb_seq(plan_of(*rows_query.build(shape))["Plan"])
        nothing_left = shape.max_padj is not None and shape.after is not None and shape.after.padj is None
        assert (scans or nothing_left) and set(scans) <= INDEX_SCANS, f"{shape}: {scans}"
        checked += 1
    assert checked == 4 * 2 * 2 * 2 * 4


def test_a_page_10000_rows_deep_reads_what_page_one_reads(genes: dict[str, list[str]]):
    """Keyset, not OFFSET: the deep page starts at its key; both read about one page of perturb_seq."""
    dataset_id = largest_dataset()
    assert fetch(DATABASE, "SELECT n_rows FROM perturb_seq_dataset_statistics WHERE dataset_id = $1",
                 dataset_id)[0][0] > 100_000
    read = {}
    for name, after in (("first", None), ("deep", deep_key(dataset_id, 10_000))):
        plan = plan_of(*rows_query.build(rows_query.Rows(dataset_id, limit=100, after=after)), analyze=True)
        read[name] = sum(n["Actual Rows"] * n.get("Actual Loops", 1) for n in perturb_seq_nodes(plan["Plan"]))
    assert read["first"] <= 2 * 101 and read["deep"] <= 2 * 101, read


def test_catalogue_relations_are_read_by_index(genes: dict[str, list[str]]):
    """The other endpoints never touch perturb_seq, and read their relations through an index."""
    dataset_id = largest_dataset()
    queries_ = [(dataset_endpoint.SQL, [dataset_id]), (datasets_endpoint.STATISTICS_SQL, [[dataset_id, "x"]]),
                (summary_endpoint.SQL, [])]
    for prefix, role in itertools.product(("a", "TP", "rp11-34"), (None, "perturbation", "phenotype")):
        queries_.append(genes_endpoint.build(check(genes_endpoint.GenesParameters,
                                                   [("prefix", prefix), *([("role", role)] if role else [])])))
    for sql, args in queries_:
        plan = plan_of(sql, args)
        assert not perturb_seq_nodes(plan["Plan"]), sql
    # A sequential scan is fine only on the tiny relations: one row per dataset, or one row.
    tiny = {"perturb_seq_dataset_statistics", "perturb_seq_catalogue_statistics"}
    for sql, args in queries_:
        assert set(sequential_scans(plan_of(sql, args)["Plan"])) <= tiny, sql


def sequential_scans(plan: dict) -> list[str]:
    own = [plan["Relation Name"]] if plan["Node Type"] == "Seq Scan" else []
    return own + [r for child in plan.get("Plans", []) for r in sequential_scans(child)]
