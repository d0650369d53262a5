"""What `make bench` asks at each scale: every shape of GET /v1/search and of the catalogue routes, with genes,
datasets and prefixes picked from the loaded catalogue itself (so each scale asks its own most demanding ones).

A new route is measured by adding its shapes to `shapes()` (one `Shape` per request; its function is found from
template.yaml's routes).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import asyncpg

from devtools.bench.routes import Functions, Shape

DEEP_ROWS, DEEP_STEP = 10_000, 1000  # the rows page this deep: the cursor of DEEP_ROWS / DEEP_STEP pages
PAGE = 50  # /v1/search?limit=
THRESHOLDS = [("max_padj", "0.001"), ("min_abs_log2fc", "1")]
# The datasets of a like-for-like answer: at every scale a gene whose answer holds about this many datasets (as the
# smallest scale's most common one does, 10 of 12), so that its shapes compare the same work in a broader catalogue
# (SPEC 3.5: "a gene-filtered search over 1,000 datasets costs about what it costs over 12"), where the common
# gene's answer grows with the catalogue (188 datasets at 1,200).
LIKE_FOR_LIKE = 10
# A stored symbol asked as a term reads every spelling of its gene (resolution.py, rule 1; itself when unplaced): the
# symbol whose gene is significant, in the role, in the number of datasets nearest $1 (more, then the symbol in byte
# order, breaking ties).
LIKE = """
WITH spelled AS (
  SELECT s.gene_name AS term, coalesce(g.gene_name, s.gene_name) AS spelling
  FROM perturb_seq_genes s LEFT JOIN perturb_seq_genes g ON g.gene_id = s.gene_id)
SELECT t.term, count(DISTINCT d.dataset_id) AS n
FROM spelled t JOIN perturb_seq_gene_datasets d ON d.gene_name = t.spelling AND d.role = $2 AND d.significant
GROUP BY t.term
ORDER BY abs(count(DISTINCT d.dataset_id) - $1), n DESC, t.term COLLATE "C"
LIMIT 1"""


async def picks(conn: asyncpg.Connection, like_for_like: int = LIKE_FOR_LIKE) -> dict[str, Any]:
    """From the load-time relations (cheap): the number of datasets and their median rows; the largest dataset, and
    in it the perturbation and the phenotype present in the most datasets in their role; across the catalogue the
    perturbation and the phenotype present in the most datasets, each role's gene (as a term reads it: every spelling)
    significant in the number of datasets nearest `like_for_like`, and a perturbation significant in one dataset only;
    the most frequent first letter of a symbol, then its most frequent 2- and 4-letter continuations (lower case)."""
    datasets, median = await conn.fetchrow("SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY n_rows) "
                                           "FROM perturb_seq_dataset_statistics")
    largest, n_rows = await conn.fetchrow(
        "SELECT dataset_id, n_rows FROM perturb_seq_dataset_statistics ORDER BY n_rows DESC, dataset_id LIMIT 1")
    found: dict[str, Any] = {"datasets": datasets, "median_rows": median, "dataset": largest, "dataset_rows": n_rows}
    for role in ("perturbation", "phenotype"):
        rank = f"{role}_n_datasets DESC, {role}_n_significant_datasets DESC, g.gene_name COLLATE \"C\""
        found[f"{role}_in_dataset"] = await conn.fetchval(
            f"""SELECT g.gene_name FROM perturb_seq_genes g JOIN perturb_seq_gene_datasets d
                ON d.gene_name = g.gene_name AND d.role = $2 AND d.dataset_id = $1 ORDER BY {rank} LIMIT 1""",
            largest, role)
        found[f"{role}_common"], found[f"{role}_common_datasets"] = await conn.fetchrow(
            f"SELECT g.gene_name, {role}_n_datasets FROM perturb_seq_genes g WHERE {role}_n_datasets IS NOT NULL "
            f"ORDER BY {rank} LIMIT 1")
        found[f"{role}_like"], found[f"{role}_like_datasets"] = await conn.fetchrow(LIKE, like_for_like, role)
    found["perturbation_rare"] = await conn.fetchval(
        """SELECT gene_name FROM perturb_seq_genes WHERE perturbation_n_datasets = 1
           AND perturbation_n_significant_datasets = 1 ORDER BY gene_name COLLATE "C" LIMIT 1""")
    prefixes: list[str] = []
    for length in (1, 2, 4):
        prefixes.append(await conn.fetchval(
            """SELECT left(lower(gene_name), $1) AS prefix FROM perturb_seq_genes
               WHERE starts_with(lower(gene_name) COLLATE "C", $2) AND length(gene_name) >= $1
               GROUP BY 1 ORDER BY count(*) DESC, left(lower(gene_name), $1) COLLATE "C"
               LIMIT 1""", length, prefixes[-1] if prefixes else ""))
    return found | {"prefixes": prefixes}


def deepest_cursor(functions: Functions, path: str, query: list[tuple[str, str]]) -> tuple[str | None, int]:
    """The cursor DEEP_ROWS rows into GET path?query (pages of DEEP_STEP), or as deep as its rows go: (cursor, rows
    before it); (None, 0) when it has one page only."""
    cursor, depth = None, 0
    for _ in range(DEEP_ROWS // DEEP_STEP):
        response = functions(Shape("cursor", path, [*query, ("limit", str(DEEP_STEP)),
                                                    *([("cursor", cursor)] if cursor else [])]))
        if not (link := response["headers"].get("link")):
            break
        cursor, depth = dict(parse_qsl(urlsplit(link.split(">")[0].lstrip("<")).query))["cursor"], depth + DEEP_STEP
    return cursor, depth


def gene_rows(pick: dict[str, Any], functions: Functions) -> list[Shape]:
    """GET /v1/genes/{gene}/rows: page 1 of the perturbation and of the phenotype present in the most datasets, the
    phenotype's page DEEP_ROWS rows deep (or as deep as its rows go), a volcano-plot cut, TSV."""
    perturbation = f"/v1/genes/{quote(pick['perturbation_common'], safe='')}/rows"
    phenotype = f"/v1/genes/{quote(pick['phenotype_common'], safe='')}/rows"
    role = ("role", "phenotype")
    deep, depth = deepest_cursor(functions, phenotype, [role])
    return [Shape("gene rows: perturbation common", perturbation),
            Shape("gene rows: phenotype common", phenotype, [role]),
            *([Shape(f"gene rows: phenotype common, {depth:,} rows deep (cursor)", phenotype,
                     [role, ("cursor", deep)])] if deep else []),
            Shape("gene rows: perturbation common, thresholds", perturbation, THRESHOLDS),
            Shape("gene rows: phenotype common, tsv", phenotype, [role, ("format", "tsv")])]


