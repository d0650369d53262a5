"""How a successful answer leaves (SPEC 5.1): a body, a strong ETag over it, Cache-Control, 304 for a matching
If-None-Match, and a `Link: <...>; rel="next"` header when there is a next page."""
from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import orjson
from catalogue_common.settings import settings
from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"


def to_json(payload: Any) -> bytes:
    # orjson: a 360-row answer in 0.1 ms instead of 1.6 ms; it writes any non-finite float as null (valid JSON).
    return orjson.dumps(payload)


def etag(body: bytes) -> str:
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored; `*` matches."""
    if not if_none_match:
        return False
    candidates = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


def next_link(request: Request, cursor: str) -> str:
    """The request's own URL (stage prefix included) with `cursor` set to the next page's."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", cursor)]
    return f'<{request.url.replace(query=urlencode(pairs))}>; rel="next"'


def answer(request: Request, body: bytes, media_type: str = JSON, next_cursor: str | None = None,
           cache: bool = True) -> Response:
    tag = etag(body)
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={settings().cache_max_age}" if cache else "no-store"}
    if next_cursor:
        headers["Link"] = next_link(request, next_cursor)
    if cache and matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
