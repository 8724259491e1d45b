"""Input items for the tests: the shapes the SDK stores (as its own types, checked with
pydantic), and arbitrary JSON objects."""

from __future__ import annotations

from typing import Any

from agents import TResponseInputItem
from hypothesis import strategies as st
from pydantic import TypeAdapter

#: validates a value as the SDK's input item type
INPUT_ITEM: TypeAdapter[Any] = TypeAdapter(TResponseInputItem)

SAMPLES: list[dict[str, Any]] = [
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "Sunny, 24 °C.", "annotations": [], "logprobs": []}
        ],
    },
    {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
        "id": "fc_1",
        "status": "completed",
    },
    {"type": "function_call_output", "call_id": "call_1", "output": '{"temp": 24.5}'},
    {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "…"}]},
    {"role": "system", "content": "You are terse. 🌤"},
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
#: an arbitrary JSON object, or a realistic input item with arbitrary text
items = (
    st.dictionaries(st.text(max_size=6), _json, max_size=4)
    | st.sampled_from(SAMPLES)
    | st.builds(lambda text: {"role": "user", "content": text}, st.text(max_size=20))
)
