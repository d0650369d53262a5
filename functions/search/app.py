"""GET /v1/search: datasets, perturbations and phenotypes matching the filters (SPEC 3)."""
from catalogue.function import make_function
from catalogue.search import search
from fastapi import Request, Response

app, handler = make_function()


@app.get("/v1/search")
async def get_search(request: Request) -> Response:
    return Response(await search(request.query_params.multi_items()), media_type="application/json")
