# SPDX-License-Identifier: ISC
"""Edge cases a user can meet with the newest capabilities, each once a
bug: extreme timeouts and grace periods; streams closed from another task,
left open when their loop ends, or left after their run's end; the group
of a stopped run; line events and captures of capped runs; the drain of a
timed-out stream; fail-fast against the deadline; echo sinks; stdin text
chunks. The suite runs once per stream backend, so every test here runs
under both.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import copy
import io
import math
import os
import pickle
import random
import signal
import sys
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import PYTHON, Late, Runner, alive, before_the_deadline, child, cmd

from cuprum import (
    ExecEvent,
    ExecutionContext,
    ForbiddenProgramError,
    OutputLimitExceeded,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    RunOutputOptions,
    ScopeConfig,
    StdinInput,
    TimeoutExpired,
    observe,
    scoped,
)
from cuprum._engine import incremental_decoder
from cuprum._exec.limits import (
    BYTE_SCANNED_CODECS,
    DECODED_LINES_CODEC,
    LINE_CUT_MARKER,
    MIN_LINE_LIMIT,
    DecodingLineLimiter,
    LineLimiter,
    WideLineLimiter,
    limited_lines_codec,
    line_limiter,
)
from cuprum.catalogue import DuplicateProgramError, DuplicateProjectError
from cuprum.sh import EventStream

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


# -- a stream closed from another task -----------------------------------------


@pytest.mark.parametrize("where", ["waiting", "holding"])
def test_aclose_from_another_task(where: str) -> None:
    # The consumer waits for the next event (the child writes nothing
    # more), or holds one, mid-batch, while it awaits something else;
    # another task closes the stream: the run is stopped and reaped, and
    # the consumer's iteration ends with no further event.
    stream = child("lines", "100", "sleep", "30").stream(context=ExecutionContext(cancel_grace=0.2))
    seen: list[ExecEvent] = []
    closed = asyncio.Event()

    async def consume() -> None:
        async with stream:
            async for event in stream:
                seen.append(event)
                if where == "holding" and event.phase == "stdout":
                    await closed.wait()

    async def main() -> None:
        task = asyncio.ensure_future(consume())
        while not any(e.phase == "stdout" for e in seen):
            await asyncio.sleep(0.01)
        if where == "waiting":
            while len(lines(seen)) < 100:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)  # the consumer waits for output
        await asyncio.wait_for(stream.aclose(), 20)
        closed.set()
        await asyncio.wait_for(task, 20)

    asyncio.run(main())
    assert len(lines(seen)) == (100 if where == "waiting" else 1)
    assert seen[-1].phase == "stdout"
    with pytest.raises(RuntimeError, match="closed before its end"):
        stream.result


def test_loop_end_stops_an_unclosed_async_stream() -> None:
    # An async stream left (``break``) without ``async with`` or aclose(),
    # still referenced when its loop ends (asyncio.run closes the loop's
    # unfinished async generators): its run is stopped and reaped with the
    # loop, not left running until the stream is dropped.
    kept: list[EventStream[typ.Any]] = []
    pids: list[int] = []

    async def main() -> None:
        stream = child("text", "ready\n", "sleep", "30").stream(
            context=ExecutionContext(cancel_grace=0.2)
        )
        kept.append(stream)
        async for event in stream:
            if event.phase == "start" and event.pid is not None:
                pids.append(event.pid)
            if event.phase == "stdout":
                break

    try:
        asyncio.run(main())
        assert len(pids) == 1
        with pytest.raises(ChildProcessError):
            os.waitpid(pids[0], os.WNOHANG)  # reaped: no such child
        with pytest.raises(RuntimeError, match="closed before its end"):
            kept[0].result
    finally:
        kept.clear()


# -- the group of a run that has ended or is stopped ----------------------------


#: Starts a daemon (a grandchild in the command's group, holding none of
#: cuprum's pipes) that ignores SIGTERM, waits until it does, records its
#: pid in ``argv[1]``, prints ``started``, sleeps ``argv[2]`` seconds and
#: exits 0.
_DAEMON = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-I', '-c', "
    "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print(1, flush=True); time.sleep(60)'], "
    "stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)\n"
    "g.stdout.readline()\n"
    "g.stdout.close()\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "print('started', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
)


@contextlib.contextmanager
def _daemon_stream(tmp_path: Path, seconds: str, grace: float) -> typ.Iterator[EventStream[typ.Any]]:
    """The stream of a command that starts :data:`_DAEMON` in its process
    group and sleeps ``seconds`` (``cancel_grace`` ``grace``); after the
    block, check the daemon was not killed; kill it in any case."""
    marker = tmp_path / "daemon"
    stream = cmd(PYTHON, "-I", "-c", _DAEMON, str(marker), seconds).stream(
        context=ExecutionContext(process_group=True, cancel_grace=grace)
    )
    try:
        yield stream
        assert _unkilled(int(marker.read_text())), "the daemon was killed"
    finally:
        if marker.exists():
            _kill(int(marker.read_text()))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_leaving_after_the_exit_event_signals_nothing(tmp_path: Path, mode: str) -> None:
    # The command has exited and its pipes are closed: its run has ended,
    # only the stream's StopIteration is still to come. Leaving the block
    # then stops nothing, so a daemon the command started on purpose in its
    # group keeps running, as when the stream is read to its end.
    phases: list[str] = []

    async def consume(stream: EventStream[typ.Any]) -> None:
        async with stream:
            async for event in stream:
                phases.append(event.phase)
                if event.phase == "exit":
                    break

    with _daemon_stream(tmp_path, "0", 0.2) as stream:
        if mode == "sync":
            with stream:
                for event in stream:
                    phases.append(event.phase)
                    if event.phase == "exit":
                        break
        else:
            asyncio.run(consume(stream))
        assert phases[-1] == "exit"


def test_infinite_grace_never_kills_the_group_of_a_closed_stream(tmp_path: Path) -> None:
    # Left early, the stream stops the group with SIGTERM; with
    # cancel_grace=math.inf no SIGKILL follows (as documented), so a
    # grandchild ignoring SIGTERM is left running once its parent is gone.
    with _daemon_stream(tmp_path, "60", math.inf) as stream, stream:
        for event in stream:
            if event.phase == "stdout":
                break


def _unkilled(pid: int) -> bool:
    """Whether ``pid`` runs and no SIGKILL awaits it (one sent may not have
    been acted on yet: it shows as pending in its status)."""
    if not alive(pid):
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    pending = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            pending |= int(line.split()[1], 16)
    return not pending & (1 << (signal.SIGKILL - 1))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def lines(events: list[ExecEvent]) -> list[str | None]:
    """The stdout lines of ``events``."""
    return [e.line for e in events if e.phase == "stdout"]


# -- the timeout of a stream --------------------------------------------------


#: Starts a grandchild writing lines to the inherited stdout for ever,
#: records its pid in ``argv[1]``, then sleeps.
_ENDLESS_GRANDCHILD = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-I', '-c', "
    "'import os\\nwhile True: os.write(1, b\"y\\\\n\" * 4096)'], stdin=subprocess.DEVNULL)\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "time.sleep(60)\n"
)


def test_timeout_with_an_awaiting_consumer_and_an_endless_grandchild(tmp_path: Path) -> None:
    # The deadline covers reading the output: once the child is stopped, a
    # grandchild that writes to its pipe for ever is cut off after the
    # drain grace. An async consumer that awaits for each event lets the
    # loop read while it holds events: that reading counts toward the
    # grace (the stream ran on for ever: the grace was held whenever the
    # consumer held events, and it always held some).
    marker = tmp_path / "grandchild"
    stream = cmd(PYTHON, "-I", "-c", _ENDLESS_GRANDCHILD, str(marker)).stream(
        timeout=1,
        output=RunOutputOptions(capture=False),
        context=ExecutionContext(cancel_grace=0.1),
    )
    limit = time.monotonic() + 120  # "does not hang", generously

    async def consume() -> None:
        async with stream:
            async for _event in stream:
                await asyncio.sleep(0)
                assert time.monotonic() < limit, "the stream ran on past its deadline"

    try:
        with pytest.raises(TimeoutExpired):
            asyncio.run(consume())
    finally:
        if marker.exists():
            _kill(int(marker.read_text()))


# -- line events of a capped run -----------------------------------------------

MARK = LINE_CUT_MARKER.encode()


def _limited(chunks: list[bytes], limit: int) -> bytes:
    got: list[bytes] = []
    limiter = LineLimiter(got.append, limit, "utf-8")
    for chunk in chunks:
        limiter.feed(chunk)
    limiter.flush()
    return b"".join(got)


def _limited_whole(data: bytes, limit: int) -> bytes:
    """What the limiter must give, whatever the chunking: each line (up to
    a \\n or \\r) longer than ``limit`` is cut at ``limit`` bytes, backed off
    to a UTF-8 character start, then marked."""
    parts = []
    start = 0
    for end in [i for i, b in enumerate(data) if b in b"\r\n"] + [len(data)]:
        line = data[start:end]
        if len(line) > limit:
            cut = limit
            while cut > 0 and limit - cut < 3 and line[cut] & 0xC0 == 0x80:
                cut -= 1
            line = line[:cut] + MARK
        parts.append(line + data[end : end + 1])
        start = end + 1
    return b"".join(parts)


@pytest.mark.parametrize(
    ("chunks", "limit"),
    [
        # A dropped long line ends mid-chunk; the next line ends that chunk
        # with a partial "€", and is cut within it by the next chunk.
        ([b"\xc3\xa9a\xc3\xa9", b"\xff\n\xe2\x82", b"\xac\n"], 2),
        # The same with the partial character at the very end of the output.
        ([b"aaaa", b"\n\xe2\x82"], 1),
        ([b"aaaa", b"\na\xe2\x82"], 2),
    ],
)
def test_line_cut_after_a_dropped_line_stays_on_a_character(
    chunks: list[bytes], limit: int
) -> None:
    assert _limited(chunks, limit) == _limited_whole(b"".join(chunks), limit)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "UTF8"])
def test_line_cut_keeps_utf8_characters_whole(encoding: str) -> None:
    # A line of three-byte characters cut at a limit inside one: with or
    # without a byte order mark, the cut backs off to the character start.
    got: list[bytes] = []
    limiter = LineLimiter(got.append, 4, encoding)
    limiter.feed("€€€\n".encode())
    limiter.flush()
    assert b"".join(got) == "€".encode() + MARK + b"\n"


def test_line_limiter_any_chunking_of_multibyte_text() -> None:
    # Pseudo-random lines of one- to four-byte characters, invalid bytes
    # and both endings, fed in pseudo-random chunks: the result is the same
    # as for the whole output at once. (No stray continuation byte: it is
    # no part of a character, and the whole-output model would back off
    # over it.)
    rng = random.Random(1)
    alphabet = [b"a", b"\n", b"\r", "é".encode(), "€".encode(), "😀".encode(), b"\xff"]
    for _ in range(3000):
        limit = rng.randint(1, 8)
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        chunks = []
        at = 0
        while at < len(data):
            size = rng.randint(1, 5)
            chunks.append(data[at : at + size])
            at += size
        assert _limited(chunks, limit) == _limited_whole(data, limit), (chunks, limit)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "utf-32-be"])
def test_long_line_cut_in_utf16(encoding: str) -> None:
    # The cut falls on a code unit, the marker is in the stream's encoding
    # (its byte order: a "utf-16" stream is little-endian by its mark), and
    # the endings after the cut are found on code units.
    text = "ab\n" + "x" * 70000 + "\ncd\n"
    data = text.encode(encoding)
    if encoding == "utf-16":
        data = codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    with cmd("cat").stream(
        stdin=StdinInput(data=data),
        output=RunOutputOptions(max_bytes=10),
        context=ExecutionContext(encoding=encoding),
    ) as stream:
        got = [e.line for e in stream if e.phase == "stdout"]
    assert len(got) == 3
    assert got[0] == "ab" and got[2] == "cd"
    assert got[1] is not None and got[1].endswith(LINE_CUT_MARKER)
    width = 2 if "16" in encoding else 4
    assert got[1][: -len(LINE_CUT_MARKER)] == "x" * (MIN_LINE_LIMIT // width)


def test_long_line_cut_in_utf16_keeps_surrogate_pairs() -> None:
    # A line of emoji (surrogate pairs) under an odd limit: the cut backs
    # off to the start of a pair, the text holds no lone surrogate.
    text = "😀" * 20000 + "\nend"
    limit = MIN_LINE_LIMIT + 3
    with cmd("cat").stream(
        stdin=StdinInput(data=text.encode("utf-16-le")),
        output=RunOutputOptions(max_bytes=limit),
        context=ExecutionContext(encoding="utf-16-le", errors="strict"),
    ) as stream:
        got = [e.line for e in stream if e.phase == "stdout"]
    assert got == ["😀" * (limit // 4) + LINE_CUT_MARKER, "end"]


# -- utf-16 and utf-32 without a byte order mark -----------------------------

#: Each wide codec with a mark-less text in the machine's byte order.
UNMARKED = [
    (encoding, "ab\ncé😀\r\nlast".encode(f"{encoding}-{'le' if sys.byteorder == 'little' else 'be'}"))
    for encoding in ("utf-16", "utf-32")
]


@pytest.mark.parametrize(("encoding", "data"), UNMARKED, ids=["utf-16", "utf-32"])
def test_unmarked_wide_output_decodes_in_echo_events_and_stream(encoding: str, data: bytes) -> None:
    # Without a byte order mark, bytes.decode reads the machine's order;
    # echo, line events and stream() read it so too, and never raise.
    text = data.decode(encoding)
    sink = io.StringIO()
    ctx = ExecutionContext(encoding=encoding, stdout_sink=sink)
    lines: list[str | None] = []
    with observe(lambda e: lines.append(e.line) if e.phase == "stdout" else None):
        result = cmd("cat").run_sync(
            context=ctx, output=RunOutputOptions(echo=True), stdin=StdinInput(data=data)
        )
    assert result.stdout == text
    assert sink.getvalue() == text
    assert lines == text.splitlines()
    with cmd("cat").stream(context=ctx, stdin=StdinInput(data=data)) as stream:
        assert [e.line for e in stream if e.phase == "stdout"] == text.splitlines()


@pytest.mark.parametrize(("encoding", "data"), UNMARKED, ids=["utf-16", "utf-32"])
def test_unmarked_wide_output_in_a_capped_head(encoding: str, data: bytes) -> None:
    # The head keeps whole characters of the machine's order; a partial
    # one at the cut is dropped, as for any other codec.
    width = 2 if encoding == "utf-16" else 4
    result = cmd("cat").run_sync(
        context=ExecutionContext(encoding=encoding),
        output=RunOutputOptions(max_bytes=3 * width + 1),
        stdin=StdinInput(data=data),
    )
    assert result.truncated
    assert result.stdout == "ab\n"


def test_unmarked_decoder_reads_any_chunking() -> None:
    # Byte by byte, a mark split over chunks sets the order; its absence
    # leaves the machine's; reset forgets the order.
    for encoding, data in UNMARKED:
        for payload in (data, codecs.BOM_UTF16_BE + "ab\n".encode("utf-16-be")):
            if encoding == "utf-32" and payload is not data:
                payload = codecs.BOM_UTF32_BE + "ab\n".encode("utf-32-be")
            decoder = incremental_decoder(encoding, "strict")
            for _ in range(2):
                got = "".join(decoder.decode(payload[i : i + 1]) for i in range(len(payload)))
                assert got + decoder.decode(b"", True) == payload.decode(encoding)
                decoder.reset()


def _wide_limited(chunks: list[bytes], limit: int, encoding: str) -> bytes:
    got: list[bytes] = []
    limiter = line_limiter(got.append, limit, encoding, "replace")
    assert isinstance(limiter, WideLineLimiter)
    for chunk in chunks:
        limiter.feed(chunk)
    limiter.flush()
    return b"".join(got)


def _wide_limited_whole(data: bytes, limit: int, codec: str) -> bytes:
    """The model for an ``encoding`` of known byte order (``codec``): each
    line (up to a \\n or \\r code unit) longer than ``limit`` bytes is cut
    at ``limit`` rounded down to a code unit, backed off one unit from
    between the halves of a UTF-16 surrogate pair, then marked in
    ``codec``. A partial unit at the
    end is kept when it fits."""
    units = [data[at : at + WIDTHS[codec]] for at in range(0, len(data), WIDTHS[codec])]
    endings = {"\n".encode(codec), "\r".encode(codec)}
    marker = LINE_CUT_MARKER.encode(codec)
    parts: list[bytes] = []
    line: list[bytes] = []

    def end_line() -> None:
        size = sum(map(len, line))
        if size <= limit:
            parts.extend(line)
            return
        kept: list[bytes] = []
        for unit in line:
            if sum(map(len, kept)) + len(unit) > limit:
                break
            kept.append(unit)
        if codec.startswith("utf-16") and kept and len(line[len(kept)]) == 2:
            byte = 1 if codec.endswith("le") else 0
            if kept[-1][byte] & 0xFC == 0xD8 and line[len(kept)][byte] & 0xFC == 0xDC:
                kept.pop()
        parts.extend([*kept, marker])

    for unit in units:
        if unit in endings:
            end_line()
            parts.append(unit)
            line = []
        else:
            line.append(unit)
    end_line()
    return b"".join(parts)


#: Code unit sizes of the codecs the model knows.
WIDTHS = {"utf-16-le": 2, "utf-16-be": 2, "utf-32-le": 4, "utf-32-be": 4}


@pytest.mark.parametrize("codec", sorted(WIDTHS))
def test_wide_line_limiter_any_chunking(codec: str) -> None:
    # Pseudo-random lines of BMP characters, surrogate pairs, lone
    # surrogates and both endings (and units whose bytes hold 0x0a or 0x0d
    # off the unit boundary), fed in pseudo-random chunks, sometimes with a
    # partial unit at the end: the result is the model's for the whole.
    rng = random.Random(2)
    text_alphabet = ["a", "\n", "\r", "\u0a0d", "\u0d0a", "€", "😀"]
    raw_alphabet = [s.encode(codec) for s in text_alphabet]
    raw_alphabet.append("😀".encode(codec, "surrogatepass")[:2] if "16" in codec else b"")
    for _ in range(2000):
        limit = rng.randint(1, 12)
        data = b"".join(rng.choice(raw_alphabet) for _ in range(rng.randint(0, 30)))
        if rng.random() < 0.2:
            data += b"\x00" * rng.randint(1, WIDTHS[codec] - 1)
        chunks = []
        at = 0
        while at < len(data):
            size = rng.randint(1, 15)
            chunks.append(data[at : at + size])
            at += size
        want = _wide_limited_whole(data, limit, codec)
        assert _wide_limited(chunks, limit, codec) == want, (chunks, limit)


@pytest.mark.parametrize(("encoding", "bom", "codec"), [
    ("utf-16", codecs.BOM_UTF16_LE, "utf-16-le"),
    ("utf-16", codecs.BOM_UTF16_BE, "utf-16-be"),
    ("utf-32", codecs.BOM_UTF32_LE, "utf-32-le"),
    ("utf-32", codecs.BOM_UTF32_BE, "utf-32-be"),
])
def test_wide_line_limiter_takes_the_order_of_the_mark(encoding: str, bom: bytes, codec: str) -> None:
    # The mark may come split over chunks; the marker follows its order.
    data = bom + ("x" * 10 + "\ny").encode(codec)
    chunks = [data[:1], data[1:3], data[3:]]
    want = bom + ("x" * 4).encode(codec) + LINE_CUT_MARKER.encode(codec) + "\ny".encode(codec)
    limit = len(bom) + 4 * WIDTHS[codec] + 1
    assert _wide_limited(chunks, limit, encoding) == want


def test_line_limiter_for_byte_encodings_is_the_byte_one() -> None:
    # UTF-8 and other ASCII-compatible encodings keep the byte-wise limiter.
    for encoding in ("utf-8", "UTF8", "latin-1", "utf-8-sig"):
        assert type(line_limiter(list[bytes]().append, 10, encoding, "replace")) is LineLimiter


def test_byte_scanned_codecs_write_endings_and_marker_as_ascii() -> None:
    # What the byte-wise limiter relies on: the endings and the marker are
    # their ASCII bytes (after the start, past a utf-8-sig BOM), and the
    # ending bytes decode alone as the endings.
    for name in BYTE_SCANNED_CODECS:
        for text in ("\n", "\r", LINE_CUT_MARKER):
            encoded = ("a" + text).encode(name).removeprefix(codecs.BOM_UTF8)
            assert encoded == ("a" + text).encode("ascii"), (name, text)
        assert b"a\nb\rc".decode(name) == "a\nb\rc", name


@pytest.mark.parametrize("encoding", ["cp037", "cp500", "utf-7", "iso2022_jp", "hz", "raw-unicode-escape"])
def test_line_limiter_decodes_codecs_it_cannot_scan(encoding: str) -> None:
    # EBCDIC writes "\n" as 0x25; stateful codecs shift in and out of
    # modes, and a dropped shift would garble the lines after a cut.
    limiter = line_limiter(list[bytes]().append, 10, encoding, "replace")
    assert isinstance(limiter, DecodingLineLimiter)
    assert limited_lines_codec(encoding, "replace") == DECODED_LINES_CODEC


@pytest.mark.parametrize(
    ("encoding", "long", "other"),
    [
        ("cp037", "x", "Äé"),
        ("cp500", "x", "Äé"),
        ("utf-7", "x", "日本"),
        ("utf-7", "é", "+-"),
        ("iso2022_jp", "日", "日本"),
    ],
)
def test_long_line_cut_in_codecs_not_scanned_as_bytes(encoding: str, long: str, other: str) -> None:
    # A line past the limit is cut after the limit's bytes of its UTF-8
    # form, on a character, with the marker; the lines after it (in
    # utf-7 and iso2022_jp after a dropped shift out of a mode) come whole.
    text = f"ab\n{long * 70000}\nsecond\n{other}\n{other}{long}\nthird"
    with cmd("cat").stream(
        stdin=StdinInput(data=text.encode(encoding)),
        output=RunOutputOptions(max_bytes=10),
        context=ExecutionContext(encoding=encoding),
    ) as stream:
        got = [e.line for e in stream if e.phase == "stdout"]
    kept = long * (MIN_LINE_LIMIT // len(long.encode()))
    assert got == ["ab", kept + LINE_CUT_MARKER, "second", other, other + long, "third"]


# -- fail-fast and the timeout -------------------------------------------------


def test_a_deadline_passing_while_fail_fast_stops_the_stages(run: Runner) -> None:
    # The last stage fails once the first ignores SIGTERM; the first ends by
    # itself half a second past the deadline (it sleeps that much longer
    # than the timeout once ready; cancel_grace=inf: no SIGKILL). The run
    # ended for the failure, not the timeout: the failed result, as when the
    # stopped stages end before the deadline. (The deadline only changed
    # what was raised: stopping again changes nothing.) The failure must
    # come before the deadline: an exit event of the last stage seen before
    # it proves it did, and a timeout then is wrong.
    fail_when_ready = cmd(PYTHON, "-I", "-c", "import sys\nsys.stdin.readline()\nsys.exit(3)\n")

    def attempt(timeout: float) -> typ.Any:
        failed: list[float] = []

        def hook(event: ExecEvent) -> None:
            if event.phase == "exit" and event.tags.get("pipeline_stage_index") == 1:
                failed.append(time.monotonic())

        first = child("ignore-term", "text", "ready\n", "sleep", str(timeout + 0.5))
        started = time.monotonic()  # the run's deadline is later than started + timeout
        try:
            with observe(hook):
                return run(
                    first | fail_when_ready,
                    timeout=timeout,
                    context=ExecutionContext(cancel_grace=math.inf),
                )
        except TimeoutExpired:
            if not failed or failed[0] >= started + timeout:
                raise Late("the last stage had not failed") from None
            raise

    result = before_the_deadline(attempt)
    assert result.failure_index == 1
    assert [stage.exit_code for stage in result.stages] == [0, 3]


# -- caps too large to be reached ------------------------------------------------

#: Caps past what ``re`` repeats (2**32 - 1) and what a C ``ssize_t`` holds.
LARGE_CAPS = [2**32, 2**63, 2**64, 10**30]


@pytest.mark.parametrize("max_bytes", LARGE_CAPS)
@pytest.mark.parametrize("on_overflow", ["truncate", "tail", "kill"])
def test_a_cap_too_large_to_reach_keeps_everything(max_bytes: int, on_overflow: str) -> None:
    # Any non-negative int is a valid cap; one no output can reach keeps
    # the whole output, observed (line events) or not.
    output = RunOutputOptions(max_bytes=max_bytes, on_overflow=on_overflow)
    result = cmd("seq", "3").run_sync(output=output)
    assert (result.stdout, result.truncated) == ("1\n2\n3\n", False)
    with cmd("seq", "3").stream(output=output) as stream:
        assert [e.line for e in stream if e.phase == "stdout"] == ["1", "2", "3"]
    assert stream.result.stdout == "1\n2\n3\n"


def test_line_limiter_with_a_limit_past_what_re_repeats() -> None:
    assert _limited([b"ab\nc", b"d\r\n", b"e"], 2**32) == b"ab\ncd\r\ne"


def test_kill_without_a_cap_is_no_cap(run: Runner) -> None:
    # on_overflow="kill" with max_bytes=None: nothing to overflow, the whole
    # output is kept (the pure engine's capture took no overflow callback).
    output = RunOutputOptions(on_overflow="kill")
    result = run(cmd("seq", "3") | cmd("cat"), output=output)
    assert (result.stdout, result.truncated) == ("1\n2\n3\n", False)
    with cmd("seq", "3").stream(output=output) as stream:
        assert [e.line for e in stream if e.phase == "stdout"] == ["1", "2", "3"]


# -- echo sinks ----------------------------------------------------------------


@pytest.mark.parametrize("sink", [object(), "not a stream"])
def test_a_bad_echo_sink_leaks_no_pipe(sink: object) -> None:
    # The error is raised as the first stage's output is wired; its pipes
    # are closed (conftest checks descriptors) and its child reaped. (The
    # context refuses such a sink when built: it is slipped in past that.)
    context = ExecutionContext()
    object.__setattr__(context, "stdout_sink", sink)
    with pytest.raises(AttributeError):
        (cmd("seq", "3") | cmd("cat")).run_sync(output=RunOutputOptions(echo=True), context=context)


@pytest.mark.parametrize("param", ["stdout_sink", "stderr_sink"])
@pytest.mark.parametrize(
    ("sink", "error", "shown"),
    [
        (-5, ValueError, "-5"),
        (-1, ValueError, "-1"),
        (True, TypeError, "True"),
        (object(), TypeError, "object"),
        ("/tmp/log", TypeError, "'/tmp/log'"),
        (2.0, TypeError, "float 2.0"),
    ],
)
def test_a_bad_echo_sink_is_refused_when_the_context_is_built(
    param: str, sink: object, error: type[Exception], shown: str
) -> None:
    # It was accepted, and failed only at the first write (a bare EBADF for
    # a negative descriptor, an AttributeError for an object).
    with pytest.raises(error, match=f"ExecutionContext.{param}") as info:
        ExecutionContext(**{param: sink})  # type: ignore[arg-type]
    assert shown in str(info.value)


@pytest.mark.parametrize("param", ["stdout_sink", "stderr_sink"])
def test_a_closed_or_read_only_echo_sink_is_refused(param: str, tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("")
    with path.open() as read_only, pytest.raises(ValueError, match=f"{param} is a stream not open for writing"):
        ExecutionContext(**{param: read_only})  # type: ignore[arg-type]
    closed = path.open("w")
    closed.close()
    with pytest.raises(ValueError, match=f"{param} is a closed stream"):
        ExecutionContext(**{param: closed})  # type: ignore[arg-type]


class _Writer:
    """Not an ``io`` stream, but it has ``write``: a valid sink (binary:
    it has no ``encoding``)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)


