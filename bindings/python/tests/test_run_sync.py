# SPDX-License-Identifier: ISC
"""``SafeCmd.run_sync``: capture, stdin, env, cwd, echo, timeouts, bad input."""

from __future__ import annotations

import asyncio
import errno
import io
import os
import re
import signal
import sys
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import CHILD, Late, before_the_deadline, child, cmd

from cuprum import (
    ExecutionContext,
    ForbiddenProgramError,
    RunOutputOptions,
    ScopeConfig,
    StdinInput,
    TimeoutExpired,
    env,
    observe,
    scoped,
)


def test_captures_stdout_and_stderr() -> None:
    result = child("text", "out", "etext", "err", "exit", "3").run_sync()
    assert (result.stdout, result.stderr, result.exit_code, result.ok) == ("out", "err", 3, False)
    assert result.program.endswith("python3") or "python" in result.program
    assert result.argv == ("-I", CHILD, "text", "out", "etext", "err", "exit", "3")
    assert result.pid > 0


def test_success_is_ok() -> None:
    result = cmd("true").run_sync()
    assert result.ok and result.exit_code == 0 and result.stdout == "" and result.stderr == ""


def test_negative_code_when_child_killed_by_signal() -> None:
    result = cmd(sys.executable, "-I", "-c", "import os,signal; os.kill(os.getpid(), signal.SIGTERM)").run_sync()
    assert result.exit_code == -signal.SIGTERM


def test_stdin_text_and_data() -> None:
    assert cmd("cat").run_sync(stdin=StdinInput(text="héllo")).stdout == "héllo"
    assert cmd("cat").run_sync(stdin=StdinInput(data=b"\x00\x01")).stdout == "\x00\x01"
    assert cmd("cat").run_sync(stdin=StdinInput(data=b"")).stdout == ""


def test_large_stdin_round_trip() -> None:
    payload = os.urandom(3_000_000).hex()
    assert cmd("cat").run_sync(stdin=StdinInput(text=payload)).stdout == payload


def test_stdin_to_child_that_does_not_read() -> None:
    result = cmd("true").run_sync(stdin=StdinInput(data=b"x" * 5_000_000))
    assert result.ok


def test_capture_false_gives_none() -> None:
    result = child("text", "x", "etext", "y").run_sync(output=RunOutputOptions(capture=False))
    assert result.stdout is None and result.stderr is None and result.ok


def test_echo_to_text_sinks() -> None:
    out, err = io.StringIO(), io.StringIO()
    ctx = ExecutionContext(stdout_sink=out, stderr_sink=err)
    result = child("text", "é1\n", "etext", "e2\n").run_sync(
        output=RunOutputOptions(echo=True), context=ctx
    )
    assert out.getvalue() == "é1\n" and err.getvalue() == "e2\n"
    assert result.stdout == "é1\n"


def test_echo_without_capture() -> None:
    out = io.StringIO()
    result = child("text", "abc").run_sync(
        output=RunOutputOptions(capture=False, echo=True),
        context=ExecutionContext(stdout_sink=out, stderr_sink=io.StringIO()),
    )
    assert out.getvalue() == "abc" and result.stdout is None


def test_echo_defaults_to_sys_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    child("text", "to-stdout", "etext", "to-stderr").run_sync(output=RunOutputOptions(echo=True))
    captured = capsys.readouterr()
    assert captured.out == "to-stdout" and captured.err == "to-stderr"


def test_echo_to_fd_and_binary_sink() -> None:
    read_fd, write_fd = os.pipe()
    binary = io.BytesIO()
    try:
        child("out", "ff41").run_sync(
            output=RunOutputOptions(echo=True),
            context=ExecutionContext(stdout_sink=write_fd, stderr_sink=binary),  # type: ignore[arg-type]
        )
        assert os.read(read_fd, 10) == b"\xffA"
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_encoding_and_errors() -> None:
    latin = ExecutionContext(encoding="latin-1")
    assert child("out", "e9").run_sync(context=latin).stdout == "é"
    assert child("out", "ff").run_sync().stdout == "\ufffd"
    with pytest.raises(UnicodeDecodeError):
        child("out", "ff").run_sync(context=ExecutionContext(errors="strict"))


