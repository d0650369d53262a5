"""The benchmarks: `harness` and `roundtrips` are shared; `search`, `catalogue` (both run by `api`, `make bench`)
and `ingest` (`make bench-ingest`) each measure one thing and write their section of BENCHMARKS.md."""
