"""Everything of the project that is not deployed, in four rooms. Each entry point runs from the repository's root
as `python -m devtools.<room>.<module>` (the Makefile's targets do, with the layers on PYTHONPATH).

local   the local servers and runtime: PostgreSQL (`pg_server`), Elasticsearch (`es_server`, its Java launcher in
        `es_launcher/`), both at once (`services`: `make up`, `make down`), and the functions of template.yaml served
        over HTTP as `sam local start-api` serves them, but warm (`serve`: `make serve`), from API Gateway events
        (`lambda_events`) and a Lambda context (`lambda_runtime`)
data    the demo catalogue: deterministic input files (docs/contract.md, "Input files"; `demo_data`:
        `make demo-files`), loaded through the ingestion (`load_data`: `make data`)
bench   the benchmarks: one harness (`harness`: the benchmark catalogue, timing and percentiles, plans, cold starts,
        BENCHMARKS.md; `roundtrips`: store round trips counted by a proxy), then one module per benchmark: `search`
        and `catalogue` (the routes), run together by `api` (`make bench`); `ingest` (`make bench-ingest`)
stress  the API under generated input and under load: Schemathesis (`fuzz`: `make fuzz`), Locust with the stores
        restarted mid-run (`load` and its `locustfile`: `make load`)

The rooms import `local` and `data`; `local` imports no other room, and nothing deployed imports devtools.
"""
