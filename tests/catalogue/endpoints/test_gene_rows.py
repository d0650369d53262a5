"""GET /v1/genes/{gene}/rows (docs/contract.md, "Rows of a gene"): walking the pages with limit=7, as JSON and as TSV,
gives exactly the brute-force rows of the gene across the catalogue (tests/catalogue/reference.py), in order, none
twice.

On the test catalogue: several genes (spellings across datasets, case variants, an Ensembl ID, an unplaced symbol),
both roles, the other gene, direction and thresholds. On a catalogue of its own (gene_ties.py): one gene with more than
1,000 rows tied at padj = 1 in each role under three spellings, every special value at the thresholds' edges, every
name of the gene finding the same rows, and a dataset without a document whose rows are never served.
"""
from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from catalogue_common.settings import settings
from ingestion import run

from devtools.data import load_data
from tests.api import Answer, error, get
from tests.catalogue import gene_ties
from tests.catalogue.gene_reference import Book, read
from tests.catalogue.reference import Ambiguous, CatalogueReference, Row, approx_equal, gene_across, is_num
from tests.support import LOOP, drop_index, fetch, search_engine

from .test_rows import TSV_COLUMNS, tsv_fields

MAX_PAGES = 1000  # a walk that does not end is a failure, not a hang


def route(term: str) -> str:
    return f"/v1/genes/{term}/rows"


def page(term: str, query: list[tuple[str, str]], limit: int, cursor: str | None) -> Answer:
    answer = get(route(term), [*query, ("limit", str(limit)), *([("cursor", cursor)] if cursor else [])])
    assert answer.status == 200, answer.text
    return answer


def walk(term: str, query: list[tuple[str, str]], limit: int = 7, full_pages: bool = True) -> list[dict]:
    """Every row of every page; each page has at most `limit` rows and a Link exactly when it has a next_cursor.
    `full_pages`: every page but the last has `limit` rows (not so where a dataset without a document drops rows)."""
    rows, cursor = [], None
    for _ in range(MAX_PAGES):
        body = (answer := page(term, query, limit, cursor)).json
        cursor = body["next_cursor"]
        assert ("link" in answer.headers) == (cursor is not None)
        assert len(body["rows"]) == limit or cursor is None or not full_pages, "only the last page is short"
        assert len(body["rows"]) <= limit
        rows += body["rows"]
        if cursor is None:
            return rows
    raise AssertionError(f"more than {MAX_PAGES} pages")


def next_cursor(answer: Answer) -> str | None:
    link = answer.headers.get("link")
    return parse_qs(urlsplit(link[1:link.index(">")]).query)["cursor"][0] if link else None


def tsv_walk(term: str, query: list[tuple[str, str]], limit: int = 7) -> list[list[str]]:
    """Every line of every TSV page (split into fields), the header checked on each, the next page from Link."""
    lines, cursor, role = [], None, dict(query).get("role", "perturbation")
    for _ in range(MAX_PAGES):
        answer = page(term, [*query, ("format", "tsv")], limit, cursor)
        assert answer.headers["content-type"].startswith("text/tab-separated-values")
        assert answer.headers["content-disposition"] == f'attachment; filename="{term}.{role}.rows.tsv"'
        header, *body = answer.text.removesuffix("\n").split("\n")
        assert answer.text.endswith("\n") and header.split("\t") == ["dataset_id", *TSV_COLUMNS]
        lines += [line.split("\t") for line in body]
        if (cursor := next_cursor(answer)) is None:
            return lines
    raise AssertionError(f"more than {MAX_PAGES} pages")


def wanted(ref: CatalogueReference, term: str, query: list[tuple[str, str]]) -> list[Row] | None:
    """The brute-force rows for a query of the route."""
    q = dict(query)
    role = q.get("role", "perturbation")
    partner = "phenotype" if role == "perturbation" else "perturbation"
    number = lambda name: float(q[name]) if name in q else None  # noqa: E731
    return ref.gene_rows(term, role, q.get(f"{partner}_gene_name"), q.get("effect_direction"), number("max_padj"),
                         number("min_abs_log2fc"))


