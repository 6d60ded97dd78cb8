# SPDX-License-Identifier: ISC
"""Line events handed over in batches: the engines' ``LineEvents(...,
batches=)`` contract (each engine) and the boundaries it gives
``cmd.stream()`` (the backend the suite runs under, sync and async): a
batch larger than the queue bound, leaving in the middle of a batch,
backpressure when one read makes thousands of events."""

from __future__ import annotations

import asyncio
import os
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import Producer, child
from test_stream import Pids, lines, open_fds, pull

from cuprum import ExecEvent, RunOutputOptions, observe
from cuprum._exec.stream import QUEUE_BOUND, READ_SIZE

TEMPLATE = ("stdout", "prog", ("prog", "a"), None, None, 42, None, None,
            None, None, {"k": 1}, None, None, None, None, "id")


class Recorder:
    """Records hook calls and batches in the order they arrive."""

    def __init__(self) -> None:
        self.order: list[tuple[str, object]] = []
        self.hooked: list[ExecEvent] = []
        self.batches: list[typ.Any] = []

    def hook(self, event: ExecEvent) -> None:
        self.order.append(("hook", event.line))
        self.hooked.append(event)

    def batch(self, batch: typ.Any) -> None:
        self.order.append(("batch", len(batch)))
        self.batches.append(batch)


# -- the engines' contract ----------------------------------------------------


def test_one_batch_per_feed_after_the_hooks(engine: typ.Any) -> None:
    rec = Recorder()
    splitter = engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (rec.hook,), [], rec.batch)
    splitter.feed(b"a\nb\r\nc")
    splitter.feed(b"")  # completes no line: no batch
    splitter.feed(b"d")
    splitter.finish()
    assert rec.order == [("hook", "a"), ("hook", "b"), ("batch", 2), ("hook", "cd"), ("batch", 1)]
    batched = [event for batch in rec.batches for event in batch]
    # Equal to what the hooks got, field for field (the timestamp of each
    # feed included), and of the same type.
    assert batched == rec.hooked
    assert all(type(event) is ExecEvent for event in batched)
    assert batched[0].timestamp == batched[1].timestamp > 0


def test_batches_without_hooks(engine: typ.Any) -> None:
    rec = Recorder()
    splitter = engine.LineEvents("utf-8", "replace", ExecEvent, TEMPLATE, (), [], rec.batch)
    data = b"".join(b"%d\n" % i for i in range(5000))
    splitter.feed(data)
    splitter.finish()
    assert [kind for kind, _ in rec.order] == ["batch"]
    (batch,) = rec.batches
    assert len(batch) == 5000
    events = list(batch)
    assert [e.line for e in events] == [str(i) for i in range(5000)]
    assert len({id(e) for e in events}) == 5000  # kept events are never refilled
    assert all(tuple(e)[:6] == TEMPLATE[:6] and tuple(e)[8:] == TEMPLATE[8:] for e in events)


def test_events_let_go_may_be_refilled_kept_ones_stay(engine: typ.Any) -> None:
    rec = Recorder()
    splitter = engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (), [], rec.batch)
    splitter.feed(b"".join(b"line %d\n" % i for i in range(3000)))
    (batch,) = rec.batches
    kept: list[ExecEvent] = []
    seen: list[str | None] = []
    for i, event in enumerate(batch):
        seen.append(event.line)
        if i % 3 == 0:
            kept.append(event)
    assert seen == [f"line {i}" for i in range(3000)]
    assert [e.line for e in kept] == [f"line {i}" for i in range(0, 3000, 3)]
    assert all(type(e) is ExecEvent and e.pid == 42 for e in kept)


def test_clear_ends_an_iteration(engine: typ.Any) -> None:
    rec = Recorder()
    splitter = engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (), [], rec.batch)
    splitter.feed(b"a\nb\nc\n")
    (batch,) = rec.batches
    events = iter(batch)
    assert next(events).line == "a"
    batch.clear()
    assert len(batch) == 0
    assert next(events, None) is None
    assert list(batch) == []


def test_a_failing_hook_hands_over_no_batch(engine: typ.Any) -> None:
    rec = Recorder()

    def boom(event: ExecEvent) -> None:
        if event.line == "b":
            raise RuntimeError("b")

    splitter = engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (boom,), [], rec.batch)
    with pytest.raises(RuntimeError, match="b"):
        splitter.feed(b"a\nb\nc\n")
    assert rec.batches == []


