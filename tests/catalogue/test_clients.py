"""The store clients: credentials read again for every new connection (issue 10, finding 3)."""
from __future__ import annotations

import inspect

import boto3
import pytest
from catalogue import clients
from catalogue.config import Settings
from moto import mock_aws

from tests.support import LOOP, run

SECRET = "catalogue/dev/postgres"


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


async def _call(password) -> str:
    value = password()
    return await value if inspect.isawaitable(value) else value


def test_a_rotated_postgres_password_reaches_the_next_new_connection(aws, monkeypatch):
    """asyncpg calls a callable password for every new connection: PS_PASSWORD, a secret reference, is resolved
    through Powertools Parameters each time, so once its cache age has passed a rotated password is used without a
    redeploy. Checked on the pool's connect arguments, at the level of the callable: the local server trusts loopback
    connections, so it would accept any password."""
    from aws_lambda_powertools.utilities import parameters
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=SECRET, SecretString="before-rotation")
    monkeypatch.setenv("PS_PASSWORD", f"secretsmanager:{SECRET}")
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        password = run(stores.pool())._connect_kwargs["password"]
        assert callable(password), "the pool connects with the password read when the function started"
        assert run(_call(password)) == "before-rotation"
        secrets.put_secret_value(SecretId=SECRET, SecretString="after-rotation")
        assert run(_call(password)) == "before-rotation", "read from Secrets Manager at every connection"
        parameters.clear_caches()  # as when SECRET_TTL_SECONDS have passed
        assert run(_call(password)) == "after-rotation"
    finally:
        run(stores.close())


def test_a_plain_postgres_password_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PS_PASSWORD", "plain-value")
    stores = clients.Stores(Settings.from_env(), LOOP)
    try:
        password = run(stores.pool())._connect_kwargs["password"]
        assert run(_call(password)) == "plain-value"
    finally:
        run(stores.close())
