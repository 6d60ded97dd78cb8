# SPDX-License-Identifier: ISC
"""What cuprum closes when a run stops early, and who may close a stream.

A ``StdinInput(chunks=...)`` generator (sync or async) is closed, its
``finally`` run, by the time the run returns or raises, however the run
stopped reading it: a timeout, an early exit from a stream, a cancelled
task, a failing stage, the child closing its stdin. An iterator the caller
passed that is not a generator is the caller's to close. A sync stream may
be closed from another thread while its consumer waits for an event. The
suite runs once per stream backend, so every test here runs under both.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import typing as typ

import pytest
from conftest import (
    PYTHON,
    CloseFailed,
    Late,
    afailing_to_close,
    alive,
    before_the_deadline,
    cancel_after,
    child,
    cmd,
    failing_to_close,
)

from cuprum import (
    ExecEvent,
    ExecutionContext,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    StdinInput,
    TimeoutExpired,
    observe,
    sh,
)

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from pathlib import Path

    from cuprum.sh import EventStream

#: A short grace, so a stopped child is killed soon whatever it does.
QUICK = ExecutionContext(cancel_grace=0.5)
CHUNK = b"x" * 4096


class Source:
    """Endless stdin sources that record where and how often their
    ``finally`` ran (``closed``: the thread or loop it ran on)."""

    def __init__(self) -> None:
        self.closed: list[object] = []
        self.taken = 0
        self.made: typ.Any = None

    def check(self, where: object) -> None:
        """Check that the source made is closed and its ``finally`` ran
        once on ``where`` (``None``: anywhere), if it was started at all (a
        run stopped before it wrote anything may never have read it)."""
        made = self.made
        frame = made.ag_frame if hasattr(made, "ag_frame") else made.gi_frame
        assert frame is None, "the source was not closed"
        if where is None:
            assert len(self.closed) == (1 if self.taken else 0)
        else:
            assert self.closed == ([where] if self.taken else [])

    def where(self, kind: str) -> object:
        """Where a ``kind`` source (see :data:`KINDS`) is closed: the run's
        loop for an async one, else this thread; call it in the run's thread."""
        return asyncio.get_running_loop() if kind == "async-gen" else threading.get_ident()

    def gen(self) -> cabc.Iterator[bytes]:
        """A generator, as a caller's would be."""
        self.made = self._gen()
        return typ.cast("cabc.Iterator[bytes]", self.made)

    def agen(self) -> cabc.AsyncIterator[bytes]:
        """An async generator; it suspends on the loop after each chunk."""
        self.made = self._agen()
        return typ.cast("cabc.AsyncIterator[bytes]", self.made)

    def _gen(self) -> cabc.Iterator[bytes]:
        try:
            while True:
                self.taken += 1
                yield CHUNK
        finally:
            self.closed.append(threading.get_ident())

    async def _agen(self) -> cabc.AsyncIterator[bytes]:
        try:
            while True:
                self.taken += 1
                yield CHUNK
                await asyncio.sleep(0)
        finally:
            self.closed.append(asyncio.get_running_loop())


#: How a source is read: a generator under ``run_sync`` or ``await run()``,
#: an async generator under ``await run()``.
KINDS = ["sync-gen", "gen-in-loop", "async-gen"]


def _make(kind: str, source: Source) -> object:
    return source.agen() if kind == "async-gen" else source.gen()


def _run(kind: str, target: typ.Any, **kwargs: typ.Any) -> typ.Any:
    """Run ``target`` as ``kind`` says; check the source's ``finally`` ran
    on the caller's thread or the run's loop before the run returned."""
    source: Source = kwargs.pop("source")
    stdin = StdinInput(chunks=_make(kind, source))  # type: ignore[arg-type]
    if kind == "sync-gen":
        try:
            return target.run_sync(stdin=stdin, **kwargs)
        finally:
            source.check(threading.get_ident())

    async def main() -> typ.Any:
        try:
            return await target.run(stdin=stdin, **kwargs)
        finally:
            source.check(source.where(kind))

    return asyncio.run(main())


# -- a generator is closed however the run stops reading it --------------------


@pytest.mark.parametrize("kind", KINDS)
def test_source_closed_on_timeout(kind: str) -> None:
    # The run must have read the source before its deadline: a loaded
    # machine may not have run an async source's task by then (the next test
    # is that case), and the attempt takes a later deadline.
    def attempt(timeout: float) -> None:
        source = Source()
        with pytest.raises(TimeoutExpired):
            _run(kind, cmd("sleep", "30"), source=source, timeout=timeout, context=QUICK)
        if not source.taken:
            raise Late("the run had not read the source")

    before_the_deadline(attempt, (0.3, 2.0, 10.0))