def test_every_kind_of_echo_sink_is_accepted(run: Runner, tmp_path: Path) -> None:
    writer = _Writer()
    binary = io.BytesIO()
    with (tmp_path / "log").open("wb") as log:
        for sink in (writer, binary, io.StringIO(), log, log.fileno(), 0):
            ExecutionContext(stdout_sink=typ.cast(typ.Any, sink), stderr_sink=typ.cast(typ.Any, sink))
    echo = RunOutputOptions(echo=True)
    run(cmd("seq", "2"), output=echo, context=ExecutionContext(stdout_sink=typ.cast(typ.Any, writer)))
    run(cmd("seq", "2"), output=echo, context=ExecutionContext(stdout_sink=binary))
    assert (b"".join(writer.parts), binary.getvalue()) == (b"1\n2\n", b"1\n2\n")


def test_an_echo_sink_error_is_raised_not_taken_for_the_end_of_output(run: Runner) -> None:
    # Echo into a pipe nobody reads: the write error propagates. It was
    # taken for the end of the child's output: the run "succeeded" with
    # all but the first read's lines silently lost.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        with pytest.raises(BrokenPipeError):
            run(
                child("lines", "100000"),
                output=RunOutputOptions(echo=True),
                context=ExecutionContext(stdout_sink=typ.cast(typ.Any, writer)),
            )
    finally:
        os.close(writer)


