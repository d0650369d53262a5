"""Each dataset's whole-dataset files (docs/contract.md, "Dataset files"), written when the dataset is loaded, in step
with its rows: `rows.parquet` and `rows.tsv.gz` (every row in the order of a dataset's rows pages, with the page's
columns, the dataset and both genes' Ensembl gene IDs) and `metadata.json` (the dataset's metadata document).

The files are read back from PostgreSQL inside the load's own transaction, after the rows and the summaries were
written (so the order, the direction and the summary counts are the API's own), as PostgreSQL's CSV (COPY, each
double as its shortest exact text), which pyarrow reads in batches: no Python object per value. From the batches,
both files are written to a temporary folder,
uploaded under a key of this load (catalogue_common.downloads.key), and named in `dataset_downloads` with their
byte size and SHA-256 in the same transaction. A load that fails leaves the old files named (its own, uploaded or
not, are never named); after a load or delete commits, the dataset's other objects are deleted (prune).

Parquet: pyarrow, a row group per batch of about 60,000 rows, doubles as stored (NaN and ±Infinity kept, NULL null).
TSV: the same Arrow batches written by pyarrow's CSV writer (tab-separated, unquoted; null and non-finite numbers
empty; names with a control character, which the loaders refuse, get a space as in catalogue_common.tsv), gzip level
1 (5.6 times faster than 6 on these files, 8 % larger) without a time stamp: a load of the same rows writes the same
bytes (the same SHA-256), whenever it runs. Numbers are Arrow's shortest text that reads back as the same double, the
rule of the API's TSV pages, though not always the same spelling (`1` and `1e-7` where the pages, which Python
writes, say `1.0` and `1e-07`). Why not the pages' own writer, over asyncpg's records: Python's float repr costs
about 1.3 µs a number and a record's values more; the files of a 2 M-row dataset took 32 s that way.
"""
from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from catalogue_common import tsv
from catalogue_common.downloads import (
    CONTENT_TYPES,
    FORMATS,
    OBJECT_NAMES,
    PREFIX,
    Format,
    attachment,
    dataset_id_prefix,
    filename,
    key,
)
from catalogue_common.settings import Settings
from catalogue_common.vocabulary import direction_sql

TYPES = {"log2fc": pa.float64(), "padj": pa.float64(), "base_mean": pa.float64(),
         **{name: pa.int64() for name in tsv.FILE_COLUMNS if name.endswith(("_n_total", "_n_up", "_n_down"))}}
SCHEMA = pa.schema([pa.field(name, TYPES.get(name, pa.string())) for name in tsv.FILE_COLUMNS])
# PostgreSQL's CSV: NULL is an unquoted empty field (and only that: "NaN" is a double, "NA" a name), "" an empty text.
READ = pacsv.ReadOptions(column_names=list(SCHEMA.names), block_size=8 << 20)  # about 60,000 rows a row group
CONVERT = pacsv.ConvertOptions(column_types=SCHEMA, null_values=[""], strings_can_be_null=True,
                               quoted_strings_can_be_null=False)
TSV_OPTIONS = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
FILES: tuple[tuple[Format, str], ...] = tuple((fmt, OBJECT_NAMES[fmt]) for fmt in FORMATS)


def rows_sql(schema: str = "public") -> str:
    """A dataset's rows ($1) in the order of its rows pages (padj: numbers, then NaN, then NULL; then both genes in
    byte order), in the columns of the files (tsv.FILE_COLUMNS: the direction by vocabulary's predicate, the page's
    summary counts, both genes' Ensembl gene IDs); `schema` holds the relations (a whole load reads its staging
    schema)."""
    return f"""SELECT r.dataset_id, r.perturbed_target_symbol, r.gene,
       CASE WHEN {direction_sql("increased", "r")} THEN 'increased'
            WHEN {direction_sql("decreased", "r")} THEN 'decreased' END AS direction,
       r.log2foldchange, r.padj, r.basemean,
       coalesce(p.n_total, 0) AS p_n_total, coalesce(p.n_up, 0) AS p_n_up, coalesce(p.n_down, 0) AS p_n_down,
       coalesce(e.n_total, 0) AS e_n_total, coalesce(e.n_up, 0) AS e_n_up, coalesce(e.n_down, 0) AS e_n_down,
       pp.ensembl_gene_id AS p_ensembl, ep.ensembl_gene_id AS e_ensembl
FROM {schema}.perturb_seq r
LEFT JOIN {schema}.perturb_seq_summary_perturbation p
       ON p.dataset_id = r.dataset_id AND p.perturbed_target_symbol = r.perturbed_target_symbol
LEFT JOIN {schema}.perturb_seq_summary_effect e ON e.dataset_id = r.dataset_id AND e.gene = r.gene
LEFT JOIN {schema}.perturb_seq_genes pp ON pp.gene_name = r.perturbed_target_symbol
LEFT JOIN {schema}.perturb_seq_genes ep ON ep.gene_name = r.gene
WHERE r.dataset_id = $1
ORDER BY r.padj, r.perturbed_target_symbol COLLATE "C", r.gene COLLATE "C\""""


@dataclass(frozen=True)
class File:
    """One written file: its format, where it is on disk, its size in bytes and its SHA-256 (hex)."""
    format: Format
    path: Path
    bytes: int
    sha256: str


