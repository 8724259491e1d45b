"""The order :class:`~satchel_adk.SatchelSessionService` lists sessions in, kept in a
:class:`satchel.ranking.Ranking` beside the heads (``{prefix}-ranks``), so that a page of a
listing reads only its entries and their sessions.

Every session has two entries, one in the group of its app (``a/<app>``) and one in the
group of its user (``u/<app>/<user>``); both ranks start with its ``last_update_time``,
then the app's rank has the user id and the session id, the user's the session id: the
order of a listing, least recently updated first, ties by user id then id. An entry's value
names its session and the time it was placed for; it is current while the session's head
holds that time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from satchel.ranking import sortable_number, sortable_text
from satchel_adk import records

#: The key, in the ranks namespace, of the record that says every session is ranked (the
#: sessions stored before the ranks were rebuilt once).
READY_KEY: Final = "ready"


def app_group(app_name: str) -> str:
    return f"a/{records.part(app_name)}"


def user_group(app_name: str, user_id: str) -> str:
    return f"u/{records.user_key(app_name, user_id)}"


def places(
    app_name: str, user_id: str, session_id: str, time: float
) -> list[tuple[str, str, dict[str, Any]]]:
    """The ``(group, rank, value)`` of the session's two entries at ``time``."""
    at = sortable_number(time)
    value: dict[str, Any] = {"app_name": app_name, "user_id": user_id, "id": session_id, "t": time}
    return [
        (app_group(app_name), at + sortable_text(user_id) + sortable_text(session_id), value),
        (user_group(app_name, user_id), at + sortable_text(session_id), value),
    ]


def head_places(head: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The entries a head is ranked by."""
    return places(head["app_name"], head["user_id"], head["id"], head["last_update_time"])


def head_key(entry_value: Any) -> str | None:
    """The key of the head an entry ranks (``None`` for what is not an entry)."""
    if not isinstance(entry_value, dict):
        return None
    try:
        return records.session_key(
            entry_value["app_name"], entry_value["user_id"], entry_value["id"]
        )
    except (KeyError, AttributeError):
        return None


def is_current(entry_value: Mapping[str, Any], head: Mapping[str, Any] | None) -> bool:
    """Whether the entry is the head's current rank."""
    return (
        head is not None
        and not head.get("deleted")
        and head.get("last_update_time") == entry_value.get("t")
    )
