-- Every load is recorded (dataset, checksum, rows, start, end, outcome), visible to operators: catalogue_load_history
-- (which shows a load that stopped without finishing as `interrupted`), or `python -m ingestion history`. The
-- outcomes and their meaning: ingestion/records.py and docs/ingestion.md.
CREATE TABLE IF NOT EXISTS catalogue_loads (
    id           bigserial PRIMARY KEY,
    dataset_id   text NOT NULL,         -- or "(gene reference)"
    checksum     text,                  -- sha256 of the input files
    rows         bigint,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,           -- NULL while it runs
    outcome      text NOT NULL,
    detail       text,                  -- the problems of a refusal; what each store holds when incomplete; an error
    warnings     text,                  -- what a person should look at in a dataset that was loaded
    heartbeat_at timestamptz            -- renewed while it runs
);
-- A catalogue from before warnings, heartbeats and the running and incomplete outcomes:
ALTER TABLE catalogue_loads ADD COLUMN IF NOT EXISTS warnings text;
ALTER TABLE catalogue_loads ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz;
ALTER TABLE catalogue_loads ALTER COLUMN finished_at DROP NOT NULL;
ALTER TABLE catalogue_loads DROP CONSTRAINT IF EXISTS catalogue_loads_outcome_check;
ALTER TABLE catalogue_loads ADD CONSTRAINT catalogue_loads_outcome_check CHECK (outcome IN
    ('running', 'loaded', 'unchanged', 'refused', 'incomplete', 'failed', 'deleted'));
CREATE INDEX IF NOT EXISTS catalogue_loads_dataset ON catalogue_loads (dataset_id, id DESC);
CREATE OR REPLACE VIEW catalogue_load_history AS
SELECT id, dataset_id, checksum, rows, started_at, finished_at,
       CASE WHEN outcome = 'running' AND heartbeat_at < now() - interval '2 minutes' THEN 'interrupted'
            ELSE outcome END AS outcome,
       detail, warnings, heartbeat_at
FROM catalogue_loads;
-- Which Elasticsearch index (a generation of the ES_INDEX alias: ingestion/documents.py) holds the documents of the
-- datasets PostgreSQL holds: set in the transaction that swaps a whole catalogue in, read by the API so that no
-- answer mixes two catalogues. One row; none until a whole-catalogue load made a generation.
CREATE TABLE IF NOT EXISTS catalogue_state (
    documents_index text NOT NULL
);
-- How many times the ingestion has written or removed a document of the catalogue in place (a dataset's load or
-- delete), advanced after Elasticsearch took the change; read by the API with the generation, as the key of the
-- documents a warm function remembers (catalogue/remembered.py). A whole load needs not advance it: its generation
-- is new.
CREATE SEQUENCE IF NOT EXISTS catalogue_documents_written;
-- Each dataset's whole-dataset files (ingestion/downloads.py): the objects of the load whose rows PostgreSQL holds,
-- named in the same transaction as the rows; read by the API (the dataset's `downloads`, the download redirect).
CREATE TABLE IF NOT EXISTS dataset_downloads (
    dataset_id text NOT NULL,
    format     text NOT NULL CHECK (format IN ('parquet', 'tsv.gz', 'metadata')),
    object_key text NOT NULL,              -- in DOWNLOADS_BUCKET
    bytes      bigint NOT NULL,
    sha256     text NOT NULL,              -- hex
    PRIMARY KEY (dataset_id, format)
);
