"""The demo catalogue: deterministic input files (docs/contract.md, "Input files"), loaded through the project's own
ingestion."""
