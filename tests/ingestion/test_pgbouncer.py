"""The ingestion as deployed: the writer role `catalogue_ingest` through a transaction pooler (RDS Proxy there,
PgBouncer 1.18 in transaction mode here) with PS_STATEMENT_CACHE_SIZE=0. A per-dataset load, an unchanged reload and
a delete leave the catalogue as a bulk build of the same input would, and the API reads the result through the
pooler. (The bulk load, a tool run by an operator against the database itself, uses session state: not pooled.)"""
from __future__ import annotations

import shutil
from pathlib import Path

from catalogue_common.settings import Settings
from ingestion import run

from tests import api
from tests.catalogue.reference import approx_equal
from tests.catalogue.test_pgbouncer import pooled_transactions
from tests.catalogue.test_search_contract import call, expected, random_cases
from tests.ingestion.test_store import assert_as_bulk_built, loaded_reference
from tests.support import fetch

from .conftest import DATABASE, INDEX, ingest, target


def pooled_writer(port: int) -> Settings:
    return target().replace(ps_port=port, ps_statement_cache_size=0, ps_user="catalogue_ingest")


def test_a_per_dataset_load_through_the_pooler_then_the_api_reads_through_it(catalogue_a: Path, demo_files: Path,
                                                                             pooler: int, through_pooler):
    writer = pooled_writer(pooler)
    shutil.rmtree(catalogue_a / "datlinger_2017")
    shutil.copytree(demo_files / "b" / "datlinger_2017", catalogue_a / "datlinger_2017")
    before = pooled_transactions(DATABASE)
    assert ingest(run.load(writer, [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "loaded"}
    assert pooled_transactions(DATABASE) > before, "the load went through PgBouncer"
    [[outcome]] = fetch(DATABASE, "SELECT outcome FROM catalogue_loads WHERE dataset_id = 'datlinger_2017' "
                                  "ORDER BY id DESC LIMIT 1")
    assert outcome == "loaded"
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))
    assert ingest(run.load(writer, [catalogue_a / "datlinger_2017"], quiet=True)).outcomes == {
        "datlinger_2017": "unchanged"}
    outcome, rows = ingest(run.delete(writer, "adamson_2016_pilot"))
    assert outcome == "deleted" and rows > 0
    shutil.rmtree(catalogue_a / "adamson_2016_pilot")
    assert_as_bulk_built(sorted(catalogue_a.iterdir()))

    through_pooler(ps_db=DATABASE, es_index=INDEX)
    reference = loaded_reference()
    for params in random_cases(reference, 30, seed=7):
        assert approx_equal(call(**params), expected(reference, INDEX, params)), params
    [[rows]] = fetch(DATABASE, "SELECT count(*) FROM perturb_seq WHERE dataset_id = 'datlinger_2017'")
    answer = api.get("/v1/datasets/datlinger_2017/rows", [("limit", "5")])
    assert answer.status == 200 and answer.json["total"] == rows
    api.error(api.get("/v1/datasets/adamson_2016_pilot/rows"), 404, "not_found")
