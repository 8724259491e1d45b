"""Settings: environment variables, read with pydantic-settings.

Core reads ``SATCHEL_*`` (:class:`SatchelSettings`); each backend plugin has a settings class
whose variables are ``SATCHEL_<NAME>_<FIELD>``, built with :func:`plugin_settings_config`
so that every plugin names its variables the same way and core can list them all
(:func:`describe_variables`, ``satchel backends``, ``docs/configuration.md``).

A bad value becomes a one-line :class:`~satchel.errors.ConfigError` naming the variable
(:func:`load_settings`), or the argument when the value was given in code
(:func:`settings_from_code`); secrets (``SecretStr`` fields, passwords inside URLs) are never
shown.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, cast, get_args, get_origin
from urllib.parse import quote, unquote, unquote_plus

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from satchel.errors import ConfigError, InvalidArgument
from satchel.validation import MAX_TTL_SECONDS

__all__ = [
    "EnvVariable",
    "check_url_userinfo",
    "clean_error",
    "settings_secrets",
    "SatchelSettings",
    "TEAL_DEFAULT_PERSISTENCE_CLASS",
    "TEAL_DEFAULT_PERSISTENCE_MODULE",
    "describe_variables",
    "config_error",
    "env_names",
    "load_settings",
    "mask_foreign",
    "mask_secrets",
    "plugin_settings_config",
    "redact_url",
    "scrub_secrets",
    "secret_parts",
    "settings_from_code",
    "settings_summary",
    "setting_label",
    "variable_in_use",
]

S = TypeVar("S", bound=BaseSettings)
E = TypeVar("E", bound=BaseException)

#: Teal Agents' defaults: when ``TA_PERSISTENCE_MODULE``/``TA_PERSISTENCE_CLASS`` hold these,
#: Teal uses its in-memory manager, and so does satchel.
TEAL_DEFAULT_PERSISTENCE_MODULE = "persistence/in_memory_persistence_manager.py"
TEAL_DEFAULT_PERSISTENCE_CLASS = "InMemoryPersistenceManager"

#: Teal Agents' Redis example (``TA_PERSISTENCE_MODULE=.../example_redis_persistence.py``,
#: ``TA_PERSISTENCE_CLASS=RedisTaskPersistenceManager``): satchel selects its ``redis``
#: backend for it, which reads the same ``TA_REDIS_*`` variables.
TEAL_REDIS_EXAMPLE_MODULE = "example_redis_persistence"
TEAL_REDIS_EXAMPLE_CLASS = "RedisTaskPersistenceManager"

_NAME = re.compile(r"[a-z][a-z0-9_]*")  # always used with fullmatch
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def plugin_settings_config(name: str, **overrides: Any) -> SettingsConfigDict:
    """The ``model_config`` of a plugin's settings class: variables ``SATCHEL_<NAME>_*``.

    ::

        class RedisSettings(BaseSettings):
            model_config = plugin_settings_config("redis")
            url: SecretStr | None = None      # SATCHEL_REDIS_URL
    """
    if not _NAME.fullmatch(name):
        raise ConfigError(f"plugin name {name!r}: use lower-case letters, digits and '_'")
    config = SettingsConfigDict(
        env_prefix=f"SATCHEL_{name.upper()}_",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )
    config.update(overrides)  # type: ignore[typeddict-item]
    return config


class SatchelSettings(BaseSettings):
    """Core settings. Each field is read from the environment variable in its description."""

    model_config = SettingsConfigDict(
        populate_by_name=True,  # SatchelSettings(backend_module=...) in code, too
        env_prefix="SATCHEL_",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    backend: str = Field(
        "memory",
        description="The backend to use: the entry-point name of an installed plugin "
        "(`memory`, `redis`, `mongodb`, ...).",
    )
    backend_module: str | None = Field(
        None,
        validation_alias=AliasChoices("SATCHEL_BACKEND_MODULE", "TA_PERSISTENCE_MODULE"),
        description="A custom backend: a Python file path (`path/to/backend.py`) or a dotted "
        "module (`package.module`). Needs `SATCHEL_BACKEND_CLASS`; wins over "
        "`SATCHEL_BACKEND`. Teal Agents' `TA_PERSISTENCE_MODULE` is read as an alias.",
    )
    backend_class: str | None = Field(
        None,
        validation_alias=AliasChoices("SATCHEL_BACKEND_CLASS", "TA_PERSISTENCE_CLASS"),
        description="The class in `SATCHEL_BACKEND_MODULE` that implements "
        "`satchel.backend.Backend`. Teal Agents' `TA_PERSISTENCE_CLASS` is read as an alias.",
    )
    namespace: str = Field(
        "default",
        description="Tenant prefix of every collection, so that several applications can "
        "share one server: letters, digits, `_`, `.` and `-`, at most 64.",
    )
    default_ttl: float | None = Field(
        None,
        description="Seconds a record lives when a store and the call give no TTL "
        "(unset: records never expire).",
    )
    disable_plugins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated plugin names not to load (`redis,audit`).",
    )

    def __init__(self, **values: Any) -> None:
        """Read the environment; ``values`` given in code win over it. A bad value is a
        :class:`ConfigError` naming its variable, whether it came from the environment or
        from code."""
        error: ConfigError | None = None
        try:
            super().__init__(**values)
        except ValidationError as exc:
            error = config_error(type(self), exc)
        if error is not None:  # raised here, so that pydantic's error (which quotes the
            raise error  # input, secrets too) is neither its __cause__ nor its __context__

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: str) -> str:
        value = value.strip().lower()
        if not _NAME.fullmatch(value):
            raise ValueError("must be a backend name (lower-case letters, digits and '_')")
        return value

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str) -> str:
        if not _NAMESPACE.fullmatch(value):
            raise ValueError("must be 1 to 64 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("default_ttl")
    @classmethod
    def _check_ttl(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value <= MAX_TTL_SECONDS):
            raise ValueError(
                "must be a positive number of seconds"
                + (" of at most 100 years" if value > MAX_TTL_SECONDS else "")
            )
        return value

    @model_validator(mode="after")
    def _teal_redis_example(self) -> SatchelSettings:
        """Teal's Redis example class selects the ``redis`` backend (unless
        ``SATCHEL_BACKEND`` says otherwise)."""
        if _is_teal_redis_example(self.backend_module, self.backend_class):
            if "backend" not in self.model_fields_set:
                self.backend = "redis"
            self.backend_module = self.backend_class = None
        return self

    @field_validator("disable_plugins", mode="before")
    @classmethod
    def _split_plugins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip().lower() for p in value.split(",") if p.strip())
        return value

    def custom_backend(self, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
        """``(module, class)`` when a custom backend class is configured, else ``None``.

        Teal Agents' defaults (its in-memory manager) count as not configured.
        """
        if self.backend_module is None and self.backend_class is None:
            return None
        if (self.backend_module in (None, TEAL_DEFAULT_PERSISTENCE_MODULE)) and (
            self.backend_class in (None, TEAL_DEFAULT_PERSISTENCE_CLASS)
        ):
            return None
        module_var = variable_in_use("SATCHEL_BACKEND_MODULE", "TA_PERSISTENCE_MODULE", environ)
        class_var = variable_in_use("SATCHEL_BACKEND_CLASS", "TA_PERSISTENCE_CLASS", environ)
        if not self.backend_module:
            raise ConfigError(
                f"SATCHEL_BACKEND_MODULE is not set, but {class_var} is: "
                "set both to load a custom backend class"
            )
        if not self.backend_class:
            raise ConfigError(
                f"SATCHEL_BACKEND_CLASS is not set, but {module_var} is "
                f"({self.backend_module!r}): name the class to load from it"
            )
        return self.backend_module, self.backend_class


def _is_teal_redis_example(module: str | None, class_name: str | None) -> bool:
    if module is None or class_name not in (None, TEAL_REDIS_EXAMPLE_CLASS):
        return False
    stem = module.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".py")
    return stem.rsplit(".", 1)[-1] == TEAL_REDIS_EXAMPLE_MODULE


# --------------------------------------------------------------------------------------
# loading, with errors that name the variable


def env_names(settings_cls: type[BaseSettings], field_name: str) -> list[str]:
    """The environment variables that set ``field_name``, in order of precedence."""
    info = settings_cls.model_fields[field_name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{field_name}".upper()]


def _is_secret(settings_cls: type[BaseSettings], field_name: str) -> bool:
    annotation = settings_cls.model_fields[field_name].annotation
    return (
        annotation is SecretStr
        or SecretStr in get_args(annotation)
        or (
            get_origin(annotation) is not None and any(a is SecretStr for a in get_args(annotation))
        )
    )


def _field_for_error(settings_cls: type[BaseSettings], loc: tuple[Any, ...]) -> str | None:
    for part in loc:
        if isinstance(part, str):
            if part in settings_cls.model_fields:
                return part
            for name in settings_cls.model_fields:
                if part.upper() in env_names(settings_cls, name):
                    return name
    return None


def load_settings(
    settings_cls: type[S], environ: Mapping[str, str] | None = None, **values: Any
) -> S:
    """Build ``settings_cls`` from the environment (or from ``environ`` instead of
    ``os.environ``), turning every validation problem into one :class:`ConfigError` line
    per variable. ``environ`` is read in place: the process environment is left alone.

    The error carries no other exception (no ``__cause__``, no ``__context__``): pydantic's
    quotes the input, secrets included."""
    error: ConfigError | None = None
    try:
        if environ is None:
            return settings_cls(**values)
        token = _ENVIRON.set(environ)
        try:
            bound: type[S] = _reading_mapping(settings_cls)
            return bound(**values)
        finally:
            _ENVIRON.reset(token)
    except ValidationError as exc:
        error = config_error(settings_cls, exc, environ)
    except ConfigError as exc:  # from a nested settings class: already clean, but its
        error = exc  # __context__ may hold what it was built from
        error.__context__ = None
    raise error


def settings_from_code(
    settings_cls: type[S],
    values: Mapping[str, Any],
    *,
    argument: str,
    environ: Mapping[str, str] | None = None,
) -> S:
    """Build ``settings_cls`` from ``values`` given in code, by field name (``url``, not
    ``SATCHEL_REDIS_URL``), validated by the class as the environment is. Nothing is read
    from ``os.environ``: what ``values`` leave out takes its default, or its value in
    ``environ`` when a mapping is given (``values`` win over it).

    A bad value is a :class:`ConfigError` naming it after ``argument``:
    ``backend_settings['port']=0: ...`` (or ``port=0: ...`` when ``argument`` is empty), with
    secrets masked as for a variable. A key that is not a field name (a settings class
    would ignore it) is an :class:`~satchel.errors.InvalidArgument` naming ``argument``."""
    fields = settings_cls.model_fields
    unknown = sorted(repr(k) for k in values if not isinstance(k, str) or k not in fields)
    if unknown:
        what = "is not a setting" if len(unknown) == 1 else "are not settings"
        raise InvalidArgument(
            f"{argument or 'settings'}: {', '.join(unknown)} {what} of "
            f"{settings_cls.__name__}; its settings: {', '.join(sorted(fields))}"
        )
    by_name = bool(
        settings_cls.model_config.get("populate_by_name")
        or settings_cls.model_config.get("validate_by_name")
    )
    given: dict[str, Any] = {}
    for name, value in values.items():
        alias = settings_cls.model_fields[name].validation_alias
        # a class that takes its fields only by their variables gets them so
        given[name if by_name or alias is None else env_names(settings_cls, name)[0]] = value
    token = _IN_CODE.set((argument, dict(values)))
    try:
        return load_settings(settings_cls, {} if environ is None else environ, **given)
    finally:
        _IN_CODE.reset(token)


def _holds_credentials(raw: str) -> bool:
    """Whether a value that is not a URL reads as ``user:password@host`` (a host or node
    list given with its credentials): then it is never shown, as a secret is not."""
    return "://" not in raw and "@" in raw


def _code_problem(
    settings_cls: type[BaseSettings], name: str, argument: str, value: Any, message: str
) -> str:
    """One problem of a value given in code, named ``argument['name']`` (or ``name``)."""
    label = f"{argument}[{name!r}]" if argument else name
    raw = _strings(value)
    if _is_secret(settings_cls, name) or any(_holds_credentials(r) for r in raw):
        return f"{label}: {mask_foreign(message, [p for r in raw for p in secret_parts(r)])}"
    shown = redact_url(value) if isinstance(value, str) else value
    secrets = [p for r in raw if "://" in r for p in secret_parts(r)]
    return f"{label}={shown!r}: {mask_foreign(message, secrets)}"


def config_error(
    settings_cls: type[BaseSettings],
    exc: ValidationError,
    environ: Mapping[str, str] | None = None,
) -> ConfigError:
    """One :class:`ConfigError` naming each variable ``exc`` complains about (values shown
    only when they are not secret, and with URL passwords masked)."""
    env = _environment() if environ is None else environ
    in_code = _IN_CODE.get()
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        name = _field_for_error(settings_cls, tuple(error.get("loc", ())))
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        if name is None:
            problems.append(scrub_secrets(message))
            continue
        if in_code is not None and name in in_code[1]:
            argument, values = in_code
            problems.append(_code_problem(settings_cls, name, argument, values[name], message))
            continue
        names = env_names(settings_cls, name)
        variable = next((n for n in names if _env_get(env, n) is not None), names[0])
        raw = _env_get(env, variable)
        if raw is None:
            problems.append(f"{variable}: {scrub_secrets(message)}")
        elif _is_secret(settings_cls, name) or _holds_credentials(raw):
            problems.append(f"{variable}: {mask_foreign(message, secret_parts(raw))}")
        else:
            secrets = secret_parts(raw) if "://" in raw else ()
            problems.append(f"{variable}={redact_url(raw)!r}: {mask_foreign(message, secrets)}")
    # secret values given in code (not from the environment) are masked too
    given = [v for e in exc.errors(include_url=False) for v in _strings(e.get("input"))]
    secrets = tuple(p for v in given if "://" in v for p in secret_parts(v))
    return ConfigError(mask_foreign("; ".join(problems), secrets) or "invalid settings")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    return []


def variable_in_use(primary: str, alias: str, environ: Mapping[str, str] | None = None) -> str:
    """``alias`` when only it is set (so that an error names what the user wrote), else
    ``primary``."""
    env = _environment() if environ is None else environ
    if _env_get(env, primary) is None and _env_get(env, alias) is not None:
        return alias
    return primary


def setting_label(field: str, variable: str) -> str:
    """How a message names the setting ``field``: ``backend_settings['url']`` while
    :func:`settings_from_code` validates values given in code (the settings are given
    there), else ``variable`` (the environment variable that sets it). For a settings
    class's own validators, whose messages name several settings."""
    in_code = _IN_CODE.get()
    if in_code is not None:
        argument, _ = in_code
        return f"{argument}[{field!r}]" if argument else field
    return variable


