"""GET /v1/search against an independent brute-force computation over the whole test catalogue (docs/contract.md,
"Search")."""
from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from urllib.parse import urlencode

import pytest
from catalogue import documents
from catalogue.endpoints.search import SearchParameters, search
from catalogue.parameters import check
from catalogue_common.search import query as queries

from tests.api import get
from tests.support import fetch, run

from . import reference as brute
from .reference import LABELS, Reference, Row, approx_equal, relevance_order, relevance_scores

WORDS = ["blood", "T cell", "leukemia", "knockdown", "KNOCKOUT", "jurkat", "female adult", "Blood Knockdown",
         "chronic myelogenous leukemia", "liver hepatocyte", "normal", "activation", "zebrafish", "k562 cell",
         "adamson_2016_pilot", "T-cell acute", "neuron brain male",
         # In the test catalogue most texts give every dataset they match one score, so that their relevance order is
         # the id order; these do not (test_relevance_is_not_the_id_order).
         "cell", "epithelial cell", "human", "acute", "stage"]


@pytest.fixture(scope="module")
def reference(ref: Reference) -> Reference:
    return ref


def call(**params: str) -> list:
    body, _ = run(search(check(SearchParameters, list(params.items()))))
    return json.loads(body)


def walk(limit: int, **params: str) -> list:
    """Every page of `limit` datasets, following the cursors; no page is longer than `limit`."""
    elements, cursor = [], None
    while True:
        pairs = [*params.items(), ("limit", str(limit)), *([("cursor", cursor)] if cursor else [])]
        body, cursor = run(search(check(SearchParameters, pairs)))
        page = json.loads(body)
        assert len(page) <= limit and (page or cursor is None)
        elements += page
        if cursor is None:
            return elements


def random_cases(reference: Reference, count: int, seed: int) -> list[dict[str, str]]:
    """Parameter sets of two kinds: most are drawn around one significant row (its genes, its direction, words of
    its dataset, thresholds it passes), so that they have an answer; the rest mix genes of different rows, absent
    genes and other cases, so that they may have none."""
    rng = random.Random(seed)
    significant_rows = [r for r in reference.rows if r.padj is not None and r.padj <= 0.05]
    return [_around(rng.choice(significant_rows), reference, rng) if rng.random() < 0.7
            else _mixed(rng.choice(reference.rows), rng.choice(reference.rows), reference, rng) for _ in range(count)]


def _around(row: Row, reference: Reference, rng: random.Random) -> dict[str, str]:
    params: dict[str, str] = {}
    for role, name in (("perturbation", row.perturbation), ("phenotype", row.phenotype)):
        if rng.random() < 0.5:
            params[f"{role}_gene_name"] = name
    if rng.random() < 0.4 and (own := brute.direction(row.log2fc)):
        params[rng.choice(["effect_direction", "change_direction"])] = own
    if rng.random() < 0.3:
        labels = [v for n in LABELS for v in reference.documents[row.dataset_id].get(f"{n}_labels") or []]
        params["dataset_metadata"] = rng.choice(labels)
    if rng.random() < 0.3:
        params["max_padj"] = rng.choice(["0.05", "0.5", "1"])
    if rng.random() < 0.3 and row.log2fc is not None and math.isfinite(row.log2fc):
        params["min_abs_log2fc"] = rng.choice(["0", str(round(abs(row.log2fc) / 2, 3))])
    _group_by(params, rng)
    return params


def _mixed(row: Row, other: Row, reference: Reference, rng: random.Random) -> dict[str, str]:
    params: dict[str, str] = {}
    if rng.random() < 0.6:
        params["perturbation_gene_name"] = rng.choice([row.perturbation, other.perturbation, "NOT_A_GENE",
                                                      row.perturbation.lower()])
    if rng.random() < 0.6:
        params["phenotype_gene_name"] = rng.choice([row.phenotype, other.phenotype, "GAPDH", "MISSING1"])
    if rng.random() < 0.5:
        params[rng.choice(["effect_direction", "change_direction"])] = rng.choice(["increased", "decreased"])
    if rng.random() < 0.3:
        params["dataset_metadata"] = rng.choice(WORDS)
    if rng.random() < 0.25:
        params["max_padj"] = rng.choice(["0", "0.001", "0.05", "0.5", "1"])
    if rng.random() < 0.25:
        params["min_abs_log2fc"] = rng.choice(["0", "0.3", "1", "2.5"])
    _group_by(params, rng)
    return params


