"""How a successful answer leaves (docs/contract.md, "Conventions" and "HTTP"): a body, a strong ETag per
representation, Cache-Control, 304 for a matching If-None-Match, `Link: <...>; rel="next"` when a next page exists,
gzip when the client accepts it, `Content-Disposition` for files, and a refusal before the platform's size limit.

Why not Starlette's GZipMiddleware: it compresses after the ETag is made, so the gzip representation would carry the
identity one's validator (and a 304 would be decided on the wrong one). Here the representation is chosen first,
and its own ETag, Vary and size check follow from it.

Why zlib-ng (python-zlib-ng) and not the standard library's zlib: on the unfiltered search answer of 200 datasets
(1.36 MB), zlib-ng's level 5 writes 0.166 of the identity bytes at 130 MB/s, where zlib writes 0.206 at level 1
(146 MB/s) and 0.168 at level 6 (56 MB/s). At 1,200 datasets that is the difference between a gzip answer over
and under 1.5 MB, at under half of zlib level 6's time. The output is standard gzip (RFC 1952).
"""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any
from urllib.parse import urlencode

import orjson
import xxhash
from catalogue_common.downloads import attachment
from catalogue_common.settings import settings
from starlette.requests import Request
from starlette.responses import Response
from zlib_ng import zlib_ng

from .errors import AnswerTooLarge

JSON = "application/json"
TSV = "text/tab-separated-values"
GZIP_MIN_BYTES = 1024  # smaller answers gain little and cost a header; they are never encoded
GZIP_LEVEL = 5  # zlib-ng's: within 3 % of level 6's size at 1.5x its speed (see above)
NOT_CONTROL = bytes(range(32, 256))  # bytes.translate deletes these: what is left are control characters
GZIP_CODING = re.compile(r"^\s*(gzip|x-gzip|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$", re.IGNORECASE)


def to_json(payload: Any) -> bytes:
    # orjson: a 360-row answer in 0.1 ms instead of 1.6 ms; it writes any non-finite float as null (valid JSON).
    return orjson.dumps(payload)


