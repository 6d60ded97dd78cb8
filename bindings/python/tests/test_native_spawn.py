# SPDX-License-Identifier: ISC
"""The native engine's ``spawn`` and its ``Process``, against ``Popen``.

The execution layer spawns through ``cuprum._native.spawn`` (libcuprum's
``cuprum_cmd_spawn``) on the native engine and through ``subprocess.Popen``
on the pure one, and runs the same lifecycle on either child, so the two
must agree: the same exceptions with the same ``strerror`` and
``filename``, and the ``returncode``/``poll``/``wait``/``send_signal``
semantics ``lifecycle.py`` relies on.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import typing as typ

import pytest
from conftest import NATIVE as native
from conftest import needs_native

if typ.TYPE_CHECKING:
    from pathlib import Path

pytestmark = needs_native

PY = sys.executable


class _Quiet(typ.TypedDict):
    """The standard streams of a child that reads and writes nothing."""

    stdin: int
    stdout: int
    stderr: int


QUIET: _Quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def _spawn(argv: list[str], **kwargs: typ.Any) -> typ.Any:
    proc = native.spawn(argv, **{**QUIET, **kwargs})
    fd = proc.take_pidfd()
    if fd >= 0:
        os.close(fd)
    return proc


def _failure(make: typ.Callable[[], object]) -> OSError:
    with pytest.raises(OSError) as info:
        make()
    return info.value


def _cases(tmp_path: Path) -> dict[str, tuple[list[str], str | None]]:
    script = tmp_path / "script"
    script.write_text("#!/bin/true\n")
    script.chmod(0o644)
    afile = tmp_path / "file"
    afile.write_text("")
    return {
        "missing": ([str(tmp_path / "no-such-program")], None),
        "missing in PATH": (["cuprum-no-such-program-in-path"], None),
        "not executable": ([str(script)], None),
        "cwd missing": ([PY, "-c", ""], str(tmp_path / "nope")),
        "cwd a file": ([PY, "-c", ""], str(afile)),
    }


@pytest.mark.parametrize(
    "case", ["missing", "missing in PATH", "not executable", "cwd missing", "cwd a file"]
)
def test_failures_match_popen(tmp_path: Path, case: str) -> None:
    argv, cwd = _cases(tmp_path)[case]
    if case == "not executable" and os.geteuid() == 0:
        (tmp_path / "script").chmod(0o600)  # root may run anything with an x bit
    want = _failure(lambda: subprocess.Popen(argv, cwd=cwd, **QUIET))  # noqa: S603
    got = _failure(lambda: native.spawn(argv, cwd=cwd, **QUIET))
    assert type(got) is type(want)
    assert (got.errno, got.strerror, got.filename) == (want.errno, want.strerror, want.filename)


def test_process_reaps_once_and_hands_over_its_pidfd() -> None:
    proc = native.spawn([PY, "-c", "import sys; sys.exit(3)"], **QUIET)
    assert proc.pid > 0
    pidfd = proc.take_pidfd()
    assert proc.take_pidfd() == -1
    try:
        assert pidfd >= 0
        assert not os.get_inheritable(pidfd)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(60_000)
    finally:
        os.close(pidfd)
    assert proc.poll() == 3
    assert proc.returncode == 3
    assert proc.wait() == 3
    # Reaped: signalling is a no-op, never a signal to a reused pid.
    proc.send_signal(signal.SIGKILL)
    assert proc.returncode == 3


def test_signal_sets_a_negative_returncode() -> None:
    proc = _spawn([PY, "-c", "import time; time.sleep(60)"])
    assert proc.returncode is None
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait() == -signal.SIGTERM
    assert proc.poll() == -signal.SIGTERM


def test_streams_env_cwd_and_group(tmp_path: Path) -> None:
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    code = "import os, sys; print(os.environ['CUPRUM_T'], os.getcwd()); sys.stderr.write('err')"
    try:
        proc = _spawn(
            [PY, "-c", code],
            stdout=write_fd,
            stderr=subprocess.STDOUT,
            env={"CUPRUM_T": "set", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            cwd=str(tmp_path),
            process_group=0,
        )
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "rb") as out:
            read_fd = -1
            data = out.read()
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
    assert proc.wait() == 0
    assert data == f"set {tmp_path}\nerr".encode()


def test_process_group_is_joined() -> None:
    lead = _spawn([PY, "-c", "import time; time.sleep(60)"], process_group=0)
    member = _spawn([PY, "-c", "import time; time.sleep(60)"], process_group=lead.pid)
    try:
        assert os.getpgid(lead.pid) == lead.pid
        assert os.getpgid(member.pid) == lead.pid
    finally:
        os.killpg(lead.pid, signal.SIGKILL)
        assert member.wait() == -signal.SIGKILL
        assert lead.wait() == -signal.SIGKILL


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"stdout": -2}, ValueError),
        ({"stdin": -7}, ValueError),
        ({"stdout": "1"}, TypeError),
        ({"env": {"A=B": "1"}}, ValueError),
        ({"env": {"A": "a\0b"}}, ValueError),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        native.spawn([PY, "-c", ""], **kwargs)


def test_empty_argv_and_direct_construction() -> None:
    with pytest.raises(ValueError, match="argv is empty"):
        native.spawn([])
    proc = _spawn([PY, "-c", ""])
    assert proc.wait() == 0
    with pytest.raises(TypeError):
        type(proc)()


def test_path_lookup_uses_the_childs_path(tmp_path: Path) -> None:
    """A name without a slash is looked up in ``env["PATH"]``, as Popen
    does, not in the parent's PATH."""
    probe = tmp_path / "cuprum-path-probe"
    probe.write_text(f"#!{PY}\nimport sys\nsys.exit(7)\n")
    probe.chmod(0o755)
    env = {"PATH": f"/nonexistent:{tmp_path}"}
    assert subprocess.Popen(["cuprum-path-probe"], env=env, **QUIET).wait() == 7  # noqa: S603, S607
    assert _spawn(["cuprum-path-probe"], env=env).wait() == 7
    # Only in the parent's PATH: not found, alike.
    env = {"PATH": "/nonexistent"}
    want = _failure(lambda: subprocess.Popen(["cuprum-path-probe"], env=env, **QUIET))  # noqa: S603, S607
    got = _failure(lambda: native.spawn(["cuprum-path-probe"], env=env, **QUIET))
    assert type(got) is type(want)
    assert (got.errno, got.strerror, got.filename) == (want.errno, want.strerror, want.filename)


