"""The ingestion function (docs/contract.md "Loading data", deployed): files uploaded to S3 (moto stands in for S3
only), then a marker object's event loads or deletes the dataset in the real PostgreSQL and Elasticsearch, through the
handler."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest
from catalogue_common.settings import settings
from moto import mock_aws

from devtools.local.lambda_runtime import LambdaContext, load_function
from tests.support import fetch, search_engine

from .conftest import DATABASE, INDEX

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "ingest"


def event(name: str, key: str | None = None) -> dict:
    e = json.loads((EVENTS / f"{name}.json").read_text())
    if key:
        e = copy.deepcopy(e)
        e["Records"][0]["s3"]["object"]["key"] = key
    return e


@pytest.fixture
def s3(monkeypatch, catalogue_a: Path):
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "PS_DB": DATABASE, "ES_INDEX": INDEX}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()  # the function reads its settings when it starts: these, not the suite's
    with mock_aws():
        client = boto3.client("s3")
        bucket = event("ready")["Records"][0]["s3"]["bucket"]["name"]
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client, bucket


def upload(client, bucket: str, folder: Path, prefix: str = "incoming") -> None:
    for path in folder.iterdir():
        client.upload_file(str(path), bucket, f"{prefix}/{folder.name}/{path.name}")


def rows(dataset_id: str) -> int:
    return fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = $1", dataset_id)[0][0]


def test_a_ready_marker_loads_the_uploaded_dataset(s3, demo_files: Path):
    client, bucket = s3
    new = demo_files / "b" / "datlinger_2017"
    upload(client, bucket, new)
    client.put_object(Bucket=bucket, Key="incoming/datlinger_2017/_READY", Body=b"")
    handler = load_function("ingest").handler
    result = handler(event("ready"), LambdaContext("IngestFunction", 900, 3008))
    [done] = result["results"]
    assert done["dataset_id"] == "datlinger_2017" and done["outcome"] == "loaded"
    assert rows("datlinger_2017") == sum(1 for _ in (new / "results.csv").open()) - 1 == done["rows"]
    again = handler(event("ready"), LambdaContext("IngestFunction", 900, 3008))
    assert again["results"][0]["outcome"] == "unchanged"


def test_a_refused_dataset_gets_a_report_next_to_its_files(s3, catalogue_a: Path, tmp_path: Path):
    client, bucket = s3
    folder = tmp_path / "datlinger_2017"
    folder.mkdir()
    (folder / "metadata.json").write_text('{"dataset_id": "datlinger_2017", "tissue_labels": ["blood", "lymph"]}')
    (folder / "results.tsv").write_text("perturbed_target_symbol\tgene\tlog2foldchange\tpadj\tbasemean\n"
                                        "SPI1\tTP53\t1\t2\t3\n")
    before = rows("datlinger_2017")
    upload(client, bucket, folder)
    result = load_function("ingest").handler(event("ready"), LambdaContext("IngestFunction", 900, 3008))
    assert result["results"][0]["outcome"] == "refused" and rows("datlinger_2017") == before
    report = client.get_object(Bucket=bucket, Key="incoming/datlinger_2017/_REFUSED.txt")["Body"].read().decode()
    assert "metadata.json, column tissue_labels: holds 2 entries" in report
    assert "results.tsv, line 2, column padj: a finite padj outside [0, 1]: 2.0" in report


def test_a_delete_marker_removes_the_dataset_from_both_stores(s3):
    assert rows("datlinger_2017") > 0
    result = load_function("ingest").handler(event("delete"), LambdaContext("IngestFunction", 900, 3008))
    assert result["results"] == [{"dataset_id": "datlinger_2017", "outcome": "deleted"}]
    assert rows("datlinger_2017") == 0
    assert not search_engine().exists(index=INDEX, id="datlinger_2017")


def test_other_objects_are_ignored(s3):
    result = load_function("ingest").handler(event("ready", "incoming/datlinger_2017/results.csv"),
                                             LambdaContext("IngestFunction", 900, 3008))
    assert result["results"] == [{"key": "incoming/datlinger_2017/results.csv", "outcome": "ignored"}]


INVOKE = """
import json, sys
out, function_dir, layer_dirs, runtime_dir, event_file = sys.argv[1:]
sys.path[:0] = [function_dir, *layer_dirs.split(":")]
sys.path.append(runtime_dir)  # what the Lambda runtime provides: boto3
from app import handler
class Context:
    function_name, aws_request_id, memory_limit_in_mb = "IngestFunction", "build-test", 4096
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:IngestFunction"
with open(event_file) as f:
    result = handler(json.load(f), Context())
with open(out, "w") as f:
    json.dump(result, f)
"""
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")


@pytest.mark.slow
def test_the_built_function_loads_a_dataset_from_s3(build_dir: Path, catalogue_a: Path, demo_files: Path,
                                                     tmp_path: Path):
    """From `sam build` output only, in a fresh interpreter, against moto's S3 served on loopback."""
    import os
    import shutil
    import subprocess
    import sys

    import botocore
    from moto.server import ThreadedMotoServer
    runtime = tmp_path / "runtime"
    site = Path(botocore.__file__).parents[1]
    for name in RUNTIME_PACKAGES:
        (shutil.copytree if (site / name).is_dir() else shutil.copy)(site / name, runtime / name)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{server._server.server_port}"
        env = {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_ENDPOINT_URL_S3": endpoint, "PS_DB": DATABASE, "ES_INDEX": INDEX, "PATH": os.environ["PATH"],
               # the suite's servers, wherever the settings put them (a second checkout runs its own elsewhere)
               "PS_HOST": settings().ps_host, "PS_PORT": str(settings().ps_port), "ES_URL": settings().es_url}
        client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2", aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        bucket = event("ready")["Records"][0]["s3"]["bucket"]["name"]
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        upload(client, bucket, demo_files / "b" / "datlinger_2017")
        out = tmp_path / "result.json"
        layers = ":".join(str(build_dir / layer / "python") for layer in ("CommonLayer", "IngestionLayer"))
        command = [sys.executable, "-I", "-S", "-c", INVOKE, str(out), str(build_dir / "IngestFunction"), layers,
                   str(runtime), str(EVENTS / "ready.json")]
        run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-4000:]
    finally:
        server.stop()
    [done] = json.loads(out.read_text())["results"]
    assert done["outcome"] == "loaded" and rows("datlinger_2017") == done["rows"] > 0


def test_a_load_into_a_lost_generation_is_reported_next_to_its_files(s3, demo_files: Path):
    client, bucket = s3
    [(generation,)] = fetch(DATABASE, "SELECT documents_index FROM catalogue_state")
    search_engine().indices.delete(index=generation)
    before = rows("datlinger_2017")
    upload(client, bucket, demo_files / "b" / "datlinger_2017")
    result = load_function("ingest").handler(event("ready"), LambdaContext("IngestFunction", 900, 3008))
    assert result["results"] == [{"dataset_id": "datlinger_2017", "outcome": "refused"}]
    assert rows("datlinger_2017") == before
    report = client.get_object(Bucket=bucket, Key="incoming/datlinger_2017/_REFUSED.txt")["Body"].read().decode()
    assert f"Elasticsearch index {generation}, which Elasticsearch does not have" in report and "whole" in report
