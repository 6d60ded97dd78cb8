# SPDX-License-Identifier: ISC
"""A stage's ``exit`` is its last event, whatever ends its stdin feed.

A first stage that exits without reading its stdin breaks the pipe the
run feeds: the ``stdin_error`` event that reports it must still come
before that stage's ``exit``, and every stage's ``exit`` before the run's
after hooks. Each scenario runs through ``run_sync``, ``await run()`` and
a sync and an async ``stream()``, under every stream backend.

The deterministic case keeps the feed open past the child's exit: the
child leaves its stdin to a grandchild that closes it only once the run
has reaped the child, so the run learns of the exit strictly before the
broken pipe (with no timing assumption); before the fix its ``exit`` came
first every time.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import os
import typing as typ

import pytest
from conftest import PYTHON, Endless, child, cmd

from cuprum import (
    ExecEvent,
    ExecutionContext,
    Pipeline,
    StdinInput,
    TimeoutExpired,
    after,
    observe,
)
from cuprum._exec import lifecycle

if typ.TYPE_CHECKING:
    from pathlib import Path

    from cuprum import sh

pytestmark = pytest.mark.usefixtures("backend")

#: More than any pipe holds (64 KiB pages make a default pipe 1 MiB).
BIG = 4 << 20
_LEAVE_STDIN = """
import os, sys, time
parent = os.getpid()
r, w = os.pipe()
if os.fork() == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1); os.dup2(null, 2)
    os.write(w, b".")
    for _ in range(600000):  # ten minutes at most: never in a passing run
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            if sys.argv[1] == "reaped":
                break  # the run has seen the exit
        time.sleep(0.001)
    os._exit(0)
