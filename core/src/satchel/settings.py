"""Settings: environment variables, read with pydantic-settings.

Core reads ``SATCHEL_*`` (:class:`SatchelSettings`); each backend plugin has a settings class
whose variables are ``SATCHEL_<NAME>_<FIELD>``, built with :func:`plugin_settings_config`
so that every plugin names its variables the same way and core can list them all
(:func:`describe_variables`, ``satchel backends``, ``docs/configuration.md``).

A setting may be read from several variables (``AliasChoices``), the first set one winning:
``SATCHEL_*`` first, then Teal Agents' names, then the generic names many platforms set
(``KV_STORE_BACKEND``, ``KV_STORE_TTL``, ``REDIS_URL``: :data:`KV_STORE_BACKEND_VARIABLE`),
at the lowest precedence. A settings class may say which of its variables are not used in
an environment (a classmethod ``ignored_variables(environ)``: ``REDIS_URL`` beside a host
and port); :func:`drop_ignored` applies it in a ``mode="before"`` model validator, and
:func:`variable_source` tells which variable a setting's value comes from.

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

from satchel import teal
from satchel.errors import ConfigError, InvalidArgument
from satchel.redaction import (  # re-exported: plugins import them from here
    check_url_userinfo,
    clean_error,
    mask_foreign,
    mask_secrets,
    redact_url,
    scrub_secrets,
    secret_parts,
)
from satchel.validation import MAX_TTL_SECONDS

__all__ = [
    "KV_STORE_BACKEND_VARIABLE",
    "KV_STORE_TTL_VARIABLE",
    "EnvVariable",
    "drop_ignored",
    "check_url_userinfo",
    "clean_error",
    "settings_secrets",
    "SatchelSettings",
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
    "variable_source",
]

S = TypeVar("S", bound=BaseSettings)

#: The elizaOS KV store proposal's variables, read at the lowest precedence: aliases of
#: ``SATCHEL_BACKEND`` and ``SATCHEL_DEFAULT_TTL``, used only when neither the ``SATCHEL_*``
#: variable nor a higher alias is set.
KV_STORE_BACKEND_VARIABLE = "KV_STORE_BACKEND"
KV_STORE_TTL_VARIABLE = "KV_STORE_TTL"

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
        validation_alias=AliasChoices("SATCHEL_BACKEND", KV_STORE_BACKEND_VARIABLE),
        description="The backend to use: the entry-point name of an installed plugin "
        "(`memory`, `redis`, `mongodb`, ...). `KV_STORE_BACKEND` is read as an alias, at the "
        "lowest precedence (not when Teal Agents' `TA_PERSISTENCE_*` name its Redis example).",
    )
    backend_module: str | None = Field(
        None,
        validation_alias=AliasChoices("SATCHEL_BACKEND_MODULE", teal.PERSISTENCE_MODULE_VARIABLE),
        description="A custom backend: a Python file path (`path/to/backend.py`) or a dotted "
        "module (`package.module`). Needs `SATCHEL_BACKEND_CLASS`; wins over "
        "`SATCHEL_BACKEND`. Teal Agents' `TA_PERSISTENCE_MODULE` is read as an alias.",
    )
    backend_class: str | None = Field(
        None,
        validation_alias=AliasChoices("SATCHEL_BACKEND_CLASS", teal.PERSISTENCE_CLASS_VARIABLE),
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
        validation_alias=AliasChoices("SATCHEL_DEFAULT_TTL", KV_STORE_TTL_VARIABLE),
        description="Seconds a record lives when a store and the call give no TTL "
        "(unset: records never expire). `KV_STORE_TTL` (seconds too) is read as an alias, "
        "at the lowest precedence.",
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

    @classmethod
    def ignored_variables(cls, environ: Mapping[str, str]) -> frozenset[str]:
        """``KV_STORE_BACKEND`` when Teal Agents' variables name its Redis example (which
        selects the ``redis`` backend, and ranks above the lowest aliases)."""
        module = _first_set(environ, "SATCHEL_BACKEND_MODULE", teal.PERSISTENCE_MODULE_VARIABLE)
        class_name = _first_set(environ, "SATCHEL_BACKEND_CLASS", teal.PERSISTENCE_CLASS_VARIABLE)
        if teal.is_redis_example(module, class_name):
            return frozenset({KV_STORE_BACKEND_VARIABLE})
        return frozenset()

    @model_validator(mode="before")
    @classmethod
    def _drop_ignored(cls, data: Any) -> Any:
        return drop_ignored(cls, data)

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
        if teal.is_redis_example(self.backend_module, self.backend_class):
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
        if teal.is_default_manager(self.backend_module, self.backend_class):
            return None
        module_var = variable_in_use(
            "SATCHEL_BACKEND_MODULE", teal.PERSISTENCE_MODULE_VARIABLE, environ
        )
        class_var = variable_in_use(
            "SATCHEL_BACKEND_CLASS", teal.PERSISTENCE_CLASS_VARIABLE, environ
        )
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


def _first_set(env: Mapping[str, str], *names: str) -> str | None:
    """The value of the first of ``names`` set (not empty) in ``env``, or ``None``."""
    for name in names:
        value = _env_get(env, name)
        if value:
            return value
    return None


def _ignored(settings_cls: type[BaseSettings], env: Mapping[str, str]) -> frozenset[str]:
    hook = getattr(settings_cls, "ignored_variables", None)
    if not callable(hook):
        return frozenset()
    return frozenset(str(name).upper() for name in hook(env))


def variable_source(
    settings_cls: type[BaseSettings], field_name: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The variable ``field_name`` takes its value from in ``environ`` (default: the
    environment being read, ``os.environ`` outside :func:`load_settings`): the first of
    its variables (:func:`env_names`, in order of precedence) that is set, not empty and
    not ignored by the class (its ``ignored_variables(environ)``); ``None`` when none is."""
    env = _environment() if environ is None else environ
    ignored = _ignored(settings_cls, env)
    for name in env_names(settings_cls, field_name):
        if name not in ignored and _env_get(env, name):
            return name
    return None


