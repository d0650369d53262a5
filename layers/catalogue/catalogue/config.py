"""Configuration from the environment (SPEC 4.2); unset variables mean the local development services."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

SECRET_TTL_SECONDS = 300
# A request's store calls must end this long before the function's own timeout, so that the 504 gets out.
DEADLINE_MARGIN_SECONDS = 0.5


def resolve(value: str | None) -> str | None:
    """`secretsmanager:<name>` or `ssm:<name>` names a secret, read through Powertools Parameters (cached)."""
    if not value or not value.startswith(("secretsmanager:", "ssm:")):
        return value
    # Imported here: it loads boto3 (~0.2 s of a cold start), which only a function reading secrets needs.
    from aws_lambda_powertools.utilities import parameters
    if value.startswith("secretsmanager:"):
        return parameters.get_secret(value.removeprefix("secretsmanager:"), max_age=SECRET_TTL_SECONDS)
    return parameters.get_parameter(value.removeprefix("ssm:"), decrypt=True, max_age=SECRET_TTL_SECONDS)


class ConfigurationError(ValueError):
    """A variable is malformed: raised when a function starts, naming the variable (not on its first request)."""


def _env(name: str, default: str | None = None) -> str | None:
    return resolve(os.environ.get(name) or default)


Number = TypeVar("Number", int, float)


def _number(name: str, default: str, kind: type[Number], low: Number, high: Number) -> Number:
    raw = _env(name, default) or default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a {kind.__name__} from {low} to {high}, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be a {kind.__name__} from {low} to {high}, not {raw!r}")
    return value


SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default) or default
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _file(name: str) -> str | None:
    """A path to a file the function reads (a CA bundle): it must exist in the deployment package or layer."""
    value = _env(name)
    if value and not os.path.isfile(value):
        raise ConfigurationError(f"{name} must name a readable file, not {value!r}")
    return value


def _url(name: str, default: str) -> str:
    value = _env(name, default) or default
    if not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    es_url: str
    es_username: str | None
    es_password: str | None
    es_index: str
    es_ca_certs: str | None  # CA bundle for an https ES_URL (None: certifi's); certificates are always verified
    ps_host: str
    ps_port: int
    ps_user: str
    ps_password: str | None  # as resolved when the function started (a missing secret fails the start)
    ps_password_source: str | None  # PS_PASSWORD as set: a secret reference is resolved again per new connection
    ps_db: str
    ps_sslmode: str  # libpq's sslmode: disable locally, verify-full in AWS
    ps_sslrootcert: str | None  # CA file for verify-ca / verify-full (None: the system's trusted CAs)
    ps_statement_cache_size: int  # 0 behind RDS Proxy in transaction mode
    store_timeout: float  # seconds; below the function's timeout
    cache_max_age: int  # seconds, the Cache-Control max-age of successful answers (SPEC 5.1)
    cursor_secret: str  # signs paging cursors; the same for every function of a stage
    version: str  # reported by GET /v1/health

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            es_url=_url("ES_URL", "http://127.0.0.1:59200"),
            es_username=_env("ES_USERNAME"),
            es_password=_env("ES_PASSWORD"),
            es_index=_env("ES_INDEX", "dataset-summary-v1"),
            es_ca_certs=_file("ES_CA_CERTS"),
            ps_host=_env("PS_HOST", "127.0.0.1"),
            ps_port=_number("PS_PORT", "55432", int, 1, 65535),
            ps_user=_env("PS_USER", "catalogue_api"),
            ps_password=_env("PS_PASSWORD", "catalogue_api"),
            ps_password_source=os.environ.get("PS_PASSWORD") or "catalogue_api",
            ps_db=_env("PS_DB", "catalogue"),
            ps_sslmode=_choice("PS_SSLMODE", "disable", SSL_MODES),
            ps_sslrootcert=_file("PS_SSLROOTCERT"),
            ps_statement_cache_size=_number("PS_STATEMENT_CACHE_SIZE", "100", int, 0, 100_000),
            store_timeout=_number("STORE_TIMEOUT_SECONDS", "5", float, 0.001, 900.0),
            cache_max_age=_number("CACHE_MAX_AGE_SECONDS", "300", int, 0, 31_536_000),
            cursor_secret=_env("CURSOR_SECRET", "perturbation-catalogue-local"),
            version=_env("CATALOGUE_VERSION", "0.2.0-local"),
        )


    def postgres_password(self) -> str | None:
        """PS_PASSWORD for a new connection. A secret reference is resolved again, through Powertools Parameters'
        cache (SECRET_TTL_SECONDS): a rotated password reaches new connections without a redeploy."""
        if self.ps_password_source == self.ps_password:
            return self.ps_password
        return resolve(self.ps_password_source)


@cache
def settings() -> Settings:
    return Settings.from_env()
