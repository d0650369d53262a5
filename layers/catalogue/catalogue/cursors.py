"""Opaque keyset cursors (docs/contract.md, "Lists and caching"): a page's last sort key, bound to its endpoint and
filters, and signed.

A cursor is `base64url(JSON [scope, key]).base64url(HMAC)`: `scope` names the endpoint and the exact filters it
was made for, so a cursor used with other filters, altered, or not produced by the API fails `read` with a 400
instead of answering a wrong page. The key is public data (a padj and two names, or a score and an id), so the
HMAC is for integrity, not secrecy; `CURSOR_SECRET` only needs to be the same for every function of a stage.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any, cast

import orjson
from catalogue_common.settings import settings

from .errors import InvalidParameter

MAX_LENGTH = 1000
PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"  # what `make` writes: two base64url parts
NOT_OURS = "is not a cursor this API produced, or was altered"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes) -> bytes:
    return hmac.new(settings().cursor_secret.encode(), payload, hashlib.sha256).digest()[:16]


def make(scope: Any, key: list[Any]) -> str:
    """`scope`: JSON-serialisable endpoint and filters; `key`: JSON-serialisable sort key of the last item."""
    payload = orjson.dumps([scope, key])
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def read(cursor: str, scope: Any) -> list[Any]:
    """The key `make` put into `cursor`, if it was made by the API for this same `scope`; else a 400."""
    try:
        encoded, _, signature = cursor.partition(".")
        payload = _unb64(encoded)
        if hmac.compare_digest(_unb64(signature), _mac(payload)):
            made_for, key = orjson.loads(payload)
            if made_for == orjson.loads(orjson.dumps(scope)):
                return cast(list[Any], key)  # the list make() signed
            raise _refused("was made for other filters or another endpoint")
    except (ValueError, binascii.Error, TypeError, orjson.JSONDecodeError):
        pass
    raise _refused(NOT_OURS)


def problem(why: str) -> str:
    """A refused cursor's problem, as the 400 names it: why, and what to do."""
    return f"{why}; start again without a cursor"


def _refused(why: str) -> InvalidParameter:
    return InvalidParameter("Invalid parameters: cursor.", [{"parameter": "cursor", "problem": problem(why)}])
