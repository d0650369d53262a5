-- GET /v1/genes/{gene}/rows (docs/contract.md, "Rows of a gene"): one gene's rows across every dataset, in the answer's
-- own order, padj, then dataset_id, then the other gene (byte order). With the gene's symbol first, a page is a range
-- of one index per spelling that starts at the cursor's key and stops after one page: a page deep inside a tie (often
-- thousands of a gene's rows at padj = 1) reads what page 1 reads. Production's (symbol, padj) indexes end at padj:
-- inside a tie they would read and sort every tied row up to the page. The row's two numbers are included, so that
-- pages and their direction and fold-change filters are read from the index alone (Index Only Scan).
-- Both layouts build them, production's too: it needs them for this route's cost, and answers never depend on them
-- (without them the same query reads the (symbol, padj) indexes and sorts). Measured gain and size: BENCHMARKS.md.
CREATE INDEX IF NOT EXISTS idx_perturbed_padj_dataset_gene
    ON perturb_seq (perturbed_target_symbol, padj, dataset_id COLLATE "C", gene COLLATE "C")
    INCLUDE (log2foldchange, basemean);
CREATE INDEX IF NOT EXISTS idx_gene_padj_dataset_perturbed
    ON perturb_seq (gene, padj, dataset_id COLLATE "C", perturbed_target_symbol COLLATE "C")
    INCLUDE (log2foldchange, basemean);
