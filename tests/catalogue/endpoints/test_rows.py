"""GET /v1/datasets/{dataset_id}/rows (docs/contract.md, "Dataset rows"): walking every page gives exactly the
brute-force rows, in order."""
from __future__ import annotations

import math
import random

import pytest

from tests.api import error, get
from tests.catalogue.reference import Ambiguous, approx_equal, direction, is_num, labels_of


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
    number = lambda name: float(q[name]) if name in q else None  # noqa: E731
    return {"perturbation": q.get("perturbation_gene_name"), "phenotype": q.get("phenotype_gene_name"),
            "effect": q.get("effect_direction") or q.get("change_direction"),
            "max_padj": number("max_padj"), "min_abs_log2fc": number("min_abs_log2fc")}


NON_EMPTY_FLOOR = 0.5  # as in test_search_contract: a family that mostly compares [] with [] checks little


def rows_cases(ref, count: int, seed: int) -> list[tuple[str, list[tuple[str, str]], str]]:
    """(dataset, query, limit) of two kinds, as test_search_contract draws them: most are drawn around one row of the
    dataset (its genes, its own direction, thresholds it passes, boundaries included), so that they have rows; the
    rest mix absent genes, the other direction, `max_padj=0` and large thresholds, so that they may have none."""
    rng = random.Random(seed)
    datasets = sorted(ref.by_dataset)
    out = []
    for _ in range(count):
        dataset_id = rng.choice(datasets)
        sample = rng.choice(ref.by_dataset[dataset_id])
        query = _around(sample, rng) if rng.random() < 0.7 else _mixed(sample, rng)
        out.append((dataset_id, query, rng.choice(["1", "7", "50", "all", "all but one", "half"])))
    return out


def page_size(rule: str, rows: int) -> int:
    """A page size by rule: fixed, exactly the answer (one full page), one less (a last page of one), half (two
    pages); never more than about 40 pages a walk."""
    sizes = {"all": rows, "all but one": rows - 1, "half": math.ceil(rows / 2)}
    size = sizes[rule] if rule in sizes else int(rule)
    return min(1000, max(1, size, math.ceil(rows / 40)))


def _around(row, rng: random.Random) -> list[tuple[str, str]]:
    """Filters the row itself passes: the answer holds at least this row."""
    query: list[tuple[str, str]] = []
    if rng.random() < 0.5:
        query.append(("perturbation_gene_name", row.perturbation))
    if rng.random() < 0.4:
        query.append(("phenotype_gene_name", row.phenotype))
    if rng.random() < 0.5 and (own := direction(row.log2fc)):
        query.append((rng.choice(["effect_direction", "change_direction"]), own))
    if rng.random() < 0.4 and is_num(row.padj):
        above = [t for t in ("0.05", "0.5", "1") if float(t) >= row.padj]
        query.append(("max_padj", rng.choice([repr(row.padj), *above])))  # its own padj: the bound is inclusive
    if rng.random() < 0.3 and is_num(row.log2fc):
        bound = abs(row.log2fc) if math.isfinite(row.log2fc) else 1e300
        query.append(("min_abs_log2fc", rng.choice(["0", repr(bound), repr(bound / 2)])))
    return query or [("perturbation_gene_name", row.perturbation)]


def _mixed(row, rng: random.Random) -> list[tuple[str, str]]:
    """Filters drawn without regard to the row: often nothing qualifies."""
    query: list[tuple[str, str]] = []
    if rng.random() < 0.5:
        query.append(("perturbation_gene_name", rng.choice([row.perturbation, row.perturbation.lower(),
                                                            "NOT_A_GENE"])))
    if rng.random() < 0.4:
        query.append(("phenotype_gene_name", rng.choice([row.phenotype, "NOT_A_GENE"])))
    if rng.random() < 0.5:
        query.append((rng.choice(["effect_direction", "change_direction"]), rng.choice(["increased", "decreased"])))
    if rng.random() < 0.4 or not query:
        query.append(("max_padj", rng.choice(["0.05", "0", "1", "1e-5", "0.5"])))
    if rng.random() < 0.3:
        query.append(("min_abs_log2fc", rng.choice(["0", "0.5", "2", "1e300"])))
    return query


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
    """Every page of filtered walks, against the brute-force rows; at least half the walks of each seed have rows
    and a quarter cross pages (a walk of [] against [] checks little, a walk of one page checks no cursor)."""
    count, non_empty, paged = 12, 0, 0
    for dataset_id, query, rule in rows_cases(ref, count, seed):
        try:
            want = ref.rows_of(dataset_id, **filters_of(query))
        except Ambiguous:
            error(get(f"/v1/datasets/{dataset_id}/rows", query), 400, "ambiguous_gene")
            continue
        pages, rows = walk(dataset_id, query, limit=page_size(rule, len(want)))
        assert approx_equal(rows, [ref.row(r) for r in want]), (dataset_id, query)
        assert all(p["total"] is None for p in pages), "a filtered total is not known without counting"
        non_empty += bool(want)
        paged += len(pages) > 1
    assert non_empty >= NON_EMPTY_FLOOR * count, f"only {non_empty} of {count} walks have rows"
    assert paged >= count / 4, f"only {paged} of {count} walks cross a page"


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


