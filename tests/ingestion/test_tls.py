"""The ingestion connects as the API does, from the same settings (issue 17, part 1): under PS_SSLMODE=verify-full it
loads through a server whose certificate PS_SSLROOTCERT vouches for, and refuses, before writing anything, the local
server (no TLS) and a server whose certificate another CA signed. Its Elasticsearch client verifies an https node
against ES_CA_CERTS."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
from catalogue_common.settings import settings
from elastic_transport import TlsError
from ingestion import run
from ingestion.__main__ import main

from tests.support import LOOP, drop_index, fetch, search_engine
from tests.support import run as run_async
from tests.tls import tls_in_front_of_elasticsearch

from .conftest import ingest

pytestmark = pytest.mark.slow

TLS_DATABASE, REFUSED, INDEX = "catalogue_tls", "catalogue_tls_refused", "test-tls-dataset-summary-v1"
DATASET = "tls_check_2026"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """One small dataset as input files (docs/contract.md, "Input files")."""
    dataset = tmp_path / DATASET
    dataset.mkdir()
    (dataset / "metadata.json").write_text(json.dumps({"dataset_id": DATASET, "tissue_labels": ["blood"]}))
    (dataset / "results.csv").write_text("perturbed_target_symbol,gene,log2foldchange,padj,basemean\n"
                                         "TP53,MYC,-1.5,0.001,10\nTP53,GAPDH,0.2,0.5,100\n")
    return dataset


async def _admin(port: int, sql: str, database: str = "postgres") -> None:
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=database)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def tls_server(tls_postgres: int) -> int:
    """The TLS server with an empty database and the role `tls_only` (refused without TLS by its pg_hba)."""
    run_async(_admin(tls_postgres, f"DROP DATABASE IF EXISTS {TLS_DATABASE}"))
    run_async(_admin(tls_postgres, "DROP ROLE IF EXISTS tls_only; CREATE ROLE tls_only LOGIN SUPERUSER"))
    run_async(_admin(tls_postgres, f"CREATE DATABASE {TLS_DATABASE} OWNER tls_only"))
    drop_index(INDEX)
    return tls_postgres


def _use(monkeypatch, **variables: str) -> None:
    """The environment a deployed ingestion function would have, read afresh by the settings."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ES_INDEX", INDEX)
    settings.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_settings():
    yield
    settings.cache_clear()
    asyncio.set_event_loop(LOOP)  # the command's asyncio.run unsets it; the API under test binds to it


def test_the_role_is_refused_without_tls(tls_server: int):
    """What makes the next test's success mean something: this server refuses `tls_only` on a plain connection."""
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        run_async(asyncpg.connect(host="127.0.0.1", port=tls_server, user="tls_only", database=TLS_DATABASE,
                                  ssl=False))


def test_verify_full_loads_through_a_server_the_ca_vouches_for(tls_server: int, tls: dict, folder: Path, monkeypatch):
    _use(monkeypatch, PS_HOST="localhost", PS_PORT=str(tls_server), PS_USER="tls_only", PS_DB=TLS_DATABASE,
         PS_SSLMODE="verify-full", PS_SSLROOTCERT=tls["ca"])
    summary = ingest(run.load(settings("ingest"), [folder], quiet=True))
    assert summary.outcomes == {DATASET: "loaded"}
    rows = run_async(_rows(tls_server))
    assert rows == [("TP53", "GAPDH"), ("TP53", "MYC")]


async def _rows(port: int) -> list[tuple[str, str]]:
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=TLS_DATABASE)
    try:
        records = await connection.fetch("SELECT perturbed_target_symbol, gene FROM perturb_seq ORDER BY 1, 2")
        return [tuple(r) for r in records]
    finally:
        await connection.close()


def test_verify_full_refuses_the_local_server_without_tls(tls: dict, folder: Path, monkeypatch, capsys,
                                                         stores_up: None):
    """The issue's own try: PS_SSLMODE=verify-full against the local server, which has no TLS, loaded the dataset."""
    run_async(_admin(settings().ps_port, f"DROP DATABASE IF EXISTS {REFUSED}"))
    run_async(_admin(settings().ps_port, f"CREATE DATABASE {REFUSED}"))
    drop_index(INDEX)
    _use(monkeypatch, PS_DB=REFUSED, PS_SSLMODE="verify-full", PS_SSLROOTCERT=tls["ca"])
    assert main(["--quiet", "load", str(folder)]) == 2
    assert "rejected SSL upgrade" in capsys.readouterr().err
    assert fetch(REFUSED, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0
    assert not search_engine().indices.exists(index=INDEX)


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca"])
def test_a_certificate_from_another_ca_is_refused_and_nothing_is_written(tls_server: int, tls: dict, folder: Path,
                                                                        monkeypatch, capsys, mode: str):
    _use(monkeypatch, PS_HOST="localhost", PS_PORT=str(tls_server), PS_USER="tls_only", PS_DB=TLS_DATABASE,
         PS_SSLMODE=mode, PS_SSLROOTCERT=tls["wrong_ca"])
    assert main(["--quiet", "load", str(folder)]) == 2
    assert "certificate verify failed" in capsys.readouterr().err
    tables = run_async(_tables(tls_server))
    assert tables == 0, "nothing was created or written"


async def _tables(port: int) -> int:
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres", database=TLS_DATABASE)
    try:
        return await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()


@pytest.mark.parametrize("ca", ["ca", "wrong_ca", None])
def test_https_elasticsearch_is_verified_against_es_ca_certs(tls: dict, ca: str | None, monkeypatch, stores_up: None):
    """ES_CA_CERTS names the CA bundle; without it the default bundle (certifi), which knows no test CA, is used."""
    with tls_in_front_of_elasticsearch(tls) as port:
        _use(monkeypatch, ES_URL=f"https://localhost:{port}", **({"ES_CA_CERTS": tls[ca]} if ca else {}))
        es = run.search_engine(settings("ingest"))
        try:
            if ca == "ca":
                assert es.info()["version"]["number"]
            else:
                with pytest.raises(TlsError):
                    es.options(max_retries=0).info()
        finally:
            es.close()
