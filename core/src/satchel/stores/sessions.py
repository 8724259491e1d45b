"""Session snapshots: one pydantic model per session id, with a TTL."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from satchel.backend import Backend, Page, Record
from satchel.errors import CorruptRecord, InvalidArgument
from satchel.query import Query
from satchel.stores.base import DEFAULT, TTL, StoreBase, Versioned, deprecated_method
from satchel.validation import check_key, check_limit, check_model, check_version

__all__ = ["AnySession", "SessionStore"]

M = TypeVar("M", bound=BaseModel)


class AnySession(BaseModel):
    """A session snapshot of any shape, read as the JSON fields it was stored with (in their
    order), for tools that do not import the session's own model (``satchel sessions``)."""

    model_config = ConfigDict(extra="allow")


class SessionStore(StoreBase, Generic[M]):
    """Session snapshots of one pydantic model, keyed by session id. Get it with
    :meth:`satchel.Satchel.sessions`. Each save may set its own TTL; the default is the
    store's (and, failing that, ``SATCHEL_DEFAULT_TTL``)."""

    _kind = "session"

    def __init__(
        self,
        backend: Backend,
        tenant: str,
        model: type[M],
        *,
        name: str = "sessions",
        ttl: float | None = None,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidArgument(f"model: must be a pydantic model class, not {model!r}")
        super().__init__(backend, tenant, name, ttl)
        self.model = model

    def _session(self, record: Record) -> M:
        try:
            return self.model.model_validate(record.value)
        except ValidationError as exc:
            raise CorruptRecord(
                f"session {record.key!r} in {self.collection!r} is not a valid "
                f"{self.model.__name__}: {exc.errors()[0]['msg']}"
            ) from exc

    async def save(
        self,
        session_id: str,
        session: M,
        *,
        ttl: TTL = DEFAULT,
        expected_version: int | None = None,
    ) -> int:
        """Store the snapshot (replacing any earlier one); return its version.

        :param ttl: seconds (or a ``timedelta``) to live; ``None``: never expires.
        :param expected_version: only if the stored snapshot is at this version
            (:class:`~satchel.errors.Conflict` otherwise).
        """
        check_key(session_id, "session_id")
        check_version(expected_version, "expected_version")
        if not isinstance(session, self.model):
            raise InvalidArgument(
                f"session: must be a {self.model.__name__}, not {type(session).__name__}"
            )
        record = Record(
            self.collection,
            session_id,
            check_model(session, "session"),
            expires_at=self._expiry(ttl),
        )
        return await self._backend.put_version(record, if_version=expected_version)

    async def load(self, session_id: str) -> M | None:
        """The snapshot, or ``None`` when there is none (or it expired)."""
        check_key(session_id, "session_id")
        record = await self._backend.get(self.collection, session_id)
        return None if record is None else self._session(record)

    async def load_versioned(self, session_id: str) -> Versioned[M] | None:
        """The snapshot with its version and timestamps, or ``None``."""
        check_key(session_id, "session_id")
        record = await self._backend.get(self.collection, session_id)
        if record is None:
            return None
        return Versioned(
            record.key,
            self._session(record),
            record.version,
            record.created_at,
            record.updated_at,
            record.expires_at,
        )

    async def delete(self, session_id: str, *, expected_version: int | None = None) -> bool:
        """Delete the snapshot; ``True`` if there was one.

        :param expected_version: only if the stored snapshot is at this version (else
            :class:`~satchel.errors.Conflict`, or :class:`~satchel.errors.NotFound`).
        """
        check_key(session_id, "session_id")
        check_version(expected_version, "expected_version")
        return await self._backend.delete(self.collection, session_id, if_version=expected_version)

    async def exists(self, session_id: str) -> bool:
        """Whether a (live) snapshot exists."""
        check_key(session_id, "session_id")
        return await self._backend.exists(self.collection, session_id)

    async def has(self, session_id: str) -> bool:
        """The deprecated name of :meth:`exists`."""
        deprecated_method("SessionStore.has", "SessionStore.exists")
        return await self.exists(session_id)

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[str]:
        """Session ids, sorted; page with ``limit`` and the page's ``next_cursor``."""
        query = Query.build(None, None, [], check_limit(limit), 0, cursor)
        page = await self._backend.query(self.collection, query)
        return Page([r.key for r in page.items], page.next_cursor)
