"""What two loads of the same files answer alike: an answer without its load times, and a digest of it.

Used where answers of one catalogue are compared across loads or over time: the reload fault of `make load`
(devtools/stress/reload.py, whose Locust users log a digest per answer) and the reload tests
(tests/ingestion/test_readers.py, test_reloads.py). Kept light (no store clients): Locust imports it.
"""
from __future__ import annotations

import hashlib
import json


def comparable(body: bytes) -> object:
    """A JSON answer without its load times (`ingested_at`, wherever it is): each load of the same files has its
    own. ValueError if `body` is not JSON."""
    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "ingested_at"}
        return [strip(v) for v in value] if isinstance(value, list) else value
    return strip(json.loads(body))


def digest(status: int, body: bytes) -> str:
    """One answer as `<status>:<16 hex digits>`: its status and comparable body (the bytes where it is not JSON)."""
    try:
        canonical = json.dumps(comparable(body), sort_keys=True).encode()
    except ValueError:
        canonical = body
    return f"{status}:{hashlib.sha256(canonical).hexdigest()[:16]}"