def _env_get(env: Mapping[str, str], name: str) -> str | None:
    upper = name.upper()
    for key, value in env.items():
        if key.upper() == upper:
            return value
    return None


#: The mapping :func:`load_settings` reads instead of ``os.environ`` (per task and thread).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("satchel_environ", default=None)

#: While :func:`settings_from_code` validates: the argument the values were given as, and
#: the values by field name (so that an error names them, not a variable).
_IN_CODE: ContextVar[tuple[str, dict[str, Any]] | None] = ContextVar(
    "satchel_in_code", default=None
)


def _environment() -> Mapping[str, str]:
    """What settings are being read from: :data:`_ENVIRON` while :func:`load_settings` reads
    a mapping (an empty one too: then nothing), else ``os.environ``."""
    mapping = _ENVIRON.get()
    return os.environ if mapping is None else mapping


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading :data:`_ENVIRON`."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        mapping = _ENVIRON.get() or {}
        items = {k if self.case_sensitive else k.lower(): v for k, v in mapping.items()}
        return {k: v for k, v in items.items() if not (self.env_ignore_empty and v == "")}


@functools.cache
def _reading_mapping(settings_cls: type[S]) -> type[S]:
    """A subclass of ``settings_cls`` whose only environment is :data:`_ENVIRON`."""

    def settings_customise_sources(
        cls: type[BaseSettings],
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _MappingEnvSource(settings_cls))

    namespace = {"settings_customise_sources": classmethod(settings_customise_sources)}
    return cast("type[S]", type(settings_cls.__name__, (settings_cls,), namespace))


