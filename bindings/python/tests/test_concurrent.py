# SPDX-License-Identifier: ISC
"""``run_concurrent`` and ``run_concurrent_sync``."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest
from conftest import child, cmd

from cuprum import (
    CommandResult,
    ConcurrentConfig,
    ConcurrentResult,
    ForbiddenProgramError,
    PipelineResult,
    SafeCmd,
    ScopeConfig,
    TimeoutExpired,
    before,
    observe,
    run_concurrent,
    run_concurrent_sync,
    scoped,
)


def test_results_in_submission_order() -> None:
    result = run_concurrent_sync(
        child("sleep", "0.2", "text", "a"), child("text", "b"), child("exit", "2")
    )
    assert isinstance(result, ConcurrentResult)
    assert [r.stdout for r in result.results] == ["a", "b", ""]
    assert result.failures == (2,) and not result.ok
    assert result.first_failure is result.results[2]
    assert result.submission_indices == (0, 1, 2)
    assert result.failure_submission_indices == (2,)


def test_concurrency_limit() -> None:
    started = time.monotonic()
    run_concurrent_sync(
        *(child("sleep", "0.2") for _ in range(4)), config=ConcurrentConfig(concurrency=2)
    )
    assert time.monotonic() - started >= 0.39


def test_fail_fast() -> None:
    started = time.monotonic()
    result = run_concurrent_sync(
        cmd("false"), cmd("sleep", "5"), config=ConcurrentConfig(fail_fast=True)
    )
    assert time.monotonic() - started < 3
    assert result.submission_indices == (0,) and result.failures == (0,)


def test_config_validation() -> None:
    assert ConcurrentConfig() == ConcurrentConfig(None, True, False, None, False)
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        ConcurrentConfig(concurrency=0)
    with pytest.raises(ValueError, match="at least one command"):
        run_concurrent_sync()


def test_allowlist_checked_before_any_start() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({"true"}))):  # type: ignore[arg-type]
        with pytest.raises(ForbiddenProgramError):
            run_concurrent_sync(cmd("true"), cmd("false"))


def test_async_form() -> None:
    async def main() -> ConcurrentResult[CommandResult]:
        return await run_concurrent(cmd("true"), cmd("true"))

    assert asyncio.run(main()).ok


def test_fail_fast_with_limit() -> None:
    started = time.monotonic()
    result = run_concurrent_sync(
        cmd("false"),
        cmd("sleep", "5"),
        cmd("sleep", "5"),
        config=ConcurrentConfig(concurrency=1, fail_fast=True),
    )
    assert time.monotonic() - started < 3
    assert result.submission_indices == (0,) and not result.ok


@pytest.mark.parametrize("fail_fast", [False, True])
def test_runs_raising_together_leave_no_error_unretrieved(fail_fast: bool) -> None:
    """Two runs raise in the same loop turn (a before hook): the first in
    submission order is raised, and no task's error is left to asyncio's
    "exception was never retrieved" report (fail_fast retrieved only the
    one it raised)."""
    reported: list[dict[str, object]] = []

    def hook(command: SafeCmd) -> None:
        raise RuntimeError(f"before {command.program}")

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: reported.append(context))
        config = ConcurrentConfig(fail_fast=fail_fast)
        with before(hook), pytest.raises(RuntimeError, match="before true"):
            await run_concurrent(cmd("true"), cmd("false"), config=config)
        gc.collect()  # the tasks, and a report of an unretrieved error

    asyncio.run(main())
    gc.collect()
    assert reported == []


def test_without_fail_fast_an_error_does_not_stop_the_others(tmp_path: Path) -> None:
    """Without fail-fast every run goes on to its end, as in the original
    cuprum: a run that raises (its before hook) leaves the slower one
    running, and its error is raised once both have ended, with the other
    errors noted."""
    marker = tmp_path / "finished"

    def hook(command: SafeCmd) -> None:
        if "refuse" in command.argv:
            raise RuntimeError(f"refused {command.argv[-1]}")

    slow = child("sleep", "0.5", "touch", str(marker))
    with before(hook), pytest.raises(RuntimeError, match="refused one") as info:
        run_concurrent_sync(child("refuse", "one"), slow, child("refuse", "two"))
    assert marker.exists()
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert "cuprum: also raised by another run of run_concurrent: RuntimeError('refused two')" in notes[0]


def test_sync_inside_a_running_loop_keeps_the_callers_scope() -> None:
    """Called from a coroutine, run_concurrent_sync runs its runs on a
    helper thread; the caller's scope holds there as it does outside a
    loop: its allowlist refuses a program it lacks, its hooks see every
    event and its timeout applies."""
    seen: list[str] = []

    async def main() -> None:
        with scoped(ScopeConfig(allowlist=frozenset())), pytest.raises(ForbiddenProgramError):
            run_concurrent_sync(cmd("true"))
        with observe(lambda event: seen.append(event.phase)):
            result = run_concurrent_sync(child("text", "hi"))
        assert result.ok and result.results[0].stdout == "hi"
        with scoped(ScopeConfig(timeout=0)), pytest.raises(TimeoutExpired):
            run_concurrent_sync(cmd("sleep", "5"))

    asyncio.run(main())
    assert seen == ["plan", "start", "stdout", "exit"]


# -- pipelines ------------------------------------------------------------


def test_pipelines_and_commands_mixed_in_submission_order() -> None:
    result = run_concurrent_sync(
        child("sleep", "0.2", "text", "one\n") | cmd("cat"),
        child("text", "two"),
        child("text", "x\n") | child("exit", "4") | cmd("cat"),
    )
    first, second, third = result.results
    assert isinstance(first, PipelineResult) and first.ok and first.stdout == "one\n"
    assert [s.exit_code for s in first.stages] == [0, 0]
    assert isinstance(second, CommandResult) and second.stdout == "two"
    assert isinstance(third, PipelineResult) and not third.ok
    assert third.failure_index == 1 and third.stages[1].exit_code == 4
    assert result.failures == (2,) and result.first_failure is third
    assert result.failure_submission_indices == (2,)


def test_pipeline_output_as_pipeline_run_gives_it() -> None:
    pipeline = child("lines", "1000") | cmd("cat") | cmd("cat")
    alone = pipeline.run_sync()
    together = run_concurrent_sync(pipeline, pipeline, config=ConcurrentConfig(concurrency=1))
    assert [r.stdout for r in together.results] == [alone.stdout, alone.stdout]
    assert all(isinstance(r, PipelineResult) for r in together.results)


def test_concurrency_counts_a_pipeline_as_one() -> None:
    started = time.monotonic()
    result = run_concurrent_sync(
        *(child("sleep", "0.2") | cmd("cat") for _ in range(4)),
        config=ConcurrentConfig(concurrency=2),
    )
    assert time.monotonic() - started >= 0.39
    assert result.ok and len(result.results) == 4


def test_fail_fast_on_a_failed_pipeline_stops_the_others() -> None:
    started = time.monotonic()
    result = run_concurrent_sync(
        child("sleep", "0.1") | cmd("false"),
        child("sleep", "5") | cmd("cat"),
        cmd("sleep", "5"),
        config=ConcurrentConfig(fail_fast=True),
    )
    assert time.monotonic() - started < 3
    assert result.submission_indices == (0,) and result.failures == (0,)
    failed = result.first_failure
    assert isinstance(failed, PipelineResult) and failed.failure_index == 1


def test_a_producer_dying_of_sigpipe_is_no_failure() -> None:
    """``yes | head`` has no failed stage (``failure_index`` is ``None``),
    though it is not ``ok``: fail_fast cancels nothing for it, and it is
    not among the failures."""
    early_close = cmd("yes") | cmd("head", "-n", "2")
    for fail_fast in (False, True):
        result = run_concurrent_sync(
            early_close, child("sleep", "0.3", "text", "done"), config=ConcurrentConfig(fail_fast=fail_fast)
        )
        assert result.submission_indices == (0, 1)
        closed, done = result.results
        assert isinstance(closed, PipelineResult)
        assert closed.failure_index is None and closed.stages[0].exit_code == -13
        assert done.stdout == "done"
        assert result.ok and result.failures == () and result.first_failure is None


def test_async_form_with_pipelines() -> None:
    async def main() -> ConcurrentResult[PipelineResult]:
        return await run_concurrent(cmd("true") | cmd("cat"), child("text", "z") | cmd("cat"))

    result = asyncio.run(main())
    assert result.ok and [r.stdout for r in result.results] == ["", "z"]