def check_walks(ref: CatalogueReference, term: str, query: list[tuple[str, str]], full_pages: bool = True) -> list:
    """A JSON walk and a TSV walk against the brute force; the brute-force rows."""
    want = wanted(ref, term, query)
    assert want is not None
    rows = walk(term, query, full_pages=full_pages)
    assert len(rows) == len(want) and approx_equal(rows, [ref.gene_row(r) for r in want]), (term, query)
    assert tsv_walk(term, query) == [[r.dataset_id, *tsv_fields(ref.row(r))] for r in want], (term, query)
    return want


# --- the test catalogue --------------------------------------------------------------------------------------------

CASES = [
    ("SEPT2", []),  # three spellings in five datasets; its padj cross numbers, NaN and NULL
    ("SEPT2", [("role", "phenotype"), ("perturbation_gene_name", "RPL13A")]),
    ("tp53", []),  # TP53 and Tp53, placed on one gene
    ("tp53", [("role", "phenotype"), ("effect_direction", "increased")]),
    ("tp53", [("phenotype_gene_name", "marchf1")]),
    ("ENSG00000136997", [("role", "phenotype"), ("min_abs_log2fc", "0.05")]),  # MYC by its Ensembl ID
    ("non-targeting", [("role", "phenotype")]),  # no reference gene: a gene of its own
    ("MARCHF1", [("role", "phenotype"), ("effect_direction", "decreased"), ("max_padj", "0.05")]),
    ("NEDD5", [("role", "phenotype"), ("max_padj", "0.01"), ("min_abs_log2fc", "1")]),  # an alias of SEPTIN2
]


@pytest.mark.parametrize(("term", "query"), CASES, ids=[f"{t}-{'&'.join('='.join(p) for p in q)}" for t, q in CASES])
def test_walks_match_brute_force(ref: CatalogueReference, term: str, query: list[tuple[str, str]]):
    want = check_walks(ref, term, query)
    pair = any(name.endswith("_gene_name") for name, _ in query)  # both genes: at most a row or two per dataset
    assert len(want) > (2 if pair else 7), "the walk crosses pages"
    assert len({r.dataset_id for r in want}) > 1, "rows of several datasets"


def test_a_walk_crosses_numbers_nan_and_null(ref: CatalogueReference):
    padjs = [r.padj for r in wanted(ref, "SEPT2", [])]
    assert padjs[-1] is None and any(p is not None and math.isnan(p) for p in padjs)


def test_the_answer_names_the_gene_and_role(ref: CatalogueReference):
    body = get(route("SEPT2"), "role=phenotype&limit=2").json
    assert body["gene"] == gene_across(ref, "SEPT2")["gene"] and body["role"] == "phenotype"
    assert len(body["rows"]) == 2 and body["next_cursor"]


def test_unknown_and_ambiguous_genes():
    assert error(get(route("NO-SUCH-GENE")), 404, "not_found")["message"].startswith("There is no gene NO-SUCH-GENE")
    for answer, parameter in ((get(route("a1b")), "gene"), (get(route("TP53"), "phenotype_gene_name=A1B"),
                                                            "phenotype_gene_name")):
        body = error(answer, 400, "ambiguous_gene")
        assert [(d["parameter"], d["approved_symbol"], d["ensembl_gene_id"]) for d in body["details"]] == [
            (parameter, "A1BG", "ENSG00000121410"), (parameter, "SNTB1", "ENSG00000172164")]
    assert get(route("TP53"), "phenotype_gene_name=NO-SUCH-GENE").json["rows"] == []  # a filter matching nothing


@pytest.mark.parametrize(("query", "named"), [
    ("perturbation_gene_name=MYC", {"perturbation_gene_name"}),  # the path names the perturbation
    ("role=phenotype&phenotype_gene_name=MYC", {"phenotype_gene_name"}),
    ("limit=0&format=csv&role=both&max_padj=2&min_abs_log2fc=-1&colour=red",
     {"limit", "format", "role", "max_padj", "min_abs_log2fc", "colour"}),
    ("limit=1001&effect_direction=up", {"limit", "effect_direction"}),
])
def test_invalid_parameters_are_named(query: str, named: set[str]):
    body = error(get(route("TP53"), query), 400, "invalid_parameter")
    assert {d["parameter"] for d in body["details"]} == named


def test_a_gene_path_is_a_gene_name():
    body = error(get(route("=TP53")), 400, "invalid_parameter")
    assert [d["parameter"] for d in body["details"]] == ["gene"]


