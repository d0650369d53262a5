"""Whole-dataset files (docs/contract.md, "Dataset files"; ingestion/downloads.py, endpoints/download.py): written
by the ingestion in step with the rows, listed by the dataset's answer, reached by a 307 to the local S3 endpoint
(moto's server, as `make up` starts it), and read back equal to a full walk of the dataset's rows pages, row for
row and bit for bit; a replace gives the new files, a delete removes them, a failed load keeps the old ones.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import urllib.request
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from catalogue_common import tsv
from catalogue_common.downloads import dataset_id_prefix
from catalogue_common.settings import settings
from ingestion import run

from tests.api import get
from tests.support import fetch

from .conftest import DATABASE, INDEX, ingest, target
from .test_store import SPECIAL, UNBOUNDED, same_double

NUMBERS = ("log2fc", "padj", "base_mean")
DATASET = "special_values"


def special_dataset(folder: Path, version: int = 1) -> Path:
    """A dataset whose every numeric column holds NULL, NaN, ±Infinity, ±0, subnormals and the extremes, with ties
    of padj (so the order's tie rules matter); `version` changes a value."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({"dataset_id": DATASET, "tissue_labels": ["blood"]}))
    free, padj = SPECIAL + UNBOUNDED, SPECIAL
    lines = [f"P{i % 7},G{i},{free[i % len(free)][0]},{padj[(i * 5) % len(padj)][0]},{free[(i * 2 + 1) % len(free)][0]}"
             for i in range(60)]
    lines[0] = f"P0,G0,{version}.5,0.01,3"
    (folder / "results.csv").write_text("perturbed_target_symbol,gene,log2foldchange,padj,basemean\n"
                                        + "\n".join(lines) + "\n")
    return folder


def download(dataset_id: str, fmt: str) -> bytes:
    """The file the download route redirects to, fetched from the S3 endpoint."""
    answer = get(f"/v1/datasets/{dataset_id}/download", f"format={fmt}")
    assert answer.status == 307 and answer.headers["cache-control"] == "no-store", answer
    with urllib.request.urlopen(answer.headers["location"], timeout=30) as response:
        assert response.headers["Content-Disposition"] == f'attachment; filename="{dataset_id}.{fmt}"'
        return response.read()


def walk(dataset_id: str, query: str) -> list:
    """Every page of the dataset's rows (7 a page), JSON rows or TSV lines."""
    out, cursor = [], None
    while True:
        answer = get(f"/v1/datasets/{dataset_id}/rows", query + "&limit=7" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, answer.text
        if "tsv" in query:
            out += answer.text.splitlines()[1:]
            link = answer.headers.get("link")
            cursor = link.split("cursor=")[1].split(">")[0] if link else None
        else:
            out += answer.json["rows"]
            cursor = answer.json["next_cursor"]
        if not cursor:
            return out


def listed(dataset_id: str) -> dict[str, dict]:
    answer = get(f"/v1/datasets/{dataset_id}")
    assert answer.status == 200, answer.text
    return {d["format"]: d for d in answer.json["downloads"]}


def objects(dataset_id: str) -> list[str]:
    s3 = boto3.client("s3", **settings().s3_options())
    found = s3.list_objects_v2(Bucket=settings().at(DATABASE).downloads_bucket, Prefix=dataset_id_prefix(dataset_id))
    return sorted(o["Key"] for o in found.get("Contents", []))


@pytest.fixture
def served(catalogue_a: Path, with_stores) -> Path:
    with_stores(ps_db=DATABASE, es_index=INDEX)
    return catalogue_a


def test_the_files_are_the_rows_pages_bit_for_bit(served: Path, tmp_path: Path):
    folder = special_dataset(tmp_path / DATASET)
    assert ingest(run.load(target(), [folder], quiet=True)).outcomes == {DATASET: "loaded"}
    files = {fmt: download(DATASET, fmt) for fmt in ("parquet", "tsv.gz", "metadata")}
    assert list(listed(DATASET)) == ["parquet", "tsv.gz", "metadata"]
    for fmt, entry in listed(DATASET).items():
        assert entry == {"format": fmt, "bytes": len(files[fmt]), "sha256": hashlib.sha256(files[fmt]).hexdigest()}
    # TSV: the page's columns are the rows pages' TSV fields, names exactly and numbers as the same doubles (the file
    # may spell a number otherwise: Arrow's `1` for the pages' `1.0`); the dataset first, both Ensembl IDs last.
    lines = gzip.decompress(files["tsv.gz"]).decode().splitlines()
    assert lines[0].split("\t") == ["dataset_id", *tsv.COLUMNS, "perturbation_ensembl_gene_id",
                                    "phenotype_ensembl_gene_id"]
    pages = walk(DATASET, "format=tsv")
    assert len(pages) == len(lines) - 1 == 60
    for line, page_line in zip(lines[1:], pages, strict=True):
        got, want = line.split("\t"), page_line.split("\t")
        assert got[0] == DATASET and len(got) == len(want) + 3, line
        for column, a, b in zip(tsv.COLUMNS, got[1:-2], want, strict=True):
            if column in NUMBERS:
                assert same_double(float(a) if a else None, float(b) if b else None), (column, line, page_line)
            else:
                assert a == b, (column, line, page_line)
    # Parquet: the JSON rows pages row for row (non-finite numbers are null there), and the stored doubles exactly.
    table = pq.read_table(io.BytesIO(files["parquet"])).to_pylist()
    rows = walk(DATASET, "format=json")
    stored = {(r[0], r[1]): r[2:] for r in fetch(DATABASE, "SELECT perturbed_target_symbol, gene, log2foldchange, "
                                                           "padj, basemean FROM perturb_seq WHERE dataset_id = $1",
                                                 DATASET)}
    assert len(table) == len(rows) == 60
    for got, row in zip(table, rows, strict=True):
        p, e, change = row["perturbation"], row["phenotype"], row["change"]
        assert (got["dataset_id"], got["perturbation_gene_name"], got["phenotype_gene_name"], got["direction"]) == (
            DATASET, p["perturbation_gene_name"], e["phenotype_gene_name"], change["direction"])
        assert [got[f"perturbation_{k}"] for k in ("n_total", "n_up", "n_down")] == [p[k] for k in
                                                                                   ("n_total", "n_up", "n_down")]
        assert [got[f"phenotype_{k}"] for k in ("n_total", "n_up", "n_down")] == [e[k] for k in
                                                                                ("n_total", "n_up", "n_down")]
        assert (got["perturbation_ensembl_gene_id"], got["phenotype_ensembl_gene_id"]) == (
            p["ensembl_gene_id"], e["ensembl_gene_id"])
        for column, served_value, want in zip(("log2fc", "padj", "base_mean"), (
                change["log2fc"], change["padj"], change["base_mean"]),
                stored[got["perturbation_gene_name"], got["phenotype_gene_name"]], strict=True):
            assert same_double(got[column], want), (column, got, want)
            finite = got[column] if got[column] is not None and math.isfinite(got[column]) else None
            assert same_double(finite, served_value), (column, got, row)
    assert json.loads(files["metadata"]) == json.loads((folder / "metadata.json").read_text())


def test_a_replace_gives_the_new_files_and_a_delete_removes_them(served: Path, tmp_path: Path):
    assert ingest(run.load(target(), [special_dataset(tmp_path / "v1" / DATASET, 1)], quiet=True)).outcomes == {
        DATASET: "loaded"}
    first, keys = listed(DATASET), objects(DATASET)
    assert len(keys) == 3
    assert ingest(run.load(target(), [special_dataset(tmp_path / "v2" / DATASET, 2)], quiet=True)).outcomes == {
        DATASET: "loaded"}
    second = listed(DATASET)
    assert second["parquet"]["sha256"] != first["parquet"]["sha256"]
    assert second["metadata"] == first["metadata"]  # the same metadata document
    text = gzip.decompress(download(DATASET, "tsv.gz")).decode()
    assert "\tP0\tG0\tincreased\t2.5\t0.01\t3\t" in text and "\tP0\tG0\tincreased\t1.5\t" not in text
    assert len(objects(DATASET)) == 3 and not set(objects(DATASET)) & set(keys), "the old load's files are gone"
    assert ingest(run.load(target(), [special_dataset(tmp_path / "v1" / DATASET, 1)], quiet=True)).outcomes == {
        DATASET: "loaded"}
    assert listed(DATASET) == first, "the same rows give the same bytes (no time stamp in the gzip header)"
    assert ingest(run.delete(target(), DATASET))[0] == "deleted"
    assert objects(DATASET) == []
    for fmt in ("parquet", "tsv.gz", "metadata"):
        assert get(f"/v1/datasets/{DATASET}/download", f"format={fmt}").status == 404


def test_a_failed_load_keeps_the_old_files(served: Path, tmp_path: Path):
    assert ingest(run.load(target(), [special_dataset(tmp_path / "v1" / DATASET, 1)], quiet=True)).outcomes == {
        DATASET: "loaded"}
    before, keys = listed(DATASET), objects(DATASET)
    unreachable = target().replace(s3_endpoint="http://127.0.0.1:9")  # nothing listens: the upload fails
    with pytest.raises(Exception):  # noqa: B017 - botocore's connection error, whichever it is
        ingest(run.load(unreachable, [special_dataset(tmp_path / "v2" / DATASET, 2)], quiet=True))
    [(outcome,)] = fetch(DATABASE, "SELECT outcome FROM catalogue_load_history WHERE dataset_id = $1 "
                                   "ORDER BY id DESC LIMIT 1", DATASET)
    assert outcome == "failed"
    assert listed(DATASET) == before and objects(DATASET) == keys
    assert "\tP0\tG0\tincreased\t1.5\t" in gzip.decompress(download(DATASET, "tsv.gz")).decode()


def test_the_download_route_refuses_what_it_cannot_serve(served: Path):
    assert get("/v1/datasets/no_such_dataset/download", "format=parquet").status == 404
    assert get(f"/v1/datasets/{served.iterdir().__next__().name}/download", "format=csv").status == 400
    assert get(f"/v1/datasets/{next(served.iterdir()).name}/download").status == 400
    head = get(f"/v1/datasets/{next(served.iterdir()).name}/download", "format=parquet", method="HEAD")
    assert head.status == 307 and head.headers["location"] and head.text == ""