def like_for_like(pick: dict[str, Any], by_phenotype: tuple[str, str]) -> list[Shape]:
    """Gene searches whose answer holds about LIKE_FOR_LIKE datasets at every scale: the breadth ratio of the same
    work."""
    perturbation, phenotype = pick["perturbation_like"], pick["phenotype_like"]
    name = f"in ~{LIKE_FOR_LIKE} datasets"
    return [Shape(f"search: perturbation {name}", "/v1/search", [("perturbation_gene_name", perturbation)],
                  "filtered"),
            Shape(f"search: perturbation {name}, thresholds", "/v1/search",
                  [("perturbation_gene_name", perturbation), *THRESHOLDS], "filtered"),
            Shape(f"search: phenotype {name}, by phenotype", "/v1/search",
                  [("phenotype_gene_name", phenotype), by_phenotype], "filtered")]


def shapes(pick: dict[str, Any], functions: Functions) -> list[Shape]:
    """Every request measured, in report order. Goals (which targets apply): devtools/bench/api.py GOALS."""
    common, rare, phenotype = pick["perturbation_common"], pick["perturbation_rare"], pick["phenotype_common"]
    middle = functions.next_cursor("/v1/search", [("limit", str(max(1, pick["datasets"] // 2)))])
    page_2 = functions.next_cursor("/v1/datasets", [("limit", "5")])
    dataset = quote(pick["dataset"], safe="")
    rows = f"/v1/datasets/{dataset}/rows"
    deep = functions.next_cursor(rows, [("limit", str(DEEP_STEP))], DEEP_ROWS // DEEP_STEP)
    by_phenotype = ("group_by", "phenotype_gene_name")
    out = [
        # GET /v1/search
        Shape("search: no filter (whole answer)", "/v1/search", [], "whole"),
        Shape("search: no filter, by phenotype (whole answer)", "/v1/search", [by_phenotype], "whole"),
        Shape(f"search: limit {PAGE}, page 1", "/v1/search", [("limit", str(PAGE))], "page"),
        Shape(f"search: limit {PAGE}, from the middle (cursor)", "/v1/search",
              [("limit", str(PAGE)), ("cursor", middle)], "page"),
        Shape(f"search: decreased, limit {PAGE}", "/v1/search", [("effect_direction", "decreased"),
                                                                  ("limit", str(PAGE))], "page"),
        Shape(f"search: thresholds, limit {PAGE}", "/v1/search", [*THRESHOLDS, ("limit", str(PAGE))], "page"),
        Shape("search: text k562", "/v1/search", [("dataset_metadata", "k562")], "filtered"),
        Shape(f"search: text blood, limit {PAGE}", "/v1/search", [("dataset_metadata", "blood"),
                                                                   ("limit", str(PAGE))], "filtered"),
        Shape("search: text k562, by phenotype", "/v1/search", [("dataset_metadata", "k562"), by_phenotype],
              "filtered"),
        Shape("search: perturbation common", "/v1/search", [("perturbation_gene_name", common)], "filtered"),
        Shape(f"search: perturbation common, limit {PAGE}", "/v1/search",
              [("perturbation_gene_name", common), ("limit", str(PAGE))], "filtered"),
        Shape("search: perturbation rare", "/v1/search", [("perturbation_gene_name", rare)], "filtered"),
        Shape("search: perturbation common, decreased", "/v1/search",
              [("perturbation_gene_name", common), ("effect_direction", "decreased")], "filtered"),
        Shape("search: perturbation common, thresholds", "/v1/search",
              [("perturbation_gene_name", common), *THRESHOLDS], "filtered"),
        Shape("search: phenotype common, by phenotype", "/v1/search",
              [("phenotype_gene_name", phenotype), by_phenotype], "filtered"),
        Shape(f"search: phenotype common, by phenotype, limit {PAGE}", "/v1/search",
              [("phenotype_gene_name", phenotype), by_phenotype, ("limit", str(PAGE))], "filtered"),
        *like_for_like(pick, by_phenotype),
        Shape("search: text k562 + perturbation common", "/v1/search",
              [("dataset_metadata", "k562"), ("perturbation_gene_name", common)], "filtered"),
        # GET /v1/datasets, /v1/datasets/{id}, /v1/datasets/{id}/rows
        Shape("datasets: no filter", "/v1/datasets"),
        Shape("datasets: tissue blood or liver", "/v1/datasets", [("tissue", "blood"), ("tissue", "liver")]),
        Shape("datasets: text k562 + knockdown", "/v1/datasets",
              [("dataset_metadata", "k562"), ("library_perturbation_type", "knockdown")]),
        Shape("datasets: page 2 (limit 5, cursor)", "/v1/datasets", [("limit", "5"), ("cursor", page_2)]),
        Shape("dataset: largest", f"/v1/datasets/{dataset}"),
        Shape("rows: page 1", rows),
        Shape(f"rows: {DEEP_ROWS:,} rows deep (cursor)", rows, [("cursor", deep)]),
        Shape("rows: perturbation", rows, [("perturbation_gene_name", pick["perturbation_in_dataset"])]),
        Shape("rows: perturbation + phenotype", rows, [("perturbation_gene_name", pick["perturbation_in_dataset"]),
                                                       ("phenotype_gene_name", pick["phenotype_in_dataset"])]),
        Shape("rows: decreased", rows, [("effect_direction", "decreased")]),
        Shape("rows: max_padj 0.01", rows, [("max_padj", "0.01")]),
        Shape("rows: min_abs_log2fc 1", rows, [("min_abs_log2fc", "1")]),
        Shape("rows: tsv", rows, [("format", "tsv")]),
        Shape("download: parquet (307)", f"/v1/datasets/{dataset}/download", [("format", "parquet")], "download",
              status=307),
        Shape("rows: limit 1000", rows, [("limit", "1000")], None),
        Shape("rows: tsv, limit 1000", rows, [("format", "tsv"), ("limit", "1000")], None),
        # GET /v1/genes, /v1/genes/{gene}
        *[Shape(f"genes: {len(p)} letter{'s' if len(p) > 1 else ''}", "/v1/genes", [("prefix", p)], "genes")
          for p in pick["prefixes"]],
        *[Shape(f"genes: 1 letter, {role}", "/v1/genes", [("prefix", pick["prefixes"][0]), ("role", role)], "genes")
          for role in ("perturbation", "phenotype")],
        # What autocomplete asks most once a name is typed: a prefix that is a whole symbol (an exact match first),
        # whose range is rare (the prefix shapes above are the catalogue's most common ranges)
        Shape("genes: a whole symbol", "/v1/genes", [("prefix", common.lower())], "genes"),
        Shape("gene: perturbation common", f"/v1/genes/{quote(common, safe='')}"),
        Shape("gene: perturbation rare", f"/v1/genes/{quote(rare, safe='')}"),
        # GET /v1/genes/{gene}/rows (docs/contract.md, "Rows of a gene"): the most common genes' rows across the
        # catalogue
        *gene_rows(pick, functions),
        # GET /v1/summary, /v1/health, /v1/openapi.json
        Shape("summary", "/v1/summary"),
        Shape("health", "/v1/health"),
        Shape("openapi", "/v1/openapi.json"),
    ]
    return out
