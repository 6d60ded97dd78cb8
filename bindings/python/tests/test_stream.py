# SPDX-License-Identifier: ISC
"""``SafeCmd.stream()`` and ``Pipeline.stream()``, sync and async.

The stream yields what an observe hook receives, ends with the run's result
or error, applies backpressure to a fast producer, and, however it is left
early (break, an exception, a cancelled task, being dropped), stops and
reaps every child and closes every descriptor. The suite runs once per
stream backend, so every test here runs under both.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import (
    AsyncPhases,
    Endless,
    Late,
    Producer,
    Recorded,
    alive,
    before_the_deadline,
    child,
    cmd,
    failing_to_close,
    out_err_child,
)

from cuprum import (
    ExecEvent,
    ExecutionContext,
    ForbiddenProgramError,
    Pipeline,
    RunOutputOptions,
    SafeCmd,
    ScopeConfig,
    StdinInput,
    TimeoutExpired,
    after,
    before,
    observe,
    scoped,
)
from cuprum._exec import lifecycle
from cuprum.sh import EventStream

Target = SafeCmd | Pipeline


class Stop(Exception):
    """Raised in a consumer's body to leave the stream early."""


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    """Consume with ``with``/``for`` or ``async with``/``async for``."""
    return str(request.param)


def pull(
    stream: EventStream[typ.Any],
    mode: str,
    *,
    until: typ.Callable[[list[ExecEvent]], bool] | None = None,
    action: str = "break",
) -> list[ExecEvent]:
    """Consume ``stream`` in ``mode``; once ``until(events)`` holds, leave the
    block by ``action``: ``break``, ``raise`` (``Stop``) or ``cancel`` (the
    consuming task cancels itself). Returns the events seen; a ``Stop`` or
    a cancellation is swallowed here, any other error propagates."""
    events: list[ExecEvent] = []
    if until is not None and until(events):
        # Leave before the first pull.
        if mode == "sync":
            with stream:
                pass
        else:

            async def enter_and_leave() -> None:
                async with stream:
                    pass

            asyncio.run(enter_and_leave())
        return events
    if mode == "sync":
        try:
            with stream as s:
                for event in s:
                    events.append(event)
                    if until is not None and until(events):
                        if action == "raise":
                            raise Stop
                        break
        except Stop:
            pass
        return events

    async def consume() -> None:
        async with stream as s:
            async for event in s:
                events.append(event)
                if until is not None and until(events):
                    if action == "raise":
                        raise Stop
                    if action == "cancel":
                        task = asyncio.current_task()
                        assert task is not None
                        task.cancel()
                        await asyncio.sleep(0)
                    break

    async def main() -> None:
        task = asyncio.ensure_future(consume())
        try:
            await task
        except (Stop, asyncio.CancelledError):
            pass

    asyncio.run(main())
    return events


