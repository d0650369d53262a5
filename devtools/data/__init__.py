"""The demo catalogue: deterministic SPEC 7 input files, loaded through the project's own ingestion."""
