"""The default log operations of :class:`~satchel.backend.Backend` (each log kept as one
record, :mod:`satchel.logrecords`) keep every rule of logs in the conformance kit."""

from __future__ import annotations

import pytest

from satchel.backend import Backend, Record
from satchel.errors import CorruptRecord, InvalidArgument
from satchel.testing import LogRules, MakeBackend, StatefulRules
from satchel_memory import MemoryBackend


class MemoryOnDefaultLogs(MemoryBackend):
    """The memory backend's records, with the contract's default log operations."""

    log_append = Backend.log_append
    log_range = Backend.log_range
    log_length = Backend.log_length
    log_pop = Backend.log_pop
    log_trim = Backend.log_trim
    log_delete = Backend.log_delete
    log_keys = Backend.log_keys


def test_every_log_operation_is_the_default() -> None:
    names = [name for name in vars(Backend) if name.startswith("log_")]
    assert len(names) == 7
    for name in names:
        assert getattr(MemoryOnDefaultLogs, name) is getattr(Backend, name), name
        assert getattr(MemoryBackend, name) is not getattr(Backend, name), name


class TestDefaultLogOperations(LogRules, StatefulRules):
    """The kit's log rules, and the stateful model test (which has log operations), on the
    default log operations."""

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        return MemoryOnDefaultLogs


@pytest.mark.parametrize(
    "backend", [MemoryOnDefaultLogs(), MemoryBackend()], ids=["defaults", "memory"]
)
async def test_an_append_of_no_values_is_refused(backend: Backend) -> None:
    await backend.log_append("c", "log", [1])
    with pytest.raises(InvalidArgument, match="values"):
        await backend.log_append("c", "log", [])
    with pytest.raises(InvalidArgument, match="values"):
        await backend.log_append("c", "empty", [])
    assert [key async for key in backend.log_keys("c")] == ["log"], "no log created"
    assert await backend.log_length("c", "log") == 1


@pytest.mark.parametrize(
    "backend", [MemoryOnDefaultLogs(), MemoryBackend()], ids=["defaults", "memory"]
)
async def test_a_trim_with_neither_bound_is_refused(backend: Backend) -> None:
    await backend.log_append("c", "log", [1, 2])
    with pytest.raises(InvalidArgument, match="keep_last and before"):
        await backend.log_trim("c", "log")
    assert await backend.log_length("c", "log") == 2


@pytest.mark.parametrize(
    "backend", [MemoryOnDefaultLogs(), MemoryBackend()], ids=["defaults", "memory"]
)
async def test_a_pop_of_none_and_a_negative_keep_last_are_refused(backend: Backend) -> None:
    await backend.log_append("c", "log", [1, 2])
    with pytest.raises(InvalidArgument, match="count"):
        await backend.log_pop("c", "log", 0)
    with pytest.raises(InvalidArgument, match="keep_last"):
        await backend.log_trim("c", "log", keep_last=-1)
    assert [e.value for e in await backend.log_range("c", "log")] == [1, 2]


@pytest.mark.parametrize(
    "value",
    [
        [1, 2],
        {"k": 0, "n": 1},
        {"k": 0, "n": 1, "e": "entries"},
        {"k": 0, "n": 1, "e": [[1, 2]]},
        {"k": 0, "n": 1, "e": [["1", 0, "x"]]},
        {"k": 0, "n": 1, "e": [[1, 0.5, "x"]]},
    ],
)
async def test_a_record_that_is_not_a_log_is_corrupt(value: object) -> None:
    backend = MemoryOnDefaultLogs()
    await backend.put(Record("c", "log", value))
    for call in (
        lambda: backend.log_range("c", "log"),
        lambda: backend.log_append("c", "log", [1]),
        lambda: backend.log_pop("c", "log", 1),
        lambda: backend.log_trim("c", "log", keep_last=0),
    ):
        with pytest.raises(CorruptRecord, match="log 'log' in 'c'"):
            await call()