def etag(body: bytes, encoding: str | None = None) -> str:
    """A strong validator of the identity body (RFC 9110 8.8.3: equal tags, byte-identical bodies); the gzip
    representation's is distinct (suffixed), as RFC 9110 asks of two representations of one resource. XXH3's 128
    bits (the `xxhash` package): a validator needs bodies that differ to differ in it, which 128 bits of a
    well-mixed hash give, not resistance to a forger who chooses both bodies, which the API's answers (made from the
    catalogue) have no use for. Measured on a 2.8 MB answer: 0.03 ms, where SHA-256 took 1.39 ms (4.5 ms for the
    whole-catalogue answer of 9 MB)."""
    digest = xxhash.xxh3_128_hexdigest(body)
    return f'"{digest}-{encoding}"' if encoding else f'"{digest}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored; `*` matches."""
    if not if_none_match:
        return False
    candidates = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether Accept-Encoding allows gzip: `gzip` (or `x-gzip`, or `*` when gzip is not named) with q > 0."""
    allowed: dict[str, bool] = {}
    for coding in (accept_encoding or "").split(","):
        if found := GZIP_CODING.match(coding):
            name, q = found.group(1).lower(), found.group(2)
            try:
                allowed[name] = q is None or float(q) > 0
            except ValueError:
                allowed[name] = False
    named = [allowed[n] for n in ("gzip", "x-gzip") if n in allowed]
    return any(named) if named else allowed.get("*", False)


def gzip(body: bytes) -> bytes:
    """The gzip encoding of `body`, deterministic (no time or name in its header)."""
    compressor = zlib_ng.compressobj(GZIP_LEVEL, zlib_ng.DEFLATED, 31)  # wbits 31: a gzip header and trailer
    return compressor.compress(body) + compressor.flush()


class Encoded:
    """The gzip encodings of the largest answers this environment sent last, by their identity body's validator.

    An answer of megabytes (the whole catalogue's search answer: 8.8 MB at 1,200 datasets) takes about 60 ms to
    compress, and the same answer is asked again and again (a front page's unfiltered search) until the catalogue
    changes. The body is still computed, and its digest taken, on every request: only the compression of a body
    already compressed here is skipped, so the cache can never send a stale answer. Bounded in bytes held."""

    MIN_BYTES = 256 * 1024  # smaller answers compress in under 2 ms
    MAX_HELD = 32 * 1024 * 1024  # compressed bytes kept, over every entry

    def __init__(self) -> None:
        self.held: OrderedDict[str, bytes] = OrderedDict()

    def __call__(self, body: bytes, tag: str) -> bytes:
        if len(body) < self.MIN_BYTES:
            return gzip(body)
        if (found := self.held.get(tag)) is not None:
            self.held.move_to_end(tag)
            return found
        encoded = self.held[tag] = gzip(body)
        while sum(map(len, self.held.values())) > self.MAX_HELD and len(self.held) > 1:
            self.held.popitem(last=False)
        return encoded


encoded_answers = Encoded()


def oversize(payload: bytes, encoded: bool, limit: int) -> int | None:
    """The answer's size inside the Lambda response when it is over `limit`, else None. A gzip body travels
    base64-encoded; a text body as a JSON string (the runtime's json.dumps), where a quote or backslash gains a
    backslash, a control character becomes an escape of up to six characters, and so does a non-ASCII one."""
    if encoded:
        size = 4 * ((len(payload) + 2) // 3)
    elif 6 * len(payload) + 2 <= limit:  # fits even if every byte were escaped: no need to count
        return None
    elif not payload.isascii():
        size = len(json.dumps(payload.decode()))
    else:
        controls = len(payload.translate(None, NOT_CONTROL))
        size = len(payload) + 2 + payload.count(b'"') + payload.count(b"\\") + 5 * controls
    return size if size > limit else None


def next_link(request: Request, cursor: str) -> str:
    """The request's own URL (stage prefix included) with `cursor` set to the next page's."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"] + [("cursor", cursor)]
    return f'<{request.url.replace(query=urlencode(pairs))}>; rel="next"'


def answer(request: Request, body: bytes, media_type: str = JSON, next_cursor: str | None = None,
           cache: bool = True, filename: str | None = None, narrower: str | None = None) -> Response:
    """The answer for `body`: gzip-encoded when it is over GZIP_MIN_BYTES and the request accepts gzip, with the
    representation's own ETag (a matching If-None-Match gets 304). AnswerTooLarge when it would not fit the
    platform's response (MAX_ANSWER_BYTES); `narrower` tells the client how to ask for less."""
    encodable = len(body) > GZIP_MIN_BYTES
    encoded = encodable and accepts_gzip(request.headers.get("accept-encoding"))
    tag = etag(body, "gzip" if encoded else None)
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={settings().cache_max_age}" if cache else "no-store"}
    if encodable:
        headers["Vary"] = "Accept-Encoding"
    if next_cursor:
        headers["Link"] = next_link(request, next_cursor)
    if filename:
        headers["Content-Disposition"] = attachment(filename)
    if cache and matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    payload = encoded_answers(body, tag) if encoded else body
    if size := oversize(payload, encoded, settings().max_answer_bytes):
        raise too_large(size, encoded or not encodable, narrower)
    if encoded:
        headers["Content-Encoding"] = "gzip"
    return Response(payload, media_type=media_type, headers=headers)


def too_large(size: int, gzip_tried: bool, narrower: str | None) -> AnswerTooLarge:
    ways = [narrower or "narrow the request with its filters"]
    if not gzip_tried:
        ways.append("send `Accept-Encoding: gzip` (the answer is then several times smaller)")
    limit = settings().max_answer_bytes
    return AnswerTooLarge(f"This answer would take {size:,} bytes, over the limit of {limit:,}: "
                          f"{' or '.join(ways)}.", {"bytes": size, "limit": limit})
