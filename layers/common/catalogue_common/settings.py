"""The one reader of the environment (variables of docs/contract.md, "Configuration") for the API's functions, the
ingestion, the development tools and the tests.

Why one: the API and the ingestion each had a reader; they drifted apart and the ingestion connected without TLS.
Here every variable is read, defaulted and validated when a process starts (a malformed value fails the start with
an error naming the variable), secrets are resolved through Powertools Parameters (`secretsmanager:<name>` or
`ssm:<name>`), and the connection options of both stores, TLS included, are derived for every client alike.

Unset variables mean the local development servers, which the development tools start on these very ports, so a
fresh checkout runs with no configuration and a second checkout can run its own servers elsewhere (PS_PORT=...,
ES_URL=...).
"""
from __future__ import annotations

import os
import re
import ssl
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal, overload
from urllib.parse import urlsplit

Client = Literal["api", "ingest"]  # who connects: the API's read-only role, or the ingestion's writer
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]  # libpq's sslmode
SSL_MODES: tuple[SslMode, ...] = typing.get_args(SslMode)

SECRET_TTL_SECONDS = 300  # a rotated secret reaches new connections within this time, without a redeploy
LOCAL_HOST = "127.0.0.1"
LOCAL_POSTGRES_PORT = 55432
LOCAL_ELASTICSEARCH_PORT = 59200
LOCAL_S3_PORT = 59500  # moto's S3 server (devtools/local/s3_server.py): the downloads store locally
LOCAL_DOWNLOADS_BUCKET = "catalogue-downloads"
# AWS Lambda's limit on a whole response (6 MB), less room for the response's envelope: status, headers (a Link
# with its cursor is the longest) and the JSON around the body.
LAMBDA_RESPONSE_BYTES = 6_291_456
ENVELOPE_BYTES = 16_384
SUPERUSER = "postgres"  # the local server's superuser (trust on loopback); development tools and tests use it
# Locally the API reads as its read-only role; the ingestion writes as the superuser, which may create the schema.
# Deployed, both are set (the template gives the ingestion function the writer role `catalogue_ingest`).
DEFAULT_USER: dict[Client, str] = {"api": "catalogue_api", "ingest": SUPERUSER}


class ConfigurationError(ValueError):
    """A variable is malformed: raised when a process starts, naming the variable (not on its first request)."""


@overload
def resolve(value: str) -> str: ...
@overload
def resolve(value: None) -> None: ...
def resolve(value: str | None) -> str | None:
    """`secretsmanager:<name>` or `ssm:<name>` names a secret, read through Powertools Parameters (cached for
    SECRET_TTL_SECONDS); anything else is the value itself."""
    kind, _, name = (value or "").partition(":")
    if value is None or kind not in ("secretsmanager", "ssm") or not name:
        return value
    # Imported here: it loads boto3 (~0.2 s of a cold start), which only a process reading secrets needs.
    from aws_lambda_powertools.utilities import parameters
    if kind == "secretsmanager":
        return str(parameters.get_secret(name, max_age=SECRET_TTL_SECONDS))
    return str(parameters.get_parameter(name, decrypt=True, max_age=SECRET_TTL_SECONDS))


def _optional(name: str) -> str | None:
    """The variable's value (a secret reference resolved), or None when it is unset or empty."""
    return resolve(os.environ.get(name) or None)


def _text(name: str, default: str) -> str:
    return _optional(name) or default


def _number[Number: (int, float)](name: str, default: Number, low: Number, high: Number) -> Number:
    raw = _optional(name)
    kind = type(default)
    problem = f"{name} must be a{'n' if kind is int else ''} {kind.__name__} from {low} to {high}, not {raw!r}"
    try:
        value = default if raw is None else kind(raw)
    except ValueError:
        raise ConfigurationError(problem) from None
    if not low <= value <= high:  # NaN fails this too
        raise ConfigurationError(problem)
    return value


def _ssl_mode(name: str, default: SslMode) -> SslMode:
    value = _text(name, default)
    for mode in SSL_MODES:
        if value == mode:
            return mode
    raise ConfigurationError(f"{name} must be one of {', '.join(SSL_MODES)}, not {value!r}")


def _file(name: str) -> str | None:
    """A path to a file the process reads (a CA bundle): it must exist in the deployment package or a layer."""
    value = _optional(name)
    if value and not os.path.isfile(value):
        raise ConfigurationError(f"{name} must name a readable file, not {value!r}")
    return value


def _url(name: str, default: str) -> str:
    value = _text(name, default)
    if not value.startswith(("http://", "https://")) or not urlsplit(value).hostname:
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value