def drop_ignored(settings_cls: type[BaseSettings], data: Any) -> Any:
    """``data`` (what a ``mode="before"`` model validator of ``settings_cls`` receives)
    without the values read from variables the class ignores in this environment (its
    ``ignored_variables(environ)``), so that such a setting takes its default, as if the
    variable were unset. Values given in code are kept."""
    if not isinstance(data, dict):
        return data
    env = _environment()
    if not _ignored(settings_cls, env):
        return data
    kept = dict(data)
    for name in settings_cls.model_fields:
        names = env_names(settings_cls, name)
        # pydantic-settings keys a value read from any of a field's variables by the first
        key = next((k for k in kept if isinstance(k, str) and k.upper() == names[0]), None)
        if key is None or variable_source(settings_cls, name, env) is not None:
            continue
        if any(_env_get(env, n) for n in names):  # set, but only in ignored variables
            del kept[key]
    return kept


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
    #: The variable the value comes from in the environment described (:func:`variable_source`):
    #: ``name``, one of ``aliases``, or ``None`` when none is set (or only ignored ones).
    source: str | None = None


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if get_origin(annotation) is None else None
    if text is None:
        text = str(annotation).replace("typing.", "")
    text = re.sub(r"Annotated\[(.*), NoDecode\]", r"\1", text)
    return text.replace("NoneType", "None").replace("pydantic.types.", "")


def describe_variables(
    settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
) -> list[EnvVariable]:
    """Every variable of ``settings_cls``, with its type, default and description, and
    where its value comes from in ``environ`` (default: ``os.environ``): ``source``."""
    env = _environment() if environ is None else environ
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
                source=variable_source(settings_cls, name, env),
            )
        )
    return out
