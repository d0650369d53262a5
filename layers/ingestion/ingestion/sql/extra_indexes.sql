-- The project's own layout adds these two to production's four (indexes.sql). Each serves one dataset's rows of one
-- gene, in padj order and then by the other gene in byte order: the exact order of a search group's top rows (and
-- of a /rows page filtered by a gene), so a group reads its ten rows and stops. The four production indexes can
-- only read a gene's rows across every dataset and filter them (a BitmapAnd with the dataset's), which costs in
-- proportion to the catalogue's breadth. Answers never depend on them: the production layout (loaded without them)
-- answers the same, more slowly. They also hold the rows' other two values, so that reading a row never visits the
-- table (an index-only scan): a threshold on the log2 fold change is decided in the index, where fetching each row
-- it skipped cost about a fifth of a thresholds search (docs/decisions.md, "Rows read from the index alone").
-- Measured gain and size: BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS idx_dataset_perturbed_padj
    ON perturb_seq (dataset_id, perturbed_target_symbol, padj, gene COLLATE "C") INCLUDE (log2foldchange, basemean);
CREATE INDEX IF NOT EXISTS idx_dataset_gene_padj
    ON perturb_seq (dataset_id, gene, padj, perturbed_target_symbol COLLATE "C") INCLUDE (log2foldchange, basemean);
