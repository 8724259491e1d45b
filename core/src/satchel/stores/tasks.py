"""Agent tasks: the Teal Agents task-persistence contract, without its defects."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from satchel.backend import Backend, Page, Record, utcnow
from satchel.errors import AlreadyExists, Conflict, CorruptRecord, InvalidArgument, NotFound
from satchel.query import Condition, Order, Query
from satchel.stores.base import (
    DEFAULT,
    TTL,
    IndexExtractor,
    StoreBase,
    Versioned,
    check_indexes,
    index_entries,
)
from satchel.toolkit import iter_pages
from satchel.validation import (
    check_key,
    check_limit,
    check_model,
    check_version,
    end_vouching,
    vouching,
)

__all__ = ["FINISHED_STATUSES", "AnyTask", "IndexExtractor", "TaskStore", "request_ids"]

M = TypeVar("M", bound=BaseModel)

#: Statuses :meth:`TaskStore.cleanup` removes by default.
FINISHED_STATUSES: tuple[str, ...] = ("Completed", "Failed", "Canceled")

REQUEST_ID_INDEX = "request_id"
_UPDATE_ATTEMPTS = 50


def request_ids(task: Any) -> list[str]:
    """The default ``request_id`` extractor: a task's own ``request_id`` field, if it has
    one, and the ``request_id`` of each of its ``items`` (Teal Agents' ``AgentTask`` stamps
    one on every item)."""
    found: list[str] = []
    own = getattr(task, "request_id", None)
    if isinstance(own, str) and own:
        found.append(own)
    for item in getattr(task, "items", None) or ():
        value = (
            item.get("request_id")
            if isinstance(item, Mapping)
            else getattr(item, "request_id", None)
        )
        if isinstance(value, str) and value:
            found.append(value)
    return found


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


class AnyTask(BaseModel):
    """A task of any shape, read as the JSON fields it was stored with (in their order), for
    tools that do not import the task's own model (the ``satchel tasks`` commands):
    ``TaskStore(..., AnyTask)`` names any field as its ``id_field`` and ``status_field``."""

    model_config = ConfigDict(extra="allow")


def _has_field(model: type[BaseModel], name: str) -> bool:
    """Whether instances of ``model`` can carry the field ``name`` (declared, or any field
    when the model allows extra fields)."""
    return name in model.model_fields or model.model_config.get("extra") == "allow"


class TaskStore(StoreBase, Generic[M]):
    """Agent tasks of one pydantic model. Get it with :meth:`satchel.Satchel.tasks`.

    Every task is stored under its id field (``task_id`` by default) as the model's JSON
    form. Declared indexes (``request_id`` always) are multi-valued: each extractor returns
    every value under which a task can be found.
    """

    _kind = "task"

    def __init__(
        self,
        backend: Backend,
        tenant: str,
        model: type[M],
        *,
        name: str = "tasks",
        ttl: float | None = None,
        id_field: str = "task_id",
        status_field: str = "status",
        indexes: Mapping[str, IndexExtractor] | None = None,
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidArgument(f"model: must be a pydantic model class, not {model!r}")
        if not _has_field(model, id_field):
            raise InvalidArgument(
                f"id_field: {model.__name__} has no field {id_field!r}; pass id_field= "
                "to name the field holding the task id"
            )
        super().__init__(backend, tenant, name, ttl)
        self.model = model
        self.id_field = id_field
        self.status_field = status_field if _has_field(model, status_field) else None
        self.indexes: dict[str, IndexExtractor] = {
            REQUEST_ID_INDEX: request_ids,
            **check_indexes(indexes),
        }

    # -- helpers --------------------------------------------------------------------------

    def _check_task(self, task: Any, argument: str = "task") -> str:
        if not isinstance(task, self.model):
            raise InvalidArgument(
                f"{argument}: must be a {self.model.__name__}, not {type(task).__name__}"
            )
        return check_key(getattr(task, self.id_field, None), f"{argument}.{self.id_field}")

    def _record(self, task: M, key: str, ttl: TTL) -> Record:
        return Record(
            self.collection,
            key,
            check_model(task, "task"),
            expires_at=self._expiry(ttl),
            index=index_entries(self.indexes, task, key, "task"),
        )

    def _task(self, record: Record) -> M:
        try:
            return self.model.model_validate(record.value)
        except ValidationError as exc:
            raise CorruptRecord(
                f"task {record.key!r} in {self.collection!r} is not a valid "
                f"{self.model.__name__}: {exc.error_count()} problem(s), first: "
                f"{exc.errors()[0]['msg']} at {'.'.join(map(str, exc.errors()[0]['loc']))}"
            ) from exc

    def _versioned(self, record: Record) -> Versioned[M]:
        return Versioned(
            record.key,
            self._task(record),
            record.version,
            record.created_at,
            record.updated_at,
            record.expires_at,
        )

    def _status_condition(self, status: Any) -> Condition:
        if self.status_field is None:
            raise InvalidArgument(f"status: {self.model.__name__} has no status field")
        if isinstance(status, (list, tuple, set, frozenset)):
            return Condition.of(
                self.status_field, "in", [_plain(s) for s in status], argument="status"
            )
        return Condition.of(self.status_field, "eq", _plain(status), argument="status")

    # -- the Teal Agents contract ---------------------------------------------------------

    async def create(self, task: M, *, ttl: TTL = DEFAULT) -> int:
        """Store a new task; return its version (1).

        :raises AlreadyExists: a task with this id exists; nothing was written.
        """
        key = self._check_task(task)
        vouched = vouching()  # the backend takes the JSON the check makes
        try:
            return await self._backend.put_version(self._record(task, key, ttl), if_absent=True)
        except AlreadyExists:
            raise AlreadyExists(
                f"task {key!r} already exists in {self.name!r}; use update() to change it"
            ) from None
        finally:
            end_vouching(vouched)

    async def load(self, task_id: str) -> M | None:
        """The task, or ``None`` when there is none (or it expired)."""
        check_key(task_id, "task_id")
        record = await self._backend.get(self.collection, task_id)
        return None if record is None else self._task(record)

    async def load_versioned(self, task_id: str) -> Versioned[M] | None:
        """The task with its version (for :meth:`update`'s ``expected_version``), or ``None``."""
        check_key(task_id, "task_id")
        record = await self._backend.get(self.collection, task_id)
        return None if record is None else self._versioned(record)

    async def update(
        self, task: M, *, expected_version: int | None = None, ttl: TTL = DEFAULT
    ) -> int:
        """Replace a stored task; return its new version.

        :param expected_version: only if the stored task is at this version; a concurrent
            writer then makes this raise :class:`Conflict` instead of being overwritten.
        :raises NotFound: there is no such task.
        :raises Conflict: ``expected_version`` is stale.
        """
        key = self._check_task(task)
        check_version(expected_version, "expected_version")
        vouched = vouching()  # the backend takes the JSON the check makes
        try:
            record = self._record(task, key, ttl)
            if expected_version is not None:
                return await self._put_existing(record, expected_version)
        finally:
            end_vouching(vouched)
        # No expected version: last writer wins, but never on a task that does not exist.
        # Each attempt is a conditional write on the version just read, so a delete that
        # lands in between is noticed instead of resurrecting the task.
        for _ in range(_UPDATE_ATTEMPTS):
            current = await self._backend.get(self.collection, key)
            if current is None:
                break
            try:
                return await self._put_existing(record, current.version)
            except Conflict:
                continue
            except NotFound:
                break
        else:
            raise Conflict(
                f"task {key!r} kept changing under {_UPDATE_ATTEMPTS} attempts to update it; "
                "use expected_version and retry"
            )
        raise NotFound(f"task {key!r} does not exist in {self.name!r}; use create() first")

    async def save(self, task: M, *, ttl: TTL = DEFAULT) -> int:
        """Store ``task``, whether or not one with its id exists (create or replace); return
        its new version (a replaced task's version plus one; versions never repeat for an
        id, so a task saved after a delete does not start again at 1).

        Unconditional: the last writer wins, whatever version is stored (there is no
        ``expected_version``); use :meth:`create` to refuse a task that exists,
        :meth:`update` to refuse one that does not, and ``update(task,
        expected_version=...)`` to refuse a concurrent change. The index entries
        (``request_id`` and the declared indexes) are the task's own, replacing those of a
        replaced task, and the TTL is taken as :meth:`create` and :meth:`update` take it.
        """
        key = self._check_task(task)
        vouched = vouching()  # the backend takes the JSON the check makes
        try:
            return await self._backend.put_version(self._record(task, key, ttl))
        finally:
            end_vouching(vouched)

    async def _put_existing(self, record: Record, version: int) -> int:
        try:
            return await self._backend.put_version(record, if_version=version)
        except NotFound:
            raise NotFound(
                f"task {record.key!r} does not exist in {self.name!r}; use create() first"
            ) from None
        except Conflict as exc:
            raise Conflict(
                f"task {record.key!r} was changed by someone else (now version "
                f"{exc.actual}, expected {exc.expected}); load it again and retry",
                expected=exc.expected,
                actual=exc.actual,
            ) from None

    async def delete(self, task_id: str, *, expected_version: int | None = None) -> None:
        """Delete a task.

        :raises NotFound: there is no such task.
        :raises Conflict: ``expected_version`` is stale; nothing was deleted.
        """
        check_key(task_id, "task_id")
        check_version(expected_version, "expected_version")
        try:
            deleted = await self._backend.delete(
                self.collection, task_id, if_version=expected_version
            )
        except NotFound:
            deleted = False
        if not deleted:
            raise NotFound(f"task {task_id!r} does not exist in {self.name!r}")

    async def load_by_request_id(self, request_id: str) -> M | None:
        """The task one of whose items carries ``request_id``: the most recently updated
        one when several do (ties broken by task id), or ``None``."""
        check_key(request_id, "request_id")
        found = await self.find(REQUEST_ID_INDEX, request_id, limit=1)
        return found[0] if found else None

    # -- beyond it ------------------------------------------------------------------------

    async def exists(self, task_id: str) -> bool:
        """Whether the task exists."""
        check_key(task_id, "task_id")
        return await self._backend.exists(self.collection, task_id)

    async def find(self, index: str, value: str, *, limit: int | None = None) -> list[M]:
        """The tasks whose declared index ``index`` holds ``value``, most recently updated
        first (ties broken by task id)."""
        return [found.value for found in await self.find_versioned(index, value, limit=limit)]

    async def find_versioned(
        self, index: str, value: str, *, limit: int | None = None
    ) -> list[Versioned[M]]:
        """:meth:`find`, each task with its version and timestamps."""
        if index not in self.indexes:
            raise InvalidArgument(
                f"index: {index!r} is not declared; declared: {', '.join(sorted(self.indexes))}"
            )
        check_key(value, "value")
        check_limit(limit)
        records = await self._backend.find(self.collection, index, value)
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        records.sort(key=lambda r: r.key)
        records.sort(key=lambda r: r.updated_at or epoch, reverse=True)
        return [self._versioned(r) for r in records[:limit]]

    def _stale_conditions(
        self, older_than: timedelta | datetime, statuses: Sequence[Any] | None
    ) -> tuple[Condition, ...]:
        if isinstance(older_than, timedelta):
            if older_than < timedelta(0):
                raise InvalidArgument(f"older_than: must not be negative, not {older_than!r}")
            try:
                cutoff = utcnow() - older_than
            except OverflowError:  # older than the calendar: no task was updated before
                cutoff = datetime.min.replace(tzinfo=timezone.utc)
        elif isinstance(older_than, datetime):
            cutoff = older_than if older_than.tzinfo else older_than.replace(tzinfo=timezone.utc)
        else:
            raise InvalidArgument(
                f"older_than: must be a timedelta or a datetime, not {older_than!r}"
            )
        # inclusive: with older_than=0, a task finished in this very millisecond goes too
        where = [Condition.of("updated_at", "lte", cutoff)]
        if statuses is not None and self.status_field is not None:
            if isinstance(statuses, (str, enum.Enum)):
                statuses = [statuses]  # one status, not its characters
            where.append(self._status_condition(list(statuses)))
        return tuple(where)

    async def stale(
        self,
        older_than: timedelta | datetime,
        *,
        statuses: Sequence[Any] | None = FINISHED_STATUSES,
    ) -> list[Versioned[M]]:
        """The tasks :meth:`cleanup` with the same arguments would delete now, oldest update
        first (ties by task id): to show them before deleting them (pass each one's version
        as :meth:`delete`'s ``expected_version``, as :meth:`cleanup` does)."""
        conditions = self._stale_conditions(older_than, statuses)
        records: list[Record] = []
        async for page in iter_pages(
            lambda cursor: self._backend.query(
                self.collection, Query(conditions, limit=200, cursor=cursor)
            )
        ):
            records.extend(page.items)
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        records.sort(key=lambda r: (r.updated_at or epoch, r.key))
        return [self._versioned(r) for r in records]

    async def list(
        self,
        *,
        status: Any = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[M]:
        """Tasks, most recently updated first, optionally of one status (or any of a list).

        :param limit: at most this many; use ``next_cursor`` of the page for the next ones.
        """
        page = await self.list_versioned(status=status, limit=limit, cursor=cursor)
        return Page([found.value for found in page.items], page.next_cursor)

    async def list_versioned(
        self,
        *,
        status: Any = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[Versioned[M]]:
        """:meth:`list`, each task with its version and timestamps."""
        where = () if status is None else (self._status_condition(status),)
        query = Query.build(
            list(where), [Order(("updated_at",), True)], None, check_limit(limit), 0, cursor
        )
        page = await self._backend.query(self.collection, query)
        return Page([self._versioned(r) for r in page.items], page.next_cursor)

    async def count(self, *, status: Any = None) -> int:
        """How many tasks there are (of ``status``)."""
        where = () if status is None else (self._status_condition(status),)
        return await self._backend.count(self.collection, where)

    async def cleanup(
        self,
        older_than: timedelta | datetime,
        *,
        statuses: Sequence[Any] | None = FINISHED_STATUSES,
    ) -> int:
        """Delete finished tasks not updated since ``older_than`` (a cutoff time, or an age);
        return how many were deleted.

        :param statuses: the statuses a task must have to go (default
            :data:`FINISHED_STATUSES`); ``None``: any status. Ignored when the model has no
            status field.

        A task updated while the clean-up runs is left alone (each delete is conditional
        on the version that was read).
        """
        conditions = self._stale_conditions(older_than, statuses)
        deleted = 0
        async for page in iter_pages(
            lambda cursor: self._backend.query(
                self.collection, Query(conditions, select=(), limit=200, cursor=cursor)
            )
        ):
            for record in page.items:
                try:
                    if await self._backend.delete(
                        self.collection, record.key, if_version=record.version
                    ):
                        deleted += 1
                except (Conflict, NotFound):
                    continue
        return deleted