# --------------------------------------------------------------------------------------
# listing, with secrets masked


# A URL's scheme. What follows "scheme://" up to the last "@" of the URL is its user
# information (users type passwords unescaped, with "@", ":", "/", "#" or "?" in them, so no
# other character can be trusted to end it); everything before the first ":" in it is the
# user name, the rest the password. Only then are the password-like parameters looked for,
# in what follows the user information (a password may hold "&token=" itself).
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_NAMES = (
    r"[?&;](?:password|passwd|pwd|pass|secret|token|api_?key|access_?key|"
    r"authmechanismproperties|tlscertificatekeyfilepassword)="
)
# ...?password=secret&... and its usual spellings, in a URL
_SECRET_PARAM = re.compile(_SECRET_NAMES, re.IGNORECASE)
# the same in free text, where its value ends at a separator, a space or a quote
_SECRET_PARAM_VALUE = re.compile(rf"(?P<name>{_SECRET_NAMES})[^&;#\s'\"]*", re.IGNORECASE)
# a URL's host list: names or addresses, [IPv6], each with an optional numeric port
_HOST = r"(?:\[[0-9A-Za-z:.%]*\]|[A-Za-z0-9._~%!$*+-]+)(?::[0-9]*)?"
_HOSTS = re.compile(rf"(?:{_HOST}(?:,{_HOST})*)?")
# where a URL in free text ends: a space or a quote (a URL quoted by repr ends at its quote)
_URL_STOP = re.compile(r"[\s'\"]")


