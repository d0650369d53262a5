"""At a realistic scale (1 M rows across 500 datasets, ANALYZEd), no plan the builders emit reads `perturb_seq`
sequentially, and a search's cost follows the datasets it answers, not the catalogue's breadth."""
from __future__ import annotations

import itertools
import json

import pytest
from catalogue.endpoints import dataset as dataset_endpoint
from catalogue.endpoints import datasets as datasets_endpoint
from catalogue.endpoints import genes as genes_endpoint
from catalogue.endpoints import search as search_endpoint
from catalogue.endpoints import summary as summary_endpoint
from catalogue.endpoints.rows import query as rows_query
from catalogue.endpoints.search import stored
from catalogue.parameters import check
from catalogue_common.search import query as queries
from catalogue_common.sql import Params

from devtools.bench import harness
from devtools.bench.routes import API_SETTINGS  # the API role's planner settings (roles.sql), as EXPLAIN sets them
from tests.conftest import TEST_GENES
from tests.support import fetch, load_catalogue

pytestmark = pytest.mark.slow

DATABASE, ROWS, DATASETS = "catalogue_plans", 1_000_000, 500
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


@pytest.fixture(scope="module")
def genes(stores_up: None) -> dict[str, list[str]]:
    load_catalogue(["--rows", str(ROWS), "--seed", "3", "--datasets", str(DATASETS), "--database", DATABASE,
                    "--no-es", "--genes", TEST_GENES])
    pick = {}
    for role, column in (("perturbation", "perturbed_target_symbol"), ("phenotype", "gene")):
        by_count = [r[0] for r in fetch(DATABASE, f"SELECT {column} FROM perturb_seq GROUP BY 1 ORDER BY count(*) "
                                                  f"DESC, 1")]
        pick[role] = [by_count[0], by_count[-1], "ABSENT-GENE"]  # very common, rare, absent
    return pick


def scans_of_perturb_seq(plan: dict) -> list[str]:
    return [node for node, _ in harness.scans_of_perturb_seq(plan)]


def computed(pairs: list[tuple[str, str]], ids: list[str] | None = None) -> tuple[str, list]:
    """The query a filtered search sends, as the endpoint builds it (ids: Elasticsearch's order of a text search)."""
    search, p, _ = search_endpoint.computed_search(check(search_endpoint.SearchParameters, pairs), ids, None)
    return queries.build(search, p)


def shapes(genes: dict[str, list[str]], datasets: list[str]):
    subset = datasets[::3]
    for group_by, perturbation, phenotype, direction, threshold, ids, limit in itertools.product(
            ("perturbation_gene_name", "phenotype_gene_name"), (None, *genes["perturbation"]),
            (None, *genes["phenotype"]), (None, "increased"), (None, ("min_abs_log2fc", "1")), (None, subset),
            (None, "10")):
        pairs = [("group_by", group_by), *([("perturbation_gene_name", perturbation)] if perturbation else []),
                 *([("phenotype_gene_name", phenotype)] if phenotype else []),
                 *([("effect_direction", direction)] if direction else []), *([threshold] if threshold else []),
                 *([("limit", limit)] if limit else [])]
        yield pairs, ids


def test_no_sequential_scan_of_perturb_seq_in_any_shape(genes: dict[str, list[str]]):
    datasets = sorted(r[0] for r in fetch(DATABASE, "SELECT DISTINCT dataset_id FROM perturb_seq_summary_effect"))
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq")[0][0] == ROWS and len(datasets) >= DATASETS * 0.9
    whole_table = json.loads(fetch(DATABASE, "EXPLAIN (FORMAT JSON) SELECT max(basemean) FROM perturb_seq")[0][0])
    assert not set(scans_of_perturb_seq(whole_table[0]["Plan"])) <= INDEX_SCANS, "the detector must see a seq scan"
    checked = 0
    for pairs, ids in shapes(genes, datasets):
        plan = json.loads(fetch(DATABASE, "EXPLAIN (FORMAT JSON) " + computed(pairs, ids)[0],
                                *computed(pairs, ids)[1])[0][0])[0]["Plan"]
        scans = scans_of_perturb_seq(plan)
        assert set(scans) <= INDEX_SCANS, f"{pairs}: {scans}"
        checked += 1
    assert checked == 2 * 4 * 4 * 2 * 2 * 2 * 2


# --- the catalogue endpoints (docs/contract.md, "Catalogue routes"): every PostgreSQL query shape, at 1 M rows ---

def plan_of(sql: str, args: list, analyze: bool = False, database: str = DATABASE) -> dict:
    """The plan with the API's session settings (no parallel plans)."""
    options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    return json.loads(fetch(database, f"EXPLAIN ({options}) " + sql, *args, server_settings=API_SETTINGS)[0][0])[0]


