"""The API under stress through the local server: generated requests checked against the served OpenAPI document
(`fuzz`), and Locust load with the stores restarted mid-run (`load`, `locustfile`); figures in RELIABILITY.md."""
