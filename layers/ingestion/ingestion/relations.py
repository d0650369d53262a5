"""The relations derived from perturb_seq (docs/contract.md, "Summaries"): both summaries and the load-time relations
of docs/contract.md, "Catalogue routes".

Each is defined once, as a SELECT over a subset of its source: a full build runs it over everything
(`CREATE TABLE ... AS`), a per-dataset load runs it over one dataset (`DELETE` + `INSERT ... SELECT`) inside the
transaction that replaces the dataset's rows, so readers see the rows and everything derived from them change
together. Summaries are tables here (docs/contract.md, "Summaries" allows it); `PRODUCTION_VIEWS` builds them as
production has them, materialised views, which the API must answer on as well.
"""
from __future__ import annotations

from dataclasses import dataclass

from catalogue_common.genes import key_sql
from catalogue_common.vocabulary import SUMMARY, direction_sql, significant

# Over perturb_seq's own rows (no alias): the catalogue's one definition of each (catalogue_common.vocabulary).
SIGNIFICANT, UP, DOWN = significant(), direction_sql("increased"), direction_sql("decreased")


@dataclass(frozen=True)
class Relation:
    name: str
    select: str  # with {where}: a condition on its source's rows
    key: str  # unique key columns
    indexes: tuple[str, ...] = ()  # further index definitions: "name ON relation (columns)"

    def build(self, where: str = "true") -> str:
        return f"CREATE TABLE {self.name} AS {self.select.format(where=where)};\n" \
               f"ALTER TABLE {self.name} ADD PRIMARY KEY ({self.key});\n" + \
               "".join(f"CREATE INDEX {index};\n" for index in self.indexes)

    def refill(self, where: str) -> list[str]:
        """Statements replacing the relation's rows that `where` selects (one dataset's)."""
        return [f"DELETE FROM {self.name} WHERE {where}",
                f"INSERT INTO {self.name} {self.select.format(where=where)}"]


SUMMARY_PERTURBATION = Relation(
    SUMMARY["perturbation"], f"""
SELECT dataset_id, perturbed_target_symbol, count(*) AS n_total,
       count(*) FILTER (WHERE {DOWN}) AS n_down, count(*) FILTER (WHERE {UP}) AS n_up
FROM perturb_seq WHERE {SIGNIFICANT} AND {{where}} GROUP BY dataset_id, perturbed_target_symbol""",
    "dataset_id, perturbed_target_symbol",
    ("perturb_seq_summary_perturbation_rank ON perturb_seq_summary_perturbation (dataset_id, n_total DESC)",))

SUMMARY_EFFECT = Relation(
    SUMMARY["phenotype"], f"""
SELECT dataset_id, gene, count(*) AS n_total,
       count(*) FILTER (WHERE {DOWN}) AS n_down, count(*) FILTER (WHERE {UP}) AS n_up, avg(basemean) AS base_mean
FROM perturb_seq WHERE {SIGNIFICANT} AND {{where}} GROUP BY dataset_id, gene""",
    "dataset_id, gene",
    ("perturb_seq_summary_effect_rank ON perturb_seq_summary_effect (dataset_id, n_total DESC)",))

# Every (dataset, symbol, role) that occurs, and whether the symbol has significant rows in that role there.
GENE_DATASETS = Relation(
    "perturb_seq_gene_datasets", f"""
SELECT dataset_id, perturbed_target_symbol AS gene_name, 'perturbation'::text AS role,
       bool_or({SIGNIFICANT}) IS TRUE AS significant
FROM perturb_seq WHERE {{where}} GROUP BY dataset_id, perturbed_target_symbol
UNION ALL
SELECT dataset_id, gene, 'phenotype', bool_or({SIGNIFICANT}) IS TRUE
FROM perturb_seq WHERE {{where}} GROUP BY dataset_id, gene""",
    "dataset_id, role, gene_name",
    ("perturb_seq_gene_datasets_gene ON perturb_seq_gene_datasets (gene_name)",))

# GET /v1/datasets and /v1/datasets/{id}: per-dataset figures (from the table and the relation above).
DATASET_STATISTICS = Relation(
    "perturb_seq_dataset_statistics", """
SELECT s.dataset_id, s.n_rows, s.n_significant_rows,
       (SELECT count(*) FROM perturb_seq_gene_datasets g
        WHERE g.dataset_id = s.dataset_id AND g.role = 'perturbation') AS n_perturbations,
       (SELECT count(*) FROM perturb_seq_gene_datasets g
        WHERE g.dataset_id = s.dataset_id AND g.role = 'phenotype') AS n_phenotypes,
       s.ingested_at
FROM (SELECT dataset_id, count(*) AS n_rows, count(*) FILTER (WHERE """ + SIGNIFICANT + """) AS n_significant_rows,
             max(max_ingested_at) AS ingested_at
      FROM perturb_seq WHERE {where} GROUP BY dataset_id) s""",
    "dataset_id",
    # The search walks datasets in byte order (a page of a common gene's datasets; every dataset, unfiltered).
    ('perturb_seq_dataset_statistics_order ON perturb_seq_dataset_statistics (dataset_id COLLATE "C")',))