def _is_hosts(text: str) -> bool:
    """Whether ``text`` (what follows ``scheme://``, without user information) starts with a
    well-formed host list: ``redis://:pass word@h`` cut at its space gives ``:pass``, which
    is not one."""
    authority = re.split(r"[/?#]", text.rstrip(".,;:)]}>"), maxsplit=1)[0]
    return _HOSTS.fullmatch(authority) is not None


def _userinfo_end(rest: str) -> int:
    """Where the user information of ``rest`` (what follows ``scheme://``) ends: at its last
    ``@`` (a password may hold ``@``, ``:``, ``/``, ``?``, ``#``, ``&``, ``=``, ``;`` or
    ``://``, so only that one can end it); ``-1`` when it has no ``@``, or when a host list
    and a query's secret parameter come before its first ``@`` (``h/?password=a@b``: the
    ``@`` is the parameter's)."""
    first = rest.find("@")
    if first < 0:
        return -1
    param = _SECRET_PARAM.search(rest, 0, first)
    if param is not None and "?" in rest[: param.end()] and _is_hosts(rest[: param.start()]):
        return -1
    return rest.rfind("@")


def check_url_userinfo(url: str) -> None:
    """Raise ``ValueError`` when the user information of ``url`` (what follows
    ``scheme://`` up to its last ``@``) holds an unescaped ``/``, ``?`` or ``#``. A driver
    ends the host part at the first of them, so it would read the rest of the password as a
    host, a path or options: connect to another server than the one shown and quote that
    part of the password in its errors. The message never quotes the URL."""
    text = url.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        return
    rest = text[scheme.end() :]
    at = _userinfo_end(rest)
    if at >= 0 and any(c in rest[:at] for c in "/?#"):
        raise ValueError(
            "a '/', '?' or '#' comes before the last '@': a password (or user name) holding "
            "'/', '?', '#' or '@' must be percent-encoded (%2F, %3F, %23, %40), and so must "
            "an '@' in the path or an option"
        )


