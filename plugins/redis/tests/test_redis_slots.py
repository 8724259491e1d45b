"""satchel_redis.slots.Slots: a slot given back goes to the call that waited longest, and
a cancelled wait neither takes nor loses a slot."""

from __future__ import annotations

import asyncio

import pytest

from satchel_redis.slots import Slots, acquire_all


async def test_a_slot_given_back_goes_to_the_waiting_call_not_to_a_newcomer() -> None:
    slots = Slots(1)
    await slots.acquire()
    order: list[str] = []

    async def call(name: str) -> None:
        await slots.acquire()
        order.append(name)
        await asyncio.sleep(0)
        slots.release()

    waiting = asyncio.create_task(call("waiting"))
    await asyncio.sleep(0)  # it waits now
    slots.release()
    # the slot is the waiting call's already: a call coming now queues behind it
    assert slots.locked()
    newcomer = asyncio.create_task(call("newcomer"))
    await asyncio.gather(waiting, newcomer)
    assert order == ["waiting", "newcomer"]
    assert not slots.locked()


async def test_many_calls_get_their_slots_in_the_order_they_asked() -> None:
    slots = Slots(2)
    order: list[int] = []

    async def call(n: int) -> None:
        await slots.acquire()
        order.append(n)
        await asyncio.sleep(0)
        slots.release()

    await asyncio.gather(*(call(n) for n in range(50)))
    assert order == list(range(50))
    assert slots._free == 2 and not slots._waiters


async def test_a_wait_cancelled_takes_no_slot() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiting = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    slots.release()
    assert not slots.locked() and slots._free == 1


async def test_a_wait_cancelled_as_its_slot_was_handed_over_passes_the_slot_on() -> None:
    slots = Slots(1)
    await slots.acquire()
    waiting = asyncio.create_task(slots.acquire())
    behind = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to `waiting`, which has not run yet
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.wait_for(behind, 1)  # the slot went on to the next call
    slots.release()
    assert not slots.locked() and slots._free == 1


async def test_acquire_all_cancelled_gives_back_what_it_took() -> None:
    first, second = Slots(1), Slots(1)
    await second.acquire()
    both = asyncio.create_task(acquire_all([first, second]))
    await asyncio.sleep(0)
    assert first.locked()  # taken by the waiting call
    both.cancel()
    with pytest.raises(asyncio.CancelledError):
        await both
    assert not first.locked()
