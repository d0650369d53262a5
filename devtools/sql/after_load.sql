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
