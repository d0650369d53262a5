"""GET /v1/genes/{gene}/rows at a realistic scale (docs/contract.md, "Rows of a gene" and "Lists and caching"): on 1 M
demo rows in 500 datasets plus gene_ties.py's datasets (SEPTIN2 with 30,000 rows tied at padj = 1 in each role, under
three spellings), every query shape reads perturb_seq by index only, and a page 10,000 rows deep (inside the tie) reads
what page 1 reads: keyset on (padj, dataset_id, other gene), never an OFFSET or a sort of the tie.

The catalogue is its own database (the other plan tests pick genes by their row counts, which the ties would change),
loaded once through the ingestion's whole-catalogue load (indexes built in bulk, VACUUM ANALYZE) and reused while
its recorded key says it holds this load.
"""
from __future__ import annotations

import hashlib
import itertools
import math
from pathlib import Path

import pytest
from catalogue.endpoints.gene_rows import query
from catalogue_common.settings import settings
from catalogue_common.vocabulary import COLUMN, other
from ingestion import genes, run

from devtools.data import load_data
from tests.catalogue import gene_ties
from tests.catalogue.test_plans import INDEX_SCANS, perturb_seq_nodes, plan_of
from tests.conftest import TEST_GENES
from tests.support import LOOP, drop_index, fetch

pytestmark = pytest.mark.slow

DATABASE, INDEX = "catalogue_gene_plans", "test-gene-plans-dataset-summary-v1"
ROWS, DATASETS, SEED, TIED = 1_000_000, 500, 3, 30_000
GENE_ROWS_INDEXES = {"idx_perturbed_padj_dataset_gene", "idx_gene_padj_dataset_perturbed"}
DEPTH, LIMIT = 10_000, 100


def _key() -> dict:
    return {"rows": ROWS, "datasets": DATASETS, "seed": SEED, "schema": load_data.schema_version(), "ties": TIED,
            "ties_data": hashlib.sha256(Path(gene_ties.__file__).read_bytes()).hexdigest()[:12],
            "genes": genes.file_checksum(Path(TEST_GENES))}


@pytest.fixture(scope="module")
def catalogue_with_ties(stores_up: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo's 1 M rows and the ties, with the test reference (SEPT2, SEPTIN2, ENSG00000168385.15 placed on one
    gene); PostgreSQL only (the plans read no document)."""
    if LOOP.run_until_complete(load_data.loaded(DATABASE)) == _key():
        return DATABASE
    folders = sorted(p for p in load_data.demo_files(ROWS, DATASETS, SEED).iterdir() if p.is_dir())
    folders += gene_ties.write(tmp_path_factory.mktemp("gene-ties-1m"), tied=TIED, datasets=30)
    target = settings("ingest").at(DATABASE, INDEX)
    LOOP.run_until_complete(load_data.ensure_database(DATABASE))
    try:
        summary = LOOP.run_until_complete(run.load_all(target, folders, quiet=True, with_documents=False))
        assert not summary.refusals
        assert LOOP.run_until_complete(run.load_genes(target, Path(TEST_GENES), quiet=True)) is None
    finally:
        drop_index(INDEX)  # the empty index a load without documents makes
    LOOP.run_until_complete(load_data.record(DATABASE, _key()))
    return DATABASE


def tied_rows(role: str) -> int:
    return fetch(DATABASE, f"SELECT count(*) FROM perturb_seq WHERE {COLUMN[role]} = ANY($1) AND padj = 1",
                 list(gene_ties.SPELLINGS))[0][0]


def deep_key(role: str, depth: int) -> query.Key:
    """The key of the row `depth` rows into the gene's walk, by brute force (the order of docs/contract.md "Rows of a
    gene")."""
    own, partner = COLUMN[role], COLUMN[other(role)]
    [(padj, dataset_id, partner_name, spelling)] = fetch(DATABASE, f"""
        SELECT padj, dataset_id, {partner}, {own} FROM perturb_seq WHERE {own} = ANY($1)
        ORDER BY padj, dataset_id COLLATE "C", {partner} COLLATE "C", {own} COLLATE "C" OFFSET $2 LIMIT 1""",
                                                         list(gene_ties.SPELLINGS), depth)
    return query.Key(padj, dataset_id, partner_name, spelling)


def shapes(role: str, deep: query.Key) -> list[query.GeneRows]:
    partner = "TP53" if role == "perturbation" else "G00042"  # a demo phenotype / a tie partner
    out = []
    for gene, partner_term, direction, (max_padj, min_abs_log2fc), after in itertools.product(
            (gene_ties.GENE, "tp53", "ABSENT-GENE"), (None, partner), (None, "increased"),
            ((None, None), (0.05, None), (None, 1.0)),
            (None, deep, query.Key(None, "a", "A", "B"), query.Key(math.nan, "a", "A", "B"))):
        out.append(query.GeneRows(gene, role, partner_term, direction, max_padj, min_abs_log2fc, LIMIT, after))
    return out


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_every_shape_reads_perturb_seq_by_index_only(catalogue_with_ties: str, role: str):
    """Without the other gene, every read of perturb_seq is an Index Only Scan of the gene rows' index of the role
    (filters included: the index holds log2fc); with it, index scans (the planner may take the (perturbation, gene,
    padj) index: a pair has at most a row per dataset)."""
    assert fetch(DATABASE, "SELECT count(*) FROM perturb_seq")[0][0] >= ROWS
    checked = 0
    for shape in shapes(role, deep_key(role, DEPTH)):
        scans = [(node["Node Type"], node.get("Index Name")) for node in
                 perturb_seq_nodes(plan_of(*query.build(shape), database=DATABASE)["Plan"])]
        exhausted = shape.exhausted
        assert (scans or exhausted) and {n for n, _ in scans} <= INDEX_SCANS, (shape, scans)
        if shape.other is None:
            assert all(node == "Index Only Scan" and index in GENE_ROWS_INDEXES for node, index in scans), (shape,
                                                                                                             scans)
        checked += 1
    assert checked == 3 * 2 * 2 * 3 * 4


def buffers(node: dict) -> int:
    return node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_a_page_10000_rows_deep_inside_the_tie_reads_what_page_one_reads(catalogue_with_ties: str, role: str):
    """EXPLAIN (ANALYZE, BUFFERS) of page 1 and of the page 10,000 rows deep, which starts inside the tie at padj = 1:
    each spelling's index range reads at most one page of rows, and the buffers read from perturb_seq's index, like
    the whole query's, are within 20 % of page 1's."""
    assert tied_rows(role) >= TIED > DEPTH + LIMIT
    deep = deep_key(role, DEPTH)
    assert deep.padj == 1.0, "the deep page starts inside the tie"
    read = {}
    for name, after in (("first", None), ("deep", deep)):
        plan = plan_of(*query.build(query.GeneRows(gene_ties.GENE, role, limit=LIMIT, after=after)), analyze=True,
                       database=DATABASE)["Plan"]
        nodes = perturb_seq_nodes(plan)
        rows = sum(n["Actual Rows"] * n.get("Actual Loops", 1) for n in nodes)
        assert rows <= len(gene_ties.SPELLINGS) * (LIMIT + 1), (name, rows)
        read[name] = {"perturb_seq": sum(buffers(n) for n in nodes), "query": buffers(plan), "rows": rows}
    print(f"\ngene rows, {role}: buffers read, page 1 vs {DEPTH:,} rows deep: {read}")
    for part in ("perturb_seq", "query"):
        first, deep_ = read["first"][part], read["deep"][part]
        assert abs(deep_ - first) <= 0.2 * first, (part, read)
