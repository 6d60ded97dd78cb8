# SPDX-License-Identifier: ISC
"""Facts code written for the original cuprum relies on, checked here.

Catalogue duplicates raise dedicated ``ValueError`` subclasses naming the
culprit; ``ExecHook`` lives in ``cuprum.events`` only; a timeout of zero or
less has already expired, wherever it is given (the call, an
``ExecutionContext``, a ``ScopeConfig``), for commands and pipelines, sync
and async alike.
"""

from __future__ import annotations

import math
import time
import typing as typ

import pytest
from conftest import PYTHON, Runner, child, cmd

import cuprum.context
import cuprum.events
from cuprum import (
    ExecutionContext,
    Pipeline,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    SafeCmd,
    ScopeConfig,
    TimeoutExpired,
    scoped,
)
from cuprum.catalogue import DuplicateProgramError, DuplicateProjectError

EXPIRED = [0, 0.0, -1, -0.5, -math.inf]


def test_duplicate_project_error() -> None:
    a = ProjectSettings("a", (Program("x"),), (), ())
    with pytest.raises(DuplicateProjectError) as info:
        ProgramCatalogue(projects=[a, ProjectSettings("a", (Program("y"),), (), ())])
    err = info.value
    assert isinstance(err, ValueError)
    assert err.project_name == "a"
    assert str(err) == "Project 'a' registered more than once"


def test_duplicate_program_error() -> None:
    a = ProjectSettings("a", (Program("x"),), (), ())
    b = ProjectSettings("b", (Program("z"), Program("x")), (), ())
    with pytest.raises(DuplicateProgramError) as info:
        ProgramCatalogue(projects=[a, b])
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.program, err.owner) == ("x", "a")
    assert str(err) == "Program 'x' already owned by 'a'"


def test_catalogue_errors_are_public_names() -> None:
    assert {"DuplicateProjectError", "DuplicateProgramError"} <= set(cuprum.catalogue.__all__)


def test_exec_hook_lives_in_events_only() -> None:
    assert "ExecHook" in cuprum.events.__all__
    assert "ExecHook" not in cuprum.context.__all__
    assert not hasattr(cuprum.context, "ExecHook")
    with pytest.raises(ImportError):
        exec("from cuprum.context import ExecHook", {})  # noqa: S102


def _expires(run: Runner, target: SafeCmd | Pipeline, expected: float, **kwargs: typ.Any) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutExpired) as info:
        run(target, **kwargs)
    # The child would sleep 10 s; stopped at once, it ends well before.
    assert time.monotonic() - started < 5
    assert info.value.timeout == expected


@pytest.mark.parametrize("timeout", EXPIRED)
def test_expired_call_timeout_command(run: Runner, timeout: float) -> None:
    _expires(run, cmd("sleep", "10"), timeout, timeout=timeout)


@pytest.mark.parametrize("timeout", EXPIRED)
def test_expired_call_timeout_pipeline(run: Runner, timeout: float) -> None:
    _expires(run, cmd("sleep", "10") | cmd("cat"), timeout, timeout=timeout)


@pytest.mark.parametrize("timeout", [0, -2.5])
def test_expired_execution_context_timeout(run: Runner, timeout: float) -> None:
    ctx = ExecutionContext(timeout=timeout)
    assert ctx.timeout == timeout
    _expires(run, cmd("sleep", "10"), timeout, context=ctx)
    _expires(run, cmd("sleep", "10") | cmd("cat"), timeout, context=ctx)


@pytest.mark.parametrize("timeout", [0, -2.5])
def test_expired_scope_timeout(run: Runner, timeout: float) -> None:
    with scoped(ScopeConfig(timeout=timeout)) as ctx:
        assert ctx.timeout == timeout
        _expires(run, cmd("sleep", "10"), timeout)
        _expires(run, cmd("sleep", "10") | cmd("cat"), timeout)


def test_expired_timeout_keeps_partial_output(run: Runner) -> None:
    # Whatever the child wrote before it was stopped is carried, never lost;
    # with a deadline already passed that may be nothing at all.
    with pytest.raises(TimeoutExpired) as info:
        run(child("text", "x", "sleep", "10"), timeout=-1)
    assert info.value.output in ("", "x")


def test_infinite_timeout_never_expires(run: Runner) -> None:
    assert run(cmd("true"), timeout=math.inf).ok
    assert run(cmd("true") | cmd("cat"), context=ExecutionContext(timeout=math.inf)).ok
    with scoped(ScopeConfig(timeout=math.inf)):
        assert run(cmd("true")).ok


def test_infinite_grace_still_stops_on_sigterm(run: Runner) -> None:
    ctx = ExecutionContext(cancel_grace=math.inf)
    _expires(run, cmd("sleep", "10"), 0.2, timeout=0.2, context=ctx)


def test_stop_continues_a_stopped_child(run: Runner) -> None:
    # A child stopped (here by itself) acts on the stop's SIGTERM at once:
    # it is continued, not left for the SIGKILL after a long grace.
    stops_itself = cmd(
        PYTHON, "-I", "-c", "import os, signal, time; os.kill(os.getpid(), signal.SIGSTOP); time.sleep(10)"
    )
    ctx = ExecutionContext(cancel_grace=60)
    _expires(run, stops_itself, 0.3, timeout=0.3, context=ctx)


def test_nan_timeout_rejected_everywhere() -> None:
    nan = float("nan")
    for make in (
        lambda: cmd("true").run_sync(timeout=nan),
        lambda: (cmd("true") | cmd("cat")).run_sync(timeout=nan),
        lambda: ExecutionContext(timeout=nan),
        lambda: ScopeConfig(timeout=nan),
    ):
        with pytest.raises(ValueError, match="timeout"):
            make()