def perturb_seq_nodes(plan: dict) -> list[dict]:
    own = [plan] if plan.get("Relation Name") == "perturb_seq" else []
    return own + [n for child in plan.get("Plans", []) for n in perturb_seq_nodes(child)]


def rows_shapes(genes: dict[str, list[str]], dataset_id: str, key: rows_query.Key) -> list[rows_query.Rows]:
    shapes = []
    for perturbation, phenotype, direction, (max_padj, min_abs_log2fc), after in itertools.product(
            (None, *genes["perturbation"]), (None, genes["phenotype"][0]), (None, "increased"),
            ((None, None), (0.01, None), (None, 1.0)),
            (None, key, rows_query.Key(None, "A", "B"), rows_query.Key(float("nan"), "A", "B"))):
        shapes.append(rows_query.Rows(dataset_id, perturbation, phenotype, direction, max_padj, min_abs_log2fc,
                                      limit=100, after=after))
    return shapes


def deep_key(dataset_id: str, depth: int) -> rows_query.Key:
    """The key of the row `depth` rows into the dataset, by brute force (the order of docs/contract.md "Dataset
    rows")."""
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
    assert checked == 4 * 2 * 2 * 3 * 4


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
        lookup = check(genes_endpoint.GenesParameters, [("prefix", prefix), *([("role", role)] if role else [])])
        queries_ += [genes_endpoint.build(lookup), genes_endpoint.build_rare(lookup)]
    for sql, args in queries_:
        plan = plan_of(sql, args)
        assert not perturb_seq_nodes(plan["Plan"]), sql
    # A sequential scan is fine only on the tiny relations: one row per dataset, or one row.
    tiny = {"perturb_seq_dataset_statistics", "perturb_seq_catalogue_statistics", "catalogue_state",
            "gene_reference_source"}
    for sql, args in queries_:
        assert set(sequential_scans(plan_of(sql, args)["Plan"])) <= tiny, sql


def sequential_scans(plan: dict) -> list[str]:
    own = [plan["Relation Name"]] if plan["Node Type"] == "Seq Scan" else []
    return own + [r for child in plan.get("Plans", []) for r in sequential_scans(child)]


# --- breadth: a page costs what its datasets cost (500 datasets here) ------------------------------------------------

def nodes(plan: dict) -> list[dict]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


def walked_datasets(plan: dict) -> int:
    """How many candidate datasets had their groups walked: the loops of the per-candidate aggregation of the walk
    (the only Aggregate the query runs once per candidate)."""
    return max((n.get("Actual Loops", 1) for n in nodes(plan) if n["Node Type"] == "Aggregate"), default=0)


@pytest.mark.parametrize("pairs", [
    [("max_padj", "0.01")], [("min_abs_log2fc", "1"), ("group_by", "phenotype_gene_name")],
    [("effect_direction", "decreased"), ("max_padj", "0.05")]], ids=["max_padj", "min_abs_log2fc", "direction"])
@pytest.mark.parametrize("limit", [10, 50])
def test_a_page_of_datasets_walks_about_that_many_datasets(genes: dict[str, list[str]], pairs: list, limit: int):
    """Without a gene filter every dataset is a candidate; a page of `limit` walks about `limit` + 1 of the 500."""
    plan = plan_of(*computed([*pairs, ("limit", str(limit))]), analyze=True)["Plan"]
    assert limit < walked_datasets(plan) <= 2 * (limit + 1), walked_datasets(plan)


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
@pytest.mark.parametrize("kind", [0, 1], ids=["common", "rare"])
def test_a_gene_filter_walks_only_the_datasets_where_the_gene_occurs(genes: dict[str, list[str]], role: str,
                                                                     kind: int):
    gene = genes[role][kind]
    # Datasets where one of the gene's spellings (the stored symbols placed to the same reference gene) occurs
    occurs = fetch(DATABASE, """
        SELECT count(DISTINCT d.dataset_id) FROM perturb_seq_gene_datasets d JOIN perturb_seq_genes g USING (gene_name)
        WHERE d.role = $2 AND (g.gene_name = $1 OR g.gene_id = (SELECT gene_id FROM perturb_seq_genes
                                                               WHERE gene_name = $1))""", gene, role)[0][0]
    assert 0 < occurs and (kind == 0 or occurs <= 5), occurs
    for group_by in ("perturbation_gene_name", "phenotype_gene_name"):
        plan = plan_of(*computed([(f"{role}_gene_name", gene), ("group_by", group_by)]), analyze=True)["Plan"]
        assert walked_datasets(plan) <= occurs, (group_by, walked_datasets(plan), occurs)


def rows_read(plan: dict, relation: str) -> int:
    return sum(n["Actual Rows"] * n.get("Actual Loops", 1) for n in nodes(plan) if n.get("Relation Name") == relation)