os.read(r, 1)
"""


def leaves_stdin(until: str) -> sh.SafeCmd:
    """A child that exits without reading its stdin, which a grandchild
    keeps open (unread; its stdout and stderr are /dev/null) until the run
    has reaped the child (``until="reaped"``: the run sees the exit before
    the broken pipe) or until it is killed (``"killed"``)."""
    return cmd(PYTHON, "-I", "-c", _LEAVE_STDIN, until)


MODES = ["sync", "async", "stream", "astream"]
Record = list[tuple[str, object]]


def _drive(mode: str, target: sh.SafeCmd | Pipeline, **kwargs: typ.Any) -> tuple[Record, object]:
    """Run ``target`` in ``mode``; return what happened, in order (each
    event as ``(exec_id, phase)``, the after hooks as ``("after", program)``),
    and the result or the exception raised."""
    record: Record = []

    def on_event(event: ExecEvent) -> None:
        record.append((str(event.exec_id), event.phase))

    def on_after(command: object, _result: object) -> None:
        record.append(("after", getattr(command, "program", command)))

    outcome: object
    with after(on_after):
        try:
            if mode in {"sync", "async"}:
                with observe(on_event):
                    if mode == "sync":
                        outcome = target.run_sync(**kwargs)
                    else:
                        outcome = asyncio.run(target.run(**kwargs))
            elif mode == "stream":
                with target.stream(**kwargs) as stream:
                    for event in stream:
                        on_event(event)
                outcome = stream.result
            else:

                async def pull() -> object:
                    async with target.stream(**kwargs) as stream:
                        async for event in stream:
                            on_event(event)
                    return stream.result

                outcome = asyncio.run(pull())
        except (OSError, TimeoutExpired) as exc:
            outcome = exc
    return record, outcome


def check_order(record: Record) -> dict[str, list[str]]:
    """Assert the documented order of each stage's events and return the
    phases by stage: ``plan`` first, ``start`` next, at most one
    ``stdin``/``stdin_error`` and one ``exit``, ``exit`` last; after
    hooks once every stage has exited."""
    stages: dict[str, list[str]] = {}
    afters = 0
    for who, what in record:
        if who == "after":
            afters += 1
            exited = [phases[-1] == "exit" for phases in stages.values()]
            assert all(exited), f"an after hook ran before every exit: {record}"
            continue
        phases = stages.setdefault(who, [])
        assert "exit" not in phases, f"{what} after the stage's exit: {phases}"
        phases.append(str(what))
    for phases in stages.values():
        assert phases[0] == "plan", phases
        assert phases[1:2] in (["start"], []), phases
        assert phases.count("stdin") + phases.count("stdin_error") <= 1, phases
        assert phases.count("exit") <= 1, phases
    assert afters in (0, len(stages)), record
    return stages


def _first(stages: dict[str, list[str]]) -> list[str]:
    return next(iter(stages.values()))


def _sources(mode: str) -> list[str]:
    asynchronous = mode in {"async", "astream"}
    return ["data", "chunks", "achunks"] if asynchronous else ["data", "chunks"]


def _stdin(source: str) -> StdinInput:
    if source == "data":
        return StdinInput(data=b"x" * BIG)
    if source == "chunks":
        return StdinInput(chunks=Endless(b"x" * 65536).chunks())

    async def endless() -> cabc.AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    return StdinInput(chunks=endless())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pipeline", [False, True], ids=["command", "pipeline"])
@pytest.mark.parametrize("exits", ["pidfd", "polling"])
def test_exit_follows_stdin_error_of_a_child_that_leaves_stdin(
    mode: str, pipeline: bool, exits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if exits == "polling":
        monkeypatch.setattr(lifecycle, "_HAVE_PIDFD", False)
    elif not lifecycle._HAVE_PIDFD:
        pytest.skip("no pidfd_open here")
    stage = leaves_stdin("reaped")
    target: sh.SafeCmd | Pipeline = stage | cmd("cat") if pipeline else stage
    for source in _sources(mode):
        record, outcome = _drive(mode, target, stdin=_stdin(source))
        assert not isinstance(outcome, BaseException), outcome
        first = _first(check_order(record))
        assert first == ["plan", "start", "stdin_error", "exit"], (source, first)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pipeline", [False, True], ids=["command", "pipeline"])
def test_exit_is_last_when_the_child_exits_without_reading(mode: str, pipeline: bool) -> None:
    # The audit's reproducer: the run sees the exit and the broken pipe
    # together, in either order; the events come out in one.
    target: sh.SafeCmd | Pipeline = cmd("true") | cmd("cat") if pipeline else cmd("true")
    for _ in range(5):
        record, outcome = _drive(mode, target, stdin=StdinInput(data=b"x" * BIG))
        assert not isinstance(outcome, BaseException), outcome
        assert _first(check_order(record)) == ["plan", "start", "stdin_error", "exit"]


@pytest.mark.parametrize("mode", MODES)
def test_exit_follows_stdin_of_a_child_that_reads_it_all(mode: str) -> None:
    for source in ("text", "empty"):
        data = "x" * 200_000 if source == "text" else ""
        record, outcome = _drive(mode, cmd("cat") | cmd("cat"), stdin=StdinInput(text=data))
        assert not isinstance(outcome, BaseException), outcome
        stages = check_order(record)
        assert _first(stages) == ["plan", "start", "stdin", "exit"]
        assert [phases[-1] for phases in stages.values()] == ["exit", "exit"]


@pytest.mark.parametrize("mode", MODES)
def test_exit_follows_stdin_error_after_a_timeout(mode: str) -> None:
    # The child never reads and never exits: the deadline stops it, which
    # ends the feed first.
    target = child("sleep", "30") | cmd("cat")
    record, outcome = _drive(mode, target, stdin=StdinInput(data=b"x" * BIG), timeout=0.2)
    assert isinstance(outcome, TimeoutExpired), outcome
    stages = check_order(record)
    assert _first(stages) == ["plan", "start", "stdin_error", "exit"]
    assert [phases[-1] for phases in stages.values()] == ["exit", "exit"]


@pytest.mark.parametrize("mode", ["async", "astream"])
def test_no_event_follows_a_cancelled_run(mode: str) -> None:
    # Cancelled once the child has been reaped, while its grandchild holds
    # the feed (until the stop sequence kills its group): no event comes
    # after the cancellation, so none after an exit.
    record: Record = []
    context = ExecutionContext(process_group=True)
    target = leaves_stdin("killed")

    async def main() -> None:
        reaped = asyncio.Event()
        watchers: set[asyncio.Task[None]] = set()

        async def watch(pid: int) -> None:
            while True:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    reaped.set()
                    return
                await asyncio.sleep(0.001)

        def on_event(event: ExecEvent) -> None:
            record.append((str(event.exec_id), event.phase))
            if event.phase == "start" and event.pid is not None:
                watchers.add(asyncio.get_running_loop().create_task(watch(event.pid)))

        async def consume() -> None:
            stdin = StdinInput(data=b"x" * BIG)
            if mode == "async":
                with observe(on_event):
                    await target.run(stdin=stdin, context=context)
                return
            async with target.stream(stdin=stdin, context=context) as stream:
                async for event in stream:
                    on_event(event)

        task = asyncio.ensure_future(consume())
        await reaped.wait()
        seen = len(record)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(record) == seen, record

    asyncio.run(main())
    phases = _first(check_order(record))
    assert phases[:2] == ["plan", "start"]
    assert "stdin_error" not in phases or phases[-1] == "exit", phases


@pytest.mark.parametrize("mode", MODES)
def test_exit_is_last_with_path_and_fd_stdin(mode: str, tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.write_bytes(b"x" * BIG)
    record, outcome = _drive(mode, cmd("true") | cmd("cat"), stdin=StdinInput(path=source))
    assert not isinstance(outcome, BaseException), outcome
    assert _first(check_order(record)) == ["plan", "start", "exit"]
    fd = os.open(source, os.O_RDONLY)
    try:
        record, outcome = _drive(mode, cmd("true"), stdin=StdinInput(fd=fd))
    finally:
        os.close(fd)
    assert not isinstance(outcome, BaseException), outcome
    assert _first(check_order(record)) == ["plan", "start", "exit"]

