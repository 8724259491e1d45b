"""The records of :class:`~satchel_adk.SatchelSessionService`: keys, revision markers,
argument checks, events as stored, the conflict rule, and the key-by-key merge of the
``app:`` and ``user:`` scopes."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from google.adk.events.event import Event
from google.adk.sessions import _session_util
from google.adk.sessions.state import State
from pydantic import ValidationError

from satchel import AlreadyExists, Conflict, CorruptRecord, InvalidArgument, NotFound
from satchel.stores.kv import KVStore
from satchel.validation import check_json, check_key

#: How many times a write of a scope is retried after losing a race before it gives up.
MAX_MERGE_ATTEMPTS: Final = 640
_MARKER: Final = "satchel"


@dataclass(frozen=True)
class Mark:
    """What a session object was read at: the head's version, its tip and incarnation."""

    version: int
    tip: int
    incarnation: str


def part(text: str) -> str:
    # no encoded part holds "/", so a prefix of parts selects exactly their sessions
    return text.replace("%", "%25").replace("/", "%2F")


def session_key(app_name: str, user_id: str, session_id: str) -> str:
    return f"{part(app_name)}/{part(user_id)}/{part(session_id)}"


def log_key(key: str, head: Mapping[str, Any]) -> str:
    """The key of the event log of the session whose head is ``head``: one of its own per
    incarnation (a head stored before incarnations had logs of their own: the session's key)."""
    log = head.get("log")
    return log if isinstance(log, str) else key


def user_key(app_name: str, user_id: str) -> str:
    return f"{part(app_name)}/{part(user_id)}"


def marker(version: int, tip: int, incarnation: str) -> str:
    return f"{_MARKER}:{version}:{tip}:{incarnation}"


def parse_marker(marker: Any) -> Mark | None:
    if not isinstance(marker, str):
        return None
    parts = marker.split(":")
    if len(parts) != 4 or parts[0] != _MARKER or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return Mark(int(parts[1]), int(parts[2]), parts[3])


def name(value: Any, argument: str) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"{argument}: must be a string, not {type(value).__name__}")
    return check_key(value, argument)


def session_id(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"session_id: must be a string, not {type(value).__name__}")
    return value.strip()  # as ADK's InMemorySessionService


def json_state(state: Mapping[str, Any], argument: str) -> dict[str, Any]:
    """``state`` as JSON (rich values converted as ADK's database service converts them),
    checked: :class:`InvalidArgument` names the key at fault."""
    for key in state:
        if not isinstance(key, str):
            raise InvalidArgument(f"{argument}: keys must be strings, not {key!r}")
    converted = _session_util.make_json_safe_state(dict(state))
    for key, value in converted.items():
        check_json(value, f"{argument}[{key!r}]")
    return converted


def scopes(delta: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return _session_util.extract_state_delta(dict(delta))


def payload(event: Event) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event as stored (its ``temp:`` state left out) and its state delta, as JSON."""
    delta = {
        k: v
        for k, v in (event.actions.state_delta or {}).items()
        if not k.startswith(State.TEMP_PREFIX)
    }
    json_delta = json_state(delta, "event.actions.state_delta")
    try:
        data = event.model_dump(
            mode="json", exclude_none=True, exclude={"actions": {"state_delta"}}
        )
    except ValueError as exc:  # pydantic's serialization errors are ValueErrors
        raise InvalidArgument(f"event: cannot be stored as JSON: {exc}") from None
    data.setdefault("actions", {})["state_delta"] = json_delta
    check_json(data, "event")
    return data, json_delta


_EMPTY: Final[tuple[Any, ...]] = ({}, [], None, False)


def state_only(event: Mapping[str, Any]) -> bool:
    """Whether a stored event only changes state: no content, output or error, and no
    action but its state delta. Such an event can follow or precede another writer's turn
    without splitting a conversation."""
    content = event.get("content")
    if content and content.get("parts"):
        return False
    if event.get("output") is not None or event.get("error_code") or event.get("error_message"):
        return False
    actions = event.get("actions") or {}
    return all(value in _EMPTY for name, value in actions.items() if name != "state_delta")


def conflicts(foreign: Sequence[Mapping[str, Any]], event: Mapping[str, Any]) -> str | None:
    """Why appending ``event`` after the ``foreign`` events (committed by another writer
    since the caller read the session) would be wrong, or ``None`` when it is not."""
    keys = set(event["actions"]["state_delta"])
    mine_state_only = state_only(event)
    for entry in foreign:
        theirs = entry["event"]
        both = keys & set((theirs.get("actions") or {}).get("state_delta") or {})
        if both:
            return f"both changed the state key {sorted(both)[0]!r}"
        if not mine_state_only and not state_only(theirs):
            return (
                f"event {theirs.get('id')!r} of invocation {theirs.get('invocation_id')!r} "
                "was added to the history, and this event would follow it unseen"
            )
    return None


def merged(
    value: Mapping[str, Any], app_state: Mapping[str, Any], user_state: Mapping[str, Any]
) -> dict[str, Any]:
    state = dict(value["state"])
    for key, item in app_state.items():
        state[State.APP_PREFIX + key] = copy.deepcopy(item)
    for key, item in user_state.items():
        state[State.USER_PREFIX + key] = copy.deepcopy(item)
    return state


def check_entry(seq: int, value: Any, key: str) -> dict[str, Any]:
    """The log entry ``seq`` checked: an event and ``prev``, the sequence number of the
    entry before it, which is always smaller (it was the tip when this one was appended);
    a damaged ``prev`` that is not would send the readers round in a loop."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("prev"), int)
        or isinstance(value["prev"], bool)
        or not isinstance(value.get("event"), dict)
    ):
        raise CorruptRecord(f"event log {key!r}: entry {seq} is not an event entry")
    if not 0 <= value["prev"] < seq:
        raise CorruptRecord(
            f"event log {key!r}: entry {seq} names entry {value['prev']} as the one before "
            "it, which is not an earlier entry"
        )
    return value


def stored_event(entry: Mapping[str, Any], log: str) -> Event:
    """The event of a committed log entry; :class:`CorruptRecord` naming the log (and the
    event's id, never its content) when it is not an event."""
    try:
        return Event.model_validate(entry["event"])
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the event"
        event_id = entry["event"].get("id")
        raise CorruptRecord(
            f"event log {log!r}: event {event_id!r} is not an ADK Event: "
            f"{exc.error_count()} problem(s), first: {first['msg']} at {where}"
        ) from None


async def merge(
    store: KVStore, key: str, ids: Mapping[str, Any], delta: Mapping[str, Any]
) -> dict[str, Any]:
    """Set the keys of ``delta`` in the ``state`` of the record ``key`` (creating it), by
    compare-and-set, retried until it lands; return the record's state after it. With an
    empty delta, only read it."""
    for _attempt in range(MAX_MERGE_ATTEMPTS):
        entry = await store.get_entry(key)
        if not delta:
            return dict((entry.value if entry else {}).get("state", {}))
        try:
            if entry is None:
                value = {**ids, "state": dict(delta)}
                await store.set(key, value, if_absent=True)
            else:
                value = dict(entry.value)
                value["state"] = {**value.get("state", {}), **delta}
                await store.set(key, value, expected_version=entry.version)
        except (AlreadyExists, Conflict, NotFound):
            continue
        return dict(value["state"])
    raise Conflict(f"state {key!r}: too many concurrent writers; try again")
