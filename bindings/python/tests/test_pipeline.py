# SPDX-License-Identifier: ISC
"""Pipelines: data flow, fail-fast in every position, early close, timeouts."""

from __future__ import annotations

import asyncio
import signal
import time
import typing as typ

import pytest
from conftest import Late, before_the_deadline, child, cmd

from cuprum import (
    ExecutionContext,
    ForbiddenProgramError,
    Pipeline,
    PipelineResult,
    RunOutputOptions,
    ScopeConfig,
    TimeoutExpired,
    scoped,
)


def _fast(started: float, limit: float = 3.0) -> None:
    assert time.monotonic() - started < limit


def test_data_flows_through_stages() -> None:
    result = (child("lines", "1000") | cmd("cat") | cmd("head", "-n", "3")).run_sync()
    assert isinstance(result, PipelineResult)
    assert result.stdout == "0\n1\n2\n"
    assert result.final is result.stages[-1]
    assert [s.stdout for s in result.stages[:-1]] == [None, None]
    assert result.failure is None and result.failure_index is None


def test_four_stage_large_payload_intact() -> None:
    size = 8 * 1024 * 1024
    pipe = child("bytes", str(size)) | cmd("cat") | cmd("cat") | cmd("cat")
    result = pipe.run_sync()
    assert result.ok and result.stdout == "x" * size


def test_every_stage_stderr_captured() -> None:
    result = (child("etext", "first") | child("etext", "second")).run_sync()
    assert [s.stderr for s in result.stages] == ["first", "second"]


def test_yes_head_finishes_at_once() -> None:
    started = time.monotonic()
    result = (cmd("yes") | cmd("head", "-n", "2")).run_sync()
    _fast(started)
    assert result.stdout == "y\ny\n"
    assert result.stages[0].exit_code == -signal.SIGPIPE
    assert result.final.ok and result.failure_index is None and not result.ok


def test_yes_head_with_timeout() -> None:
    started = time.monotonic()
    result = (cmd("yes") | cmd("head", "-n", "2")).run_sync(timeout=30)
    _fast(started)
    assert result.stdout == "y\ny\n"


def test_finite_upstream_after_early_close() -> None:
    result = (child("text", "a\nb\nc\n") | cmd("head", "-n", "1")).run_sync()
    assert result.stdout == "a\n"
    assert result.stages[0].exit_code in (0, -signal.SIGPIPE)
    assert result.failure_index is None


def test_failing_last_stage_stops_upstream() -> None:
    started = time.monotonic()
    result = (cmd("sleep", "5") | cmd("false")).run_sync()
    _fast(started)
    assert result.failure_index == 1 and result.failure is result.stages[1]
    assert result.stages[0].exit_code == -signal.SIGTERM
    assert not result.ok


def test_failing_first_stage_stops_downstream() -> None:
    started = time.monotonic()
    result = (cmd("false") | cmd("sleep", "5")).run_sync()
    _fast(started)
    assert result.failure_index == 0
    assert result.stages[1].exit_code == -signal.SIGTERM


def test_failing_middle_stage() -> None:
    started = time.monotonic()
    result = (cmd("sleep", "5") | child("exit", "4") | cmd("sleep", "5")).run_sync()
    _fast(started)
    assert result.failure_index == 1 and result.stages[1].exit_code == 4


def test_fail_fast_escalates_to_sigkill() -> None:
    started = time.monotonic()
    pipe = child("ignore-term", "sleep", "10") | child("sleep", "0.2", "exit", "1")
    result = pipe.run_sync(context=ExecutionContext(cancel_grace=0.3))
    _fast(started, 4)
    assert result.failure_index == 1
    assert result.stages[0].exit_code == -signal.SIGKILL


def test_pipeline_timeout_partial_output() -> None:
    # Only the run's output can tell that cat passed the line on before the
    # deadline stopped it: an attempt without it takes a later deadline.
    def attempt(timeout: float) -> None:
        started = time.monotonic()
        pipe = child("text", "early\n", "etext", "e0", "sleep", "60") | cmd("cat")
        with pytest.raises(TimeoutExpired) as info:
            pipe.run_sync(timeout=timeout)
        _fast(started, timeout + 20)  # not the child's 60 s
        stderr = typ.cast(str, info.value.stderr)
        if info.value.output != "early\n" or "e0" not in stderr:
            raise Late(f"output {info.value.output!r}, stderr {stderr!r}")
        assert len(typ.cast("tuple[object, ...]", info.value.cmd)) == 2

    before_the_deadline(attempt)


def test_capture_false_pipeline() -> None:
    result = (child("text", "x") | cmd("cat")).run_sync(output=RunOutputOptions(capture=False))
    assert result.stdout is None and all(s.stderr is None for s in result.stages)


def test_forbidden_stage_refused_before_spawn() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({"yes"}))):  # type: ignore[arg-type]
        with pytest.raises(ForbiddenProgramError, match="head"):
            (cmd("yes") | cmd("head")).run_sync()


def test_missing_executable_in_later_stage_cleans_up(tmp_path: object) -> None:
    from cuprum import Program, ProgramCatalogue, ProjectSettings, sh

    ghost = Program("/nonexistent/cuprum-ghost")
    cat = ProgramCatalogue(projects=[ProjectSettings("x", (ghost,), (), ())])
    with pytest.raises(FileNotFoundError, match="cuprum-ghost"):
        (cmd("sleep", "5") | sh.make(ghost, catalogue=cat)()).run_sync()


def test_async_pipeline() -> None:
    async def main() -> PipelineResult:
        return await (cmd("yes") | cmd("head", "-n", "3")).run()

    started = time.monotonic()
    assert asyncio.run(main()).stdout == "y\ny\ny\n"
    _fast(started)

    async def failing() -> PipelineResult:
        return await (cmd("sleep", "5") | cmd("false")).run()

    started = time.monotonic()
    assert asyncio.run(failing()).failure_index == 1
    _fast(started)


def test_composition() -> None:
    a, b, c = cmd("true"), cmd("cat"), cmd("head")
    assert (a | b | c).parts == (a, b, c)
    assert Pipeline.concat(a | b, b | c).parts == (a, b, b, c)
    assert (a | (b | c)).parts == (a, b, c)
    with pytest.raises(ValueError, match="at least two"):
        Pipeline((a,))
    with pytest.raises(TypeError, match="SafeCmd or Pipeline"):
        a | "cat"  # type: ignore[operator]


def test_deprecated_flat_output_flags() -> None:
    pipe = child("text", "x") | cmd("cat")
    with pytest.warns(DeprecationWarning, match="deprecated"):
        result = pipe.run_sync(capture=False)
    assert result.stdout is None
    with pytest.raises(ValueError, match="not both"):
        pipe.run_sync(output=RunOutputOptions(), echo=True)
    with pytest.raises(TypeError, match="bogus"):
        pipe.run_sync(bogus=True)
