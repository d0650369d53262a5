"""Elasticsearch as the API reaches it: through elastic-transport, the HTTP layer the official Python client is built
on, not through the client itself.

The API makes three kinds of request (a search, a multi-get without sources, the cluster's health), each one POST or
GET with a JSON body; the client's generated API for every endpoint of Elasticsearch cost about 0.1 s of the cold
start of every function that reads Elasticsearch, and 12 MB of the layer (docs/decisions.md, "Elasticsearch's
transport, not its client"). The transport still gives what a well-kept library should: the node's connection pool,
TLS, one retry of a lost connection or a 429/502/503/504, timeouts. The ingestion, which creates indexes and writes
documents in bulk, keeps the client.

Imported on first use (clients.Stores.es): a function that never reads Elasticsearch never loads it.
"""
from __future__ import annotations

from typing import Any

import orjson
from catalogue_common.settings import Settings
from elastic_transport import AsyncTransport, JsonSerializer, NodeConfig
from elastic_transport.client_utils import basic_auth_to_header, url_to_node_config

# Plain JSON both ways (the client's own media type, compatible-with=8, is not needed by an 8.x node).
JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}


class OrjsonSerializer(JsonSerializer):
    """JSON through orjson: the json module's parse took 10 ms of a whole search answer at 1,200 datasets."""

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)

    def json_dumps(self, data: Any) -> bytes:
        return orjson.dumps(data)


def node_config(config: Settings) -> NodeConfig:
    """ES_URL's node with the settings' credentials and TLS rules, read from Settings.elasticsearch_options (their
    one home, which the ingestion's client reads too): for an https ES_URL, certificates verified against ES_CA_CERTS,
    else certifi's bundle (elastic-transport's default), never unverified. A URL without a port means the scheme's."""
    options = config.elasticsearch_options()
    [url] = options["hosts"]
    node = url_to_node_config(url, use_default_ports_for_scheme=True)
    headers = dict(node.headers)
    if "basic_auth" in options:
        headers["authorization"] = basic_auth_to_header(options["basic_auth"])
    return node.replace(headers=headers, verify_certs=options.get("verify_certs", True),
                        ca_certs=options.get("ca_certs"), request_timeout=config.store_timeout)


def connect(config: Settings) -> AsyncTransport:
    """The transport to ES_URL's node: one retry (a lost connection, or a node that answers 429/502/503/504), none
    after a timeout (the request's deadline is shared: clients.py)."""
    return AsyncTransport([node_config(config)], serializers={"application/json": OrjsonSerializer()},
                          max_retries=1, retry_on_timeout=False, meta_header=False)
