"""The schema tooling creates exactly the contract's table, indexes and summaries (plus the project's two extra
indexes in its own layout, none in the production layout, and the gene rows' two in both), and the API's role can only
read."""
from __future__ import annotations

import math

import asyncpg
import pytest
from catalogue_common.settings import settings

from tests.support import fetch, run, search_engine

SPEC_INDEXES = {
    "idx_dataset_padj": "(dataset_id, padj)",
    "idx_perturbed_padj": "(perturbed_target_symbol, padj)",
    "idx_gene_padj": "(gene, padj)",
    "idx_perturbed_gene_padj": "(perturbed_target_symbol, gene, padj)",
}
PROJECT_INDEXES = {  # ingestion/sql/extra_indexes.sql: the project's layout only
    "idx_dataset_perturbed_padj": '(dataset_id, perturbed_target_symbol, padj, gene COLLATE "C") '
                                  'INCLUDE (log2foldchange, basemean)',
    "idx_dataset_gene_padj": '(dataset_id, gene, padj, perturbed_target_symbol COLLATE "C") '
                             'INCLUDE (log2foldchange, basemean)',
}
GENE_ROWS_INDEXES = {  # ingestion/sql/gene_rows_indexes.sql: both layouts (GET /v1/genes/{gene}/rows)
    "idx_perturbed_padj_dataset_gene": '(perturbed_target_symbol, padj, dataset_id COLLATE "C", gene COLLATE "C") '
                                       'INCLUDE (log2foldchange, basemean)',
    "idx_gene_padj_dataset_perturbed": '(gene, padj, dataset_id COLLATE "C", perturbed_target_symbol COLLATE "C") '
                                       'INCLUDE (log2foldchange, basemean)',
}


def perturb_seq_indexes(database: str) -> dict[str, str]:
    return {r[0]: r[1] for r in fetch(database, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                                "'perturb_seq'")}


def assert_indexes(database: str, layout: dict[str, str]) -> None:
    """perturb_seq has exactly these indexes (name -> columns as PostgreSQL writes them), each as declared."""
    indexes = perturb_seq_indexes(database)
    assert set(indexes) == set(layout)
    assert all(indexes[name].endswith(f"USING btree {cols}") for name, cols in layout.items()), indexes


def test_table_has_exactly_the_spec_columns_and_indexes(catalogue):
    columns = fetch(catalogue["database"], "SELECT column_name, data_type FROM information_schema.columns "
                                           "WHERE table_name = 'perturb_seq' ORDER BY ordinal_position")
    assert [tuple(c) for c in columns] == [
        ("dataset_id", "text"), ("perturbed_target_symbol", "text"), ("gene", "text"),
        ("log2foldchange", "double precision"), ("padj", "double precision"), ("basemean", "double precision"),
        ("max_ingested_at", "timestamp without time zone")]
    assert_indexes(catalogue["database"], {**SPEC_INDEXES, **PROJECT_INDEXES, **GENE_ROWS_INDEXES})


@pytest.mark.parametrize(("view", "key", "extra"), [
    ("perturb_seq_summary_perturbation", "perturbed_target_symbol", ""),
    ("perturb_seq_summary_effect", "gene", ", avg(basemean)"),
])
def test_views_agree_with_a_brute_force_group_by(catalogue, view, key, extra):
    database = catalogue["database"]
    indexes = {r[1] for r in fetch(database, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1", view)}
    assert any("UNIQUE INDEX" in d and f"(dataset_id, {key})" in d for d in indexes)
    assert any("(dataset_id, n_total DESC)" in d for d in indexes)
    got = {(r[0], r[1]): tuple(r[2:]) for r in fetch(database, f"SELECT * FROM {view}")}
    want = {(r[0], r[1]): tuple(r[2:]) for r in fetch(database, f"""
        SELECT dataset_id, {key}, count(*),
               count(*) FILTER (WHERE log2foldchange < 0),
               count(*) FILTER (WHERE log2foldchange > 0 AND log2foldchange <> 'NaN'){extra}
        FROM perturb_seq WHERE padj <= 0.05 AND padj <> 'NaN' GROUP BY 1, 2""")}
    assert got.keys() == want.keys() and len(got) > 100
    for k, row in want.items():
        assert got[k][:3] == row[:3]
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got[k][3:], row[3:], strict=True))


@pytest.mark.parametrize("statement", [
    "INSERT INTO perturb_seq (dataset_id) VALUES ('x')", "UPDATE perturb_seq SET padj = 0",
    "DELETE FROM perturb_seq", "TRUNCATE perturb_seq", "CREATE TABLE intruder (id int)",
    "DELETE FROM perturb_seq_summary_effect", "INSERT INTO perturb_seq_genes (gene_name) VALUES ($$x$$)",
    "DROP TABLE perturb_seq",
])
def test_the_api_role_can_read_but_not_write(catalogue, statement):
    async def attempt() -> None:
        conn = await asyncpg.connect(host=settings().ps_host, port=settings().ps_port, user="catalogue_api",
                                     database=catalogue["database"])
        try:
            assert await conn.fetchval("SELECT count(*) FROM perturb_seq") == catalogue["rows"]
            with pytest.raises((asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)):
                await conn.execute(statement)
        finally:
            await conn.close()
    run(attempt())


def test_elasticsearch_index_has_the_dynamic_mapping(catalogue):
    es = search_engine()
    mapping = es.indices.get_mapping(index=catalogue["index"]).body  # keyed by the generation the alias names
    [properties] = [m["mappings"]["properties"] for m in mapping.values()]
    for field in ("dataset_id", "tissue_labels", "cell_type_labels", "library_perturbation_type_labels"):
        assert properties[field]["type"] == "text"
        assert properties[field]["fields"]["keyword"]["type"] == "keyword"
