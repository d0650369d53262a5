"""GET /v1/genes/{gene}/rows (docs/contract.md, "Rows of a gene"): every row of one gene across the catalogue,
filtered, in keyset pages, JSON or TSV: "what does knocking down TP53 change, everywhere?" as rows, where /v1/search
gives each dataset's top groups.

The page is one PostgreSQL query (query.py): the term resolved as every gene term is (resolution.py; unknown 404,
ambiguous 400, as /v1/genes/{gene} answers), the rows of each of its spellings from the cursor's key on, and each
row's two genes' summary counts. Then the page's datasets' documents in the generation PostgreSQL's catalogue belongs
to are read, those the function does not remember (remembered.py) in one Elasticsearch search (none when it remembers
them all); on a catalogue made before the sequence catalogue_documents_written, one multi-get without sources; through
the alias, a search reading only `dataset_id`: a row of a
dataset without a document is left out, as everywhere (such a page holds fewer rows than `limit`; its cursor still
leads on). (Rendering the page while that request is in flight was tried: no gain above the noise, not kept.) A
cursor holds the last row's (padj, dataset_id, other gene, own spelling) and is bound to the term, the role and the
filters.

Parameters are those of /v1/datasets/{id}/rows (docs/contract.md, "Dataset rows"), plus `role`. The other gene is
named by its own role's parameter, as everywhere: `phenotype_gene_name` with role=perturbation,
`perturbation_gene_name` with role=phenotype. The parameter of the path's own role is refused with 400 (the path names
that gene; two names for one role would be a filter no row could pass but the ones of a gene with itself).
"""
from __future__ import annotations

from typing import Annotated, Any

from catalogue_common import tsv
from catalogue_common.vocabulary import COLUMN, Role, other
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request

from ... import cursors, documents, resolution, schemas
from ...answers import TSV, answer, to_json
from ...clients import stores
from ...parameters import StrictRoute, refuse
from ..gene import GeneInfo, GeneTerm, the_gene
from ..rows import NARROWER, RowChange, RowsParameters
from ..rows.response import row
from . import query


class GeneRowsParameters(RowsParameters):
    """The parameters of a dataset's rows (docs/contract.md, "Dataset rows") and the gene's role (docs/contract.md,
    "Rows of a gene")."""
    role: Role = Field("perturbation", description="The path's gene as the perturbed gene (`perturbation`) or as the "
                                                   "measured one (`phenotype`). The other gene is filtered with the "
                                                   "other role's parameter.")

    def gene_scope(self, term: str) -> list[Any]:
        """What a cursor is bound to: this endpoint, the term, the role and the filters (not limit or format)."""
        return ["gene_rows", term, self.role, self.perturbation_gene_name, self.phenotype_gene_name, self.direction,
                *self.thresholds]

    def gene_rows(self, term: str) -> query.GeneRows:
        """The page's request; 400 when the path's own role is given a gene parameter too, or the cursor is not one
        of this walk's."""
        own = f"{self.role}_gene_name"
        if getattr(self, own) is not None:
            raise refuse({own: f"the path names the {self.role} gene (role={self.role}); filter the other gene with "
                               f"{other(self.role)}_gene_name"})
        after = _key(cursors.read(self.cursor, self.gene_scope(term))) if self.cursor else None
        return query.GeneRows(term, self.role, getattr(self, f"{other(self.role)}_gene_name"), self.direction,
                              self.max_padj, self.min_abs_log2fc, self.limit, after)


def _key(values: list[Any]) -> query.Key:
    # padj travels as text: JSON has no NaN, and NaN and NULL are different places in the order.
    padj, dataset_id, other_gene, own = values
    return query.Key(None if padj is None else float(padj), dataset_id, other_gene, own)


def _cursor(params: GeneRowsParameters, term: str, last: Any) -> str:
    padj = None if last["padj"] is None else repr(last["padj"])
    own, other_column = COLUMN[params.role], COLUMN[other(params.role)]
    return cursors.make(params.gene_scope(term), [padj, last["dataset_id"], last[other_column], last[own]])


class GeneRow(schemas.Shape):
    dataset_id: str
    perturbation: schemas.Perturbation
    change: RowChange
    phenotype: schemas.Phenotype


class GeneRowsPage(schemas.Shape):
    gene: GeneInfo = Field(description="The gene the path names, as GET /v1/genes/{gene} reads it.")
    role: Role
    rows: list[GeneRow]
    next_cursor: str | None


async def _documented(records: list[Any], generation: str | None, written: int | None) -> set[str]:
    """The page's datasets that have a document (one Elasticsearch request at most; none for an empty page, nor when
    this process remembers every one: documents.present_in_catalogue)."""
    return await documents.present_in_catalogue(sorted({r["dataset_id"] for r in records}), generation, written)


async def page(term: str, params: GeneRowsParameters) -> tuple[bytes, str | None]:
    """The page's body (JSON or TSV) and the next page's cursor (None on the last page)."""
    rows = params.gene_rows(term)
    sql, args = query.build(rows)
    records = await stores().fetch(sql, *args)
    gene = the_gene(term, records[0])
    resolution.check(records[0]["resolution"], rows.genes)
    found = [r for r in records if r["part"] is not None]
    found, more = found[:params.limit], len(found) > params.limit  # the query reads one row more than a page
    next_cursor = _cursor(params, term, found[-1]) if more else None
    known = await _documented(found, records[0]["generation"], records[0]["written"])
    found = [r for r in found if r["dataset_id"] in known]
    if params.format == "tsv":
        return tsv.gene_page(found), next_cursor
    return to_json({"gene": gene, "role": params.role,
                    "rows": [{"dataset_id": r["dataset_id"], **row(r)} for r in found],
                    "next_cursor": next_cursor}), next_cursor


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/genes/{gene}/rows", operation_id="gene_rows", tags=["genes"],
            summary="Every row of one gene across the catalogue, filtered, in pages",
            responses=schemas.responses(GeneRowsPage, paged=True, media={
                "application/json": {"schema": {"$ref": "#/components/schemas/GeneRowsPage"}},
                TSV: {"schema": {"type": "string"}}}))
async def get_gene_rows(request: Request, gene: GeneTerm, params: Annotated[GeneRowsParameters, Query()]) -> Any:
    body, next_cursor = await page(gene, params)
    if params.format == "tsv":
        return answer(request, body, TSV, next_cursor, filename=f"{gene}.{params.role}.rows.tsv", narrower=NARROWER)
    return answer(request, body, next_cursor=next_cursor, narrower=NARROWER)
