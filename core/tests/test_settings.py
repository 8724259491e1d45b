"""Settings helpers: per-plugin variables, listings with secrets masked, URL redaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import AliasChoices, Field, HttpUrl, MongoDsn, RedisDsn, SecretStr, model_validator
from pydantic_settings import BaseSettings

from satchel.errors import ConfigError, SatchelError
from satchel.redaction import scrub_secrets
from satchel.settings import (
    SatchelSettings,
    describe_variables,
    drop_ignored,
    env_names,
    load_settings,
    plugin_settings_config,
    redact_url,
    settings_from_code,
    settings_summary,
    variable_source,
)


class FooSettings(BaseSettings):
    model_config = plugin_settings_config("foo")

    url: str = Field("foo://localhost", description="Where Foo listens.")
    password: SecretStr | None = Field(None, description="Foo's password.")
    port: int = Field(
        1234,
        validation_alias=AliasChoices("SATCHEL_FOO_PORT", "LEGACY_FOO_PORT"),
        description="Port.",
    )


def test_plugin_variables_are_prefixed_with_the_plugin_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SATCHEL_FOO_URL", "foo://h:1")
    monkeypatch.setenv("SATCHEL_FOO_PASSWORD", "hunter2")
    monkeypatch.setenv("LEGACY_FOO_PORT", "99")
    settings = load_settings(FooSettings)
    assert settings.url == "foo://h:1"
    assert settings.password is not None and settings.password.get_secret_value() == "hunter2"
    assert settings.port == 99
    assert env_names(FooSettings, "port") == ["SATCHEL_FOO_PORT", "LEGACY_FOO_PORT"]
    assert "hunter2" not in repr(settings)


def test_a_bad_alias_value_names_the_variable_that_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGACY_FOO_PORT", "eighty")
    with pytest.raises(ConfigError, match=r"^LEGACY_FOO_PORT='eighty': "):
        load_settings(FooSettings)


def test_plugin_names_must_be_identifiers() -> None:
    with pytest.raises(ConfigError, match="plugin name 'Foo Bar'"):
        plugin_settings_config("Foo Bar")


def test_summary_masks_secrets_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_FOO_URL", "foo://admin:s3cret@db:6379/0")
    monkeypatch.setenv("SATCHEL_FOO_PASSWORD", "hunter2")
    summary = settings_summary(load_settings(FooSettings))
    assert summary == {
        "SATCHEL_FOO_URL": "foo://admin:***@db:6379/0",
        "SATCHEL_FOO_PASSWORD": "***",
        "SATCHEL_FOO_PORT": 1234,
    }


def test_describe_variables_lists_types_defaults_and_secrets() -> None:
    variables = {v.name: v for v in describe_variables(FooSettings)}
    assert variables["SATCHEL_FOO_PASSWORD"].secret
    assert variables["SATCHEL_FOO_PASSWORD"].default == "(unset)"
    assert variables["SATCHEL_FOO_PORT"].aliases == ("LEGACY_FOO_PORT",)
    assert variables["SATCHEL_FOO_PORT"].default == "1234"
    assert variables["SATCHEL_FOO_URL"].description == "Where Foo listens."
    core = {v.name for v in describe_variables(SatchelSettings)}
    assert core == {
        "SATCHEL_BACKEND",
        "SATCHEL_BACKEND_MODULE",
        "SATCHEL_BACKEND_CLASS",
        "SATCHEL_NAMESPACE",
        "SATCHEL_DEFAULT_TTL",
        "SATCHEL_DISABLE_PLUGINS",
    }


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:pw@host", "redis://***@host"),
        ("mongodb://host/db", "mongodb://host/db"),
        (
            "mongodb+srv://u:p%40ss@cluster.example/db?tls=true",
            "mongodb+srv://u:***@cluster.example/db?tls=true",
        ),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_secrets_in_free_text() -> None:
    text = "cannot reach redis://admin:hunter2@db:6379 or mongodb://u:p@x/y"
    assert scrub_secrets(text) == "cannot reach redis://admin:***@db:6379 or mongodb://u:***@x/y"


def test_errors_always_have_a_message() -> None:
    with pytest.raises(ValueError):
        SatchelError("")
    assert str(ConfigError("x")) == "x"


class UrlSettings(BaseSettings):
    model_config = plugin_settings_config("vault")

    replica_url: HttpUrl | None = None
    dsn: RedisDsn = Field(RedisDsn("redis://admin:defaultpw@localhost:6379/0"))
    hosts: MongoDsn | None = None


def test_no_password_reaches_an_error_a_summary_or_a_listing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            UrlSettings, {"SATCHEL_VAULT_REPLICA_URL": "http://admin:hunter2@replica:notaport"}
        )
    assert "hunter2" not in str(info.value)
    assert "SATCHEL_VAULT_REPLICA_URL='http://admin:***@replica:notaport'" in str(info.value)
    monkeypatch.setenv("SATCHEL_VAULT_REPLICA_URL", "http://admin:hunter2@replica:8080/")
    monkeypatch.setenv("SATCHEL_VAULT_HOSTS", "mongodb://u:hunter3@h1:27017,h2:27017/db")
    summary = settings_summary(load_settings(UrlSettings))
    text = repr(summary)
    assert "hunter2" not in text and "hunter3" not in text and "defaultpw" not in text
    assert summary["SATCHEL_VAULT_REPLICA_URL"] == "http://admin:***@replica:8080/"
    listing = repr(describe_variables(UrlSettings))
    assert "defaultpw" not in listing and "admin:***@localhost" in listing


def test_a_given_environ_is_the_only_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_NAMESPACE", "from-process")
    monkeypatch.setenv("SATCHEL_DEFAULT_TTL", "5")
    settings = load_settings(
        SatchelSettings, {"satchel_namespace": "given", "TA_PERSISTENCE_CLASS": "X"}
    )
    assert settings.namespace == "given"
    assert settings.default_ttl is None  # the process environment is not consulted
    assert settings.backend_class == "X"
    assert isinstance(settings, SatchelSettings)
    import os

    assert os.environ["SATCHEL_NAMESPACE"] == "from-process"  # and not touched
    assert load_settings(SatchelSettings).namespace == "from-process"


class PlatformSettings(BaseSettings):
    """A setting with a Teal-style alias and a platform alias below it, and a rule: the
    platform's variable is not used when ``SATCHEL_PLAT_HOST`` is set."""

    model_config = plugin_settings_config("plat", populate_by_name=True)

    url: str | None = Field(
        None, validation_alias=AliasChoices("SATCHEL_PLAT_URL", "TEAL_PLAT_URL", "PLAT_URL")
    )
    host: str | None = None

    @classmethod
    def ignored_variables(cls, environ: Mapping[str, str]) -> frozenset[str]:
        return frozenset({"PLAT_URL"} if environ.get("SATCHEL_PLAT_HOST") else ())

    @model_validator(mode="before")
    @classmethod
    def _drop(cls, data: Any) -> Any:
        return drop_ignored(cls, data)


