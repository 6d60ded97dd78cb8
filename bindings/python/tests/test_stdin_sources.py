# SPDX-License-Identifier: ISC
"""``stdin=`` for pipelines and ``StdinInput(path=, fd=, chunks=)``.

Every scenario runs through ``run_sync`` and ``await run()``; the suite as a
whole runs once per stream backend.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import itertools
import os
import typing as typ

import pytest
from conftest import PYTHON, Endless, Late, Runner, before_the_deadline, child, cmd

from cuprum import ExecEvent, ExecutionContext, StdinInput, observe

if typ.TYPE_CHECKING:
    from pathlib import Path

    from cuprum import CommandResult, PipelineResult

#: A child that reports the size and SHA-256 of its stdin.
DIGEST = cmd(
    PYTHON,
    "-I",
    "-c",
    "import hashlib, sys\n"
    "h = hashlib.sha256(); n = 0\n"
    "while b := sys.stdin.buffer.read1(1 << 20):\n"
    "    h.update(b); n += len(b)\n"
    "print(n, h.hexdigest())",
)
#: A child that prints its stdin in hex (exact bytes, whatever the codec).
HEX = cmd(PYTHON, "-I", "-c", "import sys; print(sys.stdin.buffer.read().hex())")


def _digest(data: bytes) -> str:
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"


def _started(events: list[ExecEvent]) -> list[ExecEvent]:
    return [e for e in events if e.phase == "start"]


# -- pipelines take stdin= --------------------------------------------------


def test_pipeline_text_and_data(run: Runner) -> None:
    pipe = cmd("cat") | cmd("cat")
    assert run(pipe, stdin=StdinInput(text="héllo")).stdout == "héllo"
    assert run(pipe, stdin=StdinInput(data=b"\x00\x01")).stdout == "\x00\x01"
    assert run(pipe, stdin=StdinInput(data=b"")).stdout == ""


def test_pipeline_stdin_must_be_stdin_input() -> None:
    with pytest.raises(TypeError, match="StdinInput"):
        (cmd("cat") | cmd("cat")).run_sync(stdin=b"x")  # type: ignore[arg-type]


# -- exactly one source -------------------------------------------------------


def test_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="got path and chunks"):
        StdinInput(path=tmp_path, chunks=[b"x"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got text, data and fd"):
        StdinInput(text="a", data=b"a", fd=0)
    with pytest.raises(ValueError, match="got data and path"):
        StdinInput(data=b"", path="x")
    # No source: the child inherits the parent's stdin, as before.
    assert StdinInput() == StdinInput(text=None, data=None)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"path": 3}, TypeError, "StdinInput.path"),
        ({"path": ""}, ValueError, "empty path"),
        ({"path": "a\0b"}, ValueError, "NUL"),
        ({"fd": True}, TypeError, "StdinInput.fd"),
        ({"fd": "0"}, TypeError, "StdinInput.fd"),
        ({"fd": -1}, ValueError, "non-negative"),
        ({"chunks": "text"}, TypeError, "use text="),
        ({"chunks": b"data"}, TypeError, "use data="),
        ({"chunks": 5}, TypeError, "iterable"),
    ],
)
def test_source_types(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        StdinInput(**kwargs)  # type: ignore[arg-type]


# -- path -----------------------------------------------------------------


def test_path_large_file_end_to_end(run: Runner, tmp_path: Path) -> None:
    payload = bytes(range(256)) * (64 * 1024) + b"tail"  # 16 MiB and a bit
    source = tmp_path / "in.bin"
    source.write_bytes(payload)
    result = run(cmd("cat") | cmd("cat") | DIGEST, stdin=StdinInput(path=source))
    assert result.ok and result.stdout == _digest(payload)


def test_path_is_the_first_stage_stdin(run: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"abc")
    first = cmd(
        PYTHON,
        "-I",
        "-c",
        "import os, sys\n"
        "st = os.fstat(0)\n"
        "sys.stderr.write(f\"{os.readlink('/proc/self/fd/0')}|{st.st_dev}|{st.st_ino}\")\n"
        "sys.stdout.buffer.write(sys.stdin.buffer.read())",
    )
    result = run(first | cmd("cat"), stdin=StdinInput(path=str(source)))
    st = source.stat()
    assert result.stages[0].stderr == f"{source}|{st.st_dev}|{st.st_ino}"
    assert result.stdout == "abc"


def test_path_relative_to_the_run_cwd(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "rel.txt").write_text("relative")
    ctx = ExecutionContext(cwd=tmp_path)
    assert run(cmd("cat"), stdin=StdinInput(path="rel.txt"), context=ctx).stdout == "relative"


def test_missing_path_starts_nothing(run: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "in.txt"
    events: list[ExecEvent] = []
    before = set(os.listdir("/proc/self/fd"))
    with observe(events.append), pytest.raises(FileNotFoundError) as info:
        run(cmd("cat") | cmd("cat"), stdin=StdinInput(path=missing))
    assert info.value.filename == str(missing)
    assert str(missing) in str(info.value)
    assert _started(events) == []
    assert set(os.listdir("/proc/self/fd")) <= before


def test_directory_path_is_an_error(run: Runner, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match="Is a directory"):
        run(cmd("cat"), stdin=StdinInput(path=tmp_path))


# -- fd ---------------------------------------------------------------------


def test_fd_is_lent_and_shares_the_offset(run: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_bytes(b"0123456789")
    fd = os.open(source, os.O_RDONLY)
    try:
        os.lseek(fd, 4, os.SEEK_SET)
        result = run(cmd("cat") | cmd("cat"), stdin=StdinInput(fd=fd))
        assert result.stdout == "456789"
        # The child read through a duplicate: the offset moved with it, and
        # the caller's descriptor is still open.
        assert os.lseek(fd, 0, os.SEEK_CUR) == 10
        os.fstat(fd)
    finally:
        os.close(fd)


def test_fd_pipe_read_end(run: Runner) -> None:
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"through a pipe")
        os.close(write_fd)
        assert run(cmd("cat"), stdin=StdinInput(fd=read_fd)).stdout == "through a pipe"
        os.fstat(read_fd)
    finally:
        os.close(read_fd)


def closed_fd() -> int:
    """A descriptor number that is not open (and that an event loop's own
    descriptors will not take)."""
    open_fds = {int(fd) for fd in os.listdir("/proc/self/fd")}
    return next(fd for fd in range(900, 10_000) if fd not in open_fds)


def test_bad_fd_starts_nothing(run: Runner) -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    bad = closed_fd()
    events: list[ExecEvent] = []
    try:
        with observe(events.append):
            with pytest.raises(OSError, match=f"StdinInput.fd {bad} is not an open"):
                run(cmd("cat"), stdin=StdinInput(fd=bad))
            with pytest.raises(OSError, match="not open for reading"):
                run(cmd("cat") | cmd("cat"), stdin=StdinInput(fd=write_fd))
    finally:
        os.close(write_fd)
    assert _started(events) == []


# -- chunks -------------------------------------------------------------------


def test_chunks_of_every_kind(run: Runner) -> None:
    chunks: list[bytes | bytearray | memoryview | str] = [
        "é",
        b"\x00",
        bytearray(b"\x01"),
        memoryview(b"\x02\x03"),
        b"",
        "z",
    ]
    ctx = ExecutionContext(encoding="latin-1")
    result = run(cmd("cat") | HEX, stdin=StdinInput(chunks=chunks), context=ctx)
    assert result.stdout == "e9000102037a\n"


def test_chunks_from_a_generator_end_with_eof(run: Runner) -> None:
    def lines() -> typ.Iterator[str]:
        for i in range(1000):
            yield f"{i}\n"

    result = run(cmd("cat") | cmd("cat"), stdin=StdinInput(chunks=lines()))
    assert result.stdout == "".join(f"{i}\n" for i in range(1000))


def test_many_small_chunks(run: Runner) -> None:
    count = 200_000
    chunk = b"0123456789abcdef"
    chunks = itertools.repeat(chunk, count)
    result = run(cmd("cat") | DIGEST, stdin=StdinInput(chunks=chunks))
    assert result.stdout == _digest(chunk * count)


def test_stdin_event_counts_chunk_bytes(run: Runner) -> None:
    events: list[ExecEvent] = []
    with observe(events.append):
        run(cmd("cat") | cmd("cat"), stdin=StdinInput(chunks=[b"ab", "cd", b"e"]))
    stdin = [e for e in events if e.phase == "stdin"]
    assert [(e.byte_count, e.argv[0]) for e in stdin] == [(5, "cat")]


def test_generator_error_stops_the_run(run: Runner) -> None:
    class Boom(Exception):
        pass

    def failing() -> typ.Iterator[bytes]:
        yield b"x" * 100
        raise Boom("source failed")

    events: list[ExecEvent] = []
    with observe(events.append), pytest.raises(Boom, match="source failed"):
        run(cmd("cat") | cmd("cat"), stdin=StdinInput(chunks=failing()))
    # Both stages were started, and both were stopped (not left to wait for
    # end of file on their stdin).
    assert len(_started(events)) == 2


def test_bad_chunk_type_stops_the_run(run: Runner) -> None:
    with pytest.raises(TypeError, match="must yield bytes or str, got int"):
        run(cmd("cat"), stdin=StdinInput(chunks=[b"ok", 5]))  # type: ignore[list-item]


def test_child_closing_stdin_ends_an_endless_source(run: Runner) -> None:
    endless = Endless(b"x" * 1000)
    events: list[ExecEvent] = []
    with observe(events.append):
        result = run(cmd("head", "-c", "10") | cmd("cat"), stdin=StdinInput(chunks=endless.chunks()))
    assert result.stdout == "x" * 10
    assert [e.phase for e in events if e.phase.startswith("stdin")] == ["stdin_error"]


class _SlowReader:
    """A first stage that reports its stdin pipe's capacity, sleeps, marks
    (creating a file) that it starts reading, then copies its stdin; and a
    count of the bytes a source handed out before that mark."""

    def __init__(self, tmp_path: Path) -> None:
        self.flag = tmp_path / "reading"
        self.taken_before_reading = 0
        self.cmd = cmd(
            PYTHON,
            "-I",
            "-c",
            "import fcntl, sys, time\n"
            "sys.stderr.write(str(fcntl.fcntl(0, 1032))); sys.stderr.flush()\n"
            "time.sleep(0.3)\n"
            f"open({str(self.flag)!r}, 'w').close()\n"
            "sys.stdout.buffer.write(sys.stdin.buffer.read())",
        )

    def take(self, chunk: bytes) -> bytes:
        """Count ``chunk`` if the reader has not started yet; return it."""
        if not self.flag.exists():
            self.taken_before_reading += len(chunk)
        return chunk

    def check(self, result: PipelineResult, data: bytes, size: int) -> None:
        """``slow | DIGEST`` passed ``data`` on, and before the child read
        anything the pipe held at most its capacity and one more chunk of
        ``size`` bytes was waiting to be written."""
        reported = result.stages[0].stderr
        assert reported is not None
        capacity = int(reported)
        assert result.stdout == _digest(data)
        assert self.taken_before_reading <= capacity + size


def test_backpressure_bounds_what_is_taken(run: Runner, tmp_path: Path) -> None:
    size, count = 1000, 1000
    slow = _SlowReader(tmp_path)
    chunks = (slow.take(b"y" * size) for _ in range(count))
    result = run(slow.cmd | DIGEST, stdin=StdinInput(chunks=chunks))
    slow.check(result, b"y" * size * count, size)


# -- async iterables -----------------------------------------------------------


async def _agen(count: int, fail_at: int | None = None) -> typ.AsyncGenerator[bytes | str, None]:
    for i in range(count):
        if i == fail_at:
            raise RuntimeError(f"async source failed at {i}")
        await asyncio.sleep(0)
        yield f"{i}\n" if i % 2 else f"{i}\n".encode()


def test_async_chunks() -> None:
    pipe = cmd("cat") | cmd("cat")
    result = asyncio.run(pipe.run(stdin=StdinInput(chunks=_agen(500))))
    assert result.stdout == "".join(f"{i}\n" for i in range(500))


def test_async_chunks_single_command() -> None:
    result = asyncio.run(cmd("cat").run(stdin=StdinInput(chunks=_agen(3))))
    assert result.stdout == "0\n1\n2\n"


def test_async_chunks_error_stops_the_run() -> None:
    with pytest.raises(RuntimeError, match="failed at 7"):
        asyncio.run((cmd("cat") | cmd("cat")).run(stdin=StdinInput(chunks=_agen(100, 7))))


def test_async_chunks_cancelled_inside_the_source_stop_the_run() -> None:
    """A ``CancelledError`` the source raises itself (an ``await`` in it
    cancelled by someone else; cuprum did not cancel it) is an error of the
    source like any other, not the end of its chunks: the run raises it,
    and reports no ``stdin`` (all written) event, rather than closing the
    child's stdin early and succeeding with the input cut short."""
    phases: list[str] = []

    async def source() -> typ.AsyncIterator[bytes]:
        yield b"one\n"
        gone = asyncio.get_running_loop().create_future()
        gone.cancel()
        await gone
        yield b"two\n"

    async def main() -> None:
        with observe(lambda event: phases.append(event.phase)):
            await cmd("cat").run(stdin=StdinInput(chunks=source()))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert "start" in phases and "stdin" not in phases


