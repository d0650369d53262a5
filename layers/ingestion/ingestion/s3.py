"""The ingestion function: a dataset's files land under an S3 prefix, then a marker object starts the load.

Protocol (docs/contract.md, "Loading data", deployed): upload `<prefix>/<dataset_id>/metadata.json` and one results
file, then write `<prefix>/<dataset_id>/_READY` (any content) to load (replace) the dataset, or `_DELETE` to remove
it. A marker, not metadata.json itself, starts the work: uploads finish in any order, and a load can be re-run by
writing the marker again (unchanged input is recognised by its checksum and skipped). A refusal is written next to the
files as `_REFUSED.txt` (file, line, column, reason), and cleared by the next successful load.

One invocation holds at most 15 minutes and the function's /tmp and memory: datasets larger than that (see the
README) are loaded by an operator with the same code from the command line (`python -m ingestion load`).

The gene reference (docs/contract.md, "Genes") arrives the same way: its file (HGNC's columns) under `reference/`,
then `reference/_READY`; a refusal is written as `reference/_REFUSED.txt`.
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from catalogue_common.settings import ConfigurationError, settings

from . import documents, results, run
from .dataset import METADATA

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(service="perturbation-catalogue-ingest")
try:  # validated when the function starts: a malformed variable fails the start with a log line naming it
    settings("ingest")
except ConfigurationError as error:
    logger.error("invalid configuration", extra={"error": str(error)})
    raise
MARKERS = ("_READY", "_DELETE")
REPORT = "_REFUSED.txt"
REFERENCE = "reference"  # the gene reference's prefix: one file, then `reference/_READY`
INPUTS = (METADATA, *results.NAMES)


def download(s3: S3Client, bucket: str, prefix: str, folder: Path) -> None:
    """The dataset's input objects (and nothing else) into `folder`."""
    folder.mkdir(parents=True)
    for name in INPUTS:
        key = f"{prefix}/{name}"
        try:
            s3.download_file(bucket, key, str(folder / name))
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise


def report(s3: S3Client, bucket: str, prefix: str, refusal: str | None) -> None:
    """The refusal's report next to the files (`_REFUSED.txt`), or none after a success."""
    if refusal is None:
        s3.delete_object(Bucket=bucket, Key=f"{prefix}/{REPORT}")
        return
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{REPORT}", Body=refusal.encode(), ContentType="text/plain")
    logger.warning("refused", extra={"prefix": prefix, "problems": refusal})


async def load_reference(bucket: str, s3: S3Client) -> dict[str, Any]:
    """`reference/_READY`: the gene reference file under `reference/` (one, any name) replaces the catalogue's."""
    files = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{REFERENCE}/").get("Contents", [])
             if o["Key"].rpartition("/")[2] not in (*MARKERS, REPORT)]
    if len(files) != 1:
        problem = f"{REFERENCE}/ must hold exactly one gene reference file beside its marker, not {len(files)}"
        report(s3, bucket, REFERENCE, problem)
        return {"key": f"{REFERENCE}/_READY", "outcome": "refused"}
    work = Path(tempfile.mkdtemp(prefix="ingest-"))
    try:
        path = work / files[0].rpartition("/")[2]
        s3.download_file(bucket, files[0], str(path))
        refusal = await run.load_genes(settings("ingest"), path, source=files[0], quiet=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(s3, bucket, REFERENCE, refusal.problems.report() if refusal else None)
    return {"key": files[0], "outcome": "refused" if refusal else "loaded"}


async def handle(bucket: str, key: str, s3: S3Client) -> dict[str, Any]:
    prefix, _, marker = key.rpartition("/")
    if prefix == REFERENCE and marker == "_READY":
        return await load_reference(bucket, s3)
    dataset_id = prefix.rpartition("/")[2]
    if marker not in MARKERS or not dataset_id:
        return {"key": key, "outcome": "ignored"}
    target = settings("ingest")
    if marker == "_DELETE":
        outcome, _ = await run.delete(target, dataset_id)
        return {"dataset_id": dataset_id, "outcome": outcome}
    work = Path(tempfile.mkdtemp(prefix="ingest-"))
    try:
        download(s3, bucket, prefix, work / dataset_id)
        summary = await run.load(target, [work / dataset_id], quiet=True, log=logger.info)
    except documents.MissingGeneration as error:  # no retry can help: the operator's whole load does
        report(s3, bucket, prefix, str(error))
        return {"dataset_id": dataset_id, "outcome": "refused"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome = summary.outcomes.get(dataset_id, "refused")
    report(s3, bucket, prefix, summary.refusals[0].problems.report() if summary.refusals else None)
    return {"dataset_id": dataset_id, "outcome": outcome, "rows": summary.rows, "seconds": round(summary.seconds, 1)}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An S3 event (ObjectCreated) for a marker object; every record is handled in turn."""
    s3 = boto3.client("s3")
    done = [asyncio.run(handle(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), s3))
            for r in event.get("Records", [])]
    logger.info("ingestion finished", extra={"results": done})
    unfinished = [d for d in done if d.get("outcome") == "incomplete"]
    if unfinished:  # a failed invocation: Lambda retries it (which finishes the load), then the failure queue
        raise Incomplete(f"PostgreSQL committed but Elasticsearch was not written: {unfinished}")
    return {"results": done}


class Incomplete(RuntimeError):
    """A load or delete that PostgreSQL committed and Elasticsearch did not follow (the record says `incomplete`)."""