def _group_by(params: dict[str, str], rng: random.Random) -> None:
    if rng.random() < 0.5:
        params["group_by"] = rng.choice(["perturbation_gene_name", "phenotype_gene_name", "effect_gene_name"])


def expected(reference: Reference, index: str, params: dict[str, str]) -> list:
    text = params.get("dataset_metadata")
    order = (relevance_order(index, text, reference.matching_datasets(text)) if text
             else sorted(reference.documents, key=str.encode))
    number = lambda name: float(params[name]) if name in params else None  # noqa: E731
    return reference.search(
        order, params.get("perturbation_gene_name"), params.get("phenotype_gene_name"),
        params.get("effect_direction") or params.get("change_direction"),
        "perturbation" if params.get("group_by", "perturbation_gene_name") == "perturbation_gene_name"
        else "phenotype", number("max_padj"), number("min_abs_log2fc"))


NON_EMPTY_FLOOR = 0.5  # a batch where most cases compare [] with [] checks little


@pytest.mark.parametrize("batch", range(6))
def test_random_parameter_combinations_match_brute_force(reference: Reference, catalogue: dict, batch: int):
    non_empty = 0
    for params in random_cases(reference, 60, seed=batch):
        got, want = call(**params), expected(reference, catalogue["index"], params)
        assert approx_equal(got, want), f"mismatch for ?{urlencode(params)}"
        non_empty += bool(want)
    assert non_empty >= NON_EMPTY_FLOOR * 60, f"only {non_empty} of 60 cases have a non-empty answer"


def test_relevance_is_not_the_id_order(reference: Reference, catalogue: dict):
    """The order checks compare the API with an order sorted here from Elasticsearch's scores (relevance_order says
    what is independent and what is not). In the test catalogue most texts give every dataset they match one score,
    so that their relevance order is the id order, and an API that ignored the scores would pass them: the texts the
    tests draw must include several whose order is not the id order, and both endpoints must follow each of those.
    Ties are common and are ordered by the tie rule."""
    index, reordered, tied = catalogue["index"], [], 0
    texts = [t for t in WORDS if reference.matching_datasets(t)]
    for text in texts:
        scores = relevance_scores(index, text)
        order = relevance_order(index, text, reference.matching_datasets(text))
        if order != sorted(order, key=str.encode):
            reordered.append((text, order))
        tied += len(set(scores.values())) < len(scores)
    assert len(reordered) >= 5 and tied >= 5, (len(reordered), tied, len(texts))
    for text, order in reordered:
        with_rows = [e["dataset"]["dataset_id"] for e in call(dataset_metadata=text)]
        assert len(with_rows) > 1 and with_rows == [i for i in order if i in set(with_rows)], text
        listed = get("/v1/datasets", [("dataset_metadata", text), ("limit", "100")]).json["datasets"]
        assert [e["dataset"]["dataset_id"] for e in listed] == order[:100], text