def test_child_exiting_while_an_async_source_awaits_ends_the_run() -> None:
    """The child exits without reading all its stdin while an async source
    awaits its next chunk: the run ends as when a write finds the pipe
    broken (``stdin_error``, then ``exit``; the source cancelled and
    closed), rather than waiting for a chunk that may never come. The
    child reads the first chunk, so the source awaits by the time it
    exits."""
    phases: list[str] = []
    closed: list[bool] = []

    async def source() -> typ.AsyncIterator[bytes]:
        try:
            yield b"first\n"
            await asyncio.Event().wait()  # no more chunks, ever
            yield b"never\n"
        finally:
            closed.append(True)

    async def main() -> CommandResult:
        with observe(lambda event: phases.append(event.phase)):
            run = cmd("head", "-n", "1").run(stdin=StdinInput(chunks=source()))
            return await asyncio.wait_for(run, 10)

    result = asyncio.run(main())
    assert result.exit_code == 0 and result.stdout == "first\n"
    assert [p for p in phases if p.startswith("stdin")] == ["stdin_error"]
    assert phases[-1] == "exit"
    assert closed == [True]


def test_async_chunks_in_run_sync_is_a_type_error() -> None:
    source = _agen(3)
    events: list[ExecEvent] = []
    with observe(events.append), pytest.raises(TypeError, match="only an asyncio run"):
        (cmd("cat") | cmd("cat")).run_sync(stdin=StdinInput(chunks=source))
    assert events == []

    async def close() -> None:
        await source.aclose()

    asyncio.run(close())


