# SPDX-License-Identifier: ISC
"""Resource behaviour: memory peak, pipe sizes, the no-pidfd fallback."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import child, cmd

import cuprum
from cuprum import _streams_pure
from cuprum._exec import lifecycle

#: Where the cuprum under test was imported from (source or build tree).
_SRC = str(Path(cuprum.__file__).resolve().parent.parent)


def test_capture_peak_memory_at_most_twice_payload() -> None:
    size = 64 * 1024 * 1024
    script = textwrap.dedent(
        f"""
        import resource, sys
        sys.path.insert(0, {_SRC!r})
        from cuprum import Program, ProgramCatalogue, ProjectSettings, sh
        py = Program(sys.executable)
        cat = ProgramCatalogue(projects=[ProjectSettings("t", (py,), (), ())])
        run = sh.make(py, catalogue=cat)
        script = "import os; os.write(1, b'x' * {size})"
        run("-I", "-c", "pass").run_sync()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = run("-I", "-c", script).run_sync()
        assert len(result.stdout) == {size}
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((peak - base) * 1024)
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-B", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),  # keeps LD_LIBRARY_PATH and the backend choice
    )
    growth = int(done.stdout.strip())
    assert growth <= 2.1 * size, f"peak grew by {growth / size:.2f}x the payload"


def test_capture_region_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_streams_pure, "SPILL_SIZE", 10)
    monkeypatch.setattr(_streams_pure, "_FIRST_REGION", 64)
    cap = _streams_pure.Capture("utf-8", "strict")
    data = "ä€😀".encode() * 1000
    for i in range(0, len(data), 7):
        cap.feed(data[i : i + 7])
    assert cap.nbytes == len(data)
    assert cap.finish() == data.decode()


def test_capture_pipe_grows_stage_pipes_default() -> None:
    """The captured last stdout's pipe and a stage's stderr pipe grow to
    pipe-max-size once 64 KiB came through them, and a short output leaves
    them at the kernel's default; the pipes between stages keep the default (docs/performance.md, "Pipe
    size between stages in the Python engines"). Writing 1 MiB into a
    default pipe returns only once the reader took most of it, so the size
    is seen after the grow."""
    try:
        with open("/proc/sys/fs/pipe-max-size", "rb") as handle:
            limit = int(handle.read())
    except OSError:
        pytest.skip("no pipe-max-size")
    read_fd, write_fd = os.pipe()
    try:
        default = fcntl.fcntl(write_fd, getattr(fcntl, "F_GETPIPE_SZ", 1032))
        # What growing a pipe gives this process now: the size, or the
        # default when the kernel refuses (the user's quota).
        try:
            can_grow = max(default, fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), limit))
        except OSError:
            can_grow = default
    finally:
        os.close(read_fd)
        os.close(write_fd)
    result = (child("pipesize") | child("pipesize") | child("bytes", str(1 << 20), "pipesize")).run_sync()
    between = [int(stage.stderr or 0) for stage in result.stages[:2]]
    assert len(result.stdout or "") == 1 << 20
    assert between == [default, default]
    assert int(result.stages[2].stderr or 0) == can_grow
    short = child("text", "x", "pipesize").run_sync()
    assert short.stdout == "x"
    assert int(short.stderr or 0) == default
    errors = child("ebytes", str(1 << 20), "epipesize").run_sync()
    assert len(errors.stderr or "") == 1 << 20
    assert int(errors.stdout or 0) == can_grow
    short = child("etext", "x", "epipesize").run_sync()
    assert short.stderr == "x"
    assert int(short.stdout or 0) == default


def test_without_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "_HAVE_PIDFD", False)
    assert child("text", "x").run_sync().stdout == "x"
    started = time.monotonic()
    result = (cmd("sleep", "5") | cmd("false")).run_sync()
    assert time.monotonic() - started < 3 and result.failure_index == 1
    assert (cmd("yes") | cmd("head", "-n", "1")).run_sync().stdout == "y\n"


def test_not_executable(tmp_path: Path) -> None:
    from cuprum import Program, ProgramCatalogue, ProjectSettings, sh

    target = tmp_path / "script"
    target.write_text("#!/bin/true\n")
    target.chmod(0o644)
    prog = Program(str(target))
    cat = ProgramCatalogue(projects=[ProjectSettings("x", (prog,), (), ())])
    if os.geteuid() == 0:
        target.chmod(0o600)
    with pytest.raises(PermissionError, match="script"):
        sh.make(prog, catalogue=cat)().run_sync()


def test_capture_growth_failing_is_a_memory_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pure capture's map cannot grow: a MemoryError, as the native
    capture raises, never an OSError that would pass for a failing read of
    the pipe."""

    def refuse(size: int) -> object:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(_streams_pure, "SPILL_SIZE", 4)
    monkeypatch.setattr(_streams_pure, "_FIRST_REGION", 64)
    cap = _streams_pure.Capture("utf-8", "strict")
    cap.feed(b"abcdefgh")  # spilled into a map of 64 bytes
    monkeypatch.setattr(_streams_pure, "_new_region", refuse)
    with pytest.raises(MemoryError, match="cannot map"):
        cap.feed(b"x" * 100)


def test_capture_falls_back_when_mapping_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def refuse(size: int) -> object:
        calls.append(size)
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(_streams_pure, "SPILL_SIZE", 4)
    monkeypatch.setattr(_streams_pure, "_new_region", refuse)
    cap = _streams_pure.Capture("utf-8", "strict")
    for _ in range(10):
        cap.feed(b"abc")
    assert cap.finish() == "abc" * 10 and len(calls) == 1


def test_without_pidfd_async(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(lifecycle, "_HAVE_PIDFD", False)

    async def main() -> None:
        assert (await child("text", "y").run()).stdout == "y"
        result = await (cmd("sleep", "5") | cmd("false")).run()
        assert result.failure_index == 1

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 3
