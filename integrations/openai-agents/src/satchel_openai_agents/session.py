""":class:`SatchelSession`: the OpenAI Agents SDK's ``Session`` protocol over a satchel log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from satchel import InvalidArgument, Satchel
from satchel.backend import MAX_LOG_BATCH
from satchel.shared import HandleOwner
from satchel.stores.logs import MAX_PAGE, LogStore
from satchel.validation import check_key, check_name, check_ttl

if TYPE_CHECKING:
    from agents import TResponseInputItem
    from agents.memory import SessionSettings

__all__ = ["LOG_NAME", "SatchelSession"]

#: The log store the sessions live in by default (one log per ``session_id``).
LOG_NAME = "openai-agents"
_UNSET: Any = object()


class SatchelSession(HandleOwner):
    """Conversation history for the OpenAI Agents SDK, kept in a satchel log: one log per
    ``session_id``, one entry per input item, on whichever backend satchel is configured
    with. Pass it to ``Runner.run(..., session=...)``.

    * ``SatchelSession(session_id)``: the process's handle, opened from the environment
      (``SATCHEL_BACKEND`` and the rest, as :func:`satchel.open` reads them) the first time
      any session needs it and shared by every session built this way;
    * ``SatchelSession(session_id, store=handle)``: a handle the program opened itself (and
      closes itself);
    * ``SatchelSession.open(session_id, backend=..., ...)``: a handle of its own, closed by
      :meth:`close` or at the end of ``async with``.

    :param session_id: the conversation (any non-empty string).
    :param store: the satchel handle to keep it in (default: the process's handle).
    :param ttl: seconds (or a ``timedelta``) the history lives after its last
        :meth:`add_items`; ``None``: forever; default: the handle's ``default_ttl``.
    :param session_settings: the SDK's ``SessionSettings`` (or a mapping of them); its
        ``limit`` is the default of :meth:`get_items`.
    :param log_name: the log store the sessions live in.
    :raises InvalidArgument: an argument has the wrong type or value; the message names it.
    """

    session_id: str
    session_settings: SessionSettings | None

    def __init__(
        self,
        session_id: str,
        *,
        store: Satchel | None = None,
        ttl: float | timedelta | None = _UNSET,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        log_name: str = LOG_NAME,
    ) -> None:
        self.session_id = check_key(session_id, "session_id")
        self._init_handle(store)
        if ttl is not _UNSET:
            check_ttl(ttl)
        self.session_settings = _settings(session_settings)
        self._ttl = ttl
        self._log_name = check_name(log_name, "log_name")
        self._logs: LogStore[Any] | None = None

    @classmethod
    def open(
        cls,
        session_id: str,
        *,
        ttl: float | timedelta | None = _UNSET,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        log_name: str = LOG_NAME,
        **open_arguments: Any,
    ) -> SatchelSession:
        """A session on a handle of its own, ``satchel.open(**open_arguments)``
        (``backend="redis", backend_settings={"url": ...}``), which :meth:`close` closes."""
        import satchel

        store = satchel.open(**open_arguments)
        session = cls(
            session_id,
            store=store,
            ttl=ttl,
            session_settings=session_settings,
            log_name=log_name,
        )
        session._adopt(store)
        return session

    @property
    def logs(self) -> LogStore[Any]:
        """The log store the history is in (key: ``session_id``)."""
        if self._logs is None:
            store = self.store
            if self._ttl is _UNSET:
                self._logs = store.logs(self._log_name)
            else:
                self._logs = store.logs(self._log_name, ttl=self._ttl)
        return self._logs

    # -- the Session protocol ---------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        """The history, oldest first: all of it (``limit=None``, and no limit in
        ``session_settings``), or its last ``limit`` items; none when ``limit <= 0``."""
        if limit is None and self.session_settings is not None:
            limit = self.session_settings.limit
        if limit is None:
            return await self._all()
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidArgument(f"limit: must be a whole number or None, not {limit!r}")
        if limit <= 0:
            return []
        if limit > MAX_PAGE:
            return (await self._all())[-limit:]
        last = await self.logs.last(self.session_id, limit)
        return [cast("TResponseInputItem", e.value) for e in last]

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        """Append ``items`` (at most 10,000) as one atomic step: all of them or none, next to
        each other, after everything appended before. Renews the history's time to live."""
        if not isinstance(items, (list, tuple)):
            raise InvalidArgument(f"items: must be a list of input items, not {items!r:.80}")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise InvalidArgument(
                    f"items[{i}]: must be an input item (a dict), not {type(item).__name__}"
                )
        if len(items) > MAX_LOG_BATCH:
            raise InvalidArgument(
                f"items: at most {MAX_LOG_BATCH} items per call, not {len(items)}"
            )
        if items:
            await self.logs.append(self.session_id, *items)

    async def pop_item(self) -> TResponseInputItem | None:
        """Remove the newest item and return it (``None`` when the history is empty), as one
        atomic step: two concurrent pops never return the same item."""
        popped = await self.logs.pop(self.session_id, 1)
        return cast("TResponseInputItem", popped[0].value) if popped else None

    async def clear_session(self) -> None:
        """Delete the whole history."""
        await self.logs.delete(self.session_id)

    # -- lifecycle --------------------------------------------------------------------------

    # close(), async with: satchel.shared.HandleOwner

    async def _all(self) -> list[TResponseInputItem]:
        return [e.value async for e in self.logs.items(self.session_id, batch_size=MAX_PAGE)]

    def __repr__(self) -> str:
        return f"<SatchelSession {self.session_id!r} in log store {self._log_name!r}>"


def _settings(value: Any) -> SessionSettings | None:
    # the SDK is imported here, not with the module: a program that only moves histories
    # around (or a worker process) starts without loading it
    if value is None:
        return None
    from agents.memory import SessionSettings
    from agents.memory.session_settings import coerce_session_settings

    if not isinstance(value, (SessionSettings, Mapping)):
        raise InvalidArgument(
            f"session_settings: must be SessionSettings or a mapping, not {type(value).__name__}"
        )
    try:
        return coerce_session_settings(value if isinstance(value, SessionSettings) else dict(value))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"session_settings: {exc}") from None
