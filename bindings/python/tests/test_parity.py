# SPDX-License-Identifier: ISC
"""The same scenarios through ``run_sync`` and ``await run()``: same results."""

from __future__ import annotations

import io
import signal
import time
from pathlib import Path

import pytest
from conftest import Late, Runner, before_the_deadline, child, cmd

from cuprum import (
    ExecEvent,
    ExecutionContext,
    RunOutputOptions,
    StdinInput,
    TimeoutExpired,
    observe,
)


def test_capture_and_exit(run: Runner) -> None:
    result = run(child("text", "o", "etext", "e", "exit", "5"))
    assert (result.stdout, result.stderr, result.exit_code) == ("o", "e", 5)


def test_stdin(run: Runner) -> None:
    assert run(cmd("cat"), stdin=StdinInput(text="x" * 200_000)).stdout == "x" * 200_000


def test_echo(run: Runner) -> None:
    out, err = io.StringIO(), io.StringIO()
    run(
        child("text", "€", "etext", "!"),
        output=RunOutputOptions(capture=False, echo=True),
        context=ExecutionContext(stdout_sink=out, stderr_sink=err),
    )
    assert (out.getvalue(), err.getvalue()) == ("€", "!")


def test_timeout(run: Runner, tmp_path: Path) -> None:
    def attempt(timeout: float) -> None:
        marker = tmp_path / f"wrote-{timeout:g}"
        with pytest.raises(TimeoutExpired) as info:
            run(child("text", "p", "touch", str(marker), "sleep", "60"), timeout=timeout)
        if not info.value.output and not marker.exists():
            raise Late("it had not written 'p'")
        assert info.value.output == "p"

    before_the_deadline(attempt)


def test_pipeline_semantics(run: Runner) -> None:
    started = time.monotonic()
    yes_head = run(cmd("yes") | cmd("head", "-n", "2"), timeout=10)
    sleep_false = run(cmd("sleep", "5") | cmd("false"))
    assert time.monotonic() - started < 3
    assert yes_head.stdout == "y\ny\n" and yes_head.stages[0].exit_code == -signal.SIGPIPE
    assert sleep_false.failure_index == 1


def test_events(run: Runner) -> None:
    events: list[ExecEvent] = []
    with observe(events.append):
        run(child("text", "a\r\nb"), stdin=StdinInput(data=b""))
    phases = [e.phase for e in events]
    assert phases[:2] == ["plan", "start"] and phases[-1] == "exit"
    assert [e.line for e in events if e.phase == "stdout"] == ["a", "b"]
    assert "stdin" in phases


def test_interrupt_from_hook_reaps_children(run: Runner) -> None:
    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise KeyboardInterrupt

    started = time.monotonic()
    with observe(hook), pytest.raises(KeyboardInterrupt):
        run(child("text", "x\n", "sleep", "10") | cmd("cat"))
    assert time.monotonic() - started < 3
