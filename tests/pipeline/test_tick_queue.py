"""TickQueue keeps asyncio.Queue's contract: FIFO, bounded, puts wait in turn while full."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbot.models import FeedDown, QueueItem
from arbot.tick_queue import TickQueue


def item(n: int) -> QueueItem:
    return FeedDown(f"ex{n}", float(n), "test")


@given(st.lists(st.integers(0, 50), max_size=200), st.integers(1, 64))
def test_takes_return_everything_in_order(sizes: list[int], limit: int) -> None:
    async def scenario() -> list[QueueItem]:
        queue = TickQueue(10_000)
        n = 0
        for size in sizes:
            for _ in range(size):
                queue.put_nowait(item(n))
                n += 1
        queue.close()
        taken: list[QueueItem] = []
        while True:
            chunk, ended = await queue.take(limit, 0.01)
            assert len(chunk) <= limit
            taken.extend(chunk)
            if ended:
                return taken

    assert asyncio.run(scenario()) == [item(n) for n in range(sum(sizes))]


async def test_put_nowait_refuses_when_full() -> None:
    queue = TickQueue(2)
    queue.put_nowait(item(0))
    queue.put_nowait(item(1))
    assert queue.full()
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait(item(2))


async def test_waiting_puts_resume_in_turn_when_room_is_made() -> None:
    queue = TickQueue(2)
    queue.put_nowait(item(0))
    queue.put_nowait(item(1))
    puts = [asyncio.create_task(queue.put(item(n))) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    assert not any(p.done() for p in puts)
    chunk, _ = await queue.take(1, 1)
    assert chunk == [item(0)]
    await asyncio.sleep(0)
    assert [p.done() for p in puts] == [True, False, False]
    chunk, _ = await queue.take(10, 1)
    assert chunk == [item(1), item(2)]
    await asyncio.gather(*puts)
    chunk, _ = await queue.take(10, 1)
    assert chunk == [item(3), item(4)]


async def test_a_cancelled_waiting_put_passes_its_turn_on() -> None:
    queue = TickQueue(1)
    queue.put_nowait(item(0))
    first = asyncio.create_task(queue.put(item(1)))
    second = asyncio.create_task(queue.put(item(2)))
    await asyncio.sleep(0)
    await queue.take(1, 1)  # wakes `first`
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.wait_for(second, 1)
    chunk, _ = await queue.take(10, 1)
    assert chunk == [item(2)]


async def test_take_waits_for_a_put_or_gives_up_after_the_wait() -> None:
    queue = TickQueue(5)
    assert await queue.take(10, 0.01) == ([], False)
    taking = asyncio.create_task(queue.take(10, 5))
    await asyncio.sleep(0)
    queue.put_nowait(item(7))
    assert await asyncio.wait_for(taking, 1) == ([item(7)], False)


async def test_close_wakes_a_waiting_take_and_ends_after_what_was_put() -> None:
    queue = TickQueue(5)
    taking = asyncio.create_task(queue.take(10, 5))
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(taking, 1) == ([], True)
    other = TickQueue(5)
    other.put_nowait(item(1))
    other.put_nowait(item(2))
    other.close()
    assert await other.take(1, 1) == ([item(1)], False)
    assert await other.take(1, 1) == ([item(2)], True)