@pytest.mark.parametrize(
    ("environ", "url", "source"),
    [
        ({}, None, None),
        ({"PLAT_URL": "p"}, "p", "PLAT_URL"),
        ({"PLAT_URL": "p", "TEAL_PLAT_URL": "t"}, "t", "TEAL_PLAT_URL"),
        ({"PLAT_URL": "p", "TEAL_PLAT_URL": "t", "SATCHEL_PLAT_URL": "s"}, "s", "SATCHEL_PLAT_URL"),
        ({"PLAT_URL": "p", "SATCHEL_PLAT_URL": ""}, "p", "PLAT_URL"),  # empty is unset
        ({"plat_url": "p"}, "p", "PLAT_URL"),  # names in any case
        ({"PLAT_URL": "p", "SATCHEL_PLAT_HOST": "h"}, None, None),  # ignored: unused
        ({"PLAT_URL": "p", "TEAL_PLAT_URL": "t", "SATCHEL_PLAT_HOST": "h"}, "t", "TEAL_PLAT_URL"),
    ],
)
def test_the_first_variable_set_and_not_ignored_is_the_source(
    environ: dict[str, str], url: str | None, source: str | None
) -> None:
    assert load_settings(PlatformSettings, environ).url == url
    assert variable_source(PlatformSettings, "url", environ) == source
    [described] = [
        v for v in describe_variables(PlatformSettings, environ) if v.name.endswith("URL")
    ]
    assert described.aliases == ("TEAL_PLAT_URL", "PLAT_URL")
    assert described.source == source
    # given in code, a value is kept whatever the environment ignores
    in_code = settings_from_code(PlatformSettings, {"url": "c"}, argument="x", environ=environ)
    assert in_code.url == "c"