def _text(batch: pa.RecordBatch) -> bytes:
    """The batch as TSV lines (no header): non-finite numbers and nulls empty, control characters in names spaces."""
    columns = [pc.if_else(pc.is_finite(c), c, pa.scalar(None, c.type)) if pa.types.is_floating(c.type)
               else pc.replace_substring_regex(c, tsv.CONTROL.pattern, " ") if pa.types.is_string(c.type) else c
               for c in batch.columns]
    out = io.BytesIO()
    pacsv.write_csv(pa.RecordBatch.from_arrays(columns, schema=batch.schema), out, TSV_OPTIONS)
    return out.getvalue()


def _described(fmt: Format, path: Path) -> File:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return File(fmt, path, path.stat().st_size, digest.hexdigest())


async def write(conn: asyncpg.Connection, dataset_id: str, document: dict[str, Any], folder: Path,
                schema: str = "public") -> list[File]:
    """The dataset's three files in `folder`, read in the caller's transaction (its SET LOCAL settings need one)."""
    parquet, text, rows = folder / OBJECT_NAMES["parquet"], folder / OBJECT_NAMES["tsv.gz"], folder / "rows.csv"
    await conn.execute("SET LOCAL extra_float_digits = 1")  # each double as the shortest text that reads back exactly
    # Every row is read: hash joins and one sort. A per-dataset load writes its files in the transaction that inserted
    # the rows, before any ANALYZE: the planner takes the dataset for a few rows and chose nested loops (2 M rows:
    # over 10 minutes, where the same query after an ANALYZE takes seconds).
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.copy_from_query(rows_sql(schema), dataset_id, output=rows, format="csv")
    with (pacsv.open_csv(rows, read_options=READ, convert_options=CONVERT) as reader,
          pq.ParquetWriter(parquet, SCHEMA) as table, open(text, "wb") as raw,
          gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as packed):  # the same rows, the same bytes
        packed.write(("\t".join(tsv.FILE_COLUMNS) + "\n").encode())
        for batch in reader:
            table.write_batch(batch)
            packed.write(_text(batch))
    rows.unlink()
    metadata = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    (folder / OBJECT_NAMES["metadata"]).write_text(metadata, encoding="utf-8")
    return [_described(fmt, folder / name) for fmt, name in FILES]


RECORD = """INSERT INTO dataset_downloads (dataset_id, format, object_key, bytes, sha256)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])"""


async def record(conn: asyncpg.Connection, loads: Mapping[str, tuple[str, list[File]]]) -> None:
    """Each dataset's files (dataset_id -> (its load, its files)) named in `dataset_downloads`, in one statement of
    the caller's transaction, which has removed their old names (a whole load's swap: all of them at once)."""
    named = [(dataset_id, load, f) for dataset_id, (load, files) in loads.items() for f in files]
    await conn.execute(RECORD, [d for d, _, _ in named], [f.format for _, _, f in named],
                       [key(d, load, f.format) for d, load, f in named], [f.bytes for _, _, f in named],
                       [f.sha256 for _, _, f in named])


@dataclass(frozen=True)
class Store:
    """The downloads bucket (DOWNLOADS_BUCKET, at S3_ENDPOINT_URL), as the ingestion writes it."""
    settings: Settings

    @cached_property
    def s3(self) -> Any:
        import boto3  # here: only a load that writes files needs it
        client = boto3.client("s3", **self.settings.s3_options())
        if self.settings.s3_endpoint is not None:  # not S3 itself (moto locally): the bucket is made when missing
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists):
                client.create_bucket(Bucket=self.bucket)
        return client

    @property
    def bucket(self) -> str:
        return self.settings.downloads_bucket

    def upload(self, dataset_id: str, load: str, files: list[File]) -> None:
        for f in files:
            self.s3.upload_file(str(f.path), self.bucket, key(dataset_id, load, f.format), ExtraArgs={
                "ContentType": CONTENT_TYPES[f.format],
                "ContentDisposition": attachment(filename(dataset_id, f.format))})

    def _objects(self, prefix: str) -> Iterator[str]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            yield from (o["Key"] for o in page.get("Contents", []))

    def prune(self, keep: Mapping[str, str | None], whole: bool = False) -> int:
        """Deletes the objects of the datasets in `keep` but those of the load it names (None: every one, for a
        deleted dataset); with `whole` (a whole load replaced the catalogue), every object of any other dataset
        too. How many were deleted."""
        kept = {key(dataset_id, load, fmt) for dataset_id, load in keep.items() if load for fmt in FORMATS}
        prefixes = [f"{PREFIX}/"] if whole else [dataset_id_prefix(dataset_id) for dataset_id in keep]
        stale = [k for prefix in prefixes for k in self._objects(prefix) if k not in kept]
        for start in range(0, len(stale), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in stale[start:start + 1000]], "Quiet": True})
        return len(stale)


async def publish(conn: asyncpg.Connection, store: Store, dataset_id: str, load: str, document: dict[str, Any],
                  schema: str = "public") -> list[File]:
    """Writes and uploads the dataset's files, read in the caller's transaction; what `record` then names (their
    paths are gone: only format, size and SHA-256 remain meaningful)."""
    with tempfile.TemporaryDirectory(prefix="catalogue-files-") as folder:
        files = await write(conn, dataset_id, document, Path(folder), schema)
        await asyncio.to_thread(store.upload, dataset_id, load, files)
    return files


async def replace(conn: asyncpg.Connection, store: Store, dataset_id: str, load: str, document: dict[str, Any]) -> None:
    """Writes, uploads and names the dataset's files (in the caller's transaction, which holds its new rows and has
    removed the dataset's old names)."""
    await record(conn, {dataset_id: (load, await publish(conn, store, dataset_id, load, document))})