class Pids:
    """An observe hook recording the pid of every started process."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def __call__(self, event: ExecEvent) -> None:
        if event.phase == "start" and event.pid is not None:
            self.pids.append(event.pid)

    def assert_gone(self, *, started: bool = True) -> None:
        """Every recorded child (some, if ``started``) has been reaped: its
        pid no longer exists."""
        assert bool(self.pids) == started
        for pid in self.pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
            with pytest.raises(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def open_fds() -> set[str]:
    """The descriptors open in this process (minus the listing's own)."""
    fds = set(os.listdir("/proc/self/fd"))
    return {fd for fd in fds if os.path.exists(f"/proc/self/fd/{fd}")}


def lines(events: list[ExecEvent], phase: str = "stdout") -> list[str | None]:
    """The lines of ``phase`` events, in order."""
    return [e.line for e in events if e.phase == phase]


# -- what the stream yields ---------------------------------------------------


def test_yields_what_an_observe_hook_receives(mode: str) -> None:
    seen: list[ExecEvent] = []
    target = child("lines", "200", "etext", "e1\ne2\n", "exit", "3")
    with observe(seen.append):
        stream = target.stream()
        events = pull(stream, mode)
    assert events == seen
    assert [e.phase for e in events][:2] == ["plan", "start"]
    assert events[-1].phase == "exit" and events[-1].exit_code == 3
    assert lines(events) == [str(i) for i in range(200)]
    assert lines(events, "stderr") == ["e1", "e2"]
    assert len({e.exec_id for e in events}) == 1
    result = stream.result
    assert result.exit_code == 3 and not result.ok
    assert result.stdout == "".join(f"{i}\n" for i in range(200))
    assert result.stderr == "e1\ne2\n"


def test_same_events_as_an_observed_run(mode: str) -> None:
    seen: list[ExecEvent] = []
    target = child("lines", "1000", "text", "no ending")
    with observe(seen.append):
        target.run_sync()
    streamed = pull(target.stream(), mode)

    def shape(events: list[ExecEvent]) -> list[tuple[object, ...]]:
        return [(e.phase, e.line, e.exit_code, e.program, e.argv, dict(e.tags)) for e in events]

    assert shape(streamed) == shape(seen)


def test_pipeline_lines_of_every_stage(mode: str) -> None:
    target = (
        child("etext", "a\n", "text", "x\ny\n")
        | child("etext", "b\n", "echo-stdin")
        | child("echo-stdin", "etext", "c\n")
    )
    stream = target.stream()
    events = pull(stream, mode)
    assert lines(events) == ["x", "y"]
    assert {e.tags["pipeline_stage_index"] for e in events if e.phase == "stdout"} == {2}
    by_stage = {
        e.tags["pipeline_stage_index"]: e.line for e in events if e.phase == "stderr"
    }
    assert by_stage == {0: "a", 1: "b", 2: "c"}
    assert [e.phase for e in events].count("exit") == 3
    result = stream.result
    assert result.ok and result.stdout == "x\ny\n"
    assert [s.stderr for s in result.stages] == ["a\n", "b\n", "c\n"]


def test_stdin_and_capture_off(mode: str) -> None:
    stream = cmd("cat").stream(
        stdin=StdinInput(text="one\ntwo\n"), output=RunOutputOptions(capture=False)
    )
    events = pull(stream, mode)
    assert lines(events) == ["one", "two"]
    assert [e.byte_count for e in events if e.phase == "stdin"] == [8]
    assert stream.result.ok and stream.result.stdout is None


def test_pipeline_stream_from_a_path(mode: str, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("".join(f"{i}\n" for i in range(5000)))
    stream = (cmd("cat") | cmd("cat")).stream(stdin=StdinInput(path=source))
    events = pull(stream, mode)
    assert lines(events) == [str(i) for i in range(5000)]
    assert stream.result.ok and stream.result.stdout == source.read_text()


def _stream_numbers(
    chunks: typ.Iterable[bytes] | typ.AsyncIterable[bytes], count: int, mode: str
) -> list[ExecEvent]:
    """Stream ``cat | cat`` fed ``chunks`` (the lines 0 to ``count - 1``),
    consumed in ``mode``; check every line came out and the run succeeded,
    and return the events."""
    stream = (cmd("cat") | cmd("cat")).stream(stdin=StdinInput(chunks=chunks))
    events = pull(stream, mode)
    assert lines(events) == [str(i) for i in range(count)]
    assert stream.result.ok
    return events


def test_pipeline_stream_from_chunks(mode: str) -> None:
    chunks = (f"{i}\n".encode() for i in range(3000))
    events = _stream_numbers(chunks, 3000, mode)
    assert sum(e.byte_count or 0 for e in events if e.phase == "stdin") == sum(
        len(f"{i}\n") for i in range(3000)
    )


def test_pipeline_stream_from_async_chunks() -> None:
    async def source() -> typ.AsyncIterator[bytes]:
        for i in range(2000):
            yield f"{i}\n".encode()

    _stream_numbers(source(), 2000, "async")


def test_pipeline_stream_left_early_stops_an_endless_feed(mode: str) -> None:
    endless = Endless(b"y\n" * 1024)
    stream = (cmd("cat") | cmd("cat")).stream(stdin=StdinInput(chunks=endless.chunks()))
    events = pull(stream, mode, until=lambda seen: len(lines(seen)) >= 10)
    assert len(lines(events)) >= 10
    # Backpressure: the feed is pulled only as the pipeline drains it.
    assert endless.taken < 4096


def test_without_with_runs_to_the_end(mode: str) -> None:
    stream = child("lines", "3").stream()
    if mode == "sync":
        events = list(stream)
        assert next(stream, None) is None
    else:

        async def main() -> list[ExecEvent]:
            return [event async for event in stream]

        events = asyncio.run(main())
    assert lines(events) == ["0", "1", "2"]
    assert stream.result.stdout == "0\n1\n2\n"


def test_next_and_iter_share_one_iterator() -> None:
    stream = child("lines", "3").stream()
    assert next(stream).phase == "plan"
    assert iter(stream) is iter(stream)
    rest = list(stream)
    assert [e.phase for e in rest] == ["start", "stdout", "stdout", "stdout", "exit"]


def test_result_before_the_end_is_an_error() -> None:
    stream = child("lines", "2").stream()
    with pytest.raises(RuntimeError, match="has not ended"):
        stream.result
    with stream as s:
        next(s)
        with pytest.raises(RuntimeError, match="has not ended"):
            s.result
    with pytest.raises(RuntimeError, match="closed before its end"):
        stream.result


def test_sync_and_async_use_do_not_mix() -> None:
    stream = child("lines", "2").stream()
    with stream:
        with pytest.raises(RuntimeError, match="used synchronously"):
            stream.__aiter__()

    async def main() -> None:
        other = child("lines", "2").stream()
        async with other:
            with pytest.raises(RuntimeError, match="used asynchronously"):
                iter(other)
            async for _ in other:
                pass

    asyncio.run(main())


def test_hooks_run_as_for_run(mode: str) -> None:
    calls: list[str] = []
    with before(lambda c: calls.append("before")), after(lambda c, r: calls.append("after")):
        stream = child("text", "x\n").stream()
        assert calls == []  # the run starts at the first pull
        pull(stream, mode)
    assert calls == ["before", "after"]


def test_async_observe_hooks_are_awaited(mode: str) -> None:
    hook = AsyncPhases()
    with observe(hook):
        stream = child("text", "x\n").stream()
    events = pull(stream, mode)  # the scope in force at stream() applies
    assert hook.seen == [e.phase for e in events] == ["plan", "start", "stdout", "exit"]


# -- errors, as run raises them ---------------------------------------------


def test_plan_errors_at_the_call() -> None:
    with scoped(ScopeConfig(allowlist=frozenset())), pytest.raises(ForbiddenProgramError):
        cmd("cat").stream()
    with pytest.raises(TypeError, match="output"):
        cmd("cat").stream(output="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword"):
        (cmd("cat") | cmd("cat")).stream(bogus=True)


def test_missing_program_raises_at_the_first_pull(mode: str, tmp_path: Path) -> None:
    from cuprum import Program, ProgramCatalogue, ProjectSettings, sh

    missing = Program(str(tmp_path / "absent"))
    catalogue = ProgramCatalogue(projects=(ProjectSettings("t", (missing,), (), ()),))
    stream = sh.make(missing, catalogue=catalogue)().stream()
    with pytest.raises(FileNotFoundError, match="cannot execute"):
        pull(stream, mode)
    with pytest.raises(RuntimeError, match="FileNotFoundError"):
        stream.result


def test_timeout_during_streaming(mode: str, tmp_path: Path) -> None:
    def attempt(timeout: float) -> None:
        pids = Pids()
        marker = tmp_path / f"wrote-{timeout:g}"
        command = child("text", "first\n", "touch", str(marker), "sleep", "60")
        started = time.monotonic()
        with observe(pids), pytest.raises(TimeoutExpired) as info:
            stream = command.stream(timeout=timeout)
            pull(stream, mode)
        assert time.monotonic() - started < timeout + 20  # not the child's 60 s
        pids.assert_gone()
        with pytest.raises(RuntimeError, match="TimeoutExpired"):
            stream.result
        if not info.value.output and not marker.exists():
            raise Late("it had not written 'first'")
        assert info.value.output == "first\n"

    before_the_deadline(attempt)


def test_timeout_with_a_slow_consumer(mode: str, tmp_path: Path) -> None:
    # The deadline counts while the consumer holds the events, but the time
    # it holds them does not count against reading, after the stop, what
    # the child wrote before it: no line is lost. The child writes about
    # 330 KiB at once (it fits in the pipe, which it enlarges to 1 MiB
    # first: cuprum enlarges it only once 64 KiB came through, and the
    # consumer holds the first read's events), which takes several reads of
    # READ_SIZE, then leaves a marker; the consumer waits for the marker and
    # past the deadline, then sleeps longer than the drain grace (0.25 s)
    # before each of the first reads' lines (the lines of one read share a
    # timestamp).
    count = 60000
    timeout = 1.5
    marker = tmp_path / "written"
    stream = child("growpipe", str(1 << 20), "lines", str(count), "touch", str(marker), "sleep", "30").stream(
        timeout=timeout, output=RunOutputOptions(capture=False)
    )
    deadline = time.monotonic() + timeout
    events: list[list[ExecEvent]] = []
    stamps: list[float] = []

    def slow(seen: list[ExecEvent]) -> bool:
        if not seen:
            return False
        if not events:
            events.append(seen)  # the list pull fills
            while not marker.exists() and time.monotonic() < deadline + 30:
                time.sleep(0.01)
            time.sleep(max(0.0, deadline - time.monotonic()) + 0.3)  # past the deadline
        elif seen[-1].phase == "stdout" and seen[-1].timestamp != stamps[-1] and len(set(stamps)) < 4:
            time.sleep(0.3)
        stamps.append(seen[-1].timestamp)
        return False

    with pytest.raises(TimeoutExpired):
        pull(stream, mode, until=slow)
    assert marker.exists(), "the child did not write its lines before the deadline"
    seen = events[0]
    assert seen[-1].phase == "exit" and seen[-1].exit_code == -15
    assert lines(seen) == [str(i) for i in range(count)]


def test_timeout_with_an_awaiting_consumer(tmp_path: Path) -> None:
    # As above, but the async consumer awaits while it holds the events, so
    # the loop runs on: the stream has stopped reading (its queue is full),
    # the child is stopped at the deadline and reaped, and the drain grace
    # must not run out while nothing is read. Every line the child wrote
    # before the deadline reaches the consumer. A child stopped before it has
    # left its marker (a loaded machine) makes the attempt take a later
    # deadline: waiting for the marker would never end.
    count = 60000

    def attempt(timeout: float) -> None:
        marker = tmp_path / f"written-{timeout:g}"
        pids = Pids()
        with observe(pids):  # (a stream takes the hooks in force where it is made)
            stream = child("lines", str(count), "touch", str(marker), "sleep", "60").stream(
                timeout=timeout, output=RunOutputOptions(capture=False)
            )
        seen: list[ExecEvent] = []

        async def consume() -> None:
            async with stream:
                async for event in stream:
                    if not seen:
                        while not marker.exists():
                            if pids.pids and not alive(pids.pids[0]):
                                raise Late("it had not written its lines")
                            await asyncio.sleep(0.01)
                        await asyncio.sleep(timeout + 0.5)  # past the deadline, the loop running
                    seen.append(event)

        with pytest.raises(TimeoutExpired):
            asyncio.run(consume())
        assert seen[-1].phase == "exit" and seen[-1].exit_code == -15
        assert lines(seen) == [str(i) for i in range(count)]

    before_the_deadline(attempt, (1.5, 8.0, 30.0))


def test_zero_timeout(mode: str) -> None:
    with pytest.raises(TimeoutExpired):
        pull(cmd("sleep", "30").stream(timeout=0), mode)


def test_failing_hook_stops_the_run(mode: str) -> None:
    pids = Pids()

    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(pids), observe(hook), pytest.raises(ValueError, match="hook failed"):
        pull((child("text", "x\n", "sleep", "30") | cmd("cat")).stream(), mode)
    pids.assert_gone()


class Broken(Exception):
    """Raised by an observe hook to stop a run."""


def failing_on_stderr(fifo: Path, received: list[ExecEvent]) -> typ.Callable[[ExecEvent], None]:
    """An observe hook that records the events it receives in ``received``
    and raises ``Broken`` on the first ``stderr`` event. At the ``start``
    event it waits until the child (:func:`out_err_child`) has written its
    stdout and stderr lines, so both pipes are ready when the run is next
    read: one ``poll`` step, one loop turn, reads the stdout line and then
    fails on the stderr one."""

    def hook(event: ExecEvent) -> None:
        if event.phase == "start":
            with fifo.open("rb") as handshake:
                handshake.read()
        if event.phase == "stderr":
            raise Broken(event.line)
        received.append(event)

    return hook


def test_the_events_before_an_error_come_first(mode: str, tmp_path: Path) -> None:
    """The stream yields every event an observe hook received before the
    one that raised (the stdout line read in the same step as the failing
    stderr line), then raises; the run is stopped."""
    target, fifo = out_err_child(tmp_path)
    received: list[ExecEvent] = []
    yielded: list[list[ExecEvent]] = []
    pids = Pids()

    def record(seen: list[ExecEvent]) -> bool:
        if not yielded:
            yielded.append(seen)  # the list pull fills
        return False

    with observe(pids), observe(failing_on_stderr(fifo, received)), pytest.raises(Broken, match="err"):
        pull(target.stream(), mode, until=record)
    assert lines(received) == ["out"]
    assert yielded[0] == received
    pids.assert_gone()


@pytest.mark.parametrize("action", ["close", "break", "raise"])
def test_closing_raises_an_error_not_raised_yet(mode: str, action: str, tmp_path: Path) -> None:
    """Closed (``close``/``aclose``, leaving the ``with`` block by a break
    or an exception) after the events that preceded an error but before the
    pull that would raise it, the stream raises it: it is not lost; an
    exception leaving the block is its context."""
    target, fifo = out_err_child(tmp_path)
    received: list[ExecEvent] = []
    with observe(failing_on_stderr(fifo, received)):
        stream = target.stream()
    yielded: list[ExecEvent] = []

    def consume_sync() -> None:
        with stream:
            for event in stream:
                yielded.append(event)
                if event.phase == "stdout":
                    if action == "close":
                        stream.close()
                        continue
                    if action == "raise":
                        raise Stop
                    break

    async def consume_async() -> None:
        async with stream:
            async for event in stream:
                yielded.append(event)
                if event.phase == "stdout":
                    if action == "close":
                        await stream.aclose()
                        continue
                    if action == "raise":
                        raise Stop
                    break

    with pytest.raises(Broken) as info:
        if mode == "sync":
            consume_sync()
        else:
            asyncio.run(consume_async())
    assert lines(received) == ["out"]
    assert yielded == received
    assert isinstance(info.value.__context__, Stop) == (action == "raise")
    with pytest.raises(RuntimeError, match="Broken"):
        _ = stream.result


def test_a_dropped_stream_reports_an_error_not_raised_yet(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream left (without ``with``) after the events that preceded an
    error and then dropped reports the error (``sys.unraisablehook``)."""
    target, fifo = out_err_child(tmp_path)
    received: list[ExecEvent] = []
    with observe(failing_on_stderr(fifo, received)):
        stream = target.stream()
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    def consume_sync() -> None:
        for event in stream:
            if event.phase == "stdout":
                break

    async def consume_async() -> None:
        async for event in stream:
            if event.phase == "stdout":
                break

    if mode == "sync":
        consume_sync()
    else:
        asyncio.run(consume_async())
    del stream
    gc.collect()
    assert lines(received) == ["out"]
    assert [type(exc) for exc in reported] == [Broken]


def test_hook_awaitables_are_awaited_when_the_stream_fails(mode: str) -> None:
    """A hook raising stops the streamed run; the awaitables the hooks
    returned before are awaited, as for ``run``, then the error raised."""
    recorded = Recorded()

    def failing(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(recorded), observe(failing), pytest.raises(ValueError, match="hook failed"):
        pull(child("text", "x\n", "sleep", "30").stream(), mode)
    assert recorded.finished[:2] == ["plan", "start"]
    assert recorded.closed == []


def test_hook_awaitables_are_closed_when_the_stream_is_left_early(mode: str) -> None:
    """A stream left before its end (the consumer's choice, like a
    cancellation) awaits none of the hooks' awaitables: they are closed."""
    recorded = Recorded()
    with observe(recorded):
        stream = child("text", "x\n", "sleep", "30").stream()
    events = pull(stream, mode, until=lambda seen: bool(lines(seen)))
    assert lines(events) == ["x"]
    assert recorded.finished == []
    assert recorded.closed[:3] == ["plan", "start", "stdout"]


def test_a_close_error_after_the_stream_failed_is_noted(mode: str) -> None:
    """The hook's error, the first, is raised by the stream; closing the
    stdin source, which fails while the run is stopped, is noted on it."""

    def failing(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(failing), pytest.raises(ValueError, match="hook failed") as info:
        pull(cmd("cat").stream(stdin=StdinInput(chunks=failing_to_close(b"x\n"))), mode)
    assert info.value.__notes__ == [
        "cuprum: also raised while stopping the run: CloseFailed('closing')"
    ]


def test_an_error_while_the_async_consumer_awaits_is_raised_soon() -> None:
    """An error raised on the loop (an async stdin source failing) while
    the consumer awaits in its loop body and the child writes on: the
    consumer gets the events queued by then, then the error. Reading on
    would queue events for ever, so the error was never raised (the
    consumer awaiting, the loop refilled the queue before each pull)."""

    class Broken(Exception):
        pass

    failed = False
    after_failure = 0
    # The events one read makes at most ("y\n" lines), times a few: the
    # events already queued, and a read or two before the error is handled.
    bound = 8 * (64 * 1024 // 2)

    async def source(go: asyncio.Event) -> typ.AsyncIterator[bytes]:
        nonlocal failed
        yield b"x"
        await go.wait()
        failed = True
        raise Broken

    async def main() -> None:
        nonlocal after_failure
        go = asyncio.Event()
        stream = cmd("yes").stream(
            stdin=StdinInput(chunks=source(go)), output=RunOutputOptions(capture=False)
        )
        async with stream:
            async for event in stream:
                if failed:
                    after_failure += 1
                    if after_failure > bound:
                        return
                elif event.phase == "stdout":
                    go.set()  # the source fails with the output flowing
                await asyncio.sleep(0)

    with pytest.raises(Broken):
        asyncio.run(main())
    assert after_failure <= bound, "events kept coming after the error, not raised"


def test_failing_after_hook_raises_at_the_end(mode: str) -> None:
    def hook(_cmd: object, _result: object) -> None:
        raise ValueError("after failed")

    events: list[list[ExecEvent]] = []

    def record(seen: list[ExecEvent]) -> bool:
        if len(seen) == 1:
            events.append(seen)  # the list pull fills
        return False

    with after(hook), pytest.raises(ValueError, match="after failed"):
        pull(child("text", "x\n").stream(), mode, until=record)
    assert [e.phase for e in events[0]] == ["plan", "start", "stdout", "exit"]


def test_fail_fast_pipeline(mode: str) -> None:
    stream = (cmd("sleep", "30") | cmd("false")).stream()
    started = time.monotonic()
    pull(stream, mode)
    assert time.monotonic() - started < 20
    result = stream.result
    assert result.failure_index == 1 and result.stages[0].exit_code == -15


# -- leaving early ------------------------------------------------------------

PHASES: dict[str, typ.Callable[[list[ExecEvent]], bool]] = {
    "before-first-event": lambda events: True,
    "after-plan": lambda events: len(events) >= 1,
    "after-start": lambda events: any(e.phase == "start" for e in events),
    "mid-lines": lambda events: len(lines(events)) >= 3,
    "after-exit": lambda events: bool(events)
    and sum(e.phase == "exit" for e in events) == len({e.exec_id for e in events}),
}


def _target(phase: str, kind: str) -> Target:
    if phase == "after-exit":
        # Finite, so that every exit event arrives.
        single = child("lines", "5")
        return single if kind == "command" else single | cmd("cat")
    single = cmd("yes")
    return single if kind == "command" else single | cmd("cat") | cmd("cat")


@pytest.mark.parametrize("kind", ["command", "pipeline"])
@pytest.mark.parametrize("action", ["break", "raise", "cancel"])
@pytest.mark.parametrize("phase", list(PHASES))
def test_leaving_early(mode: str, phase: str, action: str, kind: str) -> None:
    if action == "cancel" and mode == "sync":
        pytest.skip("cancellation is for async streams")
    pids = Pids()
    before_fds = open_fds()
    target = _target(phase, kind)
    with observe(pids):
        stream = target.stream()
        events = pull(stream, mode, until=PHASES[phase], action=action)
    assert PHASES[phase](events)
    if phase != "before-first-event":
        assert len(pids.pids) == (len(target.parts) if isinstance(target, Pipeline) else 1)
    pids.assert_gone(started=phase != "before-first-event")
    assert open_fds() == before_fds
    with pytest.raises(RuntimeError, match="closed before its end"):
        stream.result


@pytest.mark.parametrize("exits", ["pidfd", "polling"])
def test_leaving_early_without_pidfd(
    mode: str, exits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if exits == "polling":
        monkeypatch.setattr(lifecycle, "_HAVE_PIDFD", False)
    pids = Pids()
    with observe(pids):
        pull((cmd("yes") | cmd("cat")).stream(), mode, until=PHASES["mid-lines"])
    pids.assert_gone()


def test_sigterm_ignored_until_the_grace(mode: str) -> None:
    pids = Pids()
    started = time.monotonic()
    with observe(pids):
        stream = child("ignore-term", "text", "x\n", "sleep", "30").stream(
            context=ExecutionContext(cancel_grace=0.2)
        )
        events = pull(stream, mode, until=lambda seen: bool(lines(seen)))
    # The child ignores SIGTERM: only the SIGKILL after the grace ends it.
    assert time.monotonic() - started < 20
    assert lines(events) == ["x"]
    pids.assert_gone()


def test_close_stops_the_run() -> None:
    pids = Pids()
    with observe(pids):
        stream = cmd("yes").stream()
        assert next(stream).phase == "plan"
    stream.close()
    pids.assert_gone()
    assert next(stream, None) is None
    stream.close()  # again: nothing to do


def test_dropping_an_unfinished_iterator_stops_the_run() -> None:
    pids = Pids()
    before_fds = open_fds()
    with observe(pids):
        events = iter((cmd("yes") | cmd("cat")).stream())
        assert [next(events).phase for _ in range(4)] == ["plan", "plan", "start", "start"]
    del events  # the stream went with the iterator: nothing refers to the run
    pids.assert_gone()
    assert open_fds() == before_fds


def test_collected_stream_stops_the_run() -> None:
    pids = Pids()
    with observe(pids):
        stream = cmd("yes").stream()
        next(stream)
        next(stream)
    del stream
    gc.collect()
    pids.assert_gone()


def test_collected_async_stream_stops_the_run() -> None:
    pids = Pids()

    async def main() -> None:
        with observe(pids):
            stream = (cmd("yes") | cmd("cat")).stream()
            async for event in stream:
                if event.phase == "stdout":
                    break
        del stream, event
        gc.collect()
        # The stop sequence runs on the loop, as a task of its own.
        for _ in range(400):
            if not [p for p in pids.pids if _alive(p)]:
                break
            await asyncio.sleep(0.05)

    before_fds = open_fds()
    asyncio.run(main())
    pids.assert_gone()
    assert open_fds() == before_fds


class _Left(Exception):
    """Raised out of an ``async for`` over a stream."""


@pytest.mark.parametrize("how", ["break", "raise"])
def test_async_stream_left_as_the_loop_ends_stops_the_run(how: str) -> None:
    """An ``async for`` left (break or raise) without ``async with`` as the
    last thing ``asyncio.run`` runs: the stream is closed while the loop
    shuts down, and its run is stopped and reaped there, not abandoned."""
    pids = Pids()

    async def main() -> None:
        with observe(pids):
            async for event in child("lines", "1", "sleep", "30").stream():
                if event.phase == "stdout":
                    if how == "raise":
                        raise _Left(event.line)
                    break

    before_fds = open_fds()
    started = time.monotonic()
    for _ in range(3):
        try:
            asyncio.run(main())
        except _Left:
            pass
    assert time.monotonic() - started < 25  # not the children's 30 s
    pids.assert_gone()
    assert open_fds() == before_fds


def test_async_stream_kept_past_the_loop_closes_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """An async stream left early but still referenced when asyncio.run
    ends: the loop's shutdown closes its generators at once, without an
    "error occurred during closing of asynchronous generator", and the run
    is stopped and reaped."""
    pids = Pids()
    kept: list[object] = []

    async def main() -> None:
        with observe(pids):
            stream = child("lines", "1", "sleep", "30").stream()
            async for event in stream:
                if event.phase == "stdout":
                    break
            kept.append(stream)

    caplog.set_level(logging.ERROR, logger="asyncio")
    asyncio.run(main())
    kept.clear()
    gc.collect()
    pids.assert_gone()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_async_cancel_while_waiting_for_events() -> None:
    pids = Pids()

    async def main() -> None:
        ready = asyncio.Event()

        async def consume() -> None:
            async with child("text", "x\n", "sleep", "30").stream() as s:
                async for event in s:
                    if event.phase == "stdout":
                        ready.set()

        task = asyncio.ensure_future(consume())
        await ready.wait()
        await asyncio.sleep(0.1)  # the consumer now waits in __anext__
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    with observe(pids):
        asyncio.run(main())
    assert time.monotonic() - started < 20
    pids.assert_gone()


def test_async_aclose_and_wait_for() -> None:
    pids = Pids()

    async def main() -> None:
        stream = cmd("yes").stream()
        assert (await stream.__anext__()).phase == "plan"
        await stream.aclose()
        pids.assert_gone()
        assert [e async for e in stream] == []
        with pytest.raises(TimeoutError):
            async with cmd("sleep", "30").stream() as s:
                await asyncio.wait_for(s.__anext__(), 5)  # plan
                await asyncio.wait_for(s.__anext__(), 5)  # start
                await asyncio.wait_for(s.__anext__(), 0.2)

    with observe(pids):
        asyncio.run(main())
    pids.assert_gone()


# -- backpressure -----------------------------------------------------------

def test_slow_consumer_blocks_the_producer(mode: str, tmp_path: Path) -> None:
    producer = Producer(tmp_path, line_length=64)
    pipe_max = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    # What may be written before the producer blocks: the pipe, a read of
    # READ_SIZE, the async stream's queue of QUEUE_BOUND 64-byte lines, and
    # the producer's own chunk (with room to spare).
    bound = pipe_max + 3 * 1024 * 1024
    if bound >= Producer.TOTAL // 2:
        pytest.skip("pipe-max-size is too large to show backpressure")
    assert 0 < producer.held_count(mode) <= bound < Producer.TOTAL