# -- stdin chunks --------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-8-sig", "iso2022_jp"])
def test_str_chunks_are_encoded_as_one_text(run: Runner, encoding: str) -> None:
    # "str encoded like text": one stream, so a codec with a byte order
    # mark writes it once, not once per chunk, and a stateful one returns
    # to its initial state at the end.
    context = ExecutionContext(encoding=encoding)
    text = "ab日本cd語"
    whole = run(cmd("cat"), stdin=StdinInput(text=text), context=context)
    chunks = StdinInput(chunks=["ab日", "", "本cd", "語"])
    chunked = run(cmd("cat"), stdin=chunks, context=context)
    assert whole.stdout == text
    assert chunked.stdout == whole.stdout


@pytest.mark.parametrize("encoding", ["utf-16", "iso2022_jp"])
def test_async_str_chunks_are_encoded_as_one_text(encoding: str) -> None:
    async def chunks() -> typ.AsyncIterator[str]:
        for chunk in ("ab日", "", "本cd", "語"):
            yield chunk

    context = ExecutionContext(encoding=encoding)
    result = asyncio.run(cmd("cat").run(stdin=StdinInput(chunks=chunks()), context=context))
    assert result.stdout == "ab日本cd語"


# -- the run's exceptions ------------------------------------------------------


def test_timeout_and_cap_errors_pickle_and_copy() -> None:
    # As subprocess.TimeoutExpired does: an exception raised in a worker
    # process (multiprocessing, ProcessPoolExecutor) reaches the parent.
    errors: list[TimeoutExpired | OutputLimitExceeded] = []
    for make in (
        lambda: cmd("sleep", "10").run_sync(timeout=0),
        lambda: (cmd("seq", "100") | cmd("cat")).run_sync(
            output=RunOutputOptions(max_bytes=5, on_overflow="kill")
        ),
    ):
        with pytest.raises((TimeoutExpired, OutputLimitExceeded)) as info:
            make()
        errors.append(typ.cast("TimeoutExpired | OutputLimitExceeded", info.value))
    for error in errors:
        for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
            assert type(twin) is type(error)
            assert str(twin) == str(error)
            assert (twin.cmd, twin.output, twin.stderr) == (error.cmd, error.output, error.stderr)
    timeout, cap = errors
    assert typ.cast(TimeoutExpired, pickle.loads(pickle.dumps(timeout))).timeout == 0
    twin = typ.cast(OutputLimitExceeded, pickle.loads(pickle.dumps(cap)))
    assert twin.max_bytes == 5 and twin.result == typ.cast(OutputLimitExceeded, cap).result