def _s3_endpoint() -> str | None:
    """S3_ENDPOINT_URL: unset means the local S3 server; `aws` means S3's own endpoint (deployed; the template sets
    it); anything else is an endpoint URL."""
    if os.environ.get("S3_ENDPOINT_URL", "") == "aws":
        return None
    return _url("S3_ENDPOINT_URL", f"http://{LOCAL_HOST}:{LOCAL_S3_PORT}")


PostgresSsl = ssl.SSLContext | Literal["allow", "prefer", "require"] | bool


@dataclass(frozen=True)
class Settings:
    """Every setting of a process, validated. Read once per process with `settings(client)`."""

    es_url: str  # ES_URL
    es_username: str | None  # ES_USERNAME
    es_password: str | None  # ES_PASSWORD (may name a secret)
    es_index: str  # ES_INDEX: the index (or alias) of the dataset documents
    es_ca_certs: str | None  # ES_CA_CERTS: CA bundle for an https ES_URL (None: certifi's); always verified
    ps_host: str  # PS_HOST
    ps_port: int  # PS_PORT
    ps_user: str  # PS_USER
    ps_password: str | None  # PS_PASSWORD as resolved when the process started (a missing secret fails the start)
    ps_password_source: str | None  # PS_PASSWORD as set: a secret reference is resolved again per new connection
    ps_db: str  # PS_DB
    ps_sslmode: SslMode  # PS_SSLMODE: disable locally, verify-full deployed
    ps_sslrootcert: str | None  # PS_SSLROOTCERT: CA file for verify-ca / verify-full (None: the system's CAs)
    ps_statement_cache_size: int  # PS_STATEMENT_CACHE_SIZE: 0 behind RDS Proxy or PgBouncer in transaction mode
    store_timeout: float  # STORE_TIMEOUT_SECONDS: one API store call, below the function's timeout
    cache_max_age: int  # CACHE_MAX_AGE_SECONDS: the Cache-Control max-age of successful answers
    cursor_secret: str  # CURSOR_SECRET: signs paging cursors; the same for every function of a stage
    version: str  # CATALOGUE_VERSION, reported by GET /v1/health
    metrics_namespace: str  # POWERTOOLS_METRICS_NAMESPACE
    max_answer_bytes: int  # MAX_ANSWER_BYTES: the largest answer sent, as it travels (base64 or a JSON string)
    downloads_bucket_set: str | None  # DOWNLOADS_BUCKET as set; None: the local default, one per database
    s3_endpoint: str | None  # S3_ENDPOINT_URL: None for S3's own (`aws`, deployed); locally moto's server

    @classmethod
    def from_env(cls, client: Client = "api") -> Settings:
        return cls(
            es_url=_url("ES_URL", f"http://{LOCAL_HOST}:{LOCAL_ELASTICSEARCH_PORT}"),
            es_username=_optional("ES_USERNAME"),
            es_password=_optional("ES_PASSWORD"),
            es_index=_text("ES_INDEX", "dataset-summary-v1"),
            es_ca_certs=_file("ES_CA_CERTS"),
            ps_host=_text("PS_HOST", LOCAL_HOST),
            ps_port=_number("PS_PORT", LOCAL_POSTGRES_PORT, 1, 65535),
            ps_user=_text("PS_USER", DEFAULT_USER[client]),
            ps_password=_optional("PS_PASSWORD"),
            ps_password_source=os.environ.get("PS_PASSWORD") or None,
            ps_db=_text("PS_DB", "catalogue"),
            ps_sslmode=_ssl_mode("PS_SSLMODE", "disable"),
            ps_sslrootcert=_file("PS_SSLROOTCERT"),
            ps_statement_cache_size=_number("PS_STATEMENT_CACHE_SIZE", 100, 0, 100_000),
            store_timeout=_number("STORE_TIMEOUT_SECONDS", 5.0, 0.001, 900.0),
            cache_max_age=_number("CACHE_MAX_AGE_SECONDS", 300, 0, 31_536_000),
            cursor_secret=_text("CURSOR_SECRET", "perturbation-catalogue-local"),
            version=_text("CATALOGUE_VERSION", "0.3.0-local"),
            metrics_namespace=_text("POWERTOOLS_METRICS_NAMESPACE", "PerturbationCatalogue"),
            max_answer_bytes=_number("MAX_ANSWER_BYTES", LAMBDA_RESPONSE_BYTES - ENVELOPE_BYTES, 1024,
                                     LAMBDA_RESPONSE_BYTES),
            downloads_bucket_set=_optional("DOWNLOADS_BUCKET"),
            s3_endpoint=_s3_endpoint(),
        )

    @property
    def downloads_bucket(self) -> str:
        """The S3 bucket of the whole-dataset files: DOWNLOADS_BUCKET (the template sets it per stage), else, locally,
        one bucket per database, `catalogue-downloads-<PS_DB>`. A whole load deletes every file of its bucket that
        it does not name (ingestion.downloads.Store.prune), so the local catalogues (the demo's, the tests', the
        benchmark's) sharing one bucket deleted each other's files: `make test` after `make demo` broke the demo's
        downloads, and made `make bench` load its catalogues again."""
        if self.downloads_bucket_set is not None:
            return self.downloads_bucket_set
        return f"{LOCAL_DOWNLOADS_BUCKET}-{re.sub(r'[^a-z0-9]+', '-', self.ps_db.lower())}"[:63].rstrip("-")

    def replace(self, **changes: Any) -> Settings:
        """These settings with some changed (a test's other server, say)."""
        return replace(self, **changes)

    def at(self, database: str | None = None, index: str | None = None) -> Settings:
        """These settings pointed at another database and/or Elasticsearch index (None: unchanged)."""
        return replace(self, ps_db=database or self.ps_db, es_index=index or self.es_index)

    def postgres_password(self) -> str | None:
        """PS_PASSWORD for a new connection. A secret reference is resolved again, through Powertools Parameters'
        cache: a rotated password reaches new connections without a redeploy."""
        if self.ps_password_source == self.ps_password:
            return self.ps_password
        return resolve(self.ps_password_source)

    def postgres_ssl(self) -> PostgresSsl:
        """asyncpg's `ssl` for PS_SSLMODE, read as libpq reads sslmode. verify-ca and verify-full check the server's
        certificate against PS_SSLROOTCERT only, or the system's trusted CAs when it is unset (RDS Proxy presents a
        publicly trusted certificate); verify-full checks its host name too. The other modes do not verify."""
        mode = self.ps_sslmode
        if mode == "disable":
            return False
        if mode == "allow" or mode == "prefer" or mode == "require":
            return mode
        context = ssl.create_default_context(cafile=self.ps_sslrootcert)
        context.check_hostname = mode == "verify-full"
        return context

    def postgres_options(self, password: Callable[[], Any] | None = None) -> dict[str, Any]:
        """Keyword arguments of asyncpg.connect / create_pool, the same for every client: where, who, TLS, the
        statement cache. `password`: a callable asyncpg calls for every new connection (default: re-resolved)."""
        return {"host": self.ps_host, "port": self.ps_port, "user": self.ps_user, "database": self.ps_db,
                "password": password or self.postgres_password, "ssl": self.postgres_ssl(),
                "statement_cache_size": self.ps_statement_cache_size}

    def elasticsearch_options(self) -> dict[str, Any]:
        """The Elasticsearch node, as keyword arguments of the ingestion's client, which the API's transport reads
        too (catalogue/transport.py, node_config): the node, the credentials and,
        for an https ES_URL, certificate verification against ES_CA_CERTS (else certifi's bundle), never off."""
        options: dict[str, Any] = {"hosts": [self.es_url]}
        if self.es_username:
            options["basic_auth"] = (self.es_username, self.es_password or "")
        if self.es_url.startswith("https://"):
            options["verify_certs"] = True
            if self.es_ca_certs:
                options["ca_certs"] = self.es_ca_certs
        return options

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments of boto3's S3 client: the endpoint; locally moto's server takes any credentials, so
        fixed ones are given where the environment has none."""
        if self.s3_endpoint is None:
            return {}
        local = {} if os.environ.get("AWS_ACCESS_KEY_ID") else {"aws_access_key_id": "local",
                                                                  "aws_secret_access_key": "local"}
        return {"endpoint_url": self.s3_endpoint, "region_name": os.environ.get("AWS_REGION", "us-east-1"), **local}

    @property
    def s3_port(self) -> int:
        """The port of the local S3 endpoint (where the development tools start moto's server)."""
        return urlsplit(self.s3_endpoint or "").port or LOCAL_S3_PORT

    def superuser_dsn(self, database: str | None = None) -> str:
        """The local server's superuser DSN (development tools and tests only: trust on loopback)."""
        return f"postgresql://{SUPERUSER}@{self.ps_host}:{self.ps_port}/{database or self.ps_db}"

    @property
    def es_port(self) -> int:
        """The port of ES_URL (where the development tools start the local node)."""
        parts = urlsplit(self.es_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


@cache
def settings(client: Client = "api") -> Settings:
    """This process's settings for `client`, read and validated once."""
    return Settings.from_env(client)
