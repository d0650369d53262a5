"""Calls the API through the functions' Lambda handlers, routed as API Gateway routes them (template.yaml), and
checks every answer against the OpenAPI document the API serves (docs/contract.md, "OpenAPI document"): status, content
type and body."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jsonschema import Draft202012Validator

from devtools.local.lambda_events import http_api_event, routes_from_template
from devtools.local.lambda_runtime import LambdaContext, load_function
from tests.support import payload

ROOT = Path(__file__).resolve().parents[1]
ROUTES = routes_from_template(ROOT / "template.yaml")
_functions: dict[str, Any] = {}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


def function(code_uri: str) -> Any:
    name = Path(code_uri).name
    if name not in _functions:
        _functions[name] = load_function(name)
    return _functions[name]


def document() -> dict[str, Any]:
    answer = get("/v1/openapi.json", check=False)
    assert answer.status == 200
    return answer.json


def conforms(path_template: str, answer: Answer, spec: dict[str, Any], method: str = "GET") -> None:
    """The answer is one the document declares for this route: its status, media type and body schema."""
    responses = spec["paths"][path_template][method.lower()]["responses"]
    assert str(answer.status) in responses, f"{path_template}: status {answer.status} is not documented"
    if answer.status in (304, 307) or method == "HEAD":  # no body: a 307's file is at its Location
        assert answer.text == ""
        return
    media = answer.headers["content-type"].split(";")[0]
    content = responses[str(answer.status)]["content"]
    assert media in content, f"{path_template} {answer.status}: {media} is not documented"
    schema = content[media]["schema"]
    if media == "application/json":
        Draft202012Validator({**schema, "components": spec["components"]}).validate(answer.json)


_spec: dict[str, Any] = {}


def get(path: str, query: str | list[tuple[str, str]] = "", headers: dict[str, str] | None = None,
        check: bool = True, method: str = "GET") -> Answer:
    """The answer of the function API Gateway routes `method path` to (HEAD: the GET route's function)."""
    raw = query if isinstance(query, str) else urlencode(query)
    for route in ROUTES:
        if (parameters := route.match("GET", path)) is not None:
            break
    else:
        raise AssertionError(f"no route serves {path}")
    event = http_api_event(method, path, raw, headers, route.route_key, path_parameters=parameters or None)
    response = function(route.code_uri).handler(event, LambdaContext(route.function))
    answer = Answer(response["statusCode"], {k.lower(): v for k, v in response.get("headers", {}).items()},
                    payload(response).decode())
    if check:
        if not _spec:
            _spec.update(document())
        conforms(route.path, answer, _spec, method)
    return answer


def head(path: str, query: str | list[tuple[str, str]] = "", headers: dict[str, str] | None = None) -> Answer:
    return get(path, query, headers, method="HEAD")


def error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    """The docs/contract.md "Errors" error body of a non-2xx answer, with nothing internal in it."""
    assert answer.status == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json["error"]
    assert body["code"] == code and body["message"].endswith(".")
    assert not any(w in answer.text for w in ("Traceback", "SELECT", 'File "', "password", "asyncpg", "detail\""))
    return body
