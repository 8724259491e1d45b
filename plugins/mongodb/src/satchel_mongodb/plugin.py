"""The ``mongodb`` entry point: settings (``SATCHEL_MONGODB_*``) and the registration of
:class:`~satchel_mongodb.backend.MongoBackend`.

Loading this module imports neither pymongo nor the backend: the driver is imported when a
backend is built.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from satchel import BackendSpec, hookimpl
from satchel.settings import check_url_userinfo, plugin_settings_config, setting_label

if TYPE_CHECKING:
    from collections.abc import Callable

    from satchel.backend import Backend
    from satchel.settings import SatchelSettings

__all__ = ["MongoSettings", "satchel_register_backends"]

_SCHEMES = ("mongodb://", "mongodb+srv://")
#: Characters MongoDB refuses in a database name.
_BAD_DATABASE = re.compile(r'[/\\. "$*<>:|?\x00]')


class MongoSettings(BaseSettings):
    """Settings of the mongodb backend (``SATCHEL_MONGODB_*``)."""

    model_config = plugin_settings_config("mongodb", populate_by_name=True)

    uri: SecretStr = Field(
        SecretStr("mongodb://localhost:27017"),
        description="The connection string: `mongodb://host:port`, several hosts with "
        "`?replicaSet=name`, or `mongodb+srv://cluster.example.net`; TLS (`tls=true`) and "
        "credentials may be given in it. A secret, because it may hold a password.",
    )
    database: str = Field(
        "satchel",
        description="The database that holds satchel's collections.",
    )
    collection_prefix: str = Field(
        "satchel.",
        description="The start of the name of every MongoDB collection satchel creates (one "
        "per satchel collection), so that satchel can share a database.",
    )
    username: str | None = Field(
        None,
        description="The user to authenticate as, when the URI carries no credentials.",
    )
    password: SecretStr | None = Field(
        None,
        description="The password of `SATCHEL_MONGODB_USERNAME`.",
    )
    auth_source: str | None = Field(
        None,
        description="The database that holds the user's credentials (unset: the driver's "
        "default, `admin` or the URI's `authSource`).",
    )
    server_selection_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait for a server that can take the operation (for a replica "
        "set, the primary) before `BackendUnavailable`.",
    )
    connect_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds to wait for a connection to open.",
    )
    socket_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds to wait for the answer to one operation before `BackendUnavailable`.",
    )
    write_concern: str = Field(
        "majority",
        description="How many members of a replica set acknowledge a write before it counts: "
        "`majority` (a write that survives a failover), or a number such as `1`.",
    )
    max_pool_size: int = Field(
        100,
        gt=0,
        description="The most connections open to each server.",
    )

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value().strip()
        if not text.lower().startswith(_SCHEMES):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        check_url_userinfo(text)
        return SecretStr(text)

    @field_validator("database")
    @classmethod
    def _check_database(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        bad = _BAD_DATABASE.search(value)
        if bad:
            raise ValueError(f"must not contain {bad.group()!r} (MongoDB refuses it)")
        if len(value.encode()) > 63:
            raise ValueError("must be at most 63 bytes long")
        return value

    @field_validator("collection_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if "$" in value or "%" in value or "\x00" in value:
            raise ValueError("must not contain '$', '%' or NUL")
        if value.startswith(".") or ".." in value:
            raise ValueError("must not start with '.' or hold '..'")
        if value.startswith("system."):
            raise ValueError("must not start with 'system.' (MongoDB reserves it)")
        return value

    @field_validator("write_concern")
    @classmethod
    def _check_write_concern(cls, value: str) -> str:
        text = value.strip()
        if text == "majority" or (text.isdigit() and int(text) >= 1):
            return text
        raise ValueError(
            "must be 'majority' or a number of members >= 1 (unacknowledged writes, w=0, "
            "cannot tell a conflict from a success)"
        )

    @model_validator(mode="after")
    def _check_credentials(self) -> MongoSettings:
        given = self.model_fields_set
        if self.password is not None and self.username is None:
            raise ValueError(
                f"{_name('password')} is set without {_name('username')}: "
                f"give both, or put the credentials in {_name('uri')}"
            )
        if {"username", "password"} & given and self.username is not None:
            netloc = urlsplit(self.uri.get_secret_value()).netloc
            if "@" in netloc:
                raise ValueError(
                    f"{_name('uri')} carries credentials, and {_name('username')} is "
                    "set too: give the credentials in one place"
                )
        return self


def _name(field: str) -> str:
    """How a message names the setting ``field``: its argument in code, or its variable."""
    return setting_label(field, f"SATCHEL_MONGODB_{field.upper()}")


def build(settings: MongoSettings, core: SatchelSettings) -> Backend:
    """Build the backend from its settings (imports pymongo)."""
    from satchel_mongodb.backend import MongoBackend

    return MongoBackend(settings)


@hookimpl
def satchel_register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="mongodb",
            factory=build,
            settings_cls=MongoSettings,
            description="MongoDB: conditional writes in one operation each; queries run on "
            "the server.",
        )
    )