PAGED = [{}, {"group_by": "phenotype_gene_name"}, {"effect_direction": "decreased"},
         {"dataset_metadata": "blood"}, {"dataset_metadata": "knockdown", "group_by": "phenotype_gene_name"},
         {"phenotype_gene_name": "GAPDH"}, {"perturbation_gene_name": "MYC", "group_by": "phenotype_gene_name"},
         {"max_padj": "0.01", "min_abs_log2fc": "1"}, {"dataset_metadata": "blood", "phenotype_gene_name": "GAPDH"},
         {"perturbation_gene_name": "MYC"}, {"phenotype_gene_name": "GAPDH", "group_by": "phenotype_gene_name"},
         {"phenotype_gene_name": "septin2", "group_by": "phenotype_gene_name"},
         {"dataset_metadata": "epithelial cell"}, {"dataset_metadata": "cell", "group_by": "phenotype_gene_name"},
         {"dataset_metadata": "cell", "perturbation_gene_name": "MYC", "group_by": "phenotype_gene_name"},
         {"dataset_metadata": "blood", "effect_direction": "increased", "min_abs_log2fc": "2"},
         {"phenotype_gene_name": "septin2", "group_by": "phenotype_gene_name", "max_padj": "1"}]
# (The two before the last order their datasets otherwise than by id: paging by relevance, search_after on the score.)
# A gene filter on the grouping's role alone reads stored groups (GAPDH and septin2 by phenotype, MYC by
# perturbation: test_a_gene_on_the_grouping_reads_stored_groups); any other gene filter computes the answer. A computed
# page of a gene's datasets gathers the datasets where the gene occurs when they are few (GAPDH, MYC: 2-3 of 160), and
# walks every dataset in order when they are many (septin2's spellings are significant in 46 datasets: with a
# threshold, pages of 1 and 7 walk, pages of 50 gather; query._walk_pays). The unpaged answer always gathers. With
# text and a filter few of the matching datasets pass (GAPDH, MYC, a large fold change), a page's first limit + 1 hits
# answer too rarely and the rest of the hits are read (test_a_text_page_reads_its_own_worth_of_hits).


@pytest.mark.parametrize("limit", [1, 7, 50])
@pytest.mark.parametrize("params", PAGED, ids=[urlencode(p) or "unfiltered" for p in PAGED])
def test_walking_the_pages_gives_the_unpaged_answer(reference: Reference, catalogue: dict, limit: int,
                                                     params: dict[str, str]):
    """Paging by dataset (limit, cursor): every element once, in order, whatever the page size."""
    unpaged = call(**params)
    assert unpaged and approx_equal(unpaged, expected(reference, catalogue["index"], params))
    assert walk(limit, **params) == unpaged


def grouped_cases(reference: Reference) -> list[dict[str, str]]:
    """Searches whose one gene filter is on the grouping's role, without threshold: genes of significant rows (and
    other spellings of them) with and without a direction and text."""
    rng = random.Random(5)
    significant_rows = [r for r in reference.rows if r.padj is not None and r.padj <= 0.05]
    cases = []
    for row in rng.sample(significant_rows, 24):
        role = rng.choice(["perturbation", "phenotype"])
        gene = getattr(row, role)
        params = {f"{role}_gene_name": rng.choice([gene, gene.lower()]), "group_by": f"{role}_gene_name"}
        if rng.random() < 0.5 and (own := brute.direction(row.log2fc)):
            params["effect_direction"] = rng.choice([own, "increased", "decreased"])
        if rng.random() < 0.3:
            labels = [v for n in LABELS for v in reference.documents[row.dataset_id].get(f"{n}_labels") or []]
            params["dataset_metadata"] = rng.choice(labels)
        cases.append(params)
    return [*cases, {"phenotype_gene_name": "septin2", "group_by": "phenotype_gene_name"},
            {"phenotype_gene_name": "SEPT2", "group_by": "phenotype_gene_name", "effect_direction": "decreased"}]


def test_a_gene_on_the_grouping_reads_stored_groups(reference: Reference, catalogue: dict, monkeypatch):
    """Such a search is answered from the groups the ingestion stored (endpoints/search/stored.py), never by the
    shared query: with the query disabled, each one, whole and in pages of 3, answers as brute force says."""
    cases = grouped_cases(reference)
    assert all(check(SearchParameters, list(c.items())).grouped for c in cases)

    def disabled(*_: object) -> None:
        raise AssertionError("the shared search query ran")
    monkeypatch.setattr(queries, "build", disabled)
    non_empty = 0
    for params in cases:
        got = call(**params)
        assert approx_equal(got, expected(reference, catalogue["index"], params)), f"?{urlencode(params)}"
        assert walk(3, **params) == got, f"?{urlencode(params)}"
        non_empty += bool(got)
    assert non_empty >= 0.8 * len(cases)
    with pytest.raises(AssertionError, match="shared search query"):
        call(perturbation_gene_name="MYC", group_by="phenotype_gene_name")