@pytest.mark.parametrize("errors", ["strict", "surrogatepass", "namereplace", "xmlcharrefreplace"])
def test_echo_and_line_events_never_fail_on_undecodable_output(errors: str) -> None:
    """Handlers that raise when decoding (``surrogatepass`` on anything but
    a surrogate, the encode-only ones always): echo and line events use
    ``replace`` instead, as for ``strict``."""
    lines: list[str | None] = []
    sink = io.StringIO()
    with observe(lambda event: lines.append(event.line) if event.phase == "stdout" else None):
        result = child("out", "6f6bff0a").run_sync(
            output=RunOutputOptions(capture=False, echo=True),
            context=ExecutionContext(errors=errors, stdout_sink=sink),
        )
    assert result.ok
    assert lines == ["ok\ufffd"]
    assert sink.getvalue() == "ok\ufffd\n"


def test_surrogatepass_events_keep_the_surrogates_that_decode() -> None:
    """Under ``surrogatepass`` an encoded surrogate reaches line events
    and echo as the capture gets it; other bad bytes become U+FFFD."""
    lines: list[str | None] = []
    sink = io.StringIO()
    context = ExecutionContext(errors="surrogatepass", stdout_sink=sink)
    with observe(lambda event: lines.append(event.line) if event.phase == "stdout" else None):
        result = child("out", "eda08061ff0a").run_sync(
            output=RunOutputOptions(capture=False, echo=True), context=context
        )
    assert result.ok
    assert lines == ["\ud800a\ufffd"]
    assert sink.getvalue() == "\ud800a\ufffd\n"
    with pytest.raises(UnicodeDecodeError):
        child("out", "ff").run_sync(context=ExecutionContext(errors="surrogatepass"))
    assert child("out", "eda0800a").run_sync(context=ExecutionContext(errors="surrogatepass")).stdout == "\ud800\n"


def test_unknown_encoding_rejected_before_spawn() -> None:
    with pytest.raises(LookupError, match="no-such-codec"):
        ExecutionContext(encoding="no-such-codec")
    with pytest.raises(LookupError, match="bogus-handler"):
        ExecutionContext(errors="bogus-handler")


def test_env_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPRUM_T", "environ")
    assert child("env", "CUPRUM_T").run_sync().stdout == "environ"
    with env(CUPRUM_T="overlay"):
        assert child("env", "CUPRUM_T").run_sync().stdout == "overlay"
        ctx = ExecutionContext(env={"CUPRUM_T": "call"})
        assert child("env", "CUPRUM_T").run_sync(context=ctx).stdout == "call"
        monkeypatch.setenv("CUPRUM_OTHER", "live")
        assert child("env", "CUPRUM_OTHER").run_sync().stdout == "live"
    assert child("env", "CUPRUM_T").run_sync().stdout == "environ"


def test_cwd(tmp_path: Path) -> None:
    result = child("cwd").run_sync(context=ExecutionContext(cwd=tmp_path))
    assert result.stdout == str(tmp_path)


def test_missing_cwd_rejected_before_spawn(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="working directory does not exist: .*nope") as info:
        cmd("true").run_sync(context=ExecutionContext(cwd=missing))
    assert info.value.errno == errno.ENOENT and info.value.filename == str(missing)
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(NotADirectoryError, match="not a directory") as not_dir:
        cmd("true").run_sync(context=ExecutionContext(cwd=afile))
    assert not_dir.value.errno == errno.ENOTDIR and not_dir.value.filename == str(afile)


def test_execution_context_checks_env_and_cwd_when_built() -> None:
    # Where they are written, not at the first run.
    with pytest.raises(ValueError, match="ExecutionContext.env has an invalid variable name"):
        ExecutionContext(env={"A=B": "1"})
    with pytest.raises(TypeError, match="ExecutionContext.env entries must be str"):
        ExecutionContext(env={1: "x"})  # type: ignore[dict-item]
    for bad in (3, b"/tmp"):
        with pytest.raises(TypeError, match="ExecutionContext.cwd must be a str or os.PathLike path"):
            ExecutionContext(cwd=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="contains a NUL"):
        ExecutionContext(cwd="/tmp\0x")


