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
-- The sessions' settings are the roles' defaults, not the clients' startup parameters: a transaction pooler (RDS
-- Proxy deployed, PgBouncer in the tests) lends each transaction any server connection, and need not carry a startup
-- parameter to it (PgBouncer 1.18 refuses one it does not track, "unsupported startup parameter", or, told to ignore
-- it, drops it silently); a SET would reach one server connection and not the next. A role's defaults apply to every
-- session the pooler opens for it. The API's: read-only; each statement ended by the server after 5 s (its
-- client gives up sooner, after STORE_TIMEOUT_SECONDS: 5 by default, 4 deployed); custom plans only (the best plan
-- depends on the genes asked for, which a cached generic plan would ignore); no parallel plans (small index reads;
-- a rows page relies on a serial Append: catalogue/endpoints/rows/query.py); no JIT compilation (RDS's PostgreSQL
-- compiles with LLVM, jit=on by default, and the local server cannot, so without this a deployed session could
-- compile what no local session ever does: the API's statements are index reads the planner costs at most about
-- 2,200 at 1,200 datasets, far under jit_above_cost's 100,000, and compiling one would take longer than running it;
-- docs/decisions.md). The writer's: commits wait for their WAL (VACUUM marks a page all-visible only once its rows'
-- commits are flushed).
ALTER ROLE catalogue_api SET default_transaction_read_only = on;
ALTER ROLE catalogue_api SET statement_timeout = '5s';
ALTER ROLE catalogue_api SET plan_cache_mode = force_custom_plan;
ALTER ROLE catalogue_api SET max_parallel_workers_per_gather = 0;
ALTER ROLE catalogue_api SET jit = off;
ALTER ROLE catalogue_ingest SET synchronous_commit = on;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO catalogue_api, catalogue_ingest;
GRANT SELECT ON perturb_seq, perturb_seq_summary_perturbation, perturb_seq_summary_effect,
    perturb_seq_gene_datasets, perturb_seq_dataset_statistics, perturb_seq_genes, perturb_seq_catalogue_statistics,
    perturb_seq_search_answers, perturb_seq_search_groups, gene_reference, gene_reference_names,
    gene_reference_source, catalogue_state, dataset_downloads, catalogue_documents_written TO catalogue_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON perturb_seq, perturb_seq_gene_datasets, perturb_seq_dataset_statistics,
    perturb_seq_genes, perturb_seq_catalogue_statistics, perturb_seq_search_answers, perturb_seq_search_groups,
    gene_reference, gene_reference_names, gene_reference_source, catalogue_loads, catalogue_state, dataset_downloads
    TO catalogue_ingest;
GRANT SELECT ON catalogue_load_history TO catalogue_ingest;
GRANT USAGE ON SEQUENCE catalogue_loads_id_seq, catalogue_documents_written TO catalogue_ingest;
-- Summaries kept as tables are maintained per dataset by the writer; production's materialised views are not.
DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'perturb_seq_summary_effect'::regclass) = 'r' THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON perturb_seq_summary_perturbation, perturb_seq_summary_effect
            TO catalogue_ingest;
    END IF;
END $$;