# Every stored symbol, once: its figures for GET /v1/genes (a role the symbol never has is NULL; n_significant_datasets
# counts the datasets where it has significant rows in either role), and its placement (docs/contract.md, "Genes"):
# the reference gene it belongs to, by its approved symbol (any case), else its Ensembl ID (any case, version
# ignored), else as a previous symbol or alias of exactly one gene; NULL when the reference cannot place it, or
# places it ambiguously (it is then a gene of its own). One relation, so that autocomplete and resolution read one
# index each. Refilled for a dataset's symbols, and whole when the reference changes.
PLACED = f"""
  SELECT CASE WHEN count(*) FILTER (WHERE n.kind = 'approved') > 0
              THEN CASE WHEN count(DISTINCT n.gene_id) FILTER (WHERE n.kind = 'approved') = 1
                        THEN min(n.gene_id) FILTER (WHERE n.kind = 'approved') END
              WHEN count(*) FILTER (WHERE n.kind = 'ensembl') > 0 THEN min(n.gene_id) FILTER (WHERE n.kind = 'ensembl')
              WHEN count(DISTINCT n.gene_id) = 1 THEN min(n.gene_id) END AS gene_id
  FROM gene_reference_names n WHERE n.name = {key_sql("f.gene_name")}"""
GENES = Relation(
    "perturb_seq_genes", f"""
SELECT f.*, r.gene_id, r.ensembl_gene_id, r.approved_symbol
FROM (
  SELECT gene_name,
         nullif(count(*) FILTER (WHERE role = 'perturbation'), 0) AS perturbation_n_datasets,
         CASE WHEN count(*) FILTER (WHERE role = 'perturbation') > 0
              THEN count(*) FILTER (WHERE role = 'perturbation' AND significant) END
             AS perturbation_n_significant_datasets,
         nullif(count(*) FILTER (WHERE role = 'phenotype'), 0) AS phenotype_n_datasets,
         CASE WHEN count(*) FILTER (WHERE role = 'phenotype') > 0
              THEN count(*) FILTER (WHERE role = 'phenotype' AND significant) END
             AS phenotype_n_significant_datasets,
         count(DISTINCT dataset_id) FILTER (WHERE significant) AS n_significant_datasets
  FROM perturb_seq_gene_datasets WHERE {{where}} GROUP BY gene_name) f
LEFT JOIN LATERAL ({PLACED}) p ON true
LEFT JOIN gene_reference r ON r.gene_id = p.gene_id""",
    "gene_name",
    # Case-insensitive prefix lookups: starts_with() on these expressions is a range scan of the index.
    ('perturb_seq_genes_lower ON perturb_seq_genes ((lower(gene_name) COLLATE "C"))',
     'perturb_seq_genes_approved ON perturb_seq_genes ((lower(approved_symbol) COLLATE "C"))',
     "perturb_seq_genes_gene ON perturb_seq_genes (gene_id)",
     # GET /v1/genes walks a common prefix's symbols in rank order: in either role, and in each role alone.
     'perturb_seq_genes_rank ON perturb_seq_genes (n_significant_datasets DESC, gene_name COLLATE "C")',
     *(f'perturb_seq_genes_{role}_rank ON perturb_seq_genes ({role}_n_significant_datasets DESC, gene_name COLLATE "C")'
       f" WHERE {role}_n_datasets IS NOT NULL" for role in ("perturbation", "phenotype"))))

# GET /v1/summary: the catalogue's totals, one row (rebuilt whole: it reads the two relations above).
CATALOGUE_STATISTICS = Relation(
    "perturb_seq_catalogue_statistics", """
SELECT (SELECT count(*) FROM perturb_seq_dataset_statistics) AS n_datasets,
       (SELECT coalesce(sum(n_rows), 0)::bigint FROM perturb_seq_dataset_statistics) AS n_rows,
       (SELECT coalesce(sum(n_significant_rows), 0)::bigint FROM perturb_seq_dataset_statistics) AS n_significant_rows,
       (SELECT count(perturbation_n_datasets) FROM perturb_seq_genes) AS n_perturbations,
       (SELECT count(phenotype_n_datasets) FROM perturb_seq_genes) AS n_phenotypes,
       (SELECT max(ingested_at) FROM perturb_seq_dataset_statistics) AS ingested_at
WHERE {where}""",
    "n_datasets")

SUMMARIES = (SUMMARY_PERTURBATION, SUMMARY_EFFECT)
LOAD_TIME = (GENE_DATASETS, DATASET_STATISTICS, GENES, CATALOGUE_STATISTICS)  # in dependency order
ALL = (*SUMMARIES, *LOAD_TIME)


def build_all(production_views: bool = False) -> str:
    """DDL building every derived relation from the whole table (after a bulk COPY and the table's indexes)."""
    if production_views:
        summaries = "".join(
            f"CREATE MATERIALIZED VIEW {r.name} AS {r.select.format(where='true')};\n"
            f"CREATE UNIQUE INDEX {r.name}_key ON {r.name} ({r.key});\n"
            + "".join(f"CREATE INDEX {index};\n" for index in r.indexes) for r in SUMMARIES)
    else:
        summaries = "".join(r.build() for r in SUMMARIES)
    return summaries + "".join(r.build() for r in LOAD_TIME)


def refill_dataset() -> list[tuple[str, str | None]]:
    """(statement, its one parameter) pairs that bring every derived relation up to date with one dataset's rows:
    `$1` is the dataset id ("dataset"), or every symbol it had before or has now ("genes"), or absent (None)."""
    where = "dataset_id = $1"
    return [*((s, "dataset") for r in (SUMMARY_PERTURBATION, SUMMARY_EFFECT, GENE_DATASETS, DATASET_STATISTICS)
              for s in r.refill(where)),
            *((s, "genes") for s in GENES.refill("gene_name = ANY($1)")),
            *((s, None) for s in CATALOGUE_STATISTICS.refill("true"))]
