# SPDX-License-Identifier: ISC
"""``await SafeCmd.run()``: results, cancellation, timeouts, async hooks."""

from __future__ import annotations

import asyncio
import os
import time
import typing as typ
import warnings
from pathlib import Path

from pathlib import Path

import pytest
from conftest import (
    AsyncPhases,
    Late,
    Recorded,
    Runner,
    before_the_deadline,
    cancel_after,
    child,
    cmd,
    failing_to_close,
    out_err_child,
)

from cuprum import (
    CommandResult,
    ExecEvent,
    ExecutionContext,
    ConcurrentConfig,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    StdinInput,
    TimeoutExpired,
    observe,
    run_concurrent_sync,
    sh,
)


def test_run_returns_result() -> None:
    async def main() -> CommandResult:
        return await cmd("cat").run(stdin=StdinInput(text="abc"))

    result = asyncio.run(main())
    assert result.stdout == "abc" and result.ok


def test_many_concurrent_runs() -> None:
    async def main() -> list[CommandResult]:
        return await asyncio.gather(*(child("text", str(i)).run() for i in range(20)))

    assert [r.stdout for r in asyncio.run(main())] == [str(i) for i in range(20)]


def test_async_timeout(tmp_path: Path) -> None:
    def attempt(timeout: float) -> None:
        marker = tmp_path / f"wrote-{timeout:g}"

        async def main() -> None:
            await child("text", "p", "touch", str(marker), "sleep", "60").run(timeout=timeout)

        started = time.monotonic()
        with pytest.raises(TimeoutExpired) as info:
            asyncio.run(main())
        assert time.monotonic() - started < timeout + 20  # not the child's 60 s
        if not info.value.output and not marker.exists():
            raise Late("it had not written 'p'")
        assert info.value.output == "p"

    before_the_deadline(attempt)


def test_cancellation_terminates_child() -> None:
    pids: list[int] = []

    def hook(event: ExecEvent) -> None:
        if event.phase == "start" and event.pid is not None:
            pids.append(event.pid)

    async def main() -> None:
        await cancel_after(cmd("sleep", "10").run(), 0.2)

    started = time.monotonic()
    with observe(hook):
        asyncio.run(main())
    assert time.monotonic() - started < 3
    assert pids
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)


def test_cancellation_escalates_to_sigkill() -> None:
    async def main() -> None:
        ctx = ExecutionContext(cancel_grace=0.2)
        await cancel_after(child("ignore-term", "sleep", "10").run(context=ctx), 0.3)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 3


def test_wait_for_timeout_cancels_cleanly() -> None:
    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cmd("sleep", "10").run(), 0.2)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())


def test_async_observe_hooks_awaited_before_return() -> None:
    hook = AsyncPhases()

    async def main() -> None:
        with observe(hook):
            await child("text", "a\n").run()
        assert hook.seen[-1] == "exit" and "stdout" in hook.seen

    asyncio.run(main())


def test_async_hook_in_run_sync_is_awaited() -> None:
    hook = AsyncPhases()
    with observe(hook):
        child("text", "line\n").run_sync()
    assert hook.seen == ["plan", "start", "stdout", "exit"]


def test_every_hook_awaitable_is_awaited_when_one_raises(run: Runner) -> None:
    """Every awaitable the hooks returned is awaited before the run
    returns, also when one of them raises: its error is raised once the
    others have ended. They were left running behind ``await run()``, and
    cancelled by ``run_sync``'s loop."""
    finished: list[str] = []

    async def failing(event: ExecEvent) -> None:
        if event.phase == "exit":
            raise RuntimeError("awaitable failed")

    async def slow(event: ExecEvent) -> None:
        for _ in range(20):
            await asyncio.sleep(0)
        finished.append(event.phase)

    with observe(failing), observe(slow), pytest.raises(RuntimeError, match="awaitable failed"):
        run(cmd("true"))
    assert finished == ["plan", "start", "exit"]