def _mask_userinfo(userinfo: str) -> str:
    """``user:***`` (the user name kept), or ``***`` when it is not ``user:password`` (a bare
    token is as secret as a password) or the user name holds an ``@``."""
    user, has_password, _ = userinfo.partition(":")
    if has_password and user and "@" not in user:  # an "@" may be a password's, unescaped
        return f"{user}:***"
    return "***"


def _redact_rest(rest: str) -> tuple[str, bool]:
    """What follows ``scheme://`` in a URL, with the user information (see
    :func:`_userinfo_end`) masked, then everything after a secret parameter's ``=`` (its
    value may hold any character, ``&`` and ``@`` too); and whether such a parameter was
    found. Without user information, what is not a host list is masked whole."""
    at = _userinfo_end(rest)
    head = f"{_mask_userinfo(rest[:at])}@" if at >= 0 else ""
    hosts = rest[at + 1 :]
    if at < 0 and not _is_hosts(hosts):
        return "***", False
    param = _SECRET_PARAM.search(hosts)
    if param is None:
        return head + hosts, False
    return f"{head}{hosts[: param.end()]}***", True


def _url_end(text: str, start: int, end: int) -> tuple[int, int]:
    """Where the URL whose scheme spans ``text[start:end]`` ends: at its closing quote when
    it is quoted, else at the first space or quote (or, when what precedes that has no host
    list after its user information, as in ``redis://:pass word@h``, at the end of the next
    word holding an ``@``); and how far a secret parameter's value may run (the closing quote,
    or the end of the line)."""
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    quote = text[start - 1] if start > 0 and text[start - 1] in "'\"" else ""
    if quote:
        close = text.find(quote, end, line_end)
        if close >= 0:
            return close, close
    found = _URL_STOP.search(text, end, line_end)
    stop = found.start() if found else line_end
    span = text[end:stop]
    if not _is_hosts(span[_userinfo_end(span) + 1 :]):
        more = re.compile(r"@[^\s'\"]*").search(text, stop, line_end)
        if more is not None:
            stop = more.end()
    return stop, line_end


