"""The one settings module: local defaults, plain values, secrets named through Powertools Parameters, validation at
start, and the store options (TLS included) that the API and the ingestion both take from it."""
from __future__ import annotations

import re
import ssl
from pathlib import Path

import boto3
import pytest
from catalogue_common.settings import ConfigurationError, Settings, settings
from moto import mock_aws

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    from aws_lambda_powertools.utilities import parameters
    parameters.clear_caches()
    with mock_aws():
        yield
    parameters.clear_caches()


LOCAL = ("ES_URL", "PS_HOST", "PS_PORT", "PS_USER", "PS_PASSWORD", "PS_DB", "ES_INDEX", "PS_SSLMODE")


@pytest.mark.parametrize(("client", "user"), [("api", "catalogue_api"), ("ingest", "postgres")])
def test_unset_variables_mean_the_local_services(monkeypatch, client: str, user: str):
    for name in LOCAL:
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env(client)
    assert (s.es_url, s.ps_host, s.ps_port, s.ps_db, s.es_index, s.ps_user, s.ps_sslmode, s.ps_password) == (
        "http://127.0.0.1:59200", "127.0.0.1", 55432, "catalogue", "dataset-summary-v1", user, "disable", None)


def test_locally_each_database_has_its_own_downloads_bucket(monkeypatch):
    """A whole load deletes every file of its bucket it does not name: local catalogues must not share one."""
    monkeypatch.delenv("DOWNLOADS_BUCKET", raising=False)
    monkeypatch.setenv("PS_DB", "catalogue_bench_1000")
    s = Settings.from_env("ingest")
    assert (s.downloads_bucket, s.downloads_bucket_set) == ("catalogue-downloads-catalogue-bench-1000", None)
    assert s.at("catalogue_test").downloads_bucket == "catalogue-downloads-catalogue-test"
    assert len(s.at("x" * 100).downloads_bucket) == 63  # S3's longest bucket name
    monkeypatch.setenv("DOWNLOADS_BUCKET", "perturbation-catalogue-dev-downloads-1")
    s = Settings.from_env("api")
    assert s.at("other").downloads_bucket == s.downloads_bucket_set == "perturbation-catalogue-dev-downloads-1"


