"""GET /v1/datasets/{dataset_id}/rows (SPEC 5.4): walking every page gives exactly the brute-force rows, in order."""
from __future__ import annotations

import math
import random

import pytest

from tests.api import error, get
from tests.catalogue.reference import approx_equal, direction, is_num, labels_of


def walk(dataset_id: str, query: list[tuple[str, str]], limit: int = 7) -> tuple[list[dict], list[dict]]:
    pages, cursor = [], None
    while True:
        answer = get(f"/v1/datasets/{dataset_id}/rows",
                     [*query, ("limit", str(limit)), *([("cursor", cursor)] if cursor else [])])
        assert answer.status == 200, answer.text
        pages.append(answer.json)
        cursor = answer.json["next_cursor"]
        assert ("link" in answer.headers) == (cursor is not None)
        assert len(answer.json["rows"]) == limit or cursor is None, "only the last page is short"
        if cursor is None:
            return pages, [r for p in pages for r in p["rows"]]


def filters_of(query: list[tuple[str, str]]) -> dict:
    q = dict(query)
    return {"perturbation": q.get("perturbation_gene_name"), "phenotype": q.get("phenotype_gene_name"),
            "effect": q.get("effect_direction") or q.get("change_direction"),
            "max_padj": float(q["max_padj"]) if "max_padj" in q else None}


def special_dataset(ref) -> str:
    """A small dataset holding NULL and NaN padj, so pages cross numbers -> NaN -> NULL."""
    candidates = [d for d, rows in ref.by_dataset.items()
                  if any(r.padj is None for r in rows) and any(r.padj is not None and math.isnan(r.padj) for r in rows)]
    return min(candidates, key=lambda d: (len(ref.by_dataset[d]), d))


def test_every_row_of_a_dataset_with_nan_and_null_padj_once_in_order(ref):
    dataset_id = special_dataset(ref)
    pages, rows = walk(dataset_id, [])
    want = ref.rows_of(dataset_id)
    assert len(rows) == len(want) and approx_equal(rows, [ref.row(r) for r in want])
    assert all(p["total"] == len(want) for p in pages)
    assert pages[0]["dataset"] == {"dataset_id": dataset_id, **labels_of(ref.documents[dataset_id])}
    padjs = [r.padj for r in want]
    assert padjs[-1] is None and any(p is not None and math.isnan(p) for p in padjs), "crosses NaN and NULL"


@pytest.mark.parametrize("seed", range(3))
def test_filtered_walks_match_brute_force(ref, seed: int):
    rng = random.Random(seed)
    datasets = sorted(ref.by_dataset)
    for _ in range(10):
        dataset_id = rng.choice(datasets)
        sample = rng.choice(ref.by_dataset[dataset_id])
        query: list[tuple[str, str]] = []
        if rng.random() < 0.5:
            query.append(("perturbation_gene_name", sample.perturbation))
        if rng.random() < 0.4:
            query.append(("phenotype_gene_name", rng.choice([sample.phenotype, "NOT_A_GENE"])))
        if rng.random() < 0.5:
            query.append((rng.choice(["effect_direction", "change_direction"]), rng.choice(["increased", "decreased"])))
        if rng.random() < 0.4 or not query:
            query.append(("max_padj", rng.choice(["0.05", "0", "1", "1e-5", "0.5"])))
        pages, rows = walk(dataset_id, query, limit=rng.choice([1, 7, 50]))
        want = ref.rows_of(dataset_id, **filters_of(query))
        assert approx_equal(rows, [ref.row(r) for r in want]), (dataset_id, query)
        assert all(p["total"] is None for p in pages), "a filtered total is not known without counting"


def test_direction_and_max_padj_never_pass_null_or_nan(ref):
    dataset_id = special_dataset(ref)
    for query in (["effect_direction=increased"], ["effect_direction=decreased"], ["max_padj=1"]):
        _, rows = walk(dataset_id, [tuple(q.split("=")) for q in query], limit=500)
        for r in rows:
            assert r["change"]["direction"] is not None or query[0].startswith("max_padj")
            if query[0].startswith("max_padj"):
                assert r["change"]["padj"] is not None
    nulls = [r for r in ref.by_dataset[dataset_id] if not is_num(r.padj)]
    assert nulls and len(walk(dataset_id, [("max_padj", "1")], limit=500)[1]) == sum(
        is_num(r.padj) for r in ref.by_dataset[dataset_id])


def test_tsv_pages_carry_the_same_rows(ref):
    dataset_id = special_dataset(ref)
    cursor, lines = None, []
    while True:
        answer = get(f"/v1/datasets/{dataset_id}/rows", [("format", "tsv"), ("limit", "9"),
                                                         *([("cursor", cursor)] if cursor else [])])
        assert answer.headers["content-type"].startswith("text/tab-separated-values")
        header, *body = answer.text.rstrip("\n").split("\n")
        assert header.split("\t")[:6] == ["perturbation_gene_name", "phenotype_gene_name", "direction", "log2fc",
                                          "padj", "base_mean"]
        lines += [line.split("\t") for line in body]
        if "link" not in answer.headers:
            break
        cursor = answer.headers["link"].split("cursor=")[1].split(">")[0]
    want = ref.rows_of(dataset_id)
    assert [(f[0], f[1]) for f in lines] == [(r.perturbation, r.phenotype) for r in want]
    for fields, r in zip(lines, want, strict=True):
        assert fields[2] == (direction(r.log2fc) or "")
        assert fields[4] == ("" if not is_num(r.padj) or math.isinf(r.padj) else repr(r.padj))
        assert len(fields) == 12


def test_a_cursor_is_bound_to_dataset_and_filters(ref):
    first = get("/v1/datasets/datlinger_2017/rows", "limit=2&effect_direction=increased").json["next_cursor"]
    assert get("/v1/datasets/datlinger_2017/rows", [("effect_direction", "increased"), ("cursor", first),
                                                    ("format", "tsv"), ("limit", "3")]).status == 200
    for path, query in (("datlinger_2017", [("cursor", first)]),
                        ("datlinger_2017", [("effect_direction", "decreased"), ("cursor", first)]),
                        ("adamson_2016_pilot", [("effect_direction", "increased"), ("cursor", first)])):
        error(get(f"/v1/datasets/{path}/rows", query), 400, "invalid_parameter")


def test_unknown_dataset_and_bad_parameters():
    error(get("/v1/datasets/no_such_dataset/rows"), 404, "not_found")
    body = error(get("/v1/datasets/datlinger_2017/rows", "max_padj=2&limit=1001&format=csv&colour=red"), 400,
                 "invalid_parameter")
    assert {d["parameter"] for d in body["details"]} == {"max_padj", "limit", "format", "colour"}
