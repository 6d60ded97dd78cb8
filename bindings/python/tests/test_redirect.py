# SPDX-License-Identifier: ISC
"""``SafeCmd.redirect``: paths, lent descriptors, ``stderr="stdout"``.

Every scenario runs through ``run_sync`` and ``await run()``; the suite as a
whole runs once per stream backend.
"""

from __future__ import annotations

import os
import stat
import typing as typ

import pytest
from conftest import PYTHON, Runner, child, cmd

from cuprum import ExecEvent, ExecutionContext, Pipeline, RunOutputOptions, observe

if typ.TYPE_CHECKING:
    import collections.abc as cabc
    from pathlib import Path


@pytest.fixture
def umask() -> cabc.Iterator[int]:
    """A known umask for the test (restored after it)."""
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def _started(events: list[ExecEvent]) -> list[ExecEvent]:
    return [e for e in events if e.phase == "start"]


# -- the value ------------------------------------------------------------------


def test_redirect_returns_a_new_command(tmp_path: Path) -> None:
    base = cmd("cat")
    out = base.redirect(stdout=tmp_path / "o")
    assert base.redirects is None and out.redirects is not None
    assert out != base and (out.program, out.argv) == (base.program, base.argv)
    both = out.redirect(stderr="stdout")
    assert both.redirects is not None and out.redirects.stderr is None
    assert both.redirects.stdout == out.redirects.stdout
    assert both.redirects.stderr is not None and both.redirects.stderr.merge


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "needs stdout= or stderr="),
        ({"stdout": 1.5}, TypeError, "must be a path"),
        ({"stderr": True}, TypeError, "must be a path"),
        ({"stdout": -1}, ValueError, "non-negative"),
        ({"stdout": ""}, ValueError, "empty path"),
        ({"stderr": "a\0b"}, ValueError, "NUL"),
        ({"stdout": "stderr"}, ValueError, "not supported"),
        ({"stdout": 1, "append": True}, ValueError, "needs a path"),
        ({"stdout": "x", "append": 1}, TypeError, "append"),
    ],
)
def test_redirect_argument_errors(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        cmd("cat").redirect(**kwargs)  # type: ignore[arg-type]


# -- paths ----------------------------------------------------------------------


def test_stdout_to_path_truncates(run: Runner, tmp_path: Path, umask: int) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old content that is longer")
    result = run(child("text", "new", "etext", "err").redirect(stdout=target))
    assert (result.stdout, result.stderr, result.exit_code) == (None, "err", 0)
    assert target.read_text() == "new"
    created = tmp_path / "created.txt"
    run(child("text", "x").redirect(stdout=str(created)))
    assert stat.S_IMODE(created.stat().st_mode) == 0o666 & ~umask


def test_append(run: Runner, tmp_path: Path) -> None:
    target = tmp_path / "log"
    appending = child("text", "a\n", "etext", "e\n").redirect(
        stdout=target, stderr=target, append=True
    )
    run(appending)
    run(appending)
    assert sorted(target.read_text().splitlines()) == ["a", "a", "e", "e"]


def test_stderr_to_path_and_relative_to_cwd(run: Runner, tmp_path: Path) -> None:
    result = run(
        child("text", "o", "etext", "e").redirect(stderr="err.txt"),
        context=ExecutionContext(cwd=tmp_path),
    )
    assert (result.stdout, result.stderr) == ("o", None)
    assert (tmp_path / "err.txt").read_text() == "e"


def test_child_gets_only_its_three_streams(run: Runner, tmp_path: Path) -> None:
    lister = cmd(PYTHON, "-I", "-c", "import os; print(*os.listdir('/proc/self/fd'))")
    run(lister.redirect(stdout=tmp_path / "fds", stderr=tmp_path / "err"))
    fds = sorted(int(fd) for fd in (tmp_path / "fds").read_text().split())
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4  # the listing's own descriptor


# -- descriptors -------------------------------------------------------------------


def test_stdout_to_lent_fd(run: Runner, tmp_path: Path) -> None:
    target = tmp_path / "fd.txt"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"caller:")
        result = run(child("text", "child").redirect(stdout=fd))
        assert result.stdout is None
        os.write(fd, b":after")  # still open, offset shared with the child
        os.fstat(fd)
    finally:
        os.close(fd)
    assert target.read_text() == "caller:child:after"


def test_lent_fd_errors_start_nothing(run: Runner) -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    events: list[ExecEvent] = []
    try:
        with observe(events.append), pytest.raises(OSError, match="not open for writing"):
            run(cmd("cat") | cmd("cat").redirect(stdout=read_fd))
    finally:
        os.close(read_fd)
    assert _started(events) == []


