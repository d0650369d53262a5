-- SPEC 2.2: the differential-expression results, one row per (dataset, perturbation, phenotype gene).
CREATE TABLE perturb_seq (
    dataset_id              text,
    perturbed_target_symbol text,
    gene                    text,
    log2foldchange          double precision,
    padj                    double precision,
    basemean                double precision,
    max_ingested_at         timestamp
);