def test_a_cursor_is_bound_to_term_role_and_filters():
    first = get(route("SEPT2"), "limit=2&effect_direction=decreased").json["next_cursor"]
    assert get(route("SEPT2"), [("effect_direction", "decreased"), ("cursor", first), ("format", "tsv"),
                                ("limit", "3")]).status == 200
    for term, query in (("SEPTIN2", [("effect_direction", "decreased")]), ("SEPT2", []),
                        ("SEPT2", [("effect_direction", "decreased"), ("role", "phenotype")]),
                        ("SEPT2", [("effect_direction", "decreased"), ("max_padj", "1")])):
        error(get(route(term), [*query, ("cursor", first)]), 400, "invalid_parameter")
    cursor = get("/v1/datasets/datlinger_2017/rows", "limit=1").json["next_cursor"]
    error(get(route("SEPT2"), [("cursor", cursor)]), 400, "invalid_parameter")  # another route's


@pytest.mark.parametrize("query", ["limit=3", "limit=3&format=tsv", "role=phenotype&limit=1000"])
def test_head_has_the_gets_status_and_headers_and_no_body(query: str):
    for term in ("SEPT2", "NO-SUCH-GENE"):
        got, head = get(route(term), query), get(route(term), query, method="HEAD")
        assert head.status == got.status and head.text == ""
        assert {k: v for k, v in head.headers.items() if k != "content-length"} == {
            k: v for k, v in got.headers.items() if k != "content-length"}


# --- a catalogue of its own: ties at padj = 1, special values, a dataset without a document -------------------------

TIES_DB, TIES_INDEX = "catalogue_gene_rows_test", "test-gene-rows-dataset-summary-v1"
REFERENCE = Path(__file__).resolve().parents[2] / "data" / "gene_reference.tsv"
UNDOCUMENTED = "gene_ties_undocumented"


@pytest.fixture(scope="module")
def ties(stores_up: None, tmp_path_factory: pytest.TempPathFactory) -> CatalogueReference:
    """gene_ties.py's datasets and one more whose document is then removed, loaded through the ingestion with the
    test reference; their brute-force reference."""
    folder = tmp_path_factory.mktemp("gene-ties")
    folders = gene_ties.write(folder)
    extra = [(s, f"G{j:05d}", 0.5, 1.0 if j % 2 else 0.001, 1.0) for j, s in enumerate(gene_ties.SPELLINGS * 20)]
    folders.append(gene_ties.dataset(folder, UNDOCUMENTED, extra))
    target = settings("ingest").at(TIES_DB, TIES_INDEX)
    drop_index(TIES_INDEX)  # and the database that names its generation: a fresh catalogue
    fetch("postgres", f'DROP DATABASE IF EXISTS "{TIES_DB}" WITH (FORCE)')
    LOOP.run_until_complete(load_data.ensure_database(TIES_DB))
    assert not LOOP.run_until_complete(run.load_all(target, folders, quiet=True)).refusals
    assert LOOP.run_until_complete(run.load_genes(target, REFERENCE, quiet=True)) is None
    es = search_engine()
    es.delete(index=TIES_INDEX, id=UNDOCUMENTED, refresh=True)
    rows = [Row(*r) for r in fetch(TIES_DB, "SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange, padj, "
                                            "basemean FROM perturb_seq")]
    documents = [h["_source"] for h in es.search(index=TIES_INDEX, size=1000)["hits"]["hits"]]
    assert UNDOCUMENTED not in {d["dataset_id"] for d in documents}
    return CatalogueReference(rows, documents, Book(read(REFERENCE), {s for r in rows for s in (r.perturbation,
                                                                                                  r.phenotype)}))


@pytest.fixture
def on_ties(ties: CatalogueReference, with_stores) -> CatalogueReference:
    with_stores(ps_db=TIES_DB, es_index=TIES_INDEX)
    return ties


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_more_than_a_thousand_rows_tied_at_padj_1_under_three_spellings(on_ties: CatalogueReference, role: str):
    want = check_walks(on_ties, gene_ties.GENE, [("role", role)], full_pages=False)
    tied = [r for r in want if r.padj == 1.0]
    assert len(tied) > 1000 and {getattr(r, role) for r in tied} == set(gene_ties.SPELLINGS)
    assert len({r.dataset_id for r in tied}) >= 3