def test_every_client_reads_the_same_variables(monkeypatch):
    """The ingestion and the API differ only in their local default role; every variable set reaches both."""
    values = {"ES_URL": "https://es.internal:9243", "PS_HOST": "db.internal", "PS_PORT": "6432", "PS_USER": "someone",
              "PS_DB": "cat", "PS_SSLMODE": "verify-full", "PS_STATEMENT_CACHE_SIZE": "0", "ES_USERNAME": "u"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    api, ingest = Settings.from_env("api"), Settings.from_env("ingest")
    assert api == ingest
    assert (api.ps_port, api.ps_sslmode, api.ps_statement_cache_size) == (6432, "verify-full", 0)


def test_secrets_manager_and_ssm_values_are_resolved(aws, monkeypatch):
    boto3.client("secretsmanager").create_secret(Name="catalogue/prod/postgres", SecretString="s3cret-pg")
    boto3.client("ssm").put_parameter(Name="/catalogue/prod/es-password", Value="s3cret-es", Type="SecureString")
    monkeypatch.setenv("PS_PASSWORD", "secretsmanager:catalogue/prod/postgres")
    monkeypatch.setenv("ES_PASSWORD", "ssm:/catalogue/prod/es-password")
    monkeypatch.setenv("PS_HOST", "db.internal")
    s = Settings.from_env("ingest")
    assert (s.ps_password, s.es_password, s.ps_host) == ("s3cret-pg", "s3cret-es", "db.internal")
    assert s.postgres_password() == "s3cret-pg"


def test_missing_secret_fails_loudly(aws, monkeypatch):
    monkeypatch.setenv("PS_PASSWORD", "secretsmanager:does-not-exist")
    with pytest.raises(Exception, match=r"does-not-exist|ResourceNotFound"):
        Settings.from_env()


@pytest.mark.parametrize(("name", "value"), [
    ("PS_PORT", "5432x"), ("PS_PORT", "70000"), ("STORE_TIMEOUT_SECONDS", "5s"), ("STORE_TIMEOUT_SECONDS", "0"),
    ("STORE_TIMEOUT_SECONDS", "nan"), ("PS_STATEMENT_CACHE_SIZE", "-1"), ("CACHE_MAX_AGE_SECONDS", "five"),
    ("ES_URL", "127.0.0.1:59200"), ("ES_URL", "https://"), ("PS_SSLMODE", "verify_full"), ("PS_SSLMODE", "on"),
    ("PS_SSLROOTCERT", "/nonexistent/ca.pem"), ("ES_CA_CERTS", "/nonexistent/ca.pem")])
@pytest.mark.parametrize("client", ["api", "ingest"])
def test_malformed_configuration_fails_at_once_naming_the_variable(monkeypatch, name: str, value: str, client: str):
    """Not an anonymous 500 on the first request, nor a load that goes on without TLS: an error naming it."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env(client)


def test_an_api_function_validates_its_configuration_when_it_starts(monkeypatch):
    from devtools.local.lambda_runtime import load_function
    monkeypatch.setenv("PS_PORT", "not-a-port")
    settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="PS_PORT"):
            load_function("genes")
    finally:
        monkeypatch.delenv("PS_PORT")
        settings.cache_clear()


def test_the_ingestion_command_refuses_a_malformed_setting_naming_it(monkeypatch, capsys, tmp_path):
    from ingestion.__main__ import main
    monkeypatch.setenv("PS_SSLMODE", "verify_full")
    settings.cache_clear()
    try:
        assert main(["load", str(tmp_path)]) == 2  # before any connection or event loop
    finally:
        settings.cache_clear()
    assert "PS_SSLMODE must be one of" in capsys.readouterr().err


@pytest.mark.parametrize(("mode", "expected"), [("disable", False), ("allow", "allow"), ("prefer", "prefer"),
                                                ("require", "require")])
def test_modes_that_do_not_verify_are_passed_as_libpq_names_them(mode: str, expected: object):
    assert Settings.from_env().replace(ps_sslmode=mode).postgres_ssl() == expected


@pytest.mark.parametrize(("mode", "host_checked"), [("verify-ca", False), ("verify-full", True)])
def test_verifying_modes_make_a_context_that_checks_the_certificate(mode: str, host_checked: bool):
    context = Settings.from_env().replace(ps_sslmode=mode).postgres_ssl()
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is host_checked


def test_the_same_connection_options_for_every_client(monkeypatch, tls: dict):
    monkeypatch.setenv("PS_SSLMODE", "verify-full")
    monkeypatch.setenv("PS_SSLROOTCERT", tls["ca"])
    monkeypatch.setenv("ES_URL", "https://es.internal:9243")
    monkeypatch.setenv("ES_CA_CERTS", tls["ca"])
    for client in ("api", "ingest"):
        s = Settings.from_env(client)
        options = s.postgres_options()
        assert isinstance(options["ssl"], ssl.SSLContext) and options["ssl"].check_hostname
        assert s.elasticsearch_options() == {"hosts": ["https://es.internal:9243"], "verify_certs": True,
                                             "ca_certs": tls["ca"]}


def test_no_deployed_module_reads_the_environment_outside_the_settings_module():
    """One reader: anything else that reads a variable is a second reader that can drift from this one."""
    readers = re.compile(r"\bos\.environ\b|\bgetenv\(|\benviron\.get\(")
    found = [str(path.relative_to(ROOT)) for folder in ("layers", "functions") for path in (ROOT / folder).rglob("*.py")
             if readers.search(path.read_text()) and path.name != "settings.py"]
    assert found == []