@pytest.mark.parametrize(("params", "pages"), [({"dataset_metadata": "blood"}, 1),
                                               ({"dataset_metadata": "blood", "phenotype_gene_name": "GAPDH"}, 2)])
def test_a_text_page_reads_its_own_worth_of_hits(catalogue: dict, monkeypatch, params: dict[str, str], pages: int):
    """SPEC 3.5: a page's cost follows the page, not how many datasets match the text. A page of 7 asks
    Elasticsearch for 8 hits; only when too few of those have a result (GAPDH is in 2-3 of 160 datasets) does it
    read the rest, once. The whole answer reads every hit."""
    reads: list[tuple[int | None, int]] = []
    ranked = documents.ranked

    async def counted(text, after=None, index=None, first=None):  # type: ignore[no-untyped-def]
        hits = await ranked(text, after, index, first)
        reads.append((first, len(hits)))
        return hits
    monkeypatch.setattr(documents, "ranked", counted)
    unpaged = call(**params)
    [(first, matching)] = reads
    assert first is None and matching > 8 and unpaged
    reads.clear()
    run(search(check(SearchParameters, [*params.items(), ("limit", "7")])))
    assert reads[0] == (8, 8) and len(reads) == pages
    assert pages == 1 or reads[1] == (None, matching - 8)


@pytest.mark.parametrize("group_by", ["perturbation_gene_name", "phenotype_gene_name"])
def test_no_filter_returns_every_dataset_with_full_groups(reference: Reference, catalogue: dict, group_by: str):
    got = call(group_by=group_by)
    assert len(got) == catalogue["datasets"], "every dataset with a result is returned, no silent cap"
    assert [e["dataset"]["dataset_id"] for e in got] == sorted(reference.documents, key=str.encode)
    assert approx_equal(got, expected(reference, catalogue["index"], {"group_by": group_by}))
    key, rows_key = ("by_perturbation", "change_phenotype") if group_by.startswith("perturbation") else (
        "by_phenotype", "perturbation_change")
    assert max(len(e[key]) for e in got) == 3 and max(len(g[rows_key]) for e in got for g in e[key]) == 10
    assert all(e[key] and all(g[rows_key] for g in e[key]) for e in got), "no empty dataset or group"


def test_metadata_words_are_anded_and_case_insensitive(catalogue: dict):
    both = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="JURKAT knockdown")}
    jurkat = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="jurkat")}
    knockdown = {e["dataset"]["dataset_id"] for e in call(dataset_metadata="Knockdown")}
    assert both and both == jurkat & knockdown and both < jurkat
    assert "nadig_2025_jurkat" in both and "datlinger_2017" not in both  # datlinger is a knockout screen


def test_metadata_searches_only_the_eight_fields(catalogue: dict):
    # Every document's `title` says "Perturb-seq screen", but the title is not a searchable field.
    assert call(dataset_metadata="screen") == []


@pytest.mark.parametrize("text", ["blood AND (", '"', "*", "\\", "blood OR", "cell:[* TO", "~!@#$%^&()", "/regex/"])
def test_metadata_user_syntax_is_plain_text(reference: Reference, catalogue: dict, text: str):
    """Query syntax is read as plain words: the answer is the brute force's for those words (most have none: "and"
    is a word no dataset carries; punctuation alone is no word), never an error."""
    result = call(dataset_metadata=text)
    assert approx_equal(result, expected(reference, catalogue["index"], {"dataset_metadata": text}))
    if text.startswith("blood"):
        assert result == [] and call(dataset_metadata="blood"), "plain words, ANDed"


