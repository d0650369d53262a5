-- SPEC 2.2: production has exactly these four indexes on perturb_seq.
CREATE INDEX IF NOT EXISTS idx_dataset_padj ON perturb_seq (dataset_id, padj);
CREATE INDEX IF NOT EXISTS idx_perturbed_padj ON perturb_seq (perturbed_target_symbol, padj);
CREATE INDEX IF NOT EXISTS idx_gene_padj ON perturb_seq (gene, padj);
CREATE INDEX IF NOT EXISTS idx_perturbed_gene_padj ON perturb_seq (perturbed_target_symbol, gene, padj);
