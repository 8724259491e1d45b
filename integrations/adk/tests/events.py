"""Events and sessions the tests build."""

from __future__ import annotations

import itertools
from typing import Any

from google.adk.events.event import Event
from google.adk.events.event_actions import EventActions
from google.genai import types

_ids = itertools.count()


def event(
    text: str | None = None,
    *,
    delta: dict[str, Any] | None = None,
    invocation: str = "inv",
    author: str = "user",
    timestamp: float | None = None,
) -> Event:
    """An event with ``text`` as its content (``None``: no content) and ``delta`` as its
    state delta."""
    content = None
    if text is not None:
        role = "user" if author == "user" else "model"
        content = types.Content(role=role, parts=[types.Part(text=text)])
    fields: dict[str, Any] = {
        "id": f"ev-{next(_ids)}",
        "invocation_id": invocation,
        "author": author,
        "content": content,
        "actions": EventActions(state_delta=dict(delta or {})),
    }
    if timestamp is not None:
        fields["timestamp"] = timestamp
    return Event(**fields)


def texts(events: list[Event]) -> list[str]:
    """The text of each event that has some."""
    return [
        "".join(p.text or "" for p in e.content.parts or [])
        for e in events
        if e.content is not None
    ]