@pytest.mark.parametrize("kind", KINDS)
def test_source_closed_when_the_timeout_has_passed_before_the_start(kind: str) -> None:
    # Stopped at the first tick: an async source may never have been read.
    with pytest.raises(TimeoutExpired):
        _run(kind, cmd("sleep", "30"), source=Source(), timeout=0, context=QUICK)


@pytest.mark.parametrize("kind", KINDS)
def test_source_closed_when_the_child_closes_its_stdin(kind: str) -> None:
    source = Source()
    result = _run(kind, child("sleep", "0.2"), source=source)
    assert result.ok
    assert source.taken > 0


@pytest.mark.parametrize("kind", KINDS)
def test_source_closed_when_a_stage_fails(kind: str) -> None:
    # The second stage fails once the first has filled its stdin pipe.
    source = Source()
    failing = child("sleep", "0.3", "exit", "1")
    result = _run(kind, cmd("sleep", "30") | failing, source=source, context=QUICK)
    assert result.failure_index == 1
    assert source.taken > 0


@pytest.mark.parametrize("kind", KINDS)
def test_source_closed_when_the_program_is_missing(kind: str, tmp_path: Path) -> None:
    # The feed is made before the first stage, whose start fails: the
    # source was taken (an async one never read) and is closed.
    missing = Program(str(tmp_path / "absent"))
    catalogue = ProgramCatalogue(projects=(ProjectSettings("t", (missing,), (), ()),))
    with pytest.raises(FileNotFoundError, match="cannot execute"):
        _run(kind, sh.make(missing, catalogue=catalogue)(), source=Source())


@pytest.mark.parametrize("kind", ["gen-in-loop", "async-gen"])
def test_source_closed_when_the_task_is_cancelled(kind: str) -> None:
    source = Source()

    async def main() -> None:
        stdin = StdinInput(chunks=_make(kind, source))  # type: ignore[arg-type]
        await cancel_after(cmd("sleep", "30").run(stdin=stdin, context=QUICK), 0.2)
        source.check(source.where(kind))

    asyncio.run(main())


def test_async_source_waiting_inside_is_closed_on_cancel() -> None:
    # The source is suspended in an await of its own (not at a yield) when
    # the run stops: the cancellation reaches it and its finally runs
    # before the run's task ends.
    closed: list[str] = []

    async def slow() -> cabc.AsyncIterator[bytes]:
        try:
            yield b"x"
            await asyncio.sleep(30)
            yield b"y"
        finally:
            closed.append("done")

    async def main() -> None:
        stdin = StdinInput(chunks=slow())
        await cancel_after(cmd("sleep", "30").run(stdin=stdin, context=QUICK), 0.2)
        assert closed == ["done"]

    asyncio.run(main())


def test_async_source_finally_that_awaits_runs_to_its_end() -> None:
    # Closing awaits the source's own cleanup: the run returns after it.
    steps: list[str] = []

    async def source() -> cabc.AsyncIterator[bytes]:
        try:
            while True:
                yield CHUNK
        finally:
            steps.append("closing")
            await asyncio.sleep(0.05)
            steps.append("closed")

    async def main() -> None:
        result = await cmd("true").run(stdin=StdinInput(chunks=source()))
        assert result.ok
        assert steps == ["closing", "closed"]

    asyncio.run(main())


@pytest.mark.parametrize(("mode", "kind"), [("sync", "gen"), ("async", "gen"), ("async", "async-gen")])
def test_source_closed_on_leaving_a_stream_early(mode: str, kind: str) -> None:
    source = Source()
    stdin = StdinInput(chunks=_make(kind, source))  # type: ignore[arg-type]
    stream = child("text", "ready\n", "sleep", "30").stream(stdin=stdin, context=QUICK)
    if mode == "sync":
        with stream as s:
            for event in s:
                if event.phase == "stdout":
                    break
        source.check(threading.get_ident())
        return

    async def main() -> None:
        async with stream as s:
            async for event in s:
                if event.phase == "stdout":
                    break
        source.check(source.where(kind))

    asyncio.run(main())


# -- who owns the iterator -------------------------------------------------------


class Counted:
    """An iterator (sync and async) counting its ``close``/``aclose`` calls."""

    def __init__(self, count: int) -> None:
        self.left = count
        self.closes = 0

    def __iter__(self) -> Counted:
        return self

    def __next__(self) -> bytes:
        if self.left <= 0:
            raise StopIteration
        self.left -= 1
        return CHUNK

    def close(self) -> None:
        self.closes += 1

    def __aiter__(self) -> Counted:
        return self

    async def __anext__(self) -> bytes:
        if self.left <= 0:
            raise StopAsyncIteration
        self.left -= 1
        return CHUNK

    async def aclose(self) -> None:
        self.closes += 1


