-- Two login roles. The API's may read the catalogue and nothing else; the writer (ingestion) may change its rows
-- but not its structure. No password is set here: the local server trusts loopback, and a deployed stage sets each
-- role's password itself (ALTER ROLE ... PASSWORD), kept in the secrets the template names.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalogue_api') THEN
        CREATE ROLE catalogue_api LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalogue_ingest') THEN
        CREATE ROLE catalogue_ingest LOGIN;
    END IF;
END $$;
ALTER ROLE catalogue_api SET default_transaction_read_only = on;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO catalogue_api, catalogue_ingest;
GRANT SELECT ON perturb_seq, perturb_seq_summary_perturbation, perturb_seq_summary_effect,
    perturb_seq_gene_datasets, perturb_seq_dataset_statistics, perturb_seq_genes, perturb_seq_catalogue_statistics,
    perturb_seq_search_answers, gene_reference, gene_reference_names, gene_reference_source, catalogue_state
    TO catalogue_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON perturb_seq, perturb_seq_gene_datasets, perturb_seq_dataset_statistics,
    perturb_seq_genes, perturb_seq_catalogue_statistics, perturb_seq_search_answers, gene_reference,
    gene_reference_names, gene_reference_source, catalogue_loads, catalogue_state TO catalogue_ingest;
GRANT SELECT ON catalogue_load_history TO catalogue_ingest;
GRANT USAGE ON SEQUENCE catalogue_loads_id_seq TO catalogue_ingest;
-- Summaries kept as tables are maintained per dataset by the writer; production's materialised views are not.
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'perturb_seq_summary_effect'::regclass) = 'r' THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON perturb_seq_summary_perturbation, perturb_seq_summary_effect
            TO catalogue_ingest;
    END IF;
END $$;
