"""What the three stores share: collection naming, TTL defaults, and the versioned result."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Generic, TypeAlias, TypeVar

from satchel.backend import Backend, expiry_after, utcnow
from satchel.validation import check_name, check_ttl

__all__ = ["DEFAULT", "Default", "TTL", "Versioned", "collection_name"]

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


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A stored value with its metadata.

    :param key: the key (task id, session id, KV key).
    :param value: the value (the caller's own copy).
    :param version: pass it as ``expected_version`` to update only this version.
    """

    key: str
    value: T
    version: int
    created_at: datetime | None
    updated_at: datetime | None
    expires_at: datetime | None


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