class Fresh:
    """An iterable (sync and async) making a new :class:`Counted` each time."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.made: list[Counted] = []

    def __iter__(self) -> Counted:
        self.made.append(Counted(self.count))
        return self.made[-1]

    def __aiter__(self) -> Counted:
        return self.__iter__()


def _feed(mode: str, target: typ.Any, chunks: object, **kwargs: typ.Any) -> typ.Any:
    stdin = StdinInput(chunks=chunks)  # type: ignore[arg-type]
    if mode == "sync":
        return target.run_sync(stdin=stdin, **kwargs)
    return asyncio.run(target.run(stdin=stdin, **kwargs))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("count", [2, 1000])
def test_an_iterator_made_by_cuprum_is_closed_once(mode: str, count: int) -> None:
    # ``count`` chunks: read to the end, or stopped by the child (``true``).
    iterable = Fresh(count)
    _feed(mode, cmd("true") if count > 2 else cmd("cat"), iterable)
    assert [it.closes for it in iterable.made] == [1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_iterator_passed_in_is_left_open(mode: str) -> None:
    # Not a generator, and not made by cuprum: the caller's to close (a
    # file object, say); it is left where cuprum stopped reading it.
    iterator = Counted(1000)
    result = _feed(mode, cmd("true"), iterator)
    assert result.ok
    assert iterator.closes == 0
    assert 0 < iterator.left < 1000


def test_a_closed_generator_feeds_nothing_to_a_second_run() -> None:
    source = Source()
    chunks = source.gen()
    assert cmd("true").run_sync(stdin=StdinInput(chunks=chunks)).ok
    result = cmd(PYTHON, "-I", "-c", "import sys; print(len(sys.stdin.buffer.read()))").run_sync(
        stdin=StdinInput(chunks=chunks)
    )
    assert result.stdout == "0\n"
    assert len(source.closed) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_raised_while_closing_the_source_propagates(kind: str) -> None:
    chunks: cabc.Iterable[bytes] | cabc.AsyncIterable[bytes] = (
        afailing_to_close(CHUNK) if kind == "async-gen" else failing_to_close(CHUNK)
    )
    stdin = StdinInput(chunks=chunks)
    target = cmd("sleep", "30")
    with pytest.raises(CloseFailed):
        if kind == "sync-gen":
            target.run_sync(stdin=stdin, timeout=0.2, context=QUICK)
        else:
            asyncio.run(target.run(stdin=stdin, timeout=0.2, context=QUICK))


def test_a_close_error_survives_the_child_being_reaped_first() -> None:
    """The run is not done before what closing an async source raised has
    reached it. A hook on the ``stdin_error`` event of the stop (which has
    just cancelled the source's task) kills the child and waits for it to
    die, so the loop's next turn runs the task's end and the reaping of the
    child together, the reaping last: a run seen done there would return
    ``TimeoutExpired`` and lose the error. A source the run had not begun
    to read by the deadline (a loaded machine) has no ``finally`` to run,
    and ``TimeoutExpired`` is then right: the attempt takes a later
    deadline."""

    def attempt(timeout: float) -> None:
        begun: list[bool] = []
        pids: list[int] = []

        def on_event(ev: ExecEvent) -> None:
            if ev.phase == "start":
                assert ev.pid is not None
                pids.append(ev.pid)
            elif ev.phase == "stdin_error":
                os.kill(pids[0], signal.SIGKILL)
                deadline = time.monotonic() + 10
                while alive(pids[0]) and time.monotonic() < deadline:
                    time.sleep(0.001)

        async def main() -> None:
            with observe(on_event):
                source = StdinInput(chunks=afailing_to_close(CHUNK, begun))
                await cmd("sleep", "30").run(stdin=source, timeout=timeout, context=QUICK)

        try:
            with pytest.raises(CloseFailed):
                asyncio.run(main())
        except TimeoutExpired:
            if not begun:
                raise Late("the run had not begun to read the source") from None
            raise
        assert len(pids) == 1
        assert not alive(pids[0])

    before_the_deadline(attempt, (0.2, 2.0, 10.0))


def test_a_source_error_raised_while_the_consumer_is_busy_reaches_it() -> None:
    """An async source that fails while the stream's consumer is in the
    body of its loop: the error is raised at the consumer's next step, not
    lost (the child would then wait for the rest of its stdin for ever)."""

    class Broken(Exception):
        pass

    failed = False

    async def agen() -> cabc.AsyncIterator[bytes]:
        nonlocal failed
        yield b"one\n"
        failed = True
        raise Broken

    async def main() -> list[str]:
        phases: list[str] = []
        async with cmd("cat").stream(stdin=StdinInput(chunks=agen()), context=QUICK) as events:
            async for ev in events:
                phases.append(ev.phase)
                # Stay in the body until the source has failed and its
                # end been handled (a turn or two of the loop).
                while not failed:
                    await asyncio.sleep(0)
                for _ in range(5):
                    await asyncio.sleep(0)
        return phases

    with pytest.raises(Broken):
        asyncio.run(asyncio.wait_for(main(), 20))


# -- a sync stream closed from another thread ------------------------------------


class Consumer(threading.Thread):
    """Iterates a sync stream in a thread of its own: ``first`` is set at
    its first stdout event; with ``hold`` it then waits for ``release``
    before pulling again (it holds an event while the stream is closed)."""

    def __init__(self, stream: EventStream[typ.Any], *, hold: bool) -> None:
        super().__init__(name="cuprum-test-consumer")
        self.stream = stream
        self.hold = hold
        self.first = threading.Event()
        self.release = threading.Event()
        self.events: list[ExecEvent] = []
        self.after_close: list[ExecEvent] = []
        self.closed = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.stream as s:
                for event in s:
                    (self.after_close if self.closed else self.events).append(event)
                    if event.phase == "stdout" and not self.first.is_set():
                        self.first.set()
                        if self.hold:
                            self.release.wait()
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            self.error = exc
        finally:
            self.first.set()


@pytest.mark.parametrize("where", ["waiting", "holding"])
def test_sync_stream_closed_from_another_thread(where: str) -> None:
    # The child prints a line, then sleeps: the consumer waits in ``next()``
    # (blocked in the run's poll), or holds the event. Closing from this
    # thread stops the run (SIGTERM, the child reaped) and the consumer's
    # iteration ends without an error and without another event.
    stream = child("text", "ready\n", "sleep", "30").stream(context=QUICK)
    consumer = Consumer(stream, hold=where == "holding")
    consumer.start()
    try:
        assert consumer.first.wait(30), "no stdout event"
        if where == "waiting":
            time.sleep(0.1)  # let the consumer block in poll (either way is right)
        consumer.closed = True
        stream.close()
        pids = [e.pid for e in consumer.events if e.phase == "start"]
        assert pids and pids[0] is not None and not alive(pids[0])
    finally:
        consumer.release.set()
        consumer.join(30)
    assert not consumer.is_alive(), "the consumer still waits for an event"
    assert consumer.error is None, repr(consumer.error)
    assert [e.phase for e in consumer.after_close] == []
    with pytest.raises(RuntimeError, match="closed before its end"):
        _ = stream.result


def test_sync_stream_with_a_source_closed_from_another_thread() -> None:
    # The consumer's thread drives the run: it stops it, and closes the
    # stdin generator, before the closing thread's close() returns.
    source = Source()
    stream = child("text", "ready\n", "sleep", "30").stream(
        stdin=StdinInput(chunks=source.gen()), context=QUICK
    )
    consumer = Consumer(stream, hold=False)
    consumer.start()
    try:
        assert consumer.first.wait(30), "no stdout event"
        time.sleep(0.1)
        stream.close()
        source.check(None)
    finally:
        consumer.join(30)
    assert not consumer.is_alive()
    assert consumer.error is None, repr(consumer.error)


def test_closing_twice_from_two_threads_stops_the_run_once() -> None:
    stream = child("text", "ready\n", "sleep", "30").stream(context=QUICK)
    consumer = Consumer(stream, hold=False)
    consumer.start()
    try:
        assert consumer.first.wait(30), "no stdout event"
        errors: list[BaseException] = []

        def close() -> None:
            try:
                stream.close()
            except BaseException as exc:  # noqa: BLE001 - checked below
                errors.append(exc)

        closers = [threading.Thread(target=close) for _ in range(2)]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(30)
        assert not any(closer.is_alive() for closer in closers)
        assert errors == []
        pids = [e.pid for e in consumer.events if e.phase == "start"]
        assert pids and pids[0] is not None and not alive(pids[0])
    finally:
        consumer.join(30)
    assert not consumer.is_alive()
    assert consumer.error is None, repr(consumer.error)


def test_closing_a_sync_stream_from_its_own_hook_is_a_clear_error() -> None:
    # A hook runs while the stream's thread drives the run: close() cannot
    # wait for that thread, so it says so (the run is then stopped as for
    # any exception in a hook).
    streams: list[EventStream[typ.Any]] = []

    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            streams[0].close()

    with observe(hook):
        stream = child("text", "ready\n", "sleep", "30").stream(context=QUICK)
    streams.append(stream)
    with pytest.raises(RuntimeError, match="from inside its own run"), stream as s:
        for _event in s:
            pass