TSV_COLUMNS = ["perturbation_gene_name", "phenotype_gene_name", "direction", "log2fc", "padj", "base_mean",
               "perturbation_n_total", "perturbation_n_up", "perturbation_n_down",
               "phenotype_n_total", "phenotype_n_up", "phenotype_n_down"]


def tsv_fields(row: dict) -> list[str]:
    """The twelve TSV fields of a brute-force JSON row (docs/contract.md, "Dataset rows"): numbers as the shortest text
    that round-trips the double (repr), empty for null (non-finite numbers are null already), counts as integers."""
    number = lambda x: "" if x is None else repr(x)  # noqa: E731
    p, c, e = row["perturbation"], row["change"], row["phenotype"]
    return [p["perturbation_gene_name"], e["phenotype_gene_name"], c["direction"] or "",
            number(c["log2fc"]), number(c["padj"]), number(c["base_mean"]),
            *(str(p[k]) for k in ("n_total", "n_up", "n_down")), *(str(e[k]) for k in ("n_total", "n_up", "n_down"))]


def tsv_walk(dataset_id: str, query: list[tuple[str, str]], limit: int) -> list[list[str]]:
    cursor, lines = None, []
    while True:
        answer = get(f"/v1/datasets/{dataset_id}/rows", [*query, ("format", "tsv"), ("limit", str(limit)),
                                                         *([("cursor", cursor)] if cursor else [])])
        assert answer.status == 200, answer.text
        assert answer.headers["content-type"].startswith("text/tab-separated-values")
        assert answer.text.endswith("\n")
        header, *body = answer.text[:-1].split("\n")
        assert header.split("\t") == TSV_COLUMNS
        assert len(body) == limit or "link" not in answer.headers, "only the last page is short"
        lines += [line.split("\t") for line in body]
        if "link" not in answer.headers:
            return lines
        cursor = answer.headers["link"].split("cursor=")[1].split(">")[0]


@pytest.mark.parametrize(("query", "limit"), [([], 9), ([("effect_direction", "decreased")], 3)],
                         ids=["unfiltered", "filtered"])
def test_tsv_pages_carry_the_same_rows(ref, query: list[tuple[str, str]], limit: int):
    """Every one of the twelve columns of every line, as text, against the brute-force row: names, direction, the
    three numbers bit for bit (repr round-trips the double), both genes' summary counts. (The test catalogue has no
    NULL or non-finite basemean: test_store's round trip serves such values through this endpoint.)"""
    dataset_id = special_dataset(ref)
    want = ref.rows_of(dataset_id, **filters_of(query))
    lines = tsv_walk(dataset_id, query, limit)
    assert len(want) > limit, "the walk crosses pages"
    assert lines == [tsv_fields(ref.row(r)) for r in want]
    columns = list(zip(*lines, strict=True))
    for name in ("direction", "log2fc", "padj") if not query else ():
        values = columns[TSV_COLUMNS.index(name)]
        assert "" in values and any(values), f"{name}: the dataset has both empty and non-empty fields"
    assert any(int(f) for f in columns[TSV_COLUMNS.index("perturbation_n_total")]) and \
        any(int(f) for f in columns[TSV_COLUMNS.index("phenotype_n_total")]), "non-zero counts"


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