def _project(name: str, *programs: str) -> ProjectSettings:
    return ProjectSettings(
        name=name,
        programs=tuple(Program(p) for p in programs),
        documentation_locations=(),
        noise_rules=(),
    )


def _raised(make: typ.Callable[[], object]) -> BaseException:
    try:
        make()
    except Exception as error:  # noqa: BLE001 - returned to be checked
        return error
    msg = "nothing was raised"
    raise AssertionError(msg)


def _forbidden(*, restricted: bool) -> BaseException:
    config = ScopeConfig(allowlist=frozenset({Program("true")}) if restricted else frozenset())
    with scoped(config):
        return _raised(lambda: cmd("cat").run_sync())


@pytest.mark.parametrize(
    ("make", "kind", "attributes"),
    [
        (
            lambda: ProgramCatalogue(projects=[_project("a", "ls"), _project("a", "cat")]),
            DuplicateProjectError,
            {"project_name": "a"},
        ),
        (
            lambda: ProgramCatalogue(projects=[_project("a", "ls"), _project("b", "cp", "ls")]),
            DuplicateProgramError,
            {"program": "ls", "owner": "a"},
        ),
        (
            lambda: _forbidden(restricted=True),
            ForbiddenProgramError,
            {"program": "cat", "restricted_state": True},
        ),
    ],
)
def test_catalogue_and_scope_errors_pickle_and_copy(
    make: typ.Callable[[], object], kind: type[BaseException], attributes: dict[str, object]
) -> None:
    # Like the run's exceptions: their constructors take more than the
    # message, yet an error raised in a worker process reaches the parent.
    error = make() if kind is ForbiddenProgramError else _raised(make)
    assert type(error) is kind
    error.add_note("raised in a worker")
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert type(twin) is kind
        assert str(twin) == str(error)
        assert twin.args == error.args
        assert twin.__notes__ == ["raised in a worker"]
        for name, value in attributes.items():
            assert getattr(twin, name) == value


def test_forbidden_program_error_keeps_an_unrestricted_state() -> None:
    error = ForbiddenProgramError(Program("cat"), restricted_state=False)
    twin = pickle.loads(pickle.dumps(error))
    assert (twin.program, twin.restricted_state, str(twin)) == ("cat", False, str(error))
