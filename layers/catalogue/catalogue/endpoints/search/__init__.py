"""GET /v1/search (docs/contract.md, "Search"): datasets, perturbations and phenotypes matching the filters, one
element per dataset, optionally in pages of `limit` datasets.

Two stores, one call each:
* With free text, Elasticsearch chooses and orders the datasets (relevance, then dataset_id), from the cursor on;
  PostgreSQL then answers for them, keeping the first `limit`. A page asks for its own worth of hits, and for the
  rest only when a filter leaves too few of those with a result (then two calls to each store).
* Without it, PostgreSQL chooses the datasets (dataset_id order, from the cursor on) as it answers; then one
  Elasticsearch request fetches those datasets' documents that the warm function does not remember (remembered.py:
  usually none).
A search without gene filter or threshold reads each dataset's stored filter-free answer, and one whose only gene
filter is on the grouping's role, without threshold, the gene's stored groups (both written when the dataset was
loaded: ingestion/answers.py; read in stored.py); any other computes its answer with the shared query
(catalogue_common.search). Either way the cost follows the datasets answered, not the catalogue's breadth.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from catalogue_common.search import answer as groups
from catalogue_common.search import query
from catalogue_common.sql import Params
from catalogue_common.vocabulary import ROLES, Role, other
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ... import cursors, documents, generations, remembered, resolution, schemas
from ...answers import answer, to_json
from ...clients import stores
from ...objects import dataset
from ...parameters import DECIMAL, Cursor, GeneFilters, StrictRoute, Text
from ...resolution import Terms
from . import stored
from .shapes import ByPerturbation, ByPhenotype

NARROWER = "ask for fewer datasets per answer with `limit` (each answer's `Link` header leads to the next)"


class SearchParameters(GeneFilters):
    dataset_metadata: Text | None = Field(
        None, description="Free text over the eight dataset fields: plain words, ANDed, case-insensitive.")
    group_by: Literal["perturbation_gene_name", "phenotype_gene_name", "effect_gene_name"] = Field(
        "perturbation_gene_name", description="`effect_gene_name` is a synonym of `phenotype_gene_name`.")
    limit: Annotated[int, Field(ge=1, le=1000), DECIMAL] | None = Field(
        None, description="Datasets per answer; absent: every dataset with a result. With it, a `Link` header "
                          "leads to the next page while more follow.")
    cursor: Cursor | None = None

    @property
    def grouping(self) -> Role:
        return "perturbation" if self.group_by == "perturbation_gene_name" else "phenotype"

    @property
    def scope(self) -> list[Any]:
        """What a cursor is bound to: this endpoint and every filter (not `limit`)."""
        return ["search", self.dataset_metadata, self.grouping, self.perturbation_gene_name,
                self.phenotype_gene_name, self.direction, *self.thresholds]

    @property
    def stored(self) -> bool:
        """Whether each dataset's answer was written at load time: no gene filter and no threshold."""
        return self.perturbation_gene_name is None and self.phenotype_gene_name is None and \
            self.max_padj is None and self.min_abs_log2fc is None

    @property
    def grouped(self) -> bool:
        """Whether the answer is made of stored groups: one gene filter, on the grouping's role, and no threshold."""
        genes = {"perturbation": self.perturbation_gene_name, "phenotype": self.phenotype_gene_name}
        return genes[self.grouping] is not None and genes[other(self.grouping)] is None and \
            self.max_padj is None and self.min_abs_log2fc is None


def resolved(params: SearchParameters, p: Params) -> tuple[Terms, str]:
    """The resolution of the gene terms (spellings, in CTEs) and the head the query returns: the generation and the
    ambiguous terms' candidates."""
    terms = Terms({name: value for name, value in (("perturbation_gene_name", params.perturbation_gene_name),
                                                   ("phenotype_gene_name", params.phenotype_gene_name)) if value}, p)
    return terms, (f"jsonb_build_object('generation', {generations.VALUE}, 'written', {generations.WRITTEN}, "
                   f"'ambiguous', {terms.head()})")


def computed_search(params: SearchParameters, ids: list[str] | None,
                    after: str | None) -> tuple[query.Search, Params, Terms]:
    """The shared search query for these filters, each gene term resolved to its gene's spellings."""
    p = Params()
    terms, head = resolved(params, p)
    genes: dict[Role, str] = {role: terms.spellings(f"{role}_gene_name") for role in ROLES
                              if f"{role}_gene_name" in terms.terms}
    search = query.Search(params.grouping, genes, params.direction, params.max_padj, params.min_abs_log2fc, ids,
                          after, params.limit, prelude=terms.ctes(), head=head)
    return search, p, terms


def stored_groups(params: SearchParameters, ids: list[str] | None, after: str | None) -> tuple[str, Params, Terms]:
    """The query of a search that stored groups answer (SearchParameters.grouped)."""
    p = Params()
    terms, head = resolved(params, p)
    parameter = f"{params.grouping}_gene_name"
    sql = stored.groups(p, params.grouping, params.direction, terms.spellings(parameter), terms.ctes(), head,
                        params.limit, ids, after)
    return sql, p, terms


@dataclass(frozen=True)
class Answered:
    datasets: list[groups.DatasetGroups]  # at most `limit`, in order
    more: bool  # whether more datasets follow
    generation: str | None  # the Elasticsearch generation PostgreSQL's catalogue belongs to (generations.py)
    written: int | None  # how many times its documents were changed in place, as read with it (remembered.py)