@pytest.mark.slow
def test_non_finite_values_are_null_and_nan_never_has_a_direction(reference: Reference, catalogue: dict):
    special = [r for r in fetch(catalogue["database"], """
        SELECT dataset_id, perturbed_target_symbol, gene, log2foldchange FROM perturb_seq
        WHERE log2foldchange IN ('NaN', 'Infinity', '-Infinity') OR padj = 'NaN' OR log2foldchange IS NULL""")
        if (r[0], r[1]) in reference.summary["perturbation"]]  # only rows whose group can be chosen
    assert {math.isnan(r[3]) if r[3] is not None else None for r in special} >= {True, False, None}
    for dataset_id, perturbation, phenotype, log2fc in special:
        for direction in (None, "increased", "decreased"):
            params = {"perturbation_gene_name": perturbation, "phenotype_gene_name": phenotype,
                      "dataset_metadata": dataset_id, **({"effect_direction": direction} if direction else {})}
            # The row itself (a gene filter also matches the gene's other spellings, as other rows)
            changes = [c["change"] for e in call(**params) if e["dataset"]["dataset_id"] == dataset_id
                       for g in e["by_perturbation"] if g["perturbation"]["perturbation_gene_name"] == perturbation
                       for c in g["change_phenotype"] if c["phenotype"]["phenotype_gene_name"] == phenotype]
            if log2fc is None or math.isnan(log2fc):
                assert changes == [] if direction else changes[0]["direction"] is None
                assert direction or changes[0]["log2fc"] is None
            elif math.isinf(log2fc):
                matches = direction in (None, "increased" if log2fc > 0 else "decreased")
                assert bool(changes) == matches
                assert not changes or changes[0]["log2fc"] is None


def test_a_gene_named_in_another_case_is_found(reference: Reference, catalogue: dict):
    """Resolution step 2: a term equal to stored symbols in another case names their genes."""
    variants = defaultdict(set)
    for symbol in reference.book.stored:
        variants[symbol.lower()].add(symbol)
    gene = next(r.perturbation for r in reference.rows if r.perturbation != r.perturbation.lower()
                and len(variants[r.perturbation.lower()]) == 1)  # no other case variant: the same rows either way
    lowered = call(perturbation_gene_name=gene.lower())
    assert lowered and lowered == call(perturbation_gene_name=gene)
    assert approx_equal(lowered, expected(reference, catalogue["index"], {"perturbation_gene_name": gene.lower()}))


@pytest.mark.parametrize("role", ["perturbation", "phenotype"])
def test_gene_with_only_insignificant_rows_in_some_datasets(reference: Reference, catalogue: dict, role: str):
    """The builder walks the summary view where the filtered gene is significant and gathers from its rows where it
    is not: a gene with both kinds of datasets exercises both in one request."""
    column, view = (("perturbed_target_symbol", "perturb_seq_summary_perturbation") if role == "perturbation"
                    else ("gene", "perturb_seq_summary_effect"))
    [(gene, sparse, significant)] = fetch(catalogue["database"], f"""
        SELECT r.{column}, count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NULL),
               count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NOT NULL)
        FROM perturb_seq r LEFT JOIN {view} v ON v.dataset_id = r.dataset_id AND v.{column} = r.{column}
        GROUP BY 1 HAVING count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NULL) > 0
                      AND count(DISTINCT r.dataset_id) FILTER (WHERE v.dataset_id IS NOT NULL) > 0
        ORDER BY 2 DESC, r.{column} COLLATE "C" LIMIT 1""")
    assert sparse and significant
    for group_by in ("perturbation_gene_name", "phenotype_gene_name"):
        for direction in (None, "increased", "decreased"):
            params = {f"{role}_gene_name": gene, "group_by": group_by, **({"effect_direction": direction}
                                                                          if direction else {})}
            got = call(**params)
            assert approx_equal(got, expected(reference, catalogue["index"], params)), params
            assert got or direction, params
