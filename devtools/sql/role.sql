-- The API's login role: it may read the catalogue and nothing else.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalogue_api') THEN
        CREATE ROLE catalogue_api LOGIN PASSWORD 'catalogue_api';
    END IF;
END $$;
ALTER ROLE catalogue_api SET default_transaction_read_only = on;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO catalogue_api;
GRANT SELECT ON perturb_seq, perturb_seq_summary_perturbation, perturb_seq_summary_effect,
    perturb_seq_gene_datasets, perturb_seq_dataset_statistics, perturb_seq_genes, perturb_seq_catalogue_statistics
    TO catalogue_api;
