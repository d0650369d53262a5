"""Where ingestion writes: PostgreSQL as the writer role, and Elasticsearch (SPEC 4.2's variables).

Locally, unset variables mean the development servers with their superuser (a first load creates the schema);
deployed, PS_USER is the writer role `catalogue_ingest` and PS_PASSWORD names a secret only the ingestion
function may read (`secretsmanager:<name>` or `ssm:<name>`, resolved like the API's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from catalogue.config import resolve


@dataclass(frozen=True)
class Target:
    dsn_parts: dict[str, object]
    es_url: str
    es_auth: tuple[str, str] | None
    es_index: str

    @classmethod
    def from_env(cls, database: str | None = None, es_index: str | None = None) -> Target:
        env = os.environ.get
        user = env("ES_USERNAME")
        return cls(
            dsn_parts={"host": env("PS_HOST") or "127.0.0.1", "port": int(env("PS_PORT") or 55432),
                       "user": env("PS_USER") or "postgres", "password": resolve(env("PS_PASSWORD")),
                       "database": database or env("PS_DB") or "catalogue"},
            es_url=env("ES_URL") or "http://127.0.0.1:59200",
            es_auth=(user, resolve(env("ES_PASSWORD")) or "") if user else None,
            es_index=es_index or env("ES_INDEX") or "dataset-summary-v1")
