"""A worker's pipe writes: a full pipe (the daemon reading slowly) holds the sender, not
the worker's event loop, and every byte arrives in order."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest
import uvloop

from arbot.workers.child import WorkerSpec, _Worker


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_full_pipe_holds_the_sender_not_the_loop(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # Workers run uvloop when installed: its add_writer on a pipe is the path that counts.
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_full_pipe())


async def _full_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    worker = _Worker(WorkerSpec(index=0, exchanges=()), write_fd)
    data = bytes(range(256)) * 8192  # 2 MiB: many times what a pipe holds
    received = bytearray()

    def slow_reader() -> None:
        while len(received) < len(data):
            time.sleep(0.002)
            received.extend(os.read(read_fd, 65536))

    reader = threading.Thread(target=slow_reader)
    reader.start()
    ticks = 0

    async def count_ticks() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    counter = asyncio.create_task(count_ticks())
    await asyncio.wait_for(worker._write(data), 30)
    counter.cancel()
    await asyncio.to_thread(reader.join, 10)
    os.close(read_fd)
    os.close(write_fd)
    assert bytes(received) == data
    assert ticks > 10  # the loop ran while the pipe was full