def test_missing_executable(tmp_path: Path) -> None:
    from cuprum import Program, ProgramCatalogue, ProjectSettings, sh

    ghost = Program(str(tmp_path / "no-such-program"))
    cat = ProgramCatalogue(projects=[ProjectSettings("x", (ghost,), (), ())])
    with pytest.raises(FileNotFoundError, match="no-such-program"):
        sh.make(ghost, catalogue=cat)().run_sync()


def test_bad_timeout_and_grace_rejected() -> None:
    # A negative timeout is valid (already expired: see test_parity_facts);
    # NaN is no number of seconds, and a grace period cannot be negative.
    with pytest.raises(ValueError, match="timeout"):
        cmd("true").run_sync(timeout=float("nan"))
    with pytest.raises(ValueError, match="timeout"):
        ExecutionContext(timeout=float("nan"))
    with pytest.raises(ValueError, match="cancel_grace"):
        ExecutionContext(cancel_grace=-1)
    with pytest.raises(TypeError, match="timeout"):
        cmd("true").run_sync(timeout="1")  # type: ignore[arg-type]


def test_timeout_carries_partial_output(tmp_path: Path) -> None:
    def attempt(timeout: float) -> None:
        marker = tmp_path / f"wrote-{timeout:g}"
        command = child("text", "partial", "etext", "warn", "touch", str(marker), "sleep", "60")
        started = time.monotonic()
        with pytest.raises(TimeoutExpired) as info:
            command.run_sync(timeout=timeout)
        assert time.monotonic() - started < timeout + 20  # not the child's 60 s
        err = info.value
        if (err.output, err.stderr) != ("partial", "warn") and not marker.exists():
            raise Late("it had not written both")
        assert isinstance(err, TimeoutError)
        assert err.output == "partial" and err.stdout == "partial" and err.stderr == "warn"
        assert err.timeout == timeout
        assert typ.cast("tuple[str, ...]", err.cmd)[-1] == "60"

    before_the_deadline(attempt)


def test_timeout_from_context_and_scope() -> None:
    with pytest.raises(TimeoutExpired):
        cmd("sleep", "10").run_sync(context=ExecutionContext(timeout=0.2))
    with scoped(ScopeConfig(timeout=0.2)), pytest.raises(TimeoutExpired):
        cmd("sleep", "10").run_sync()


def test_timeout_escalates_to_sigkill() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutExpired):
        child("ignore-term", "text", "ready", "sleep", "10").run_sync(
            timeout=0.3, context=ExecutionContext(cancel_grace=0.2)
        )
    assert time.monotonic() - started < 3


def test_zero_timeout_expires_at_once() -> None:
    with pytest.raises(TimeoutExpired):
        cmd("sleep", "5").run_sync(timeout=0)


def test_forbidden_program_checked_before_spawn() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({"cat"}))):  # type: ignore[arg-type]
        with pytest.raises(ForbiddenProgramError, match="'true' is not allowed"):
            cmd("true").run_sync()
        assert cmd("cat").run_sync(stdin=StdinInput(text="ok")).stdout == "ok"