@pytest.mark.parametrize("group_by", ["phenotype_gene_name", "perturbation_gene_name"])
def test_a_page_of_a_common_genes_datasets_reads_about_the_page(genes: dict[str, list[str]], group_by: str):
    """The phenotype significant in the most of the 500 datasets (no perturbation here is in more than 22): a page of
    10 of its datasets walks the datasets in order and stops (about 11 x 500 / occurrences probed), where gathering
    read every occurrence first. Grouped by it, or by perturbation with it as the row filter."""
    gene, significant = fetch(DATABASE, "SELECT gene_name, phenotype_n_significant_datasets FROM perturb_seq_genes "
                                        "ORDER BY 2 DESC NULLS LAST, 1 LIMIT 1")[0]
    limit = 10
    assert significant ** 2 > (limit + 1) * DATASETS, f"{gene} is not common enough to take the walk: {significant}"
    pairs = [("phenotype_gene_name", gene), ("group_by", group_by), ("max_padj", "1")]  # (computed, not stored)
    paged = plan_of(*computed([*pairs, ("limit", str(limit))]), analyze=True)["Plan"]
    whole = plan_of(*computed(pairs), analyze=True)["Plan"]
    walked = rows_read(paged, "perturb_seq_dataset_statistics")
    assert limit < walked <= 3 * (limit + 1) * DATASETS / significant, (walked, significant)
    assert rows_read(paged, "perturb_seq_gene_datasets") <= 3 * walked
    assert rows_read(whole, "perturb_seq_gene_datasets") >= significant  # the gathering, for comparison


def test_each_groups_top_rows_read_ten_rows_on_the_projects_indexes(genes: dict[str, list[str]]):
    """The group detail is an index range in the answer's own order: it reads its ten rows and stops."""
    for group_by in ("perturbation_gene_name", "phenotype_gene_name"):
        plan = plan_of(*computed([("group_by", group_by), ("max_padj", "1"), ("limit", "20")]), analyze=True)["Plan"]
        details = [n for n in nodes(plan) if n.get("Index Name") in ("idx_dataset_perturbed_padj",
                                                                      "idx_dataset_gene_padj")
                   and n.get("Actual Loops", 1) >= 20]
        assert details, "the top rows are read from the (dataset, gene, padj, other gene) index"
        assert all(n["Actual Rows"] <= queries.ROWS_PER_GROUP for n in details), details


def test_stored_answers_are_an_index_range_of_the_page(genes: dict[str, list[str]]):
    p = Params()
    sql = stored.answers(p, "perturbation", None, 50, None, "m")
    plan = plan_of(sql, p.values, analyze=True)["Plan"]
    [scan] = [n for n in nodes(plan) if n.get("Relation Name") == "perturb_seq_search_answers"]
    assert scan["Node Type"] in INDEX_SCANS and scan["Actual Rows"] <= 51, scan


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
@pytest.mark.parametrize("limit", [None, 10])
def test_a_genes_stored_groups_are_index_ranges_of_its_datasets(genes: dict[str, list[str]], role: str,
                                                                limit: int | None):
    """A gene filter on the grouping's role alone reads stored groups (endpoints/search/stored.py), never
    perturb_seq. A page: the gene's entries (an index-only range per spelling), then the first groups of each chosen
    dataset by key, `limit` + 1 datasets. Unpaged: the gene's entries, read once in one range of the key."""
    gene = genes[role][0]  # the most common
    entries = fetch(DATABASE, """
        SELECT count(*) FROM perturb_seq_search_groups a JOIN perturb_seq_genes g USING (gene_name)
        WHERE a.group_by = $2 AND a.direction = 'any' AND (g.gene_name = $1 OR g.gene_id = (
              SELECT gene_id FROM perturb_seq_genes WHERE gene_name = $1))""", gene, role)[0][0]
    assert entries >= (20 if limit else 1), entries
    pairs = [(f"{role}_gene_name", gene), ("group_by", f"{role}_gene_name"),
             *([("limit", str(limit))] if limit else [])]
    params = check(search_endpoint.SearchParameters, pairs)
    assert params.grouped
    sql, p, _ = search_endpoint.stored_groups(params, None, None)
    plan = plan_of(sql, p.values, analyze=True)["Plan"]
    assert not perturb_seq_nodes(plan)
    scans = [n for n in nodes(plan) if n.get("Relation Name") == "perturb_seq_search_groups"]
    assert scans and all(n["Node Type"] in INDEX_SCANS for n in scans), scans
    if limit is None:
        assert [n.get("Actual Loops", 1) for n in scans] == [1], scans
        assert rows_read(plan, "perturb_seq_search_groups") == entries
        return
    per_dataset = max(n.get("Actual Loops", 1) for n in scans)
    assert per_dataset == min(limit + 1, entries), per_dataset
    assert rows_read(plan, "perturb_seq_search_groups") <= entries + queries.GROUPS_PER_DATASET * per_dataset
