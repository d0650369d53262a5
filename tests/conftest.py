"""The suite runs on the real local PostgreSQL and Elasticsearch (docs/contract.md, "Local servers"), on a test
catalogue of its own."""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

# Before any layer module reads its settings: the API under test reads the test catalogue.
TEST_DB, TEST_INDEX = "catalogue_test", "test-dataset-summary-v1"
TEST_ROWS, TEST_SEED, TEST_DATASETS = 40_000, 5, 160
TEST_GENES = str(Path(__file__).parent / "data" / "gene_reference.tsv")  # a small reference (tests/data/README.md)
os.environ.update(PS_DB=TEST_DB, ES_INDEX=TEST_INDEX, POWERTOOLS_METRICS_NAMESPACE="PerturbationCatalogueTest",
                  POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

import pytest  # noqa: E402
from catalogue import clients  # noqa: E402
from catalogue_common.settings import settings  # noqa: E402
from elasticsearch import helpers  # noqa: E402

from devtools.data import load_data  # noqa: E402
from devtools.local import pgbouncer, services  # noqa: E402
from tests.support import LOOP, fetch, load_catalogue, run, search_engine  # noqa: E402
from tests.tls import make_tls, postgres_with_tls  # noqa: E402

# Fixtures that start or read a server, or build with SAM, directly or through others: no `unit` test uses them.
SERVER_FIXTURES = {"stores_up", "catalogue", "tls_postgres", "build_dir"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tiers (pyproject.toml): a test is `unit` only where its module or itself says so; every other test is marked
    `integration` here, so that a new test lands in the tier with the servers unless its author says otherwise (a
    test wrongly left out of `unit` costs time; one wrongly put in fails without servers). A `unit` test that asks for
    a fixture needing a server is refused at collection, before anything runs; one that reaches a store without
    such a fixture (through the API's handlers) fails when no server runs: run `make down` before `make test-fast`
    to see that every unit test passes without servers."""
    for item in items:
        if item.get_closest_marker("unit") is None:
            item.add_marker(pytest.mark.integration)
        elif needs := SERVER_FIXTURES & set(item.fixturenames):
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses {', '.join(sorted(needs))}")


@pytest.fixture(scope="session")
def stores_up() -> None:
    services.up()


@pytest.fixture(scope="session")
def catalogue(stores_up: None) -> dict:
    """The test catalogue, loaded through the project's own loader unless it already holds this very load."""
    if not load_data.in_place(TEST_DB, TEST_INDEX, TEST_ROWS, TEST_DATASETS, TEST_SEED, TEST_GENES):
        load_catalogue(["--rows", str(TEST_ROWS), "--seed", str(TEST_SEED), "--datasets", str(TEST_DATASETS),
                       "--database", TEST_DB, "--es-index", TEST_INDEX, "--genes", TEST_GENES])
    return {"database": TEST_DB, "index": TEST_INDEX, "rows": TEST_ROWS, "datasets": TEST_DATASETS,
            "genes": TEST_GENES}


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """A test that changed the environment leaves no settings read from it behind (they are read once per
    process, as a Lambda environment reads them once)."""
    yield
    settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def close_clients() -> Iterator[None]:
    yield
    if clients._stores is not None:
        run(clients._stores.close())


@pytest.fixture
def with_stores(monkeypatch):
    """Point the functions at other real stores (or none) for one test, as another environment would be."""
    made = []

    def use(**overrides) -> None:
        config = settings().__class__(**{**settings().__dict__, **overrides})
        made.append(clients.Stores(config, LOOP))
        monkeypatch.setattr(clients, "_stores", made[-1])
    yield use
    for stores in made:
        run(stores.close())


@pytest.fixture(scope="session")
def pooler_up(stores_up: None) -> None:
    try:
        pgbouncer.start()
    except pgbouncer.PgBouncerError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def pooler(pooler_up: None) -> Iterator[int]:
    """The port of the local PgBouncer in transaction mode in front of the local PostgreSQL (devtools/local/
    pgbouncer.py): how both stages reach their database (RDS Proxy). Afterwards its server connections are closed:
    they carry the application_name of the clients they served, and other tests count the API's connections."""
    yield pgbouncer.PORT
    ports = [int(server["local_port"]) for server in pgbouncer.console("SHOW SERVERS")]
    pgbouncer.console("RECONNECT")
    deadline = time.monotonic() + 10
    while pgbouncer.console("SHOW SERVERS") or fetch("postgres", "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE "
                                                                 "client_port = ANY($1))", ports)[0][0]:
        assert time.monotonic() < deadline, "PgBouncer did not close its server connections"
        time.sleep(0.02)


@pytest.fixture
def through_pooler(pooler: int, with_stores):
    """Point the functions at PostgreSQL through the pooler, with the deployed stages' PS_STATEMENT_CACHE_SIZE=0."""
    def use(**overrides) -> clients.Stores:
        with_stores(**{"ps_port": pooler, "ps_statement_cache_size": 0, **overrides})
        assert clients._stores is not None
        return clients._stores
    return use


@pytest.fixture
def with_index(catalogue: dict, with_stores):
    """The test catalogue's documents plus `extra` ones, in an index of their own that the functions then read."""
    es, index = search_engine(), "test-extra-dataset-summary-v1"

    def use(extra: list[dict]) -> None:
        es.options(ignore_status=404).indices.delete(index=index)
        # No _reindex: the local node runs without the reindex module.
        documents = [h["_source"] for h in es.search(index=catalogue["index"], size=10_000)["hits"]["hits"]]
        helpers.bulk(es, ({"_index": index, "_id": d["dataset_id"], "_source": d} for d in [*documents, *extra]),
                     refresh=True)
        with_stores(es_index=index)
    yield use
    es.options(ignore_status=404).indices.delete(index=index)


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A CA with a server certificate for localhost/127.0.0.1, and another CA that signed nothing (tests/tls.py)."""
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_postgres(tls: dict) -> Iterator[int]:
    """The port of a temporary PostgreSQL with TLS (tests/tls.py), for the whole session."""
    try:
        with postgres_with_tls(tls) as port:
            yield port
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory):
    """`sam build` of template.yaml, once per session (tests run functions from its artifacts)."""
    from tests.test_template import TEMPLATE, sam
    build = tmp_path_factory.mktemp("sam") / "build"
    result = sam("build", "--template", str(TEMPLATE), "--build-dir", str(build), timeout=900)
    if result.returncode != 0:
        pytest.fail(f"sam build failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}", pytrace=False)
    return build