def scrub_secrets(text: str) -> str:
    """``text`` from elsewhere (a driver's or pydantic's message) with the credentials of
    any URL in it masked. A URL ends at a space or a quote (its closing quote if it is
    quoted); everything after its ``scheme://`` up to its last ``@``, but the user name,
    becomes ``***`` (so a password holding ``@``, ``:``, ``/``, ``#``, ``?``, ``&`` or
    ``://``, escaped or not, is masked whole, and one holding a space too when the URL is
    quoted or what precedes the space is no host), and so does everything after a
    password-like parameter (``password=``, ``token=``, ...) up to the closing quote or the
    end of the line. It masks more than needed rather than less: satchel's own messages are
    not scrubbed but masked with the known secrets (:func:`mask_secrets`)."""
    out: list[str] = []
    position = 0
    while (match := _SCHEME.search(text, position)) is not None:
        stop, limit = _url_end(text, match.start(), match.end())
        shown, to_limit = _redact_rest(text[match.end() : stop])
        out.append(text[position : match.end()])
        out.append(shown)
        position = limit if to_limit else stop
    out.append(text[position:])
    return _SECRET_PARAM_VALUE.sub(r"\g<name>***", "".join(out))


def secret_parts(secret: str) -> tuple[str, ...]:
    """What to hide of a secret value: the password (or token) of a URL and its
    password-like parameters, or the whole value when it is not a URL."""
    text = secret.strip()
    scheme = _SCHEME.match(text)
    if scheme is None:
        return (secret,) if secret else ()
    parts: list[str] = []
    rest = text[scheme.end() :]
    at = _userinfo_end(rest)
    userinfo, hosts = rest[: max(at, 0)], rest[at + 1 :]
    if at >= 0:
        _, has_password, password = userinfo.partition(":")
        parts.append(password if has_password else userinfo)
    elif not _is_hosts(hosts):
        parts.append(hosts)
    param = _SECRET_PARAM.search(hosts)
    if param is not None:  # a secret parameter's value runs to the end (see _redact_rest)
        parts.append(hosts[param.end() :])
    return tuple(p for p in parts if p)