def _masks(pid: int) -> dict[str, int]:
    masks = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("SigIgn", "SigBlk"):
                masks[name] = int(value, 16)
    return masks


def _ready_child_masks(start: typ.Callable[[int], typ.Any]) -> dict[str, int]:
    """Start a Python child that says when it is up; its signal masks."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        proc = start(write_fd)
        os.close(write_fd)
        write_fd = -1
        assert os.read(read_fd, 16) == b"up"
        masks = _masks(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    return masks


def test_signal_state_matches_popen() -> None:
    """Ignored signals and the mask are inherited, SIGPIPE reset, as with
    ``Popen(restore_signals=True)``: under ``nohup`` both engines' children
    ignore SIGHUP."""
    code = "import os, time; os.write(1, b'up'); time.sleep(60)"
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    try:
        want = _ready_child_masks(
            lambda fd: subprocess.Popen(  # noqa: S603
                [PY, "-c", code], stdout=fd, stdin=subprocess.DEVNULL, restore_signals=True
            )
        )
        got = _ready_child_masks(lambda fd: _spawn([PY, "-c", code], stdout=fd))
        parent = _masks(os.getpid())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        signal.signal(signal.SIGHUP, old)
    # glibc's own signals 32 and 33: a child keeps the parent's disposition,
    # as exec after a fork keeps it. Popen's children agree where Popen forks
    # (3.11, 3.12); from 3.13 Popen may use glibc's posix_spawn, which
    # leaves them ignored, so they are compared with the parent instead.
    reserved = (1 << 31) | (1 << 32)
    assert got["SigIgn"] & reserved == parent["SigIgn"] & reserved
    got["SigIgn"] &= ~reserved
    want["SigIgn"] &= ~reserved
    assert got == want
    assert got["SigIgn"] & 1 << (signal.SIGHUP - 1)
    assert got["SigBlk"] & 1 << (signal.SIGUSR1 - 1)
