# SPDX-License-Identifier: ISC
"""``RunOutputOptions(max_bytes=, on_overflow=)``: bounded capture, under
both stream backends (the autouse leak check of conftest also holds)."""

from __future__ import annotations

import re
import textwrap
import typing as typ

import pytest
from conftest import PYTHON, Runner, child, cmd, measures_rss, run_script

from cuprum import (
    CommandResult,
    ExecEvent,
    ExecutionContext,
    OutputLimitExceeded,
    PipelineResult,
    RunOutputOptions,
    StdinInput,
    observe,
)
from cuprum._exec.limits import LINE_CUT_MARKER, MIN_LINE_LIMIT, BoundedCapture, LineLimiter

PAYLOAD = b"abcdefghij"
#: "a", a 2-byte, a 3-byte character, "b": cuts fall inside characters.
WIDE = "aé€b".encode()


#: Every test here runs under the selected stream backend, or each available.
pytestmark = pytest.mark.usefixtures("backend")


def _cap(max_bytes: int | None, mode: str = "truncate") -> RunOutputOptions:
    return RunOutputOptions(max_bytes=max_bytes, on_overflow=mode)


@pytest.mark.parametrize("size", [0, 1, 9, 10, 11])
@pytest.mark.parametrize("mode", ["truncate", "tail"])
def test_exact_boundaries(size: int, mode: str) -> None:
    result = child("out", PAYLOAD.hex()).run_sync(output=_cap(size, mode))
    kept = PAYLOAD[:size] if mode == "truncate" else PAYLOAD[max(0, len(PAYLOAD) - size) :]
    assert result.stdout == kept.decode()
    assert result.truncated is (size < len(PAYLOAD))
    assert result.stderr == ""


def test_no_cap_is_not_truncated() -> None:
    result = child("out", PAYLOAD.hex()).run_sync(output=_cap(None))
    assert result.stdout == PAYLOAD.decode()
    assert result.truncated is False


@pytest.mark.parametrize(
    ("mode", "size", "text"),
    [
        ("truncate", 1, "a"),
        ("truncate", 2, "a"),
        ("truncate", 3, "aé"),
        ("truncate", 4, "aé"),
        ("truncate", 5, "aé"),
        ("truncate", 6, "aé€"),
        ("tail", 1, "b"),
        ("tail", 2, "b"),
        ("tail", 3, "b"),
        ("tail", 4, "€b"),
        ("tail", 5, "€b"),
        ("tail", 6, "é€b"),
    ],
)
def test_cut_on_a_character_boundary(mode: str, size: int, text: str) -> None:
    # Written one byte at a time, so the cut also crosses reads.
    actions = [a for byte in WIDE for a in ("out", f"{byte:02x}")]
    result = child(*actions).run_sync(output=_cap(size, mode), context=ExecutionContext(encoding="utf-8"))
    assert result.stdout == text
    assert result.truncated


@pytest.mark.parametrize("mode", ["truncate", "tail"])
def test_stderr_is_capped_separately(mode: str) -> None:
    result = child("out", PAYLOAD.hex(), "err", (PAYLOAD * 2).hex()).run_sync(output=_cap(10, mode))
    assert result.stdout == PAYLOAD.decode()
    assert result.stderr == PAYLOAD.decode()
    assert result.truncated


@pytest.mark.parametrize("group", [False, True])
def test_kill_raises_with_the_partial_result(group: bool) -> None:
    ctx = ExecutionContext(process_group=group, cancel_grace=0.2)
    target = child("ignore-term", "bytes", "100000", "sleep", "60")
    with pytest.raises(OutputLimitExceeded, match="more than 1000 bytes") as info:
        target.run_sync(output=_cap(1000, "kill"), context=ctx)
    exc = info.value
    assert exc.max_bytes == 1000
    assert exc.output == exc.stdout == "x" * 1000
    assert exc.result.stdout == "x" * 1000
    assert exc.result.truncated
    assert isinstance(exc.result, CommandResult)
    assert exc.result.exit_code < 0  # stopped by a signal, not finished


