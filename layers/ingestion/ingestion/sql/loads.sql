-- SPEC 7: every load is recorded (dataset, checksum, rows, start, end, outcome), visible to operators:
-- SELECT * FROM catalogue_loads ORDER BY id DESC, or `python -m ingestion history`.
CREATE TABLE IF NOT EXISTS catalogue_loads (
    id          bigserial PRIMARY KEY,
    dataset_id  text NOT NULL,
    checksum    text,                  -- sha256 of the dataset's input files
    rows        bigint,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('loaded', 'unchanged', 'refused', 'failed', 'deleted')),
    detail      text,                  -- the problems of a refusal, the error of a failure
    warnings    text                   -- what a person should look at in a dataset that was loaded
);
ALTER TABLE catalogue_loads ADD COLUMN IF NOT EXISTS warnings text;  -- a catalogue from before warnings
CREATE INDEX IF NOT EXISTS catalogue_loads_dataset ON catalogue_loads (dataset_id, id DESC);