def test_the_spelling_orders_two_spellings_in_one_dataset(on_ties: CatalogueReference):
    """In gene_ties_00, SEPT2 and SEPTIN2 against the same phenotypes at padj = 1: the spelling breaks the tie."""
    rows = walk(gene_ties.GENE, [], limit=1000, full_pages=False)
    keys = [(r["change"]["padj"], r["dataset_id"], r["phenotype"]["phenotype_gene_name"]) for r in rows]
    pairs = [(rows[i], rows[i + 1]) for i in range(len(rows) - 1) if keys[i] == keys[i + 1]]
    assert len(pairs) >= 90
    assert all(a["perturbation"]["perturbation_gene_name"].encode() < b["perturbation"]["perturbation_gene_name"]
               .encode() for a, b in pairs)


def test_rows_of_a_dataset_without_a_document_are_never_served(on_ties: CatalogueReference):
    assert any(r.dataset_id == UNDOCUMENTED for r in on_ties.rows)
    rows = walk(gene_ties.GENE, [], limit=50, full_pages=False)
    assert rows and UNDOCUMENTED not in {r["dataset_id"] for r in rows}
    assert len(rows) == len(wanted(on_ties, gene_ties.GENE, []))


@pytest.mark.parametrize("term", ["SEPT2", "septin2", "ENSG00000168385", "ensg00000168385.9", "ENSG00000168385.15",
                                  "NEDD5"])
def test_every_name_of_the_gene_finds_the_same_rows(on_ties: CatalogueReference, term: str):
    for role in ("perturbation", "phenotype"):
        rows = walk(term, [("role", role)], limit=1000, full_pages=False)
        assert approx_equal(rows, [on_ties.gene_row(r) for r in wanted(on_ties, gene_ties.GENE, [("role", role)])])


THRESHOLDS = [
    [("min_abs_log2fc", "0")], [("min_abs_log2fc", "1")], [("min_abs_log2fc", "2.5")], [("min_abs_log2fc", "1e308")],
    [("max_padj", "0")], [("max_padj", "0.05")], [("max_padj", "1")], [("effect_direction", "increased")],
    [("effect_direction", "decreased"), ("max_padj", "0.05")],
    [("max_padj", "0.05"), ("min_abs_log2fc", "1")],  # a volcano-plot cut
]


@pytest.mark.parametrize("query", THRESHOLDS, ids=["&".join("=".join(p) for p in q) for q in THRESHOLDS])
def test_thresholds_at_their_edges_with_null_nan_and_infinities(on_ties: CatalogueReference,
                                                                 query: list[tuple[str, str]]):
    """The gene's rows (the ties and gene_ties_00's specials) against each threshold: the walk equals the brute
    force, and the brute force's own edges are the contract's (checked on its rows, so that a wrong reference cannot
    pass): NULL and NaN never pass, infinities pass a fold-change threshold, a value exactly at it passes."""
    want = check_walks(on_ties, "SEPT2", query, full_pages=False)
    q = dict(query)
    assert want
    if "min_abs_log2fc" in q:
        bound = float(q["min_abs_log2fc"])
        assert all(is_num(r.log2fc) and abs(r.log2fc) >= bound for r in want)
        assert any(math.isinf(r.log2fc) for r in want), "infinities pass a fold-change threshold"
        assert bound != 1 or any(abs(r.log2fc) == 1 for r in want), "exactly at the threshold passes"
    if "max_padj" in q:
        assert all(is_num(r.padj) and r.padj <= float(q["max_padj"]) for r in want)
        assert q["max_padj"] != "0.05" or any(r.padj == 0.05 for r in want), "exactly at the threshold passes"
    if "effect_direction" in q:
        assert all(is_num(r.log2fc) and r.log2fc != 0 for r in want), "zero, NULL and NaN have no direction"


def test_the_specials_cover_every_edge(on_ties: CatalogueReference):
    """The data the threshold walks run on holds each special value the contract names, on the gene's rows."""
    rows = on_ties.gene_rows("SEPT2")
    fold, padj = {repr(r.log2fc) for r in rows}, {repr(r.padj) for r in rows}
    assert {"None", "nan", "inf", "-inf", "0.0", "1.0", "-1.0", "0.9999999999999999"} <= fold
    assert {"None", "nan", "0.0", "0.05", "0.05000000000000001", "1.0"} <= padj
    with pytest.raises(Ambiguous):
        on_ties.gene_rows("SEPT2", other="A1B")