# -- merging --------------------------------------------------------------------------


def test_merge_keeps_order(run: Runner) -> None:
    mixed = child("text", "o1 ", "etext", "e1 ", "text", "o2 ", "etext", "e2")
    result = run(mixed.redirect(stderr="stdout"))
    assert (result.stdout, result.stderr) == ("o1 e1 o2 e2", None)


def test_merge_into_a_file(run: Runner, tmp_path: Path) -> None:
    target = tmp_path / "both"
    mixed = child("text", "1", "etext", "2", "text", "3")
    result = run(mixed.redirect(stdout=target, stderr="stdout"))
    assert (result.stdout, result.stderr) == (None, None)
    assert target.read_text() == "123"


def test_merge_in_a_middle_stage(run: Runner) -> None:
    first = child("text", "a", "etext", "b").redirect(stderr="stdout")
    result = run(first | cmd("cat") | cmd("cat"))
    assert result.stdout == "ab"
    assert result.stages[0].stderr is None and result.stages[1].stderr == ""


def test_merged_lines_are_stdout_events(run: Runner) -> None:
    events: list[ExecEvent] = []
    with observe(events.append):
        run(child("text", "o\n", "etext", "e\n").redirect(stderr="stdout"))
    assert [(e.phase, e.line) for e in events if e.line is not None] == [
        ("stdout", "o"),
        ("stdout", "e"),
    ]


# -- pipelines --------------------------------------------------------------------------


def test_middle_stdout_redirect_is_an_error(tmp_path: Path) -> None:
    redirected = cmd("cat").redirect(stdout=tmp_path / "x")
    with pytest.raises(ValueError, match=r"stage 1 \(cat\) redirects its stdout"):
        cmd("true") | redirected | cmd("cat")
    with pytest.raises(ValueError, match=r"stage 0 \(cat\)"):
        redirected | cmd("cat")
    with pytest.raises(ValueError, match=r"stage 0 \(cat\)"):
        Pipeline((redirected, cmd("cat")))
    # The last stage may redirect; so may any stage its stderr.
    Pipeline((cmd("cat").redirect(stderr=tmp_path / "e"), redirected))
    assert not (tmp_path / "x").exists()


def test_last_stage_stdout_and_any_stderr(run: Runner, tmp_path: Path) -> None:
    first = child("text", "data", "etext", "first-err").redirect(stderr=tmp_path / "e0")
    last = cmd("cat").redirect(stdout=tmp_path / "out")
    result = run(first | last)
    assert result.ok and result.stdout is None
    assert result.stages[0].stderr is None and result.stages[1].stderr == ""
    assert (tmp_path / "out").read_text() == "data"
    assert (tmp_path / "e0").read_text() == "first-err"


def test_redirect_without_capture(run: Runner, tmp_path: Path) -> None:
    result = run(
        child("text", "x").redirect(stdout=tmp_path / "o"),
        output=RunOutputOptions(capture=False),
    )
    assert result.stdout is None and (tmp_path / "o").read_text() == "x"


# -- failures opening paths -------------------------------------------------------------


def test_missing_directory_starts_nothing(run: Runner, tmp_path: Path) -> None:
    good = tmp_path / "good"
    missing = tmp_path / "no-such-dir" / "out"
    pipe = cmd("cat").redirect(stderr=good) | cmd("cat").redirect(stdout=missing)
    events: list[ExecEvent] = []
    before = set(os.listdir("/proc/self/fd"))
    with observe(events.append), pytest.raises(FileNotFoundError) as info:
        run(pipe)
    assert info.value.filename == str(missing)
    assert "stdout redirect of stage 1 (cat)" in str(info.value)
    assert str(missing) in str(info.value)
    assert _started(events) == []
    assert set(os.listdir("/proc/self/fd")) <= before


def test_parent_is_a_file_or_target_a_directory(run: Runner, tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(NotADirectoryError) as info:
        run(cmd("true").redirect(stderr=afile / "x"))
    assert info.value.filename == str(afile / "x")
    with pytest.raises(IsADirectoryError):
        run(cmd("true").redirect(stdout=tmp_path))


def test_unwritable_path(run: Runner, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # Root writes any directory; a read-only sysfs file refuses it too.
        target = "/sys/kernel/notes"
        if not os.path.exists(target):
            pytest.skip("running as root and no read-only sysfs file to try")
        with pytest.raises(PermissionError) as info:
            run(cmd("true").redirect(stdout=target))
        assert info.value.filename == target
        return
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError) as info:
            run(cmd("true").redirect(stdout=locked / "out"))
        assert info.value.filename == str(locked / "out")
    finally:
        locked.chmod(0o700)
