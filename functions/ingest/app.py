"""The ingestion function (docs/contract.md, "Loading data"): an S3 marker object (`_READY` / `_DELETE`) loads or
removes a dataset."""
from ingestion.s3 import handler

__all__ = ["handler"]
