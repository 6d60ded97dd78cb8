# SPDX-License-Identifier: ISC
"""Edge cases a user can meet with the newest capabilities: extreme
timeouts and grace periods, streams closed from another task or left open
when their loop ends. The suite runs once per stream backend, so every
test here runs under both.
"""

from __future__ import annotations

import asyncio
import os
import random
import typing as typ

import pytest
from conftest import child, cmd

from cuprum import ExecEvent, ExecutionContext, TimeoutExpired
from cuprum._exec.limits import LINE_CUT_MARKER, LineLimiter
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


# -- line events of a capped run -----------------------------------------------

MARK = LINE_CUT_MARKER.encode()


def _limited(chunks: list[bytes], limit: int) -> bytes:
    got: list[bytes] = []
    limiter = LineLimiter(got.append, limit, "utf-8")
    for chunk in chunks:
        limiter.feed(chunk)
    limiter.flush()
    return b"".join(got)


def _limited_whole(data: bytes, limit: int) -> bytes:
    """What the limiter must give, whatever the chunking: each line (up to
    a \\n or \\r) longer than ``limit`` is cut at ``limit`` bytes, backed off
    to a UTF-8 character start, then marked."""
    parts = []
    start = 0
    for end in [i for i, b in enumerate(data) if b in b"\r\n"] + [len(data)]:
        line = data[start:end]
        if len(line) > limit:
            cut = limit
            while cut > 0 and limit - cut < 3 and line[cut] & 0xC0 == 0x80:
                cut -= 1
            line = line[:cut] + MARK
        parts.append(line + data[end : end + 1])
        start = end + 1
    return b"".join(parts)


@pytest.mark.parametrize(
    ("chunks", "limit"),
    [
        # A dropped long line ends mid-chunk; the next line ends that chunk
        # with a partial "€", and is cut within it by the next chunk.
        ([b"\xc3\xa9a\xc3\xa9", b"\xff\n\xe2\x82", b"\xac\n"], 2),
        # The same with the partial character at the very end of the output.
        ([b"aaaa", b"\n\xe2\x82"], 1),
        ([b"aaaa", b"\na\xe2\x82"], 2),
    ],
)
def test_line_cut_after_a_dropped_line_stays_on_a_character(chunks: list[bytes], limit: int) -> None:
    assert _limited(chunks, limit) == _limited_whole(b"".join(chunks), limit)


def test_line_limiter_any_chunking_of_multibyte_text() -> None:
    # Pseudo-random lines of one- to four-byte characters, invalid bytes
    # and both endings, fed in pseudo-random chunks: the result is the same
    # as for the whole output at once. (No stray continuation byte: it is
    # no part of a character, and the whole-output model would back off
    # over it.)
    rng = random.Random(1)
    alphabet = [b"a", b"\n", b"\r", "é".encode(), "€".encode(), "😀".encode(), b"\xff"]
    for _ in range(3000):
        limit = rng.randint(1, 8)
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        chunks = []
        at = 0
        while at < len(data):
            size = rng.randint(1, 5)
            chunks.append(data[at : at + size])
            at += size
        assert _limited(chunks, limit) == _limited_whole(data, limit), (chunks, limit)