def test_a_failing_batches_call_propagates(engine: typ.Any) -> None:
    def refuse(batch: typ.Any) -> None:
        raise OSError(len(batch))

    splitter = engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (), [], refuse)
    with pytest.raises(OSError, match="2"):
        splitter.feed(b"a\nb\n")


def test_batches_must_be_callable(engine: typ.Any) -> None:
    with pytest.raises(TypeError, match="batches"):
        engine.LineEvents("utf-8", "strict", ExecEvent, TEMPLATE, (), [], 42)


def test_unsplittable_codec_batches(engine: typ.Any) -> None:
    """UTF-16 goes to the pure engine's LineEvents under the native engine:
    the batches come all the same."""
    rec = Recorder()
    splitter = engine.LineEvents("utf-16-le", "strict", ExecEvent, TEMPLATE, (rec.hook,), [], rec.batch)
    splitter.feed("one\r\ntwo\rthr".encode("utf-16-le"))
    splitter.feed("ee".encode("utf-16-le"))
    splitter.finish()
    assert [e.line for batch in rec.batches for e in batch] == ["one", "two", "three"]
    assert [e.line for e in rec.hooked] == ["one", "two", "three"]


# -- AsyncEvents (optional: engines without it get an async generator) -------


def _async_events(engine: typ.Any, items: list[list[object]]) -> tuple[typ.Any, list[int]]:
    """An ``AsyncEvents`` over ``items`` (lists standing in for batches),
    and the list of its refill calls (the number of items handed over)."""
    make = getattr(engine, "AsyncEvents", None)
    if make is None:
        pytest.skip(f"the {engine.name} engine has no AsyncEvents")
    refills: list[int] = []
    source = iter(items)

    async def refill(events: typ.Any) -> object:
        refills.append(1)
        for item in source:
            await asyncio.sleep(0)  # a real suspension, as waiting for a read
            batch = iter(item)
            for first in batch:
                events.feed(batch)
                return first
        raise StopAsyncIteration

    return make(refill), refills


def test_async_events_yield_every_item_in_order(engine: typ.Any) -> None:
    events, refills = _async_events(engine, [["a", "b"], [], ["c"], ["d", "e", "f"]])

    async def main() -> list[str]:
        return [event async for event in events]

    assert asyncio.run(main()) == ["a", "b", "c", "d", "e", "f"]
    assert len(refills) == 4  # one per batch, plus the one that ended it
    assert aiter(events) is events


def test_async_events_while_tracing(engine: typ.Any) -> None:
    """A tracer (coverage, a debugger) makes ``await`` use the iterator
    protocol instead of ``am_send``: the same values come out, a tuple (an
    event is one) whole."""
    import sys

    events, _ = _async_events(engine, [["a", ("t", "u")], ["c"]])

    async def main() -> list[object]:
        return [event async for event in events]

    previous = sys.gettrace()
    sys.settrace(lambda *_: None)
    try:
        got = asyncio.run(main())
    finally:
        sys.settrace(previous)
    assert got == ["a", ("t", "u"), "c"]


def test_async_events_ready_is_awaited_once(engine: typ.Any) -> None:
    events, _ = _async_events(engine, [["a", ("b", "c")]])

    async def first() -> str:
        return typ.cast(str, await events.__anext__())

    assert asyncio.run(first()) == "a"
    ready = events.__anext__()  # a tuple (as an event), already queued
    waiter = ready.__await__()
    with pytest.raises(StopIteration) as stop:
        next(waiter)
    assert stop.value.value == ("b", "c")
    with pytest.raises(RuntimeError, match="awaited twice"):
        next(waiter)


def test_async_events_refuse_bad_arguments(engine: typ.Any) -> None:
    events, _ = _async_events(engine, [])
    with pytest.raises(TypeError, match="iterator"):
        events.feed(["not", "an", "iterator"])
    with pytest.raises(TypeError, match="callable"):
        engine.AsyncEvents(42)


