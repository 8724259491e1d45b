"""What the three stores share: collection naming, TTL defaults, and the versioned result."""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeAlias, TypeVar

from satchel.backend import Backend, expiry_after, utcnow
from satchel.errors import InvalidArgument
from satchel.validation import check_name, check_ttl

__all__ = [
    "DEFAULT",
    "Default",
    "IndexExtractor",
    "TTL",
    "Versioned",
    "check_indexes",
    "collection_name",
    "index_entries",
    "deprecated_method",
    "renamed",
]

#: An index extractor: the index values of a stored value (several are allowed).
IndexExtractor = Callable[[Any], Iterable[str]]

T = TypeVar("T")


class Default(enum.Enum):
    """The type of :data:`DEFAULT`."""

    DEFAULT = "DEFAULT"

    def __repr__(self) -> str:
        return "DEFAULT"


#: "Use the store's default TTL" (as opposed to ``None``, "never expires").
DEFAULT: Final = Default.DEFAULT

TTL: TypeAlias = "float | timedelta | Default | None"


def collection_name(tenant: str, kind: str, name: str) -> str:
    """``tenant:kind:name``. The tenant and kind never contain ``:``, so the name may
    contain anything (but NUL) and two stores never share a collection."""
    return f"{tenant}:{kind}:{name}"


def check_indexes(indexes: Mapping[str, IndexExtractor] | None) -> dict[str, IndexExtractor]:
    """The declared indexes ``{name: extractor}``, checked: names as namespace names are,
    extractors callable. :class:`~satchel.errors.InvalidArgument` names the entry at fault."""
    if indexes is None:
        return {}
    if not isinstance(indexes, Mapping):
        raise InvalidArgument(
            f"indexes: must be a mapping of index name to extractor, not {indexes!r}"
        )
    checked: dict[str, IndexExtractor] = {}
    for index_name, extractor in indexes.items():
        check_name(index_name, "indexes key")
        if not callable(extractor):
            raise InvalidArgument(f"indexes[{index_name!r}]: must be callable, not {extractor!r}")
        checked[index_name] = extractor
    return checked


def index_entries(
    indexes: Mapping[str, IndexExtractor], subject: Any, key: str, what: str
) -> dict[str, tuple[str, ...]]:
    """The index entries of ``subject`` stored under ``key``: each extractor's values,
    deduplicated in order; an index with no value is left out. A value that is not a
    non-empty string is an :class:`~satchel.errors.InvalidArgument` naming the index and
    ``what`` is stored (``"task"``, ``"value"``)."""
    entries: dict[str, tuple[str, ...]] = {}
    for index_name, extractor in indexes.items():
        values = list(extractor(subject))
        for value in values:
            if not isinstance(value, str) or not value:
                raise InvalidArgument(
                    f"indexes[{index_name!r}]: the extractor returned {value!r} for {what} "
                    f"{key!r}; index values are non-empty strings"
                )
        if values:
            entries[index_name] = tuple(dict.fromkeys(values))
    return entries


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A stored value with its metadata.

    :param key: the key (task id, session id, KV key).
    :param value: the value (the caller's own copy).
    :param version: pass it as ``expected_version`` to update only this version.

    A plain class: ``isinstance(found, satchel.Versioned)`` holds for what every store's
    versioned read returns (and ``isinstance(entry, satchel.Entry)`` for a KV entry).
    """

    key: str
    value: T
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None


def renamed(new_value: Any, old_value: Any, *, old: str, new: str, method: str) -> Any:
    """The value of argument ``new``, given it may still arrive under its deprecated name
    ``old``: that warns (a :class:`DeprecationWarning` naming ``new``, pointing at the
    caller of ``method``), and giving both is an :class:`~satchel.errors.InvalidArgument`.
    Call it from the public method itself, so the warning points at the user's line."""
    if old_value is None:
        return new_value
    warnings.warn(
        f"{method}({old}=...) is deprecated; use {new}= (the same meaning). "
        f"The name {old}= goes in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )
    if new_value is not None:
        raise InvalidArgument(f"{old} and {new}: give {new} only ({old} is its old name)")
    return old_value


def deprecated_method(method: str, new: str) -> None:
    """Warn that ``method`` is the deprecated name of ``new`` (pointing at its caller)."""
    warnings.warn(
        f"{method}() is deprecated; use {new}() (the same meaning). "
        f"The name goes in the next release.",
        DeprecationWarning,
        stacklevel=3,
    )


class StoreBase:
    """A store over one collection, with a default TTL."""

    _kind: str = ""

    def __init__(self, backend: Backend, tenant: str, name: str, ttl: float | None) -> None:
        check_name(name, "name")
        self._backend = backend
        self.name = name
        self.collection = collection_name(tenant, self._kind, name)
        self.default_ttl = ttl

    def _expiry(self, ttl: Any, argument: str = "ttl") -> datetime | None:
        seconds = self.default_ttl if ttl is DEFAULT else check_ttl(ttl, argument)
        return expiry_after(seconds, utcnow()) if seconds is not None else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self._backend.describe()}>"
