"""API Gateway HTTP API (payload format 2.0) events, and the routes template.yaml declares.

python -m devtools.local.lambda_events GET /v1/search 'perturbation_gene_name=SPI1' > event.json
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

import yaml

ACCOUNT_ID = "123456789012"
API_ID = "r7k2m9x4q1"
REGION = "eu-west-2"
API_DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
DEFAULT_CLIENT_HEADERS = {"accept": "application/json", "host": API_DOMAIN, "user-agent": "curl/8.5.0"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Query = str | Sequence[tuple[str, str]]
Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def http_api_event(
    method: str,
    path: str,
    query: Query = "",
    headers: Headers | None = None,
    route_key: str | None = None,
    stage: str = "$default",
    *,
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = "203.0.113.10",
    request_id: str | None = None,
    now: datetime | None = None,
    body: bytes | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for a request (`query`: raw query string, or pairs to URL-encode).

    `headers` are the client's (default: a curl-like client); the gateway's own headers are added.
    `route_key` defaults to "METHOD path", right for routes without path parameters.
    """
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    method = method.upper()
    raw_query = query.removeprefix("?") if isinstance(query, str) else urlencode(list(query), quote_via=quote)
    # A named stage stays in the path the function receives; only $default is served at the root.
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    now = now or datetime.now(UTC)
    request_id = request_id or base64.b64encode(secrets.token_bytes(11)).decode()

    client = DEFAULT_CLIENT_HEADERS if headers is None else headers
    merged: dict[str, str] = {}
    for name, value in client.items() if isinstance(client, Mapping) else client:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    cookie = merged.pop("cookie", None)
    merged.setdefault("x-amzn-trace-id", f"Root=1-{int(now.timestamp()):08x}-{secrets.token_hex(12)}")
    forwarded_for = merged.get("x-forwarded-for")
    merged["x-forwarded-for"] = f"{forwarded_for}, {source_ip}" if forwarded_for else source_ip
    # setdefault, not overwrite: lets a local server say it speaks plain http on its own port.
    merged.setdefault("x-forwarded-port", "443")
    merged.setdefault("x-forwarded-proto", "https")
    domain = merged.get("host", API_DOMAIN).split(":")[0]

    params: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    route_key = route_key or f"{method} {path}"

    event: dict[str, Any] = {"version": "2.0", "routeKey": route_key}
    event |= {"rawPath": raw_path, "rawQueryString": raw_query}
    if cookie:
        event["cookies"] = [c.strip() for c in cookie.replace(",", ";").split(";") if c.strip()]
    event["headers"] = merged
    if params:
        event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": stage,
        "time": f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000",
        "timeEpoch": int(now.timestamp() * 1000),
    }
    encoded = False
    if body:
        try:
            event["body"] = body.decode()
        except UnicodeDecodeError:
            event["body"], encoded = base64.b64encode(body).decode(), True
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = encoded
    return event


DEFAULT_ROUTE = "$default"  # API Gateway's catch-all: serves what no other route serves


