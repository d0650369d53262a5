"""The whole-dataset files (docs/contract.md, "Dataset files"): their formats, object names and headers, one home for
the ingestion, which writes them, and the API, which lists them and redirects to them.

Objects live in DOWNLOADS_BUCKET under `datasets/<dataset_id>/<load>/<file>`, `<load>` being the SHA-256 of the
input files the load read (its record's checksum): a new load writes beside the old files, PostgreSQL's
`dataset_downloads` names the current ones in the same transaction as the rows, and the old ones are deleted after
it commits. So a reader is only ever sent to the files of the rows PostgreSQL holds.
"""
from __future__ import annotations

import re
from typing import Literal, get_args

Format = Literal["parquet", "tsv.gz", "metadata"]
FORMATS: tuple[Format, ...] = get_args(Format)
OBJECT_NAMES: dict[Format, str] = {"parquet": "rows.parquet", "tsv.gz": "rows.tsv.gz", "metadata": "metadata.json"}
CONTENT_TYPES: dict[Format, str] = {"parquet": "application/vnd.apache.parquet", "tsv.gz": "application/gzip",
                                    "metadata": "application/json"}
PRESIGNED_SECONDS = 3600  # a redirect's URL stays valid for one hour
PREFIX = "datasets"


def attachment(name: str) -> str:
    """`Content-Disposition` of a file; the name keeps letters, digits, dot, dash and underscore."""
    return f'attachment; filename="{re.sub(r"[^A-Za-z0-9._-]", "_", name)}"'


def filename(dataset_id: str, fmt: Format) -> str:
    """The name a browser saves a file under: `<dataset_id>.<format>` (docs/contract.md, "Dataset files")."""
    return f"{dataset_id}.{fmt}"


def key(dataset_id: str, load: str, fmt: Format) -> str:
    """The object key of one file of one load."""
    return f"{dataset_id_prefix(dataset_id)}{load}/{OBJECT_NAMES[fmt]}"


def dataset_id_prefix(dataset_id: str) -> str:
    """Every object of a dataset, whatever its load, is under this prefix."""
    return f"{PREFIX}/{dataset_id}/"