def _spellings(secret: str) -> set[str]:
    """``secret`` as typed, percent-encoded and percent-decoded (and that re-encoded)."""
    found = {secret, unquote(secret), unquote_plus(secret)}
    return found | {quote(s, safe=safe) for s in found for safe in ("", "/")}


_QUOTED = re.compile(r"'([^'\n]+)'|\"([^\"\n]+)\"")
_URL_SPAN = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s'\"]*)")
# the pieces of a quoted fragment between a URL's delimiters ("/Jv@127" holds "Jv")
_DELIMITED = re.compile(r"[^@:/#?&;=,\s]+")


def mask_secrets(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` (satchel's own message) with every known secret masked and nothing else
    changed: each spelling of a secret (as typed, percent-encoded, percent-decoded) becomes
    ``***``, and so does a piece of two characters or more of one that is quoted, alone or
    between a URL's delimiters (as a driver quotes the part of a URL it could not parse:
    ``port 'Vy'``, ``database name "/Jv@127"``), and a URL whose host or port is such a
    piece (a driver may show a URL it parsed its own way). Keys, names, versions and hints
    stay whole."""
    variants = sorted({v for s in secrets for v in _spellings(s) if len(v) >= 3}, key=len)
    for secret in reversed(variants):
        text = text.replace(secret, "***")
    pieces = [s for s in secrets if s]
    if not pieces:
        return text

    def piece(fragment: str) -> bool:
        return len(fragment) >= 2 and any(fragment in s for s in pieces)

    def quoted(match: re.Match[str]) -> str:
        fragment = match.group(1) or match.group(2) or ""
        if piece(fragment):
            return match.group(0).replace(fragment, "***")
        masked = _DELIMITED.sub(lambda m: "***" if piece(m.group(0)) else m.group(0), fragment)
        return match.group(0).replace(fragment, masked)

    def url(match: re.Match[str]) -> str:
        authority = re.split(r"[/?#]", match.group(2), maxsplit=1)[0]
        if any(piece(p) for p in re.split(r"[@:,\[\]]", authority)):
            return match.group(1) + "***"
        return match.group(0)

    return _URL_SPAN.sub(url, _QUOTED.sub(quoted, text))


def mask_foreign(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """``text`` from elsewhere (a driver's, pydantic's) made safe to show: the known secrets
    masked (:func:`mask_secrets`), then the credentials of any URL (:func:`scrub_secrets`)."""
    return scrub_secrets(mask_secrets(text, secrets))


def settings_secrets(settings: Any) -> tuple[str, ...]:
    """The secret parts (:func:`secret_parts`) of every secret or URL field of a settings
    object (a password, a URL's password, a token)."""
    if not isinstance(settings, BaseSettings):
        return ()
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            found.extend(secret_parts(value.get_secret_value()))
        elif value is not None and not isinstance(value, (bool, int, float)):
            text = str(value)
            if "://" in text:
                found.extend(p for p in secret_parts(text) if p != text)
    return tuple(found)


def _leaks(error: BaseException, secrets: tuple[str, ...]) -> bool:
    try:
        text = f"{error}\n{error!r}"
    except Exception:  # an exception whose __str__ fails shows nothing either
        return False
    return mask_foreign(text, secrets) != text


def clean_error(error: E, secrets: tuple[str, ...] = ()) -> E:
    """``error`` made safe to show, with its whole chain: the known secrets in the messages
    of satchel's errors are masked (:func:`mask_secrets`; their other characters stay, and
    so does what their arguments rebuild them from), a context suppressed with ``raise ...
    from None`` is dropped, and any other exception (a driver's, pydantic's) whose text
    holds a secret or a URL's credentials is cut from the chain, as ``__cause__`` or
    ``__context__``."""
    from satchel.errors import SatchelError

    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        if isinstance(link, SatchelError):
            masked = mask_secrets(link.message, secrets)
            if masked != link.message:
                link.message = masked
                link.args = tuple(
                    mask_secrets(a, secrets) if isinstance(a, str) else a for a in link.args
                )
        if link.__suppress_context__:
            link.__context__ = None
        for attribute in ("__cause__", "__context__"):
            child = getattr(link, attribute)
            if child is None:
                continue
            if not isinstance(child, SatchelError) and _leaks(child, secrets):
                setattr(link, attribute, None)
                link.__suppress_context__ = True
            else:
                stack.append(child)
    return error


def redact_url(url: str) -> str:
    """``url`` with its credentials masked: everything between ``scheme://`` and the last
    ``@`` of the URL, but the user name, becomes ``***``, and so does everything after a
    password-like parameter. Only the user name, the hosts, the path and the other
    parameters stay, so that no character of a password survives, whatever it holds."""
    scheme = _SCHEME.match(url.lstrip())
    if scheme is None:
        return scrub_secrets(url)
    text = url.lstrip()
    return text[: scheme.end()] + _redact_rest(text[scheme.end() :])[0]


def _display(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "***" if value.get_secret_value() else ""
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, tuple):
        return scrub_secrets(",".join(str(v) for v in value))
    if not isinstance(value, (int, float, type(None))) and "://" in str(value):
        return redact_url(str(value))  # pydantic URL types (RedisDsn, ...) print passwords
    return value


def settings_summary(settings: BaseSettings) -> dict[str, Any]:
    """``{ENV_VARIABLE: value}`` of a settings object, secrets masked, for display."""
    cls = type(settings)
    return {env_names(cls, name)[0]: _display(getattr(settings, name)) for name in cls.model_fields}


@dataclass(frozen=True)
class EnvVariable:
    """One environment variable, for listings and the configuration reference."""

    name: str
    aliases: tuple[str, ...]
    type: str
    default: str
    description: str
    secret: bool


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if get_origin(annotation) is None else None
    if text is None:
        text = str(annotation).replace("typing.", "")
    text = re.sub(r"Annotated\[(.*), NoDecode\]", r"\1", text)
    return text.replace("NoneType", "None").replace("pydantic.types.", "")


def describe_variables(settings_cls: type[BaseSettings]) -> list[EnvVariable]:
    """Every variable of ``settings_cls``, with its type, default and description."""
    out = []
    for name, info in settings_cls.model_fields.items():
        names = env_names(settings_cls, name)
        default = info.get_default(call_default_factory=True)
        shown = _display(default)
        out.append(
            EnvVariable(
                name=names[0],
                aliases=tuple(names[1:]),
                type=_type_name(info.annotation),
                default="(unset)" if shown in (None, "", ()) else str(shown),
                description=info.description or "",
                secret=_is_secret(settings_cls, name),
            )
        )
    return out
