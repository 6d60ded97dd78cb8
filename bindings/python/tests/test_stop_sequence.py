# SPDX-License-Identifier: ISC
"""The one stop sequence, through both drivers and with or without pidfds.

However a run ends early (a hook raising mid-run or between two spawns, a
cancelled task, a timeout) its children get SIGTERM, then SIGKILL after
``cancel_grace``, and every child is reaped and every descriptor closed (the
autouse leak check of conftest fails the test otherwise).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import Runner, cancel_after, child, cmd

from cuprum import ExecEvent, ExecutionContext, observe
from cuprum._exec import lifecycle


@pytest.fixture(params=["pidfd", "polling"])
def exits(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Learn of exits through pidfds, or by polling as on old kernels."""
    if request.param == "polling":
        monkeypatch.setattr(lifecycle, "_HAVE_PIDFD", False)
    elif not lifecycle._HAVE_PIDFD:
        pytest.skip("no pidfd_open here")
    return str(request.param)


def test_hook_error_escalates_to_sigkill(run: Runner, exits: str) -> None:
    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            raise RuntimeError("hook failed")

    ctx = ExecutionContext(cancel_grace=0.2)
    started = time.monotonic()
    with observe(hook), pytest.raises(RuntimeError, match="hook failed"):
        run(child("ignore-term", "text", "x\n", "sleep", "10"), context=ctx)
    # The child ignores SIGTERM: only the SIGKILL after the grace ends it.
    assert time.monotonic() - started < 5


def test_hook_error_between_spawns(run: Runner, exits: str) -> None:
    # The start event of the first stage raises while the pipe to the
    # second stage is held by the parent and the second is not spawned yet.
    def hook(event: ExecEvent) -> None:
        if event.phase == "start":
            raise RuntimeError("start refused")

    started = time.monotonic()
    with observe(hook), pytest.raises(RuntimeError, match="start refused"):
        run(cmd("sleep", "10") | cmd("cat"))
    assert time.monotonic() - started < 5


def test_cancel_escalates_without_pidfd(exits: str) -> None:
    async def main() -> None:
        command = child("ignore-term", "text", "ready", "sleep", "10")
        await cancel_after(command.run(context=ExecutionContext(cancel_grace=0.2)), 0.5)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 5

