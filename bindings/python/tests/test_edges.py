# SPDX-License-Identifier: ISC
"""Edge cases a user can meet with the newest capabilities: extreme
timeouts and grace periods, streams closed from another task or left open
when their loop ends. The suite runs once per stream backend, so every
test here runs under both.
"""

from __future__ import annotations

import asyncio
import os
import typing as typ

import pytest
from conftest import child, cmd

from cuprum import ExecEvent, ExecutionContext, TimeoutExpired

#: Far beyond what ``poll`` takes in milliseconds (a C int: 24.8 days).
HUGE = [1e7, 1e300]


@pytest.mark.parametrize("seconds", HUGE)
def test_huge_timeout_does_not_overflow_poll(seconds: float) -> None:
    assert cmd("true").run_sync(timeout=seconds).ok
    assert (cmd("true") | cmd("cat")).run_sync(context=ExecutionContext(timeout=seconds)).ok
    with cmd("seq", "3").stream(timeout=seconds) as stream:
        assert [e.line for e in stream if e.phase == "stdout"] == ["1", "2", "3"]


@pytest.mark.parametrize("seconds", HUGE)
def test_huge_grace_does_not_overflow_poll(seconds: float) -> None:
    # sleep ends at the SIGTERM; the SIGKILL, due in ``seconds``, is never sent.
    with pytest.raises(TimeoutExpired):
        cmd("sleep", "30").run_sync(timeout=0.1, context=ExecutionContext(cancel_grace=seconds))
