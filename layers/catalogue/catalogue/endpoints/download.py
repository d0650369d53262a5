"""GET /v1/datasets/{dataset_id}/download?format=parquet|tsv.gz|metadata (docs/contract.md, "Dataset files"): a 307 to
one of the dataset's whole-dataset files, a presigned S3 URL valid for an hour.

One PostgreSQL round trip (the dataset's statistics row, to tell an unknown dataset, and the file's object key from
`dataset_downloads`), no Elasticsearch call; the URL is signed locally by boto3 (no network). `dataset_downloads`
names only the files of the load whose rows PostgreSQL holds, so a redirect never leads to another load's file; the
redirect itself is `no-store`: a cached one could outlive its file (a replace deletes the old files).

`format` is required (docs/contract.md, "Dataset files" gives no default; a client says which file it wants).
"""
from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from catalogue_common.downloads import PRESIGNED_SECONDS, Format
from catalogue_common.settings import settings
from fastapi import APIRouter, Query
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from .. import schemas
from ..clients import stores
from ..errors import NotFound
from ..parameters import DatasetId, QueryModel, StrictRoute

SQL = """SELECT s.dataset_id IS NOT NULL AS known, f.object_key
FROM (SELECT $1::text AS dataset_id) d
LEFT JOIN perturb_seq_dataset_statistics s ON s.dataset_id = d.dataset_id
LEFT JOIN dataset_downloads f ON f.dataset_id = d.dataset_id AND f.format = $2"""


class DownloadParameters(QueryModel):
    format: Format = Field(description="`parquet` (every row, Apache Parquet), `tsv.gz` (every row, gzip "
                                       "tab-separated) or `metadata` (the dataset's metadata document, JSON).")


@cache
def s3() -> Any:
    """The S3 client that signs the URLs (boto3 loaded with the first download, not at a cold start)."""
    import boto3
    return boto3.client("s3", **settings().s3_options())


async def location(dataset_id: str, fmt: Format) -> str:
    """The presigned URL of the dataset's file; NotFound for an unknown dataset or one without files."""
    records = await stores().fetch(SQL, dataset_id, fmt)
    if not records[0]["known"]:
        raise NotFound(f"There is no dataset {dataset_id}.")
    if records[0]["object_key"] is None:
        raise NotFound(f"Dataset {dataset_id} has no {fmt} file: it was loaded before the ingestion wrote files; "
                       "loading it again writes them.")
    return str(s3().generate_presigned_url("get_object", ExpiresIn=PRESIGNED_SECONDS, Params={
        "Bucket": stores().config.downloads_bucket, "Key": records[0]["object_key"]}))  # the database's bucket


router = APIRouter(route_class=StrictRoute)


@router.get("/v1/datasets/{dataset_id}/download", operation_id="download", tags=["datasets"], status_code=307,
            summary="A whole-dataset file: Parquet, tsv.gz or its metadata",
            response_class=Response, responses={
                307: {"description": "A presigned URL of the file, valid for one hour, in `Location`; never cached.",
                      "headers": {"Location": {"schema": {"type": "string", "format": "uri"}},
                                  "Cache-Control": {"schema": {"type": "string", "const": "no-store"}}}},
                **schemas.ERRORS})
async def get_download(request: Request, dataset_id: DatasetId,
                       params: Annotated[DownloadParameters, Query()]) -> Response:
    url = await location(dataset_id, params.format)
    return Response(status_code=307, headers={"Location": url, "Cache-Control": "no-store"})
