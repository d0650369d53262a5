"""GET /v1/datasets/{dataset_id} (docs/contract.md, "One dataset"): one dataset, its statistics, the top 10 of each
summary view, and its whole-dataset files (docs/contract.md, "Dataset files": format, bytes, SHA-256, from
`dataset_downloads`, in the order of FORMATS).

The Elasticsearch document and the PostgreSQL figures are independent, so both calls run at once. The top 10 of a
view are a walk of its (dataset_id, n_total DESC) index, ties by name in byte order.
"""
from __future__ import annotations

import json
from typing import Any

from catalogue_common.downloads import FORMATS, Format
from catalogue_common.objects import GeneObject, gene
from catalogue_common.vocabulary import Role
from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request

from .. import documents, generations, schemas
from ..answers import answer, to_json
from ..clients import stores, together
from ..objects import dataset, statistics
from ..parameters import DatasetId, StrictRoute

TOP = 10
SQL = f"""
WITH top AS (
  (SELECT 'perturbation' AS role, perturbed_target_symbol AS name, n_total, n_up, n_down,
          NULL::double precision AS base_mean
   FROM perturb_seq_summary_perturbation WHERE dataset_id = $1
   ORDER BY n_total DESC, perturbed_target_symbol COLLATE "C" LIMIT {TOP})
  UNION ALL
  (SELECT 'phenotype', gene, n_total, n_up, n_down, base_mean
   FROM perturb_seq_summary_effect WHERE dataset_id = $1
   ORDER BY n_total DESC, gene COLLATE "C" LIMIT {TOP}))
SELECT s.n_rows, s.n_significant_rows, s.n_perturbations, s.n_phenotypes, s.ingested_at, t.*, p.ensembl_gene_id,
       {generations.SQL},
       (SELECT json_agg(json_build_object('format', f.format, 'bytes', f.bytes, 'sha256', f.sha256)
                        ORDER BY array_position(ARRAY{list(FORMATS)}::text[], f.format))
        FROM dataset_downloads f WHERE f.dataset_id = $1) AS downloads
FROM (SELECT $1::text AS dataset_id) d
LEFT JOIN perturb_seq_dataset_statistics s ON s.dataset_id = d.dataset_id
LEFT JOIN top t ON true
LEFT JOIN perturb_seq_genes p ON p.gene_name = t.name
ORDER BY t.role, t.n_total DESC, t.name COLLATE "C"
"""


class Download(schemas.Shape):
    format: Format = Field(description="What `GET /v1/datasets/{dataset_id}/download?format=` takes.")
    bytes: int = Field(ge=0, description="The file's size in bytes.")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="The SHA-256 of the file's bytes, hex.")


class DatasetDetail(schemas.Shape):
    dataset: schemas.Dataset
    statistics: schemas.Statistics
    top_perturbations: list[schemas.Perturbation] = Field(max_length=TOP)
    top_phenotypes: list[schemas.Phenotype] = Field(max_length=TOP)
    downloads: list[Download] = Field(description="The dataset's files: Parquet, tsv.gz and its metadata as JSON; "
                                                  "empty for a dataset loaded before files were written.")


async def detail(dataset_id: str) -> bytes:
    hit, records = await together(documents.one(dataset_id), stores().fetch(SQL, dataset_id))
    if generations.stale(hit["_index"], records[0]["generation"]):  # a reload between the two: PostgreSQL's
        hit = await documents.one(dataset_id, records[0]["generation"])
    document = hit["_source"]
    top: dict[Role, list[GeneObject]] = {"perturbation": [], "phenotype": []}
    for r in records:
        if r["role"] is not None:
            top[r["role"]].append(gene(r["role"], r["name"], r["ensembl_gene_id"], r["n_total"], r["n_up"],
                                       r["n_down"], r["base_mean"]))
    figures = records[0] if records[0]["n_rows"] is not None else None
    return to_json({"dataset": dataset(document), "statistics": statistics(figures),
                    "top_perturbations": top["perturbation"], "top_phenotypes": top["phenotype"],
                    "downloads": json.loads(records[0]["downloads"] or "[]")})


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/datasets/{dataset_id}", operation_id="dataset", tags=["datasets"],
            summary="One dataset with its statistics and top perturbations and phenotypes",
            responses=schemas.responses(DatasetDetail))
async def get_dataset(request: Request, dataset_id: DatasetId) -> Any:
    return answer(request, await detail(dataset_id))
