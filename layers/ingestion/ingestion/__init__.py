"""The catalogue's own ingestion (docs/contract.md, "Loading data"): checks a dataset's result files and metadata,
replaces or deletes it in PostgreSQL atomically with everything derived from it, then writes Elasticsearch. Deployed
as the ingestion
function's layer and run by operators from the command line (`python -m ingestion`)."""