def test_an_oserror_closing_the_source_at_a_kill_cap_propagates(run: Runner) -> None:
    """The cap stops the run from inside the read that passed it, and the
    stop closes the stdin source: an ``OSError`` raised there propagates
    like any error closing the source, not taken for a read error of the
    output pipe (which ends that output quietly: the error was lost and
    the run raised ``OutputLimitExceeded``)."""

    class CleanupFailed(OSError):
        pass

    def source() -> typ.Iterator[bytes]:
        try:
            while True:
                yield b"x" * 4096
        finally:
            raise CleanupFailed("cleaning up the source failed")

    with pytest.raises(CleanupFailed):
        run(cmd("cat"), stdin=StdinInput(chunks=source()), output=_cap(1000, "kill"))


def test_kill_under_the_cap_is_a_normal_result() -> None:
    result = child("out", PAYLOAD.hex()).run_sync(output=_cap(10, "kill"))
    assert result.stdout == PAYLOAD.decode()
    assert not result.truncated


def test_pipeline_caps_each_stage() -> None:
    pipeline = child("etext", "e" * 50, "bytes", "5000") | cmd("cat")
    result = pipeline.run_sync(output=_cap(100, "tail"))
    assert result.ok
    assert result.stdout == "x" * 100
    assert result.stages[0].stderr == "e" * 50
    assert result.stages[-1].truncated
    assert not result.stages[0].truncated
    assert result.truncated


def test_pipeline_kill_is_not_a_stage_failure() -> None:
    pipeline = child("bytes", "100000", "sleep", "60") | cmd("cat")
    with pytest.raises(OutputLimitExceeded) as info:
        pipeline.run_sync(output=_cap(10, "kill"))
    assert info.value.result.stdout == "x" * 10
    assert isinstance(info.value.result, PipelineResult)
    assert info.value.result.failure_index is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_bytes": -1}, ValueError, "max_bytes must be non-negative, got -1"),
        ({"max_bytes": "10"}, TypeError, "max_bytes must be an int or None, got '10'"),
        ({"max_bytes": 1.5}, TypeError, "got 1.5"),
        ({"max_bytes": True}, TypeError, "got True"),
        ({"on_overflow": "drop"}, ValueError, "on_overflow must be one of .*got 'drop'"),
        ({"on_overflow": None}, ValueError, "got None"),
    ],
)
def test_bad_options(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        RunOutputOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["truncate", "tail", "kill"])
def test_any_chunking_keeps_the_same_bytes(mode: str) -> None:
    data = bytes(range(256)) * 3
    for cap in (0, 1, 100, 767, 768, 769):
        for step in (1, 7, 256, 1000):
            capture = BoundedCapture("latin-1", "strict", cap, mode)
            for i in range(0, len(data), step):
                capture.feed(data[i : i + step])
            assert capture.kept <= cap
            want = data[max(0, len(data) - cap) :] if mode == "tail" and cap else data[:cap]
            assert capture.finish() == want.decode("latin-1")
            assert capture.truncated is (cap < len(data))


_MEMORY = textwrap.dedent(
    """
    import resource, sys
    from cuprum import Program, ProgramCatalogue, ProjectSettings, RunOutputOptions, sh
    project = ProjectSettings(name="t", programs=(Program("head"),),
                              documentation_locations=(), noise_rules=())
    head = sh.make(Program("head"), catalogue=ProgramCatalogue(projects=(project,)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = RunOutputOptions(max_bytes=1 << 20, on_overflow=sys.argv[1])
    result = head("-c", "1G", "/dev/zero").run_sync(output=out)
    assert result.ok and result.truncated and len(result.stdout) == 1 << 20
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
    """
)


@measures_rss
@pytest.mark.parametrize("mode", ["truncate", "tail"])
def test_slow_one_gib_under_a_one_mib_cap_stays_small(mode: str, backend: str) -> None:
    """SLOW-ish (about a second): 1 GiB of output, peak RSS growth measured."""
    done = run_script(_MEMORY, mode, CUPRUM_STREAM_BACKEND=backend)
    growth = int(done.stdout)
    assert growth < 64 << 20, f"peak RSS grew by {growth} bytes"


