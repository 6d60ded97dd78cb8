# SPDX-License-Identifier: ISC
"""``await SafeCmd.run()``: results, cancellation, timeouts, async hooks."""

from __future__ import annotations

import asyncio
import os
import time
import warnings
from pathlib import Path

import pytest
from conftest import AsyncPhases, Late, before_the_deadline, cancel_after, child, cmd

from cuprum import (
    CommandResult,
    ExecEvent,
    ExecutionContext,
    StdinInput,
    TimeoutExpired,
    observe,
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