@dataclass(frozen=True)
class Route:
    """One HttpApi event of one function in template.yaml, with what running that function needs."""

    method: str  # upper case, or ANY
    path: str  # may hold {name} and {name+} path parameters; or $default, the catch-all
    function: str  # logical id
    code_uri: str  # as written, relative to the template's folder
    handler: str
    layers: tuple[str, ...] = ()  # ContentUri of each layer of the template the function uses
    timeout: int = 3
    memory_size: int = 128
    environment: dict[str, str] = field(default_factory=dict, hash=False)  # literal values only

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.is_default else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        return self.path == DEFAULT_ROUTE

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        regex = re.sub(
            r"\\\{(\w+)(\\\+)?\\\}",
            lambda m: f"(?P<{m[1]}>.+)" if m[2] else f"(?P<{m[1]}>[^/]+)",
            re.escape(self.path),
        )
        return re.compile(regex)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if this route serves the request, else None. The $default route serves any request
        (callers try it last)."""
        if self.is_default:
            return {}
        if self.method not in ("ANY", method.upper()):
            return None
        found = self._pattern.fullmatch(path)
        return None if found is None else {k: unquote(v) for k, v in found.groupdict().items()}


class _CfnLoader(yaml.SafeLoader):
    pass


def _short_form(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_template(path: str | Path = "template.yaml", *, expand_loops: bool = True) -> dict[str, Any]:
    """template.yaml with short-form tags read as their long form (!Ref x -> {"Ref": "x"}), and its Fn::ForEach
    loops expanded as the AWS::LanguageExtensions transform expands them (expand_loops=False: as written)."""
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=_CfnLoader)  # a SafeLoader subclass
    return expand_for_each(template) if expand_loops else template


_FOR_EACH = re.compile(r"Fn::ForEach::\w+")


def expand_for_each(node: Any) -> Any:
    """`node` with every `Fn::ForEach::Name: [Identifier, [items...], {OutputKey: OutputValue, ...}]` replaced by
    its output pairs, one set per item, merged into the mapping that held the loop (a duplicate key is an error).

    In each copy, as CloudFormation documents it: `${Identifier}` and `&{Identifier}` (the item without its
    non-alphanumeric characters) are replaced in keys and in Fn::Sub strings, and `{"Ref": Identifier}` is the
    item itself; a Fn::Sub left with no variable is its string, so `{"Ref": {"Fn::Sub": "${Name}Function"}}`
    becomes `{"Ref": "SearchFunction"}`. Other strings are left alone (CloudFormation does not promise to replace
    an identifier there). Only a literal list of strings is supported as the collection."""
    if isinstance(node, list):
        return [expand_for_each(item) for item in node]
    if not isinstance(node, dict):
        return node
    expanded: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if key in expanded:
            raise ValueError(f"Fn::ForEach: {key} is defined twice")
        expanded[key] = value

    for key, value in node.items():
        if not _FOR_EACH.fullmatch(str(key)):
            add(key, expand_for_each(value))
            continue
        identifier, collection, fragment = value
        if not (isinstance(collection, list) and all(isinstance(item, str) for item in collection)):
            raise ValueError(f"{key}: only a literal list of strings is supported as the collection")
        for item in collection:
            for output_key, output_value in expand_for_each(_substitute(fragment, identifier, item)).items():
                add(output_key, output_value)
    return expanded


def _substitute(node: Any, identifier: str, item: str) -> Any:
    alphanumeric = re.sub(r"[^0-9A-Za-z]", "", item)

    def text(value: str) -> str:
        return value.replace(f"${{{identifier}}}", item).replace(f"&{{{identifier}}}", alphanumeric)

    if isinstance(node, list):
        return [_substitute(element, identifier, item) for element in node]
    if not isinstance(node, dict):
        return node
    if node == {"Ref": identifier}:
        return item
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "Fn::Sub" and isinstance(value, str):
            value = text(value)
        elif key == "Fn::Sub" and isinstance(value, list) and value and isinstance(value[0], str):
            value = [text(value[0]), *_substitute(value[1:], identifier, item)]
        else:
            value = _substitute(value, identifier, item)
        result[text(key)] = value
    sub = result.get("Fn::Sub")
    if len(result) == 1 and isinstance(sub, str) and "${" not in sub:
        return sub  # nothing left to substitute
    return result


def routes_from_template(path: str | Path = "template.yaml", *, with_default: bool = False) -> list[Route]:
    """Every HttpApi route, most specific first (static paths before {param} before {greedy+}); with_default: and the
    $default route, if any, last (`Path: $default`, or neither Path nor Method, as SAM reads an HttpApi event)."""
    template = load_template(path)
    resources: dict[str, Any] = template.get("Resources", {})
    defaults: dict[str, Any] = template.get("Globals", {}).get("Function", {})
    routes = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource.get("Properties", {})}
        layers = tuple(
            resources[ref["Ref"]]["Properties"]["ContentUri"]
            for ref in [*defaults.get("Layers", []), *resource.get("Properties", {}).get("Layers", [])]
            if isinstance(ref, dict) and ref.get("Ref") in resources
        )
        variables = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        for event in props.get("Events", {}).values():
            spec = event.get("Properties", {})
            if event.get("Type") != "HttpApi":
                continue
            if spec.get("Path") == DEFAULT_ROUTE or ("Path" not in spec and "Method" not in spec):
                if not with_default:
                    continue
                spec = {**spec, "Path": DEFAULT_ROUTE, "Method": spec.get("Method", "ANY")}
            if "Path" not in spec or "Method" not in spec:
                continue
            routes.append(
                Route(
                    method=str(spec["Method"]).upper(),
                    path=spec["Path"],
                    function=logical_id,
                    code_uri=props["CodeUri"],
                    handler=props["Handler"],
                    layers=layers,
                    timeout=_int(props.get("Timeout"), 3),
                    memory_size=_int(props.get("MemorySize"), 128),
                    environment={k: str(v) for k, v in variables.items() if isinstance(v, str | int | float)},
                )
            )
    return sorted(routes, key=lambda r: (r.is_default, "+}" in r.path, r.path.count("{"), r.method == "ANY"))


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) else default


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: {sys.argv[0]} METHOD PATH [RAW_QUERY_STRING]")
    print(json.dumps(http_api_event(*sys.argv[1:]), indent=2))