def test_async_events_propagate_an_item_error(engine: typ.Any) -> None:
    def broken() -> typ.Iterator[str]:
        yield "a"
        raise ValueError("bad item")

    make = getattr(engine, "AsyncEvents", None)
    if make is None:
        pytest.skip(f"the {engine.name} engine has no AsyncEvents")

    async def refill(events: typ.Any) -> str:
        batch = broken()
        events.feed(batch)
        return "start"

    events = make(refill)

    async def main() -> list[str]:
        return [event async for event in events]

    with pytest.raises(ValueError, match="bad item"):
        asyncio.run(main())


def test_async_events_fed_while_an_iterator_ends(engine: typ.Any) -> None:
    """An iterator that feeds the next one from its own ``__next__`` and
    ends hands over to it: what was fed is neither dropped with the
    iterator that ended nor freed while it runs."""
    make = getattr(engine, "AsyncEvents", None)
    if make is None:
        pytest.skip(f"the {engine.name} engine has no AsyncEvents")

    class Handover:
        def __init__(self, events: typ.Any) -> None:
            self.events = events
            self.handed = False

        def __iter__(self) -> Handover:
            return self

        def __next__(self) -> str:
            if not self.handed:
                self.handed = True
                self.events.feed(iter(["b", "c"]))
            raise StopIteration

    refills: list[int] = []

    async def refill(events: typ.Any) -> str:
        refills.append(1)
        if len(refills) == 1:
            events.feed(Handover(events))
            return "a"
        raise StopAsyncIteration

    events = make(refill)

    async def main() -> list[str]:
        return [event async for event in events]

    assert asyncio.run(main()) == ["a", "b", "c"]
    assert len(refills) == 2


# -- what the stream makes of them ----------------------------------------------


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Consume with ``with``/``for`` or ``async with``/``async for``."""
    return str(request.param)


def test_batches_larger_than_the_queue_bound(mode: str) -> None:
    count = 20000  # about 109 KiB: reads of READ_SIZE, each many times the bound
    assert count // 2 > QUEUE_BOUND
    seen: list[ExecEvent] = []
    with observe(seen.append):
        stream = child("lines", str(count), "etext", "e\n").stream(output=RunOutputOptions(capture=False))
        events = pull(stream, mode)
    assert events == seen
    assert lines(events) == [str(i) for i in range(count)]
    assert lines(events, "stderr") == ["e"]
    assert [e.phase for e in events][-1] == "exit"
    assert stream.result.ok


def test_leaving_in_the_middle_of_a_batch(mode: str) -> None:
    """The consumer closes the stream after 10 of thousands of lines one read
    made: the run stops, and an iterator still held ends at its next pull."""
    pids = Pids()
    before_fds = open_fds()
    target = child("lines", "5000", "sleep", "60")
    got: list[str | None] = []
    with observe(pids):
        stream = target.stream()
        if mode == "sync":
            events = iter(stream)
            for event in events:
                if event.phase == "stdout":
                    got.append(event.line)
                    if len(got) == 10:
                        break
            started = time.monotonic()
            stream.close()
            assert next(events, None) is None
        else:

            async def main() -> float:
                events = aiter(stream)
                async for event in events:
                    if event.phase == "stdout":
                        got.append(event.line)
                        if len(got) == 10:
                            break
                begun = time.monotonic()
                await stream.aclose()
                assert await anext(events, None) is None
                return begun

            started = asyncio.run(main())
    assert time.monotonic() - started < 30  # stopped, not waited for
    assert got == [str(i) for i in range(10)]
    pids.assert_gone()
    assert open_fds() == before_fds
    with pytest.raises(RuntimeError, match="closed before its end"):
        _ = stream.result


def test_slow_consumer_blocks_the_producer_of_short_lines(mode: str, tmp_path: Path) -> None:
    # Short lines: each read of READ_SIZE makes 32768 events, 32 times the
    # queue bound, so a batch alone overfills the queue.
    producer = Producer(tmp_path, line_length=2)
    pipe_max = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    # What may be written before the producer blocks: the pipe, the reads the
    # queue holds (the async queue passes its bound by at most one read),
    # and the producer's own chunk, with room to spare. Unbounded reading
    # ahead would take all 64 MiB (33 M events).
    bound = pipe_max + 4 * READ_SIZE + 2 * 1024 * 1024
    if bound >= Producer.TOTAL // 2:
        pytest.skip("pipe-max-size is too large to show backpressure")
    assert 0 < producer.held_count(mode) <= bound < Producer.TOTAL
    assert os.path.exists(producer.counter)
