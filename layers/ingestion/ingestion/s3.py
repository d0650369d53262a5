"""The ingestion function: a dataset's files land under an S3 prefix, then a marker object starts the load.

Protocol (SPEC 7, deployed): upload `<prefix>/<dataset_id>/metadata.json` and one results file, then write
`<prefix>/<dataset_id>/_READY` (any content) to load (replace) the dataset, or `_DELETE` to remove it. A marker,
not metadata.json itself, starts the work: uploads finish in any order, and a load can be re-run by writing the
marker again (unchanged input is recognised by its checksum and skipped). A refusal is written next to the files
as `_REFUSED.txt` (file, line, column, reason), and cleared by the next successful load.

One invocation holds at most 15 minutes and the function's /tmp and memory: datasets larger than that (see the
README) are loaded by an operator with the same code from the command line (`python -m ingestion load`).
"""
from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
from aws_lambda_powertools import Logger
from catalogue_common.settings import ConfigurationError, settings

from . import results, run
from .dataset import METADATA

logger = Logger(service="perturbation-catalogue-ingest")
try:  # validated when the function starts: a malformed variable fails the start with a log line naming it
    settings("ingest")
except ConfigurationError as error:
    logger.error("invalid configuration", extra={"error": str(error)})
    raise
MARKERS = ("_READY", "_DELETE")
REPORT = "_REFUSED.txt"
INPUTS = (METADATA, *results.NAMES)


def download(s3: Any, bucket: str, prefix: str, folder: Path) -> None:
    """The dataset's input objects (and nothing else) into `folder`."""
    folder.mkdir(parents=True)
    for name in INPUTS:
        key = f"{prefix}/{name}"
        try:
            s3.download_file(bucket, key, str(folder / name))
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                raise


async def handle(bucket: str, key: str, s3: Any) -> dict[str, Any]:
    prefix, _, marker = key.rpartition("/")
    dataset_id = prefix.rpartition("/")[2]
    if marker not in MARKERS or not dataset_id:
        return {"key": key, "outcome": "ignored"}
    target = settings("ingest")
    if marker == "_DELETE":
        await run.delete(target, dataset_id)
        return {"dataset_id": dataset_id, "outcome": "deleted"}
    work = Path(tempfile.mkdtemp(prefix="ingest-"))
    try:
        download(s3, bucket, prefix, work / dataset_id)
        summary = await run.load(target, [work / dataset_id], quiet=True, log=logger.info)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome = summary.outcomes.get(dataset_id, "refused")
    if summary.refusals:
        report = summary.refusals[0].problems.report()
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{REPORT}", Body=report.encode(), ContentType="text/plain")
        logger.warning("dataset refused", extra={"dataset_id": dataset_id, "problems": report})
    else:
        s3.delete_object(Bucket=bucket, Key=f"{prefix}/{REPORT}")
    return {"dataset_id": dataset_id, "outcome": outcome, "rows": summary.rows, "seconds": round(summary.seconds, 1)}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An S3 event (ObjectCreated) for a marker object; every record is handled in turn."""
    s3 = boto3.client("s3")
    done = [asyncio.run(handle(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]), s3))
            for r in event.get("Records", [])]
    logger.info("ingestion finished", extra={"results": done})
    return {"results": done}
