# SPDX-License-Identifier: ISC
"""``ExecutionContext(process_group=True)``: the stop sequence reaches the
whole process tree, under both stream backends.

Each tree is a child that starts a grandchild (optionally ignoring
SIGTERM) whose output goes nowhere near cuprum's pipes, records both pids
and its group id in a file, then prints ``ready`` and sleeps. After the run
stops early (timeout, cancellation, fail-fast, KeyboardInterrupt) no
process of the tree may be left.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import PYTHON, Late, alive, before_the_deadline, cmd

from cuprum import ExecEvent, ExecutionContext, Pipeline, SafeCmd, TimeoutExpired, observe

_TREE = r"""
import os, subprocess, sys, time
path, ignore = sys.argv[1], sys.argv[2]
grand = subprocess.Popen(
    [sys.executable, "-I", "-c",
     "import signal, sys, time\n"
     "if sys.argv[1] == '1': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
     "print('up', flush=True)\n"
     "time.sleep(120)\n", ignore],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
assert grand.stdout.readline() == b"up\n"
grand.stdout.close()
with open(path, "w") as f:
    f.write(f"{os.getpid()} {grand.pid} {os.getpgid(0)}\n")
print("ready", flush=True)
time.sleep(120)
"""

#: Reads stdin until the tree is ready, then fails (to trigger fail-fast).
_FAIL_WHEN_READY = "import sys\nsys.stdin.readline()\nsys.exit(3)\n"


#: Every test here runs under the selected stream backend, or each available.
pytestmark = pytest.mark.usefixtures("backend")


def _tree(path: Path, *, ignore_term: bool = False) -> SafeCmd:
    return cmd(PYTHON, "-I", "-c", _TREE, str(path), "1" if ignore_term else "0")


def _recorded(path: Path) -> tuple[int, int, int]:
    child_pid, grand_pid, pgid = map(int, path.read_text().split())
    return child_pid, grand_pid, pgid


def _assert_tree_gone(path: Path) -> None:
    child_pid, grand_pid, _ = _recorded(path)
    # Signals are delivered asynchronously: allow a bounded moment for the
    # kernel to finish the kill (this bounds liveness, it times nothing).
    limit = time.monotonic() + 10
    while alive(grand_pid) and time.monotonic() < limit:
        time.sleep(0.01)
    assert not alive(child_pid)
    assert not alive(grand_pid), "a grandchild outlived the run"


def _stop_on_ready(exc: BaseException) -> typ.Callable[[ExecEvent], None]:
    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout" and event.line == "ready":
            raise exc

    return hook


GROUP = ExecutionContext(process_group=True, cancel_grace=0.3)


@pytest.mark.parametrize("ignore_term", [False, True])
def test_timeout_stops_grandchildren(tmp_path: Path, ignore_term: bool) -> None:
    def attempt(timeout: float) -> None:
        pids = tmp_path / f"pids-{timeout:g}"
        with pytest.raises(TimeoutExpired):
            _tree(pids, ignore_term=ignore_term).run_sync(context=GROUP, timeout=timeout)
        if not pids.exists() or not pids.read_text().endswith("\n"):
            raise Late("the tree was not up")  # (the group's SIGKILL ended what was)
        child_pid, _, pgid = _recorded(pids)
        assert pgid == child_pid
        _assert_tree_gone(pids)

    before_the_deadline(attempt)


@pytest.mark.parametrize("ignore_term", [False, True])
def test_keyboard_interrupt_stops_grandchildren(tmp_path: Path, ignore_term: bool) -> None:
    pids = tmp_path / "pids"
    with observe(_stop_on_ready(KeyboardInterrupt())), pytest.raises(KeyboardInterrupt):
        _tree(pids, ignore_term=ignore_term).run_sync(context=GROUP)
    _assert_tree_gone(pids)


def test_cancellation_stops_grandchildren(tmp_path: Path) -> None:
    pids = tmp_path / "pids"

    async def main() -> None:
        ready = asyncio.Event()

        def hook(event: ExecEvent) -> None:
            if event.phase == "stdout" and event.line == "ready":
                ready.set()

        with observe(hook):
            task = asyncio.ensure_future(_tree(pids, ignore_term=True).run(context=GROUP))
            await ready.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    _assert_tree_gone(pids)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_fail_fast_stops_the_whole_pipeline_group(tmp_path: Path, mode: str) -> None:
    pids = tmp_path / "pids"
    fail = cmd(PYTHON, "-I", "-c", _FAIL_WHEN_READY)
    pipeline: Pipeline = _tree(pids, ignore_term=True) | fail
    if mode == "sync":
        result = pipeline.run_sync(context=GROUP)
    else:
        result = asyncio.run(pipeline.run(context=GROUP))
    assert result.failure_index == 1
    assert result.stages[1].exit_code == 3
    child_pid, _, pgid = _recorded(pids)
    # The pipeline is one group, led by its first stage.
    assert pgid == child_pid == result.stages[0].pid
    _assert_tree_gone(pids)


def test_every_stage_joins_the_first_stages_group() -> None:
    # The first stage exits at once; later stages still join its group
    # (a zombie leader keeps the group, and none is reaped before all start).
    show = "import os\nprint(os.getpgid(0))\n"
    pipeline = cmd("true") | cmd(PYTHON, "-I", "-c", show) | cmd("cat")
    result = pipeline.run_sync(context=ExecutionContext(process_group=True))
    assert result.ok
    group = result.stages[-1].stdout
    assert group is not None
    assert int(group) == result.stages[0].pid
    assert result.stages[0].pid != os.getpgid(0)


def test_off_by_default_keeps_the_callers_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ctx = ExecutionContext(cancel_grace=0.3)
    assert ctx.process_group is False
    with observe(_stop_on_ready(KeyboardInterrupt())), pytest.raises(KeyboardInterrupt):
        _tree(pids).run_sync(context=ctx)
    child_pid, grand_pid, pgid = _recorded(pids)
    try:
        assert pgid == os.getpgid(0)
        assert not alive(child_pid)
        # Today's behaviour: only the direct child is signalled.
        assert alive(grand_pid)
    finally:
        os.kill(grand_pid, signal.SIGKILL)


@pytest.mark.parametrize("value", [1, "yes", None])
def test_process_group_must_be_bool(value: object) -> None:
    with pytest.raises(TypeError, match=r"process_group must be a bool, got"):
        ExecutionContext(process_group=value)  # type: ignore[arg-type]