def test_bad_argument_types() -> None:
    with pytest.raises(TypeError, match="StdinInput"):
        cmd("cat").run_sync(stdin="text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RunOutputOptions"):
        cmd("true").run_sync(output=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ExecutionContext"):
        cmd("true").run_sync(context={"cwd": "/"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ExecutionContext.env"):
        ExecutionContext(env={"A": 1})  # type: ignore[dict-item]


def test_run_sync_creates_no_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("run_sync must not start an event loop")

    monkeypatch.setattr(asyncio, "new_event_loop", forbidden)
    monkeypatch.setattr(asyncio, "run", forbidden)
    monkeypatch.setattr(asyncio, "Runner", forbidden)
    assert child("text", "x").run_sync(stdin=StdinInput(text="")).stdout == "x"
    assert (cmd("yes") | cmd("head", "-n", "1")).run_sync().stdout == "y\n"


def test_large_capture_matches() -> None:
    result = child("bytes", str(5 * 1024 * 1024)).run_sync()
    assert result.stdout == "x" * (5 * 1024 * 1024)


def test_run_sync_inside_running_loop() -> None:
    async def main() -> str | None:
        return child("text", "inside").run_sync().stdout

    assert asyncio.run(main()) == "inside"


def test_grandchild_holding_pipe_cannot_hang_a_timed_run() -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutExpired):
        child("text", "x", "orphan", "3").run_sync(timeout=0.3)
    assert time.monotonic() - started < 2.5


def test_run_sync_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(lambda i: child("text", str(i)).run_sync().stdout, range(24)))
    assert outputs == [str(i) for i in range(24)]


def test_before_hook_error_spawns_nothing() -> None:
    from cuprum import before

    def refuse(cmd: object) -> None:
        raise RuntimeError("refused")

    with before(refuse), pytest.raises(RuntimeError, match="refused"):
        cmd("sleep", "5").run_sync()


def test_undecodable_output_names_the_stream() -> None:
    """errors="strict" and output that does not decode: the
    ``UnicodeDecodeError`` says which stream of which stage it was."""
    strict = ExecutionContext(errors="strict")
    with pytest.raises(UnicodeDecodeError) as info:
        child("text", "ok", "err", "41ff42").run_sync(context=strict)
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert re.fullmatch(r"cuprum: decoding the stderr of stage 0 \(.+\) failed", notes[0])


def test_every_undecodable_stream_is_noted() -> None:
    """Several streams that do not decode strictly: the first is raised,
    each other one is a note on it, so none is lost silently."""
    strict = ExecutionContext(errors="strict")
    first = child("out", "41fe", "err", "41ff")
    second = child("echo-stdin", "err", "fd")
    with pytest.raises(UnicodeDecodeError) as info:
        (first | second).run_sync(context=strict)
    assert info.value.object == b"A\xff"
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 3
    assert re.fullmatch(r"cuprum: decoding the stderr of stage 0 \(.+\) failed", notes[0])
    also = r"cuprum: also raised while decoding the {} of stage 1 \(.+\): UnicodeDecodeError\(.*{}.*"
    assert re.fullmatch(also.format("stdout", re.escape(r"b'A\xfe'")), notes[1])
    assert re.fullmatch(also.format("stderr", re.escape(r"b'\xfd'")), notes[2])


@pytest.mark.parametrize(
    ("encoding", "data", "error"),
    # idna raises the base UnicodeError before 3.13, UnicodeDecodeError since.
    [("utf-8", b"A\xffB", "UnicodeDecodeError"), ("idna", b"xn--a", "Unicode(Decode)?Error")],
)
def test_timeout_with_undecodable_output_is_still_a_timeout(
    tmp_path: Path, encoding: str, data: bytes, error: str
) -> None:
    """A timeout is raised as ``TimeoutExpired`` even when the partial
    output does not decode strictly (idna raises the base
    ``UnicodeError``): that stream's text is ``None``, the other's kept,
    and the decoding error is noted with the stream it came from."""

    def attempt(timeout: float) -> None:
        marker = tmp_path / f"wrote-{timeout:g}"
        command = child("out", data.hex(), "touch", str(marker), "sleep", "60")
        with pytest.raises(TimeoutExpired) as info:
            command.run_sync(timeout=timeout, context=ExecutionContext(encoding=encoding, errors="strict"))
        if not marker.exists():
            raise Late("it had not written")
        err = info.value
        assert (err.output, err.stderr) == (None, "")
        notes = getattr(err, "__notes__", [])
        assert len(notes) == 1
        assert re.fullmatch(
            rf"cuprum: also raised while decoding the stdout of stage 0 \(.+\): {error}\(.*", notes[0]
        )

    before_the_deadline(attempt)
