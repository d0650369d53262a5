-- Built after COPY: bulk index builds are far faster than maintaining indexes row by row.
-- SPEC 2.2: production has exactly these four indexes.
CREATE INDEX idx_dataset_padj ON perturb_seq (dataset_id, padj);
CREATE INDEX idx_perturbed_padj ON perturb_seq (perturbed_target_symbol, padj);
CREATE INDEX idx_gene_padj ON perturb_seq (gene, padj);
CREATE INDEX idx_perturbed_gene_padj ON perturb_seq (perturbed_target_symbol, gene, padj);

-- SPEC 2.3: counts over significant rows (padj <= 0.05; NULL and NaN padj are not significant).
-- A direction needs a real sign: NaN compares above every number in PostgreSQL, so it is excluded from n_up.
CREATE MATERIALIZED VIEW perturb_seq_summary_perturbation AS
SELECT dataset_id, perturbed_target_symbol,
       count(*) AS n_total,
       count(*) FILTER (WHERE log2foldchange < 0) AS n_down,
       count(*) FILTER (WHERE log2foldchange > 0 AND log2foldchange <> 'NaN') AS n_up
FROM perturb_seq
WHERE padj <= 0.05
GROUP BY dataset_id, perturbed_target_symbol;

CREATE MATERIALIZED VIEW perturb_seq_summary_effect AS
SELECT dataset_id, gene,
       count(*) AS n_total,
       count(*) FILTER (WHERE log2foldchange < 0) AS n_down,
       count(*) FILTER (WHERE log2foldchange > 0 AND log2foldchange <> 'NaN') AS n_up,
       avg(basemean) AS base_mean
FROM perturb_seq
WHERE padj <= 0.05
GROUP BY dataset_id, gene;

-- Unique keys allow REFRESH MATERIALIZED VIEW CONCURRENTLY; (dataset_id, n_total DESC) serves the ranking.
CREATE UNIQUE INDEX perturb_seq_summary_perturbation_key
    ON perturb_seq_summary_perturbation (dataset_id, perturbed_target_symbol);
CREATE INDEX perturb_seq_summary_perturbation_rank ON perturb_seq_summary_perturbation (dataset_id, n_total DESC);
CREATE UNIQUE INDEX perturb_seq_summary_effect_key ON perturb_seq_summary_effect (dataset_id, gene);
CREATE INDEX perturb_seq_summary_effect_rank ON perturb_seq_summary_effect (dataset_id, n_total DESC);

-- Load-time relations of the catalogue endpoints (SPEC 2.3, 5): built here, never by scanning perturb_seq at
-- request time. Tables, not views: the ingestion of a single dataset maintains them per dataset.

-- Every (dataset, symbol, role) that occurs, and whether the symbol has significant rows in that role there.
CREATE TABLE perturb_seq_gene_datasets AS
SELECT dataset_id, perturbed_target_symbol AS gene_name, 'perturbation'::text AS role,
       bool_or(padj <= 0.05) IS TRUE AS significant
FROM perturb_seq GROUP BY dataset_id, perturbed_target_symbol
UNION ALL
SELECT dataset_id, gene, 'phenotype', bool_or(padj <= 0.05) IS TRUE
FROM perturb_seq GROUP BY dataset_id, gene;
ALTER TABLE perturb_seq_gene_datasets ADD PRIMARY KEY (dataset_id, role, gene_name);

-- GET /v1/datasets and /v1/datasets/{id}: per-dataset figures.
CREATE TABLE perturb_seq_dataset_statistics AS
SELECT s.dataset_id, s.n_rows, s.n_significant_rows,
       (SELECT count(*) FROM perturb_seq_gene_datasets g
        WHERE g.dataset_id = s.dataset_id AND g.role = 'perturbation') AS n_perturbations,
       (SELECT count(*) FROM perturb_seq_gene_datasets g
        WHERE g.dataset_id = s.dataset_id AND g.role = 'phenotype') AS n_phenotypes,
       s.ingested_at
FROM (SELECT dataset_id, count(*) AS n_rows, count(*) FILTER (WHERE padj <= 0.05) AS n_significant_rows,
             max(max_ingested_at) AS ingested_at
      FROM perturb_seq GROUP BY dataset_id) s;
ALTER TABLE perturb_seq_dataset_statistics ADD PRIMARY KEY (dataset_id);

-- GET /v1/genes: one row per symbol; a role the symbol never has is NULL. n_significant_datasets counts the
-- datasets where it has significant rows in either role (the order when no role is asked for).
CREATE TABLE perturb_seq_genes AS
SELECT gene_name,
       count(*) FILTER (WHERE role = 'perturbation') AS perturbation_n_datasets,
       count(*) FILTER (WHERE role = 'perturbation' AND significant) AS perturbation_n_significant_datasets,
       count(*) FILTER (WHERE role = 'phenotype') AS phenotype_n_datasets,
       count(*) FILTER (WHERE role = 'phenotype' AND significant) AS phenotype_n_significant_datasets,
       count(DISTINCT dataset_id) FILTER (WHERE significant) AS n_significant_datasets
FROM perturb_seq_gene_datasets GROUP BY gene_name;
UPDATE perturb_seq_genes SET perturbation_n_datasets = NULLIF(perturbation_n_datasets, 0),
                             perturbation_n_significant_datasets = CASE WHEN perturbation_n_datasets > 0
                                 THEN perturbation_n_significant_datasets END,
                             phenotype_n_datasets = NULLIF(phenotype_n_datasets, 0),
                             phenotype_n_significant_datasets = CASE WHEN phenotype_n_datasets > 0
                                 THEN phenotype_n_significant_datasets END;
ALTER TABLE perturb_seq_genes ADD PRIMARY KEY (gene_name);
-- Case-insensitive prefix lookups: starts_with() on this expression is a range scan of the index.
CREATE INDEX perturb_seq_genes_lower ON perturb_seq_genes ((lower(gene_name) COLLATE "C"));

-- GET /v1/summary: the catalogue's totals, one row.
CREATE TABLE perturb_seq_catalogue_statistics AS
SELECT (SELECT count(*) FROM perturb_seq_dataset_statistics) AS n_datasets,
       (SELECT coalesce(sum(n_rows), 0)::bigint FROM perturb_seq_dataset_statistics) AS n_rows,
       (SELECT coalesce(sum(n_significant_rows), 0)::bigint FROM perturb_seq_dataset_statistics) AS n_significant_rows,
       (SELECT count(perturbation_n_datasets) FROM perturb_seq_genes) AS n_perturbations,
       (SELECT count(phenotype_n_datasets) FROM perturb_seq_genes) AS n_phenotypes,
       (SELECT max(ingested_at) FROM perturb_seq_dataset_statistics) AS ingested_at;
