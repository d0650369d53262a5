"""make bench's report (devtools/bench/api.py) from figures made up here: every scale in its column, each shape's
misses at any scale, the targets at the largest scale, the breadth ratio against the smallest. No timing is asserted:
performance goals live in the benchmark and BENCHMARKS.md, not in tests."""
from __future__ import annotations

from typing import Any

import pytest

from devtools.bench import api

pytestmark = pytest.mark.unit


def shape(name: str, goal: str | None, p50: float, scans: list[str], gzip_bytes: int | None = 900) -> dict[str, Any]:
    return {"name": name, "endpoint": "/v1/x", "function": "search", "url": "/v1/x", "goal": goal,
            "percentiles": {"handler": {"p50": p50, "p95": p50 * 1.5, "p99": p50 * 2, "n": 20},
                            "http": {"p50": p50 + 3, "p95": 0, "p99": 0, "n": 2}},
            "facts": {"identity_bytes": 5000, "gzip_bytes": gzip_bytes, "identity_status": 200,
                      "identity_refused": None, "items": 3, "pg_round_trips": 1, "es_calls": 1,
                      "plans": [{"scans": scans, "execution_ms": 1.0, "buffers": 10}]}}


def result(name: str, datasets: int, filtered_p50: float, whole_gzip: int) -> dict[str, Any]:
    index = "perturb_seq: Index Scan idx_dataset_gene_padj"
    return {"catalogue": {"name": name, "rows": 1_000_000, "datasets": datasets, "sizes": "heavy",
                          "database": "d", "index": "i"},
            "servers": "PostgreSQL 18, Elasticsearch 8", "disk": {"database": 500_000_000, "perturb_seq": 4e8,
                                                                   "elasticsearch": 1e6},
            "built": {"rows": 1_000_000, "files_s": 10.0, "load_s": 40.0, "input_bytes": 8e7, "when": "today"},
            "picks": {"dataset_rows": 400_000, "median_rows": 900, "perturbation_common": "TP53",
                      "perturbation_common_datasets": 7, "perturbation_rare": "AC1", "phenotype_common": "MYC",
                      "dataset": "big"},
            "cold_start": {"search": {"import_s": 0.5, "first_answer_s": 0.6, "peak_rss_mb": 100.0,
                                      "top_imports": [["fastapi", 0.3]]}},
            "shapes": [shape("search: gene", "filtered", filtered_p50, [index, "catalogue_state: Seq Scan"]),
                       shape("search: whole", "whole", 50.0, ["perturb_seq_search_answers: Index Scan pkey"],
                             whole_gzip),
                       shape("rows: page 1", "route", 8.0, ["perturb_seq: Index Scan idx_dataset_padj"]),
                       shape("rows: 10,000 rows deep (cursor)", "route", 8.5,
                             ["perturb_seq: Index Scan idx_dataset_padj"])]}


def test_the_report_puts_each_scale_in_its_column_and_names_each_miss():
    small, large = result("small", 12, 4.0, 100_000), result("large", 1200, 12.0, 2_000_000)
    text = api.report({"mode": "tiny", "when": "now", "machine": {"cpu": "2 x cpu", "memory": "1 GiB", "os": "os",
                                                                  "python": "3.13"}, "reps": 20,
                       "results": [small, large]}, None)
    assert "| shape | small | large | HTTP p50 | targets |" in text
    assert "| search: gene | 4.0 / 6.0 / 8.0 | 12.0 / 18.0 / 24.0 | 7.0 · 15.0 | large: p50 12.0 > 10 ms; p50 3.0x " \
           "the smallest scale's > 1.5x |" in text
    assert "gzip 2.00 > 1.5 MB" in text  # the whole answer at the largest scale
    assert "| perturb_seq: Index Scan idx_dataset_gene_padj; 1 scans of other relations |" in text
    targets = dict((text, ok) for text, ok in api.targets([small, large]))
    assert [ok for ok in targets.values()] == [False, True, False, True, True, True, True, True]  # download: none


def test_scans_name_perturb_seq_and_the_stored_answers_and_count_the_rest():
    plans = [{"scans": ["perturb_seq: Index Scan idx_a", "perturb_seq_genes: Index Scan x",
                        "perturb_seq_summary_effect: Seq Scan"]}]
    assert api.scans_text(plans) == "perturb_seq: Index Scan idx_a; 2 scans of other relations; sequential: " \
                                    "perturb_seq_summary_effect"
    assert api.scans_text(plans, compared=True) == "perturb_seq: Index Scan idx_a; sequential: " \
                                                   "perturb_seq_summary_effect"
    assert api.scans_text([{"scans": ["catalogue_state: Seq Scan"]}]) == "1 scans of other relations"
    assert api.scans_text([]) == "(none)"


def test_a_deep_page_of_another_depth_at_one_scale_is_one_row_naming_every_depth():
    """Where a gene has fewer rows than the deep page's depth, its shape's name differs between scales: the report
    failed on it (KeyError). same_names gives the scales' shapes one name."""
    small, large = result("small", 12, 4.0, 100_000), result("large", 1200, 12.0, 200_000)
    for r, depth in ((small, "7,000"), (large, "10,000")):
        r["shapes"].append(shape(f"gene rows: common, {depth} rows deep (cursor)", "route", 9.0, []))
    results = api.same_names([small, large])
    names = [[s["name"] for s in r["shapes"]] for r in results]
    assert names[0] == names[1] and names[0][-1] == "gene rows: common, 7,000 / 10,000 rows deep (cursor)"
    assert names[0][-2] == "rows: 10,000 rows deep (cursor)"  # one depth at every scale: named as it was
    text = api.report({"mode": "tiny", "when": "now", "machine": {"cpu": "c", "memory": "m", "os": "o",
                                                                  "python": "3.13"}, "reps": 20,
                       "results": results}, None)
    assert "| gene rows: common, 7,000 / 10,000 rows deep (cursor) | 9.0 / 13.5 / 18.0 | 9.0 / 13.5 / 18.0 |" in text


def test_the_like_for_like_genes_are_named_where_a_scale_was_asked_them():
    picks = {"perturbation_like": "HBG1", "perturbation_like_datasets": 10, "phenotype_like": "AKT1",
             "phenotype_like_datasets": 9}
    assert api.like(picks) == (", like-for-like perturbation `HBG1` (significant in 10 datasets) and phenotype "
                               "`AKT1` (9)")
    assert api.like({"perturbation_common": "TP53"}) == ""  # a report of a run before them
