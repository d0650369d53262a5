"""One module (or package) per endpoint: its parameters, its queries, its answer, and its FastAPI router.

Each function in template.yaml serves one of these routers (`functions/<name>/app.py`); the OpenAPI endpoint
collects them all into one document.
"""