async def answered(params: SearchParameters, ids: list[str] | None, after: str | None) -> Answered:
    """The datasets that answer with their groups (one PostgreSQL round trip)."""
    if params.stored:
        p = Params()
        records = await stores().fetch(stored.answers(p, params.grouping, params.direction, params.limit, ids, after),
                                       *p.values)
        found, more = _found(records), False
        if stored.whole(ids, params.limit, after):
            found.sort(key=lambda d: d.dataset_id)  # code point order: byte order of UTF-8, as COLLATE "C"
        generation, written = records[0]["generation"], records[0]["written"]
    else:
        found, more, generation, written = await _resolving(params, ids, after)
    if params.limit and len(found) > params.limit:
        found, more = found[:params.limit], True
    return Answered(found, more, generations.of_alias(generation), written)


async def _resolving(params: SearchParameters, ids: list[str] | None,
                     after: str | None) -> tuple[list[groups.DatasetGroups], bool, str | None, int | None]:
    """The answers of a search with a gene term or a threshold: stored groups, or the shared query's."""
    if params.grouped:
        sql, p, terms = stored_groups(params, ids, after)
        records = await stores().fetch(sql, *p.values)
        found, more = _found(records), False
    else:
        search, p, terms = computed_search(params, ids, after)
        sql, args = query.build(search, p)
        records = await stores().fetch(sql, *args)
        rows = [r for r in records if r["ord"] is not None]
        found, more = list(groups.by_dataset(params.grouping, rows)), bool(rows and rows[0]["more"])
    head = json.loads(records[0]["head"])
    resolution.check(head["ambiguous"], terms.terms)
    return found, more, head["generation"], head["written"]


def _found(records: list[Any]) -> list[groups.DatasetGroups]:
    """Stored answers' records as each dataset's groups (a record without a dataset: nothing answered)."""
    return [groups.DatasetGroups(r["ord"], r["dataset_id"], r["groups"].encode())
            for r in records if r["dataset_id"] is not None]


def _ids(hits: list[documents.Hit]) -> list[str]:
    return [hit["_source"]["dataset_id"] for hit in hits]


def _joined(first: Answered, second: Answered, offset: int, limit: int) -> Answered:
    """The answers of two runs of hits, the second's positions after the first's `offset` hits, cut to a page."""
    found = [*first.datasets, *(d._replace(ord=d.ord + offset) for d in second.datasets)]
    return Answered(found[:limit], len(found) > limit or second.more, second.generation, second.written)


async def ranked_answers(params: SearchParameters, after: list[Any] | None,
                         index: str | None = None) -> tuple[list[documents.Hit], Answered | None, bool]:
    """The hits of the text from the cursor on (relevance order), PostgreSQL's answers for them, and whether a reload
    came between the calls. Without `limit`: every hit. With it: the page's worth of hits first (limit + 1, one more
    telling whether a next page follows), and every later hit only when fewer of those answer (a gene filter, a
    threshold or a direction leaves a matching dataset without a result): so a page's cost follows the page, not how
    many datasets match the text (at 1,200 datasets "blood" matches most of them); at most two calls to each store."""
    first = params.limit + 1 if params.limit else None
    hits = await documents.ranked(params.dataset_metadata, after, index, first)
    if not hits:
        return hits, None, False
    answers = await answered(params, _ids(hits), None)
    stale = generations.stale(generations.seen(hits), answers.generation)
    if first is None or len(hits) < first or answers.more or stale:
        return hits, answers, stale
    rest = await documents.ranked(params.dataset_metadata, hits[-1]["sort"], index)
    if not rest:
        return hits, answers, stale
    later = await answered(params, _ids(rest), None)
    stale = later.generation != answers.generation or generations.stale(generations.seen(rest), later.generation)
    return [*hits, *rest], _joined(answers, later, len(hits), first - 1), stale


async def by_text(params: SearchParameters, after: list[Any] | None) -> tuple[list[tuple[bytes, ...]], Any]:
    """Elasticsearch orders the datasets matching the text; PostgreSQL answers for them (both again from
    PostgreSQL's generation if a reload came between them)."""
    found, answers, stale = await ranked_answers(params, after)
    if answers and stale:
        found, answers, _ = await ranked_answers(params, after, answers.generation)
    if not answers:
        return [], None
    elements = [groups.element(params.grouping, to_json(dataset(found[a.ord - 1]["_source"])), a.groups)
                for a in answers.datasets]
    return elements, found[answers.datasets[-1].ord - 1]["sort"] if answers.more else None


async def by_id(params: SearchParameters, after: list[Any] | None) -> tuple[list[tuple[bytes, ...]], Any]:
    """PostgreSQL chooses the datasets in dataset_id order as it answers; Elasticsearch gives their documents, from
    the generation PostgreSQL's catalogue belongs to."""
    answers = await answered(params, None, after[0] if after else None)
    found = {d["dataset_id"]: d for d in await documents.of_catalogue([a.dataset_id for a in answers.datasets],
                                                                      answers.generation, answers.written)}
    # A dataset whose document is missing (a load half done) is never served: it is skipped, not an error.
    grouping = params.grouping
    elements = [groups.element(grouping, remembered.dataset_json(document), a.groups)
                for a in answers.datasets if (document := found.get(a.dataset_id)) is not None]
    return elements, [answers.datasets[-1].dataset_id] if answers.more else None


async def search(params: SearchParameters) -> tuple[bytes, str | None]:
    after = cursors.read(params.cursor, params.scope) if params.cursor else None
    elements, last = await (by_text if params.dataset_metadata else by_id)(params, after)
    return groups.listing(elements), cursors.make(params.scope, last) if last is not None else None


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/search", response_class=Response, operation_id="search", tags=["search"],
            summary="Datasets, perturbations and phenotypes matching the filters",
            responses=schemas.responses(list[ByPerturbation | ByPhenotype], paged=True))
async def get_search(request: Request, params: Annotated[SearchParameters, Query()]) -> Any:
    body, next_cursor = await search(params)
    return answer(request, body, next_cursor=next_cursor, narrower=NARROWER)
