"""Deterministic, realistic demo data (issue: same seed, same bytes; sizes, significance, symbols)."""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from devtools.data import demo_data, load_data
from tests.support import fetch, load_catalogue, run, search_engine

REPRO_DB = "catalogue_repro"


def table_checksum(database: str) -> str:
    # Every column but max_ingested_at, which is the time of the load.
    return fetch(database, "SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM (SELECT dataset_id, "
                           "perturbed_target_symbol, gene, log2foldchange, padj, basemean FROM perturb_seq) t")[0][0]


def test_same_seed_same_data_other_seed_other_data(stores_up):
    checksums = []
    for seed in (11, 11, 12):
        load_catalogue(["--rows", "20000", "--seed", str(seed), "--datasets", "12", "--database", REPRO_DB, "--no-es",
                        "--genes", "none"])
        checksums.append(table_checksum(REPRO_DB))
    assert checksums[0] == checksums[1] != checksums[2]


def generated(rows: int, datasets: int, seed: int) -> tuple[list[demo_data.Dataset], bytes]:
    plan = demo_data.plan(rows, datasets, seed)
    return plan, b"".join(c for i, d in enumerate(plan) for c in demo_data.csv_chunks(d, seed, i))


@pytest.fixture(scope="module")
def demo() -> tuple[list[demo_data.Dataset], list[list[str]]]:
    plan, data = generated(200_000, 12, 1)
    assert hashlib.sha256(data).digest() == hashlib.sha256(generated(200_000, 12, 1)[1]).digest()
    return plan, [line.split(",") for line in data.decode().splitlines()]


def test_dataset_sizes_span_three_orders_with_the_largest_holding_40_percent(demo):
    plan, rows = demo
    sizes = sorted((d.rows for d in plan), reverse=True)
    assert len(rows) == sum(sizes) == 200_000
    assert sizes[0] == pytest.approx(0.4 * len(rows), rel=0.01)
    assert 2.5 <= math.log10(sizes[0] / sizes[-1]) <= 3.5
    assert [d.dataset_id for d in plan[:4]] == ["replogle_2022_k562_gw", "adamson_2016_pilot", "datlinger_2017",
                                                "nadig_2025_jurkat"]


def test_values_look_like_differential_expression(demo):
    _, rows = demo  # perturbed_target_symbol, gene, log2foldchange, padj, basemean
    padj = np.array([float(r[3]) if r[3] else np.nan for r in rows])
    null_padj = np.mean([r[3] == "" for r in rows])
    assert 0.007 < null_padj < 0.013
    significant = padj[padj <= 0.05]
    assert 0.01 < len(significant) / len(rows) < 0.3, "most rows are not significant"
    assert significant.min() < 1e-30 and np.median(padj[padj > 0.05]) > 0.5
    log2fc = np.array([float(r[2]) for r in rows if r[2] and float(r[3] or 1) <= 0.05])
    finite = log2fc[np.isfinite(log2fc)]
    assert np.percentile(np.abs(finite), 99.9) > 4 * np.median(np.abs(finite)), "heavy-tailed fold changes"
    assert sum(r[2] == "" for r in rows) >= 1 and any(r[2] == "nan" for r in rows)
    genes = {r[1] for r in rows} | {r[0] for r in rows}
    assert {"TP53", "MYC", "GAPDH", "SPI1", "CHST11"} <= genes
    assert any("." in g for g in genes) and any(any(c.islower() for c in g) for g in genes)
    assert {"TP53", "Tp53"} <= genes and {"RP11-34P13.7", "RP11-34P13.8", "RP11-34P13.13"} & genes


@pytest.mark.unit
def test_files_are_spec_7_input(tmp_path):
    plan = demo_data.plan(2_000, 3, 7)
    demo_data.write(tmp_path, plan, 7)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(d.dataset_id for d in plan)
    for d in plan:
        assert json.loads((tmp_path / d.dataset_id / "metadata.json").read_text())["dataset_id"] == d.dataset_id
        lines = (tmp_path / d.dataset_id / "results.csv").read_text().splitlines()
        assert lines[0] == "perturbed_target_symbol,gene,log2foldchange,padj,basemean" and len(lines) == d.rows + 1


@pytest.mark.unit
def test_facets_have_several_values_some_shared():
    labels = [d.labels for d in demo_data.plan(200_000, 12, 1)]
    for name in demo_data.LABEL_FIELDS:
        values = [label[name] for label in labels if label[name]]
        assert len(set(values)) >= 2 and len(set(values)) < len(values), name


def test_catalogue_of_160_datasets_has_160_documents_and_160_datasets(catalogue):
    assert catalogue["datasets"] == 160
    es = search_engine()
    assert es.count(index=catalogue["index"])["count"] == 160
    assert fetch(catalogue["database"], "SELECT count(DISTINCT dataset_id) FROM perturb_seq")[0][0] == 160
    documents = [h["_source"] for h in es.search(index=catalogue["index"], size=200)["hits"]["hits"]]
    assert all(len(d[f"{n}_labels"]) <= 1 for d in documents for n in demo_data.LABEL_FIELDS)


@pytest.mark.unit
def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ValueError, match="DATASETS"):
        demo_data.plan(200_000, demo_data.MAX_DATASETS + 1, 1)
    with pytest.raises(ValueError, match="SIZES"):
        demo_data.plan(200_000, 12, 1, "flat")


@pytest.mark.unit
def test_heavy_sizes_are_a_real_catalogues_tail():
    """The benchmark's scale (make bench SCALE=full): a few genome-wide datasets of millions of rows, most of tens
    of thousands; the same seed gives the same sizes."""
    sizes = demo_data.heavy_sizes(100_000_000, 1200, 1)
    assert sizes == demo_data.heavy_sizes(100_000_000, 1200, 1) != demo_data.heavy_sizes(100_000_000, 1200, 2)
    assert len(sizes) == 1200 and sum(sizes) == pytest.approx(100_000_000, rel=0.001)
    assert sizes[0] == max(sizes)
    assert sum(s >= 1_000_000 for s in sizes) == 6
    assert 10_000 <= float(np.median(sizes)) < 100_000
    assert sum(10_000 <= s < 100_000 for s in sizes) > 600


def test_loaded_data_describes_itself_and_is_vacuumed(stores_up):
    load_catalogue(["--rows", "20000", "--seed", "11", "--datasets", "12", "--database", REPRO_DB, "--no-es",
                    "--genes", "none"])
    expected = {"rows": 20_000, "datasets": 12, "seed": 11, "schema": load_data.schema_version(),
                "production_views": False, "genes": None}
    assert run(load_data.loaded(REPRO_DB)) == expected
    assert run(load_data.loaded("catalogue_never_created")) is None
    [(vacuumed, all_visible)] = fetch(REPRO_DB, "SELECT last_vacuum IS NOT NULL, relallvisible = relpages "
                                                "FROM pg_stat_user_tables JOIN pg_class USING (relname) "
                                                "WHERE relname = 'perturb_seq'")
    assert vacuumed and all_visible
