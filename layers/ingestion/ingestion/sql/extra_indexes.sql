-- Optional, beyond production's four indexes of SPEC 2.2 (make bench EXTRA_INDEXES=1 builds them; nothing else
-- does). Each serves one dataset's rows of one gene in padj order, which the group detail of a search reads; the
-- SPEC indexes can only read a gene's rows of all datasets and filter. Answers never depend on them (the test
-- suite runs without them); their measured gain is in BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS idx_dataset_gene_padj ON perturb_seq (dataset_id, gene, padj);
CREATE INDEX IF NOT EXISTS idx_dataset_perturbed_padj ON perturb_seq (dataset_id, perturbed_target_symbol, padj);
