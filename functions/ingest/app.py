"""The ingestion function (SPEC 7): an S3 marker object (`_READY` / `_DELETE`) loads or removes a dataset."""
from ingestion.s3 import handler

__all__ = ["handler"]
