"""The suite runs on the real local PostgreSQL and Elasticsearch (SPEC 6), on a test catalogue of its own."""
from __future__ import annotations

import os
from collections.abc import Iterator

# Before any layer module reads its settings: the API under test reads the test catalogue.
TEST_DB, TEST_INDEX = "catalogue_test", "test-dataset-summary-v1"
TEST_ROWS, TEST_SEED, TEST_DATASETS = 40_000, 5, 160
os.environ.update(PS_DB=TEST_DB, ES_INDEX=TEST_INDEX, POWERTOOLS_METRICS_NAMESPACE="PerturbationCatalogueTest",
                  POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")

import pytest  # noqa: E402
import services  # noqa: E402
from catalogue import clients  # noqa: E402

from tests.support import load_catalogue, run  # noqa: E402


@pytest.fixture(scope="session")
def stores_up() -> None:
    services.up()


@pytest.fixture(scope="session")
def catalogue(stores_up: None) -> dict:
    """The test catalogue, loaded once per session through the project's own loader."""
    load_catalogue(["--rows", str(TEST_ROWS), "--seed", str(TEST_SEED), "--datasets", str(TEST_DATASETS),
                    "--database", TEST_DB, "--es-index", TEST_INDEX])
    return {"database": TEST_DB, "index": TEST_INDEX, "rows": TEST_ROWS, "datasets": TEST_DATASETS}


@pytest.fixture(scope="session", autouse=True)
def close_clients() -> Iterator[None]:
    yield
    if clients._stores is not None:
        run(clients._stores.close())
