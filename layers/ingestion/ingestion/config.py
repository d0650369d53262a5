"""Where ingestion writes: PostgreSQL as the writer role, and Elasticsearch (SPEC 4.2's variables).

Locally, unset variables mean the development servers with their superuser (a first load creates the schema);
deployed, PS_USER is the writer role `catalogue_ingest` and PS_PASSWORD names a secret only the ingestion
function may read (`secretsmanager:<name>` or `ssm:<name>`, resolved like the API's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass


def resolve(value: str | None) -> str | None:
    """`secretsmanager:<name>` or `ssm:<name>` names a secret (read through Powertools Parameters, cached five
    minutes); anything else is the value itself. The ingestion layer stands alone: the API's layer is not loaded."""
    kind, _, name = (value or "").partition(":")
    if kind not in ("secretsmanager", "ssm") or not name:
        return value
    from aws_lambda_powertools.utilities import parameters
    if kind == "secretsmanager":
        return parameters.get_secret(name, max_age=300)
    return parameters.get_parameter(name, decrypt=True, max_age=300)


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
