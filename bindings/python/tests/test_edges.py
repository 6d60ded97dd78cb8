# SPDX-License-Identifier: ISC
"""Edge cases a user can meet with the newest capabilities: extreme
timeouts and grace periods, streams closed from another task or left open
when their loop ends. The suite runs once per stream backend, so every
test here runs under both.
"""

from __future__ import annotations

import asyncio
import os
import typing as typ

import pytest
from conftest import child, cmd

from cuprum import ExecEvent, ExecutionContext, TimeoutExpired
from cuprum.sh import EventStream

#: Far beyond what ``poll`` takes in milliseconds (a C int: 24.8 days).
HUGE = [1e7, 1e300]


@pytest.mark.parametrize("seconds", HUGE)
def test_huge_timeout_does_not_overflow_poll(seconds: float) -> None:
    assert cmd("true").run_sync(timeout=seconds).ok
    assert (cmd("true") | cmd("cat")).run_sync(context=ExecutionContext(timeout=seconds)).ok
    with cmd("seq", "3").stream(timeout=seconds) as stream:
        assert [e.line for e in stream if e.phase == "stdout"] == ["1", "2", "3"]


@pytest.mark.parametrize("seconds", HUGE)
def test_huge_grace_does_not_overflow_poll(seconds: float) -> None:
    # sleep ends at the SIGTERM; the SIGKILL, due in ``seconds``, is never sent.
    with pytest.raises(TimeoutExpired):
        cmd("sleep", "30").run_sync(timeout=0.1, context=ExecutionContext(cancel_grace=seconds))


# -- a stream closed from another task -----------------------------------------


@pytest.mark.parametrize("where", ["waiting", "holding"])
def test_aclose_from_another_task(where: str) -> None:
    # The consumer waits for the next event (the child writes nothing
    # more), or holds one, mid-batch, while it awaits something else;
    # another task closes the stream: the run is stopped and reaped, and
    # the consumer's iteration ends with no further event.
    stream = child("lines", "100", "sleep", "30").stream(context=ExecutionContext(cancel_grace=0.2))
    seen: list[ExecEvent] = []
    closed = asyncio.Event()

    async def consume() -> None:
        async with stream:
            async for event in stream:
                seen.append(event)
                if where == "holding" and event.phase == "stdout":
                    await closed.wait()

    async def main() -> None:
        task = asyncio.ensure_future(consume())
        while not any(e.phase == "stdout" for e in seen):
            await asyncio.sleep(0.01)
        if where == "waiting":
            while len(lines(seen)) < 100:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the consumer waits for output
        await asyncio.wait_for(stream.aclose(), 20)
        closed.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert len(lines(seen)) == (100 if where == "waiting" else 1)
    assert seen[-1].phase == "stdout"
    with pytest.raises(RuntimeError, match="closed before its end"):
        stream.result


def test_loop_end_stops_an_unclosed_async_stream() -> None:
    # An async stream left (``break``) without ``async with`` or aclose(),
    # still referenced when its loop ends (asyncio.run closes the loop's
    # unfinished async generators): its run is stopped and reaped with the
    # loop, not left running until the stream is dropped.
    kept: list[EventStream[typ.Any]] = []
    pids: list[int] = []

    async def main() -> None:
        stream = child("text", "ready\n", "sleep", "30").stream(
            context=ExecutionContext(cancel_grace=0.2)
        )
        kept.append(stream)
        async for event in stream:
            if event.phase == "start" and event.pid is not None:
                pids.append(event.pid)
            if event.phase == "stdout":
                break

    try:
        asyncio.run(main())
        assert len(pids) == 1
        with pytest.raises(ChildProcessError):
            os.waitpid(pids[0], os.WNOHANG)  # reaped: no such child
        with pytest.raises(RuntimeError, match="closed before its end"):
            kept[0].result
    finally:
        kept.clear()


def lines(events: list[ExecEvent]) -> list[str | None]:
    """The stdout lines of ``events``."""
    return [e.line for e in events if e.phase == "stdout"]