def _writes(text: str) -> typ.Any:
    """A child writing ``text`` (a Python expression) to stdout."""
    return cmd(PYTHON, "-I", "-c", f"import sys\nsys.stdout.write({text})")


def _lines_seen(target: typ.Any, output: RunOutputOptions) -> list[str]:
    seen: list[str] = []

    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            assert event.line is not None
            seen.append(event.line)

    with observe(hook):
        target.run_sync(output=output)
    return seen


@pytest.mark.parametrize("mode", ["truncate", "tail"])
def test_long_line_events_are_cut_with_a_marker(mode: str) -> None:
    limit = MIN_LINE_LIMIT
    text = f"'x' * {limit + 5000} + '\\n' + 'y' * {limit} + '\\nok\\n' + 'z' * {limit + 1}"
    seen = _lines_seen(_writes(text), _cap(10, mode))
    assert seen == ["x" * limit + LINE_CUT_MARKER, "y" * limit, "ok", "z" * limit + LINE_CUT_MARKER]


def test_line_limit_grows_with_the_cap() -> None:
    size = MIN_LINE_LIMIT * 2
    seen = _lines_seen(_writes(f"'x' * {size + 1}"), _cap(size))
    assert seen == ["x" * size + LINE_CUT_MARKER]


def test_no_cap_keeps_long_lines_whole() -> None:
    size = MIN_LINE_LIMIT * 2
    assert _lines_seen(_writes(f"'x' * {size}"), _cap(None)) == ["x" * size]


@pytest.mark.parametrize("step", [1, 3, 5, 64, 4096])
def test_line_limiter_any_chunking(step: int) -> None:
    got: list[bytes] = []
    limiter = LineLimiter(got.append, 5, "utf-8")
    data = "abc\r\nabcdefgh\naé€é€\rxy".encode() + b"q" * 20
    for i in range(0, len(data), step):
        limiter.feed(data[i : i + step])
    limiter.flush()
    mark = LINE_CUT_MARKER.encode()
    # "aé€é€" cut at 5 bytes would split "€": it backs off to "aé".
    assert b"".join(got) == b"abc\r\nabcde" + mark + b"\na\xc3\xa9" + mark + b"\rxyqqq" + mark


def test_line_limiter_flushes_a_partial_character_at_the_end() -> None:
    got: list[bytes] = []
    limiter = LineLimiter(got.append, 100, "utf-8")
    limiter.feed(b"ab\xe2\x82")
    assert b"".join(got) == b"ab"
    limiter.flush()
    assert b"".join(got) == b"ab\xe2\x82"


def test_kill_cap_with_undecodable_output_is_still_the_cap() -> None:
    """errors="strict" and a kill cap cut inside output that does not
    decode: OutputLimitExceeded is raised, the decoding error noted."""
    target = child("out", "ff" * 5000, "sleep", "60")
    with pytest.raises(OutputLimitExceeded) as info:
        target.run_sync(output=_cap(1000, "kill"), context=ExecutionContext(errors="strict", cancel_grace=0.2))
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1
    assert re.fullmatch(r"cuprum: also raised while decoding the stdout of stage 0 \(.+\): UnicodeDecodeError\(.*", notes[0])


@pytest.mark.parametrize(
    ("data", "max_bytes", "expected"),
    [
        ("aé\n".encode(), 2, "\n"),  # the cut goes through é: its rest dropped, no U+FFFD
        (b"abc\xef\xbb\xbfxyz", 6, "\ufeffxyz"),  # a U+FEFF mid-stream is text, not a BOM
        (b"\xef\xbb\xbfhi", 100, "hi"),  # not cut: the stream's BOM goes
    ],
)
def test_utf8_sig_tail_is_utf8(data: bytes, max_bytes: int, expected: str) -> None:
    """A tail of a utf-8-sig stream is cut and decoded as UTF-8 is: the
    stream's start, and any BOM with it, is gone."""
    result = child("out", data.hex()).run_sync(
        output=_cap(max_bytes, "tail"), context=ExecutionContext(encoding="utf-8-sig")
    )
    assert result.stdout == expected
    assert result.truncated == (len(data) > max_bytes)
