"""Configuration (SPEC 4.2): local defaults, plain values, and secrets named through Powertools Parameters."""
from __future__ import annotations

import boto3
import pytest
from catalogue.config import ConfigurationError, Settings
from moto import mock_aws


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


def test_unset_variables_mean_the_local_services(monkeypatch):
    for name in ("ES_URL", "PS_HOST", "PS_PORT", "PS_USER", "PS_PASSWORD", "PS_DB", "ES_INDEX"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env()
    assert (s.es_url, s.ps_host, s.ps_port, s.ps_db, s.es_index) == (
        "http://127.0.0.1:59200", "127.0.0.1", 55432, "catalogue", "dataset-summary-v1")


def test_secrets_manager_and_ssm_values_are_resolved(aws, monkeypatch):
    boto3.client("secretsmanager").create_secret(Name="catalogue/prod/postgres", SecretString="s3cret-pg")
    boto3.client("ssm").put_parameter(Name="/catalogue/prod/es-password", Value="s3cret-es", Type="SecureString")
    monkeypatch.setenv("PS_PASSWORD", "secretsmanager:catalogue/prod/postgres")
    monkeypatch.setenv("ES_PASSWORD", "ssm:/catalogue/prod/es-password")
    monkeypatch.setenv("PS_HOST", "db.internal")
    s = Settings.from_env()
    assert (s.ps_password, s.es_password, s.ps_host) == ("s3cret-pg", "s3cret-es", "db.internal")


def test_missing_secret_fails_loudly(aws, monkeypatch):
    monkeypatch.setenv("PS_PASSWORD", "secretsmanager:does-not-exist")
    with pytest.raises(Exception, match=r"does-not-exist|ResourceNotFound"):
        Settings.from_env()


@pytest.mark.parametrize(("name", "value"), [
    ("PS_PORT", "5432x"), ("PS_PORT", "70000"), ("STORE_TIMEOUT_SECONDS", "5s"), ("STORE_TIMEOUT_SECONDS", "0"),
    ("STORE_TIMEOUT_SECONDS", "nan"), ("PS_STATEMENT_CACHE_SIZE", "-1"), ("CACHE_MAX_AGE_SECONDS", "five"),
    ("ES_URL", "127.0.0.1:59200")])
def test_malformed_configuration_fails_at_once_naming_the_variable(monkeypatch, name: str, value: str):
    """Issue 10, finding 3: not an anonymous 500 on the first request, but an error naming the variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env()


def test_a_function_validates_its_configuration_when_it_starts(monkeypatch):
    import catalogue.config
    from lambda_runtime import load_function
    monkeypatch.setenv("PS_PORT", "not-a-port")
    catalogue.config.settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="PS_PORT"):
            load_function("genes")
    finally:
        monkeypatch.delenv("PS_PORT")
        catalogue.config.settings.cache_clear()
