"""Elasticsearch's transport as the API makes it (catalogue/transport.py): the node, its credentials and TLS rules
come from Settings.elasticsearch_options, as the ingestion's client's do; statuses are read as the errors they are."""
from __future__ import annotations

import base64

import pytest
from catalogue import clients, transport
from catalogue.errors import DataIntegrity, StoreUnavailable
from catalogue_common.settings import Settings

from tests.support import LOOP, run


def test_an_https_node_is_verified_against_es_ca_certs_with_the_given_credentials(tls: dict):
    config = Settings.from_env().replace(es_url="https://es.internal:9243", es_ca_certs=tls["ca"],
                                         es_username="reader", es_password="pa:ss")
    node = transport.node_config(config)
    assert (node.scheme, node.host, node.port) == ("https", "es.internal", 9243)
    assert node.verify_certs is True and node.ca_certs == tls["ca"]
    assert node.headers["authorization"] == "Basic " + base64.b64encode(b"reader:pa:ss").decode()
    assert node.request_timeout == config.store_timeout


@pytest.mark.parametrize(("url", "port"), [("https://es.internal", 443), ("http://es.internal", 80),
                                           ("http://127.0.0.1:59200", 59200)])
def test_a_url_without_a_port_means_the_schemes(url: str, port: int):
    node = transport.node_config(Settings.from_env().replace(es_url=url, es_ca_certs=None, es_username=None))
    assert node.port == port and "authorization" not in node.headers
    assert node.verify_certs is True and node.ca_certs is None  # certifi's bundle: elastic-transport's default


def test_the_answers_are_parsed_by_orjson():
    serializer = transport.OrjsonSerializer()
    assert serializer.loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert serializer.loads(b"") is None  # an empty answer, as the transport's own serializer reads it
    assert serializer.dumps({"ids": ["x"]}) == b'{"ids":["x"]}'


def _stores() -> clients.Stores:
    return clients.Stores(Settings.from_env(), LOOP)


def test_a_missing_index_is_data_integrity_not_a_500(catalogue: dict):
    stores = _stores()
    try:
        with pytest.raises(DataIntegrity):
            run(stores.search("dataset-summary-no-such-generation", query={"match_all": {}}, size=0))
    finally:
        run(stores.close())


def test_a_request_elasticsearch_refuses_is_an_error_not_an_answer(catalogue: dict):
    stores = _stores()
    try:
        with pytest.raises(RuntimeError, match="Elasticsearch answered 400"):
            run(stores.search(catalogue["index"], query={"no_such_query": {}}))
    finally:
        run(stores.close())


def test_the_health_ping_reads_a_status(catalogue: dict):
    stores = _stores()
    try:
        run(stores.ping_elasticsearch(1.0))
    finally:
        run(stores.close())
    unreachable = clients.Stores(Settings.from_env().replace(es_url="http://127.0.0.1:9"), LOOP)
    try:
        with pytest.raises(StoreUnavailable):
            run(unreachable.ping_elasticsearch(1.0))
    finally:
        run(unreachable.close())