def test_hook_awaitables_are_awaited_when_a_hook_raises(run: Runner) -> None:
    """A hook raising stops the run; the awaitables the hooks returned
    before are awaited (the children stopped first), then the error is
    raised."""
    recorded = Recorded()

    def failing(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(recorded), observe(failing), pytest.raises(ValueError, match="hook failed"):
        run(child("text", "x\n", "sleep", "30"))
    assert recorded.finished[:2] == ["plan", "start"]
    assert recorded.closed == []


def test_hook_awaitables_are_awaited_when_a_program_is_missing(run: Runner, tmp_path: Path) -> None:
    """A failed spawn is an error of the run: the awaitables of the events
    before it are awaited."""
    missing = Program(str(tmp_path / "absent"))
    catalogue = ProgramCatalogue(projects=(ProjectSettings("t", (missing,), (), ()),))
    recorded = Recorded()
    with observe(recorded), pytest.raises(FileNotFoundError):
        run(cmd("sleep", "30") | sh.make(missing, catalogue=catalogue)())
    assert recorded.finished[:3] == ["plan", "plan", "start"]
    assert recorded.closed == []


def test_an_awaitable_error_after_a_hook_error_is_noted(run: Runner) -> None:
    """The hook's error is raised; an awaitable failing meanwhile is noted
    on it, not lost."""

    async def failing_later(event: ExecEvent) -> None:
        if event.phase == "start":
            raise RuntimeError("awaitable failed")

    def failing(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(failing_later), observe(failing), pytest.raises(ValueError, match="hook failed") as info:
        run(child("text", "x\n", "sleep", "30"))
    assert info.value.__notes__ == [
        "cuprum: also raised by a hook's awaitable: RuntimeError('awaitable failed')"
    ]


def test_hook_awaitables_are_closed_on_cancellation() -> None:
    """A cancelled run awaits none of the hooks' awaitables (no more of the
    caller's code while the task is cancelled): they are closed."""
    recorded = Recorded()
    tasks: list[asyncio.Task[typ.Any]] = []

    def cancel_at_stdout(event: ExecEvent) -> None:
        if event.phase == "stdout":
            tasks[0].cancel()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.append(task)
        with observe(recorded), observe(cancel_at_stdout):
            with pytest.raises(asyncio.CancelledError):
                await child("text", "x\n", "sleep", "30").run()

    asyncio.run(main())
    assert recorded.finished == []
    assert recorded.closed[:2] == ["plan", "start"]


def test_hook_error_propagates_and_cleans_up() -> None:
    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise RuntimeError("hook failed")

    async def main() -> None:
        with observe(hook):
            await child("text", "x\n", "sleep", "10").run()

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="hook failed"):
        asyncio.run(main())
    with observe(hook), pytest.raises(RuntimeError, match="hook failed"):
        child("text", "x\n", "sleep", "10").run_sync()
    assert time.monotonic() - started < 4


def test_async_hook_with_run_sync_inside_a_running_loop() -> None:
    hook = AsyncPhases()

    async def main() -> None:
        with observe(hook):
            child("text", "z").run_sync()

    asyncio.run(main())
    assert hook.seen[-1] == "exit" and "stdout" in hook.seen


# -- several errors in one run: the first raised, the others noted ----------


def test_the_other_failing_hook_awaitables_are_noted(run: Runner) -> None:
    async def first(event: ExecEvent) -> None:
        if event.phase == "exit":
            raise RuntimeError("first")

    async def second(event: ExecEvent) -> None:
        if event.phase == "exit":
            raise ValueError("second")

    # The outer scope's hooks run first.
    with observe(first), observe(second), pytest.raises(RuntimeError, match="first") as info:
        run(cmd("true"))
    assert info.value.__notes__ == [
        "cuprum: also raised by another hook's awaitable: ValueError('second')"
    ]


def test_a_close_error_while_stopping_after_a_hook_error_is_noted(run: Runner) -> None:
    """The hook's error, the first, is raised; closing the stdin source,
    which fails in the stop sequence, is noted on it (it replaced it)."""

    def failing(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise ValueError("hook failed")

    with observe(failing), pytest.raises(ValueError, match="hook failed") as info:
        run(cmd("cat"), stdin=StdinInput(chunks=failing_to_close(b"x\n")))
    assert info.value.__notes__ == [
        "cuprum: also raised while stopping the run: CloseFailed('closing')"
    ]


def test_a_second_callback_error_is_noted(tmp_path: Path) -> None:
    """Two callbacks of one loop turn raise (a hook on the stdout and on
    the stderr line, both pipes ready): the first is raised, the second
    noted."""
    target, fifo = out_err_child(tmp_path)

    def failing(event: ExecEvent) -> None:
        if event.phase == "start":
            with fifo.open("rb") as handshake:
                handshake.read()
        elif event.phase in {"stdout", "stderr"}:
            raise ValueError(event.line)

    with observe(failing), pytest.raises(ValueError) as info:
        asyncio.run(target.run())
    other = "err" if info.value.args == ("out",) else "out"
    assert info.value.__notes__ == [
        f"cuprum: also raised by another callback of the run: ValueError('{other}')"
    ]


@pytest.mark.parametrize("fail_fast", [False, True])
def test_the_other_failing_runs_of_run_concurrent_are_noted(tmp_path: Path, fail_fast: bool) -> None:
    missing = [Program(str(tmp_path / name)) for name in ("one", "two")]
    catalogue = ProgramCatalogue(projects=(ProjectSettings("t", tuple(missing), (), ()),))
    commands = [sh.make(program, catalogue=catalogue)() for program in missing]
    with pytest.raises(FileNotFoundError) as info:
        run_concurrent_sync(*commands, config=ConcurrentConfig(fail_fast=fail_fast))
    raised = info.value.filename
    other = str(tmp_path / ("two" if raised.endswith("one") else "one"))
    notes = info.value.__notes__
    assert len(notes) == 1
    assert notes[0].startswith("cuprum: also raised by another run of run_concurrent: FileNotFoundError(")
    assert repr(other) in notes[0]