def test_async_backpressure(tmp_path: Path) -> None:
    size, count = 1000, 500
    slow = _SlowReader(tmp_path)

    async def chunks() -> typ.AsyncIterator[bytes]:
        for _ in range(count):
            yield slow.take(b"z" * size)

    result = asyncio.run((slow.cmd | DIGEST).run(stdin=StdinInput(chunks=chunks())))
    slow.check(result, b"z" * size * count, size)


def test_async_timeout_cancels_the_fetch() -> None:
    from cuprum import TimeoutExpired

    async def slow_source() -> typ.AsyncIterator[bytes]:
        yield b"first\n"
        await asyncio.sleep(60)
        yield b"never\n"

    # Only the run's output can tell that cat passed the chunk on before the
    # deadline: an attempt without it takes a later deadline.
    def attempt(timeout: float) -> None:
        with pytest.raises(TimeoutExpired) as info:
            asyncio.run(cmd("cat").run(stdin=StdinInput(chunks=slow_source()), timeout=timeout))
        if not info.value.output:
            raise Late("cat had not passed the first chunk on")
        assert info.value.output == "first\n"

    before_the_deadline(attempt, (0.5, 4.0, 30.0))


def test_sync_chunks_under_await_run() -> None:
    chunks: list[bytes | str] = [b"a", "b"]
    result = asyncio.run(child("echo-stdin").run(stdin=StdinInput(chunks=iter(chunks))))
    assert result.stdout == "ab"


def test_timeout_with_a_source_the_child_does_not_read(run: Runner) -> None:
    from cuprum import TimeoutExpired

    endless = Endless(b"w" * 4096)
    with pytest.raises(TimeoutExpired):
        run(child("sleep", "30") | cmd("cat"), stdin=StdinInput(chunks=endless.chunks()), timeout=0.3)
    # At most a full pipe (a fresh pipe's capacity) and one chunk more.
    read_fd, write_fd = os.pipe()
    try:
        capacity = fcntl.fcntl(write_fd, 1032)  # F_GETPIPE_SZ
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert 0 < endless.taken * 4096 <= capacity + 4096


def test_pipeline_stdin_with_deprecated_flags() -> None:
    with pytest.warns(DeprecationWarning, match="deprecated"):
        result = (cmd("cat") | cmd("cat")).run_sync(stdin=StdinInput(text="x"), capture=True)
    assert result.stdout == "x"
