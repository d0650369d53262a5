"""GET /v1/search (SPEC 3): one Elasticsearch search for the datasets, one PostgreSQL query for the rest."""
from __future__ import annotations

from collections.abc import Iterable

from . import queries, responses
from .clients import stores
from .parameters import Parameter, parse

PARAMETERS = {
    "dataset_metadata": Parameter(),
    "perturbation_gene_name": Parameter(),
    "phenotype_gene_name": Parameter(),
    "effect_direction": Parameter(choices=("increased", "decreased"), synonyms=("change_direction",)),
    "group_by": Parameter(choices=("perturbation_gene_name", "phenotype_gene_name"),
                          aliases={"effect_gene_name": "phenotype_gene_name"}, default="perturbation_gene_name"),
}
METADATA_FIELDS = ["dataset_id", *(f"{name}_labels" for name in responses.LABELS)]
PAGE = 10_000  # Elasticsearch's default result window; larger catalogues page with search_after


async def datasets(text: str | None) -> list[dict]:
    """Dataset documents in output order: by relevance when searching text, else by dataset_id; ties by id."""
    query = ({"multi_match": {"query": text, "fields": METADATA_FIELDS, "type": "cross_fields", "operator": "and"}}
             if text else {"match_all": {}})
    documents: list[dict] = []
    after: list | None = None
    while True:
        page = await stores().search(
            query=query, size=PAGE, source=METADATA_FIELDS, track_total_hits=False,
            sort=[{"_score": "desc"}, {"dataset_id.keyword": "asc"}], **({"search_after": after} if after else {}))
        hits = page["hits"]["hits"]
        documents += [hit["_source"] for hit in hits]
        if len(hits) < PAGE:
            return documents
        after = hits[-1]["sort"]


async def prepare(query: Iterable[tuple[str, str]]) -> tuple[list[dict], queries.Search]:
    """Validates the parameters and finds the datasets (the one Elasticsearch search)."""
    p = parse(query, PARAMETERS)
    documents = await datasets(p["dataset_metadata"])
    group_by = "perturbation" if p["group_by"] == "perturbation_gene_name" else "phenotype"
    return documents, queries.Search([d["dataset_id"] for d in documents], group_by, p["perturbation_gene_name"],
                                     p["phenotype_gene_name"], p["effect_direction"])


async def search(query: Iterable[tuple[str, str]]) -> bytes:
    documents, request = await prepare(query)
    if not documents:
        return b"[]"
    sql, args = queries.build(request)
    records = await stores().fetch(sql, *args)
    return responses.to_json(responses.search_results(request.group_by, documents, records))
