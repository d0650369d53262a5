"""Loading the gene reference (docs/contract.md, "Genes"; ingestion/genes.py) on the real stores: refusals with line
and reason, an atomic replacement that re-places every stored symbol (checked against an independent placement),
warnings about symbols the reference cannot place, the S3 marker, and readers who never see a mix of two
references."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ingestion import run

from tests.catalogue.gene_reference import Book, read
from tests.support import fetch

from .conftest import DATABASE, INDEX, ingest, target

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "gene_reference.tsv"
HEADER = "symbol\tensembl_gene_id\talias_symbol\tprev_symbol\n"


def placement() -> dict[str, str | None]:
    return {r[0]: r[1] for r in fetch(DATABASE, "SELECT gene_name, ensembl_gene_id FROM perturb_seq_genes")}


def last_record() -> dict:
    return dict(fetch(DATABASE, "SELECT * FROM catalogue_loads ORDER BY id DESC LIMIT 1")[0])


def test_a_reference_load_places_every_stored_symbol_as_the_rules_say(catalogue_a: Path):
    assert set(placement().values()) == {None}, "no reference yet: nothing is placed"
    assert ingest(run.load_genes(target(), REFERENCE, source="test", date="2026-11-30", quiet=True)) is None
    got = placement()
    book = Book(read(REFERENCE), set(got))
    assert got == {s: book.ensembl(s) for s in got}
    assert got["SEPT2"] == got["SEPTIN2"] == "ENSG00000168385" and got["Tp53"] == "ENSG00000141510"
    record = last_record()
    assert (record["dataset_id"], record["outcome"], record["rows"]) == ("(gene reference)", "loaded", 16)
    assert fetch(DATABASE, "SELECT source, date, genes FROM gene_reference_source")[0] == ("test", "2026-11-30", 16)


@pytest.mark.parametrize(("rows", "reason"), [
    ("TP53\tENSG00000141510\t\t\nTP53\tENSG00000000001\t\t\n", "line 3, column symbol: approved symbol 'TP53' given "
                                                               "twice (also on line 2)"),
    ("TP53\tENSG00000141510\t\t\nMYC\tENSG00000141510\t\t\n", "line 3, column ensembl_gene_id: ENSG00000141510 given "
                                                             "to two genes (also on line 2)"),
    ("TP53\tnot-an-id\t\t\n", "line 2, column ensembl_gene_id: not an Ensembl gene ID: 'not-an-id'"),
    ("\tENSG00000141510\t\t\n", "line 2, column symbol: empty approved symbol"),
])
def test_a_bad_reference_is_refused_with_line_and_reason_and_changes_nothing(catalogue_a: Path, tmp_path: Path,
                                                                               rows: str, reason: str):
    ingest(run.load_genes(target(), REFERENCE, quiet=True))
    before = placement()
    bad = tmp_path / "bad.tsv"
    bad.write_text(HEADER + rows)
    refusal = ingest(run.load_genes(target(), bad, quiet=True))
    assert refusal is not None and any(reason in str(p) for p in refusal.problems.found), refusal
    assert placement() == before
    assert last_record()["outcome"] == "refused" and reason in last_record()["detail"]


def test_a_reference_without_its_symbol_column_is_refused(catalogue_a: Path, tmp_path: Path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tensembl_gene_id\nTP53\tENSG00000141510\n")
    refusal = ingest(run.load_genes(target(), bad, quiet=True))
    assert refusal is not None and "column symbol: missing column" in str(refusal)


def test_a_dataset_loaded_with_a_reference_records_the_symbols_it_cannot_place(catalogue_a: Path, demo_files: Path):
    ingest(run.load_genes(target(), REFERENCE, quiet=True))
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    summary = ingest(run.load(target(), [catalogue_a / "datlinger_2017"], quiet=True))
    unplaced = sorted({r[0] for r in fetch(DATABASE, "SELECT g.gene_name FROM perturb_seq_gene_datasets d JOIN "
                                                     "perturb_seq_genes g USING (gene_name) WHERE d.dataset_id = "
                                                     "'datlinger_2017' AND g.gene_id IS NULL")}, key=str.encode)
    assert unplaced and summary.outcomes == {"datlinger_2017": "loaded"}
    warned = summary.warnings["datlinger_2017"].report()
    assert f"{len(unplaced)} gene symbols the gene reference cannot place" in warned and unplaced[0] in warned
    assert last_record()["warnings"] == warned
    assert any("cannot place" in line for line in summary.lines())


def _answers(function, term: str) -> tuple[str, str]:
    from devtools.local.lambda_events import http_api_event
    from devtools.local.lambda_runtime import LambdaContext
    from tests.support import payload
    gene = function["gene"].handler(http_api_event("GET", f"/v1/genes/{term}", "", route_key="GET /v1/genes/{gene}",
                                                   path_parameters={"gene": term}), LambdaContext())
    search = function["search"].handler(http_api_event("GET", "/v1/search", f"phenotype_gene_name={term}"),
                                        LambdaContext())
    return payload(gene).decode(), payload(search).decode()


def test_readers_see_the_old_reference_or_the_new_never_a_mix(catalogue_a: Path, tmp_path: Path, with_stores):
    """A reload re-places symbols and rewrites stored answers in one transaction: every answer given during it is
    the one given before it or the one given after it."""
    from devtools.local.lambda_runtime import load_function
    ingest(run.load_genes(target(), REFERENCE, quiet=True))
    with_stores(ps_db=DATABASE, es_index=INDEX)
    functions = {name: load_function(name) for name in ("gene", "search")}
    before = _answers(functions, "SEPT2")
    other = tmp_path / "other.tsv"  # SEPT2 is no longer SEPTIN2's previous symbol: it becomes a gene of its own
    other.write_text(REFERENCE.read_text().replace('"SEPT2"', ""))
    command = [sys.executable, "-m", "ingestion", "--database", DATABASE, "--es-index", INDEX, "--quiet", "genes",
               str(other)]
    loader = subprocess.Popen(command, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    seen = []
    while loader.poll() is None:
        seen.append(_answers(functions, "SEPT2"))
    assert loader.returncode == 0, loader.stderr.read().decode()
    after = _answers(functions, "SEPT2")
    assert before != after and json.loads(after[0])["gene"]["approved_symbol"] is None
    for i in range(2):  # each answer on its own (the two requests of a pair may straddle the reload's commit)
        odd = [answer[i] for answer in seen if answer[i] not in (before[i], after[i])]
        assert not odd, (odd[:1], before[i], after[i])
    assert {answer[0] for answer in seen} >= {before[0]}, "readers read while it ran"


def test_a_reference_marker_in_s3_loads_the_file_beside_it(catalogue_a: Path, monkeypatch):
    import boto3
    from catalogue_common.settings import settings
    from moto import mock_aws

    from devtools.local.lambda_runtime import LambdaContext, load_function
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "PS_DB": DATABASE, "ES_INDEX": INDEX}.items():
        monkeypatch.setenv(name, value)
    settings.cache_clear()
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="ingest", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        s3.upload_file(str(REFERENCE), "ingest", "reference/hgnc_complete_set.txt")
        s3.put_object(Bucket="ingest", Key="reference/_READY", Body=b"")
        event = {"Records": [{"s3": {"bucket": {"name": "ingest"}, "object": {"key": "reference/_READY"}}}]}
        result = load_function("ingest").handler(event, LambdaContext("IngestFunction", 900, 3008))
    assert result["results"] == [{"key": "reference/hgnc_complete_set.txt", "outcome": "loaded"}]
    assert placement()["SEPTIN2"] == "ENSG00000168385"
