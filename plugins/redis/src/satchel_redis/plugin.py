"""The ``redis`` entry point: settings (``SATCHEL_REDIS_*``, with Teal Agents' ``TA_REDIS_*``
as aliases: :mod:`satchel_redis.teal`) and the registration of
:class:`~satchel_redis.backend.RedisBackend`.

Loading this module imports neither redis-py nor the backend: the driver is imported when a
backend is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings

from satchel import BackendSpec, hookimpl
from satchel.settings import (
    check_url_userinfo,
    drop_ignored,
    plugin_settings_config,
    setting_label,
    variable_source,
)
from satchel_redis.teal import TEAL_VARIABLES

if TYPE_CHECKING:
    from collections.abc import Callable

    from satchel.backend import Backend
    from satchel.settings import SatchelSettings

__all__ = ["RedisSettings", "satchel_register_backends"]

_SCHEMES = ("redis://", "rediss://", "unix://")


#: The variable many hosting platforms set to the Redis URL: an alias of
#: ``SATCHEL_REDIS_URL`` at the lowest precedence, ignored when anything else names the
#: server (:data:`PLATFORM_URL_RIVALS`).
PLATFORM_URL_VARIABLE: Final = "REDIS_URL"

#: The settings that name the server otherwise than by ``REDIS_URL``: when any of them is
#: set (by its variable, its Teal Agents alias, or in code), ``REDIS_URL`` is ignored.
PLATFORM_URL_RIVALS: Final = (
    "url",
    "host",
    "port",
    "db",
    "username",
    "password",
    "ssl",
    "sentinels",
)


def _alias(field: str) -> AliasChoices:
    """``SATCHEL_REDIS_<FIELD>``, then Teal Agents' variable of the field, if it has one
    (then ``REDIS_URL`` for the URL)."""
    teal = TEAL_VARIABLES.get(field.lower())
    platform = [PLATFORM_URL_VARIABLE] if field == "URL" else []
    return AliasChoices(f"SATCHEL_REDIS_{field}", *([teal] if teal else []), *platform)


class RedisSettings(BaseSettings):
    """Settings of the redis backend (``SATCHEL_REDIS_*``). Give either a URL or the
    host/port/db/username/password/ssl variables; Teal Agents' ``TA_REDIS_*`` variables are
    read as aliases."""

    model_config = plugin_settings_config("redis", populate_by_name=True)

    url: SecretStr | None = Field(
        None,
        validation_alias=_alias("URL"),
        description="Where the server is: `redis://[user:password@]host:port/db`, "
        "`rediss://...` (TLS) or `unix:///path/to/socket?db=0`. For a Cluster, several "
        "`host:port` separated by commas (`redis://h1:7000,h2:7001`). A secret, because it "
        "may hold a password. Excludes HOST/PORT/DB/USERNAME/PASSWORD/SSL. `REDIS_URL`, "
        "which many hosting platforms set, is read as an alias at the lowest precedence: "
        "only when none of URL/HOST/PORT/DB/USERNAME/PASSWORD/SSL/SENTINELS is set (nor "
        "their `TA_REDIS_*` aliases).",
    )
    host: str = Field(
        "localhost",
        validation_alias=_alias("HOST"),
        description="The server's host name (Teal Agents: `TA_REDIS_HOST`).",
    )
    port: int = Field(
        6379,
        ge=1,
        le=65535,
        validation_alias=_alias("PORT"),
        description="The server's port (Teal Agents: `TA_REDIS_PORT`).",
    )
    db: int = Field(
        0,
        ge=0,
        validation_alias=_alias("DB"),
        description="The database number; a Cluster has only database 0 "
        "(Teal Agents: `TA_REDIS_DB`).",
    )
    username: str | None = Field(
        None,
        validation_alias=_alias("USERNAME"),
        description="The ACL user name (unset: the default user).",
    )
    password: SecretStr | None = Field(
        None,
        validation_alias=_alias("PASSWORD"),
        description="The password (Teal Agents: `TA_REDIS_PWD`).",
    )
    ssl: bool = Field(
        False,
        validation_alias=_alias("SSL"),
        description="`true` connects with TLS, `false` without (Teal Agents: `TA_REDIS_SSL`, "
        "which satchel reads the right way round).",
    )
    ssl_ca_certs: str | None = Field(
        None,
        validation_alias=_alias("SSL_CA_CERTS"),
        description="A PEM file of the certificate authorities to trust for TLS "
        "(unset: the system's).",
    )
    key_prefix: str = Field(
        "satchel:",
        validation_alias=_alias("KEY_PREFIX"),
        description="The start of every Redis key satchel writes, so that satchel can share a "
        "database; must not contain `{` or `}`.",
    )
    ttl: float | None = Field(
        None,
        validation_alias=_alias("TTL"),
        description="Seconds a record lives when it is written without a TTL, and a log "
        "after an append without one (unset: such records and logs never expire; Teal "
        "Agents: `TA_REDIS_TTL`).",
    )
    max_connections: int = Field(
        50,
        gt=0,
        validation_alias=_alias("MAX_CONNECTIONS"),
        description="The connection pool's size, per event loop (per node on a Cluster); "
        "more calls at once than this wait for a free connection, within each call's time "
        "bound (then `BackendUnavailable`: all connections busy).",
    )
    connect_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias=_alias("CONNECT_TIMEOUT"),
        description="Seconds to wait for a connection to open.",
    )
    socket_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias=_alias("SOCKET_TIMEOUT"),
        description="Seconds to wait for the server's answer to one command.",
    )
    retries: int = Field(
        3,
        ge=0,
        le=20,
        validation_alias=_alias("RETRIES"),
        description="How many times an operation is retried after a connection error or a "
        "timeout (writes are retried safely: a retried write that had already been applied "
        "is recognised); then `BackendUnavailable`.",
    )
    retry_backoff: float = Field(
        0.05,
        ge=0,
        validation_alias=_alias("RETRY_BACKOFF"),
        description="Seconds before the first retry; each retry waits twice as long as the "
        "one before, with full jitter, up to `SATCHEL_REDIS_RETRY_BACKOFF_MAX`.",
    )
    retry_backoff_max: float = Field(
        1.0,
        ge=0,
        validation_alias=_alias("RETRY_BACKOFF_MAX"),
        description="The longest wait between two retries, in seconds.",
    )
    sentinels: str | None = Field(
        None,
        validation_alias=_alias("SENTINELS"),
        description="Redis Sentinel: comma-separated `host:port` of the sentinels; the master "
        "of `SATCHEL_REDIS_SENTINEL_SERVICE` is then found through them (HOST/PORT/URL unused).",
    )
    sentinel_service: str = Field(
        "mymaster",
        validation_alias=_alias("SENTINEL_SERVICE"),
        description="The service (master) name the sentinels monitor.",
    )
    sentinel_password: SecretStr | None = Field(
        None,
        validation_alias=_alias("SENTINEL_PASSWORD"),
        description="The sentinels' own password, when they require one.",
    )
    cluster: bool = Field(
        False,
        validation_alias=_alias("CLUSTER"),
        description="`true` for Redis Cluster (the URL or HOST/PORT is one node to start "
        "from); a URL with several comma-separated nodes means Cluster too.",
    )
    max_value_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        le=512 * 1024 * 1024,
        validation_alias=_alias("MAX_VALUE_BYTES"),
        description="The largest value accepted, in bytes of UTF-8 JSON (at most Redis's "
        "512 MiB string limit; the default matches MongoDB's document limit).",
    )

    #: Where each of username, password, db and url came from: the variable that set it,
    #: or ``"<field>="`` when it was given in code (for error messages)
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def ignored_variables(cls, environ: Mapping[str, str]) -> frozenset[str]:
        """``REDIS_URL`` when another variable names the server (see
        :data:`PLATFORM_URL_RIVALS`): a platform's ``REDIS_URL`` never overrides, nor clashes
        with, the server configured for satchel."""
        for field in PLATFORM_URL_RIVALS:
            names = [f"SATCHEL_REDIS_{field.upper()}", TEAL_VARIABLES.get(field)]
            if any(_env_set(environ, n) for n in names if n is not None):
                return frozenset({PLATFORM_URL_VARIABLE})
        return frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_platform_url(cls, data: Any) -> Any:
        data = drop_ignored(cls, data)
        if (
            isinstance(data, dict)
            and "SATCHEL_REDIS_URL" in data
            and variable_source(cls, "url") == PLATFORM_URL_VARIABLE
            and any(isinstance(k, str) and k.lower() in PLATFORM_URL_RIVALS for k in data)
        ):  # the server is given in code: the platform's URL is not used
            data = {k: v for k, v in data.items() if k != "SATCHEL_REDIS_URL"}
        return data

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if not text.lower().startswith(_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        check_url_userinfo(text)
        url_database(text)
        return SecretStr(text)

    @model_validator(mode="wrap")
    @classmethod
    def _note_sources(
        cls, data: Any, handler: ModelWrapValidatorHandler[RedisSettings]
    ) -> RedisSettings:
        given = {str(k).upper() for k in data} if isinstance(data, dict) else set()
        settings = handler(data)
        for field in ("username", "password", "db", "url"):
            if field.upper() in given:  # given in code, by field name
                settings._sources[field] = f"{field}="
            elif field == "url" and "SATCHEL_REDIS_URL" in given:  # from the environment
                settings._sources[field] = variable_source(cls, field) or "SATCHEL_REDIS_URL"
            elif f"SATCHEL_REDIS_{field.upper()}" in given:  # from the environment
                settings._sources[field] = _variable(field)
        return settings

    def url_source(self) -> str:
        """The variable the URL came from: ``SATCHEL_REDIS_URL``, or ``REDIS_URL`` when
        only it set the URL (``SATCHEL_REDIS_URL`` too when the URL was given in code, as
        the messages about a URL always said)."""
        source = self._sources.get("url", "SATCHEL_REDIS_URL")
        return "SATCHEL_REDIS_URL" if source.endswith("=") else source

    def source_of(self, field: str) -> str:
        """The variable that set ``field`` (``username``, ``password``, ``db``), or
        ``"<field>="`` when it was given in code; the main variable when it was not set."""
        return self._sources.get(field, f"SATCHEL_REDIS_{field.upper()}")

    def database(self) -> int:
        """The database number in use: the URL's (path or ``?db=``), else ``db``."""
        if self.url is not None:
            return url_database(self.url.get_secret_value())
        return self.db

    def database_source(self) -> str:
        """Where the database number comes from: ``SATCHEL_REDIS_URL`` or its variable."""
        return self.url_source() if self.url is not None else self.source_of("db")

    def credentials_sent(self) -> str:
        """Which credentials are sent to the server, and where they come from (never the
        password itself): ``the user 'ann' and the password in SATCHEL_REDIS_URL``."""
        if self.url is not None and not self.sentinels:
            parts = urlsplit(self.url.get_secret_value())
            # as redis-py reads them: the username=/password= options, then the user
            # information before the host, which wins
            options = parse_qs(parts.query)
            user = options["username"][0] if "username" in options else None
            has_password = "password" in options
            try:
                user = unquote(parts.username) if parts.username else user
                has_password = bool(parts.password) or has_password
            except ValueError:
                pass
            url = self.url_source()
            if user and has_password:
                return f"the user {user!r} and the password in {url}"
            if has_password:
                return f"the password in {url}"
            if user:
                return f"the user {user!r} in {url} and no password"
            return f"no password ({url} holds none)"
        if self.username:
            source = self.source_of("username")
            source = f"given as {source}" if source.endswith("=") else source
            user = f"the user {self.username!r} ({source}) and "
        else:
            user = ""
        if self.password is not None:
            source = self.source_of("password")
            source = f"given as {source}" if source.endswith("=") else f"in {source}"
            sent = f"{user}the password {source}"
        elif user:
            sent = f"{user}no password"
        else:
            sent = "no password (neither SATCHEL_REDIS_PASSWORD nor TA_REDIS_PWD is set)"
        if self.sentinels:
            sentinel = (
                "the password in SATCHEL_REDIS_SENTINEL_PASSWORD"
                if self.sentinel_password is not None
                else "no password"
            )
            sent += f" to the master, and {sentinel} to the sentinels"
        return sent

    @field_validator("key_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if "{" in value or "}" in value:
            raise ValueError("must not contain '{' or '}'")
        return value

    @field_validator("ttl")
    @classmethod
    def _check_ttl(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 100 * 365.25 * 24 * 3600:
            raise ValueError("must be a positive number of seconds, at most 100 years")
        return value

    @field_validator("sentinels")
    @classmethod
    def _check_sentinels(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for node in value.split(","):
            if "@" in node:  # never echoed: what precedes the @ may be a password
                raise ValueError(
                    "a sentinel is given with credentials (user:password@): give the "
                    f"sentinels' password in {_variable('sentinel_password')} instead"
                )
            host, _, port = node.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{node.strip()!r} is not host:port")
        return value

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if "@" in value or "/" in value:  # never echoed: it may hold a password
            raise ValueError(
                "must be a host name or address, not a URL or credentials: give those in "
                f"{_variable('url')}, or {_variable('username')} and {_variable('password')}"
            )
        return value

    @model_validator(mode="after")
    def _check_exclusive(self) -> RedisSettings:
        given = self.model_fields_set
        if "url" in given and self.url is not None:
            url_tls = self.url.get_secret_value().lower().startswith("rediss://")
            clash = sorted(
                name
                for name in given & {"host", "port", "db", "username", "password", "ssl"}
                if not (name == "ssl" and self.ssl == url_tls)  # agrees with the URL
            )
            if clash:
                raise ValueError(
                    f"{_variable('url')} is set, and so is "
                    + ", ".join(_variable(name) for name in clash)
                    + ": give the server either as a URL or as separate settings"
                )
        if self.sentinels and self.cluster:
            raise ValueError(
                "SATCHEL_REDIS_SENTINELS and SATCHEL_REDIS_CLUSTER are both set: "
                "a deployment is either Sentinel or Cluster"
            )
        return self


_DB_PATH = re.compile(r"/?[0-9]*")


def url_database(url: str) -> int:
    """The database number a URL selects (its ``?db=``, else its path; 0 when neither),
    read the way redis-py reads it; ``ValueError`` when it is not a number. A URL that holds
    credentials is never quoted: an unescaped ``/`` in a password would put the password's
    tail in the path."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "db" in query:
        value, where = query["db"][-1], "?db="
    elif parts.scheme.lower() == "unix":
        return 0
    else:
        value, where = unquote(parts.path), "the path after host:port"
        if _DB_PATH.fullmatch(value):
            return int(value.strip("/") or 0)
        value = value.lstrip("/")
    if value.isascii() and value.isdigit():
        return int(value)
    shown = "" if "@" in url else f", not {value!r}"
    hint = (
        "; if the password holds '/', '?', '#' or '@', percent-encode it (%2F, %3F, %23, %40)"
        if "@" in url
        else ""
    )
    raise ValueError(f"the database ({where}) must be a whole number: 0, 1, 2 ...{shown}{hint}")


def _variable(field: str) -> str:
    """What set ``field``: the argument given in code, else its variable (an alias, Teal
    Agents' or ``REDIS_URL``, when only it is set)."""
    primary = f"SATCHEL_REDIS_{field.upper()}"
    return setting_label(field, variable_source(RedisSettings, field) or primary)


def _env_set(environ: Mapping[str, str], name: str) -> bool:
    """Whether ``name`` is set, and not empty, in ``environ`` (names in any case)."""
    upper = name.upper()
    return any(key.upper() == upper and value for key, value in environ.items())


def build(settings: RedisSettings, core: SatchelSettings) -> Backend:
    """Build the backend from its settings (imports redis-py)."""
    from satchel_redis.backend import RedisBackend

    return RedisBackend(settings)


@hookimpl
def satchel_register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="redis",
            factory=build,
            settings_cls=RedisSettings,
            description="Redis: standalone, Sentinel or Cluster; atomic conditional writes in Lua.",
        )
    )
