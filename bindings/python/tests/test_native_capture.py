# SPDX-License-Identifier: ISC
"""The native engine's capped capture against the reference BoundedCapture,
and its line events when hooks keep some events and drop others.

The native ``Capture`` takes ``RunOutputOptions``' cap into libcuprum's
capture buffer (``bounded_capture``); ``cuprum._exec.limits.BoundedCapture``
is the reference it must match byte for byte, under any chunking, codec and
cut. Skipped (with a reason) when ``cuprum._native`` is not built.
"""

from __future__ import annotations

import random
import typing as typ

import pytest
from conftest import NATIVE as native
from conftest import needs_native

from cuprum._exec.limits import BoundedCapture
from cuprum.events import ExecEvent

pytestmark = needs_native

_SAMPLES = (
    b"plain ascii text\nwith lines\n" * 5,
    "caf\u00e9 \u20ac \U0001f600 na\u00efve\n".encode() * 7,
    b"\xff\xfe bad \x80 bytes \xc3",
    b"",
)


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out = []
    i = 0
    while i < len(data):
        n = rng.choice((1, 2, 3, 7, 64, 1000))
        out.append(data[i : i + n])
        i += n
    return out


def _run(cap: typ.Any, chunks: list[bytes]) -> tuple[str, int, bool]:
    """The text (or the decoder's error, by type) and the counts."""
    for chunk in chunks:
        cap.feed(chunk)
    try:
        text = cap.finish()
    except UnicodeDecodeError as exc:
        text = f"{type(exc).__name__}: {exc.reason}"
    return text, cap.nbytes, cap.truncated


@pytest.mark.parametrize("mode", ["truncate", "tail", "kill"])
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "ascii", "utf-16-le"])
@pytest.mark.parametrize("errors", ["replace", "surrogateescape"])
def test_capped_capture_matches_bounded_capture(mode: str, encoding: str, errors: str) -> None:
    rng = random.Random(f"{mode}{encoding}{errors}")
    for data in _SAMPLES:
        for max_bytes in sorted({0, 1, 2, 3, 5, len(data) // 2, len(data), len(data) + 1}):
            chunks = _chunks(data, rng)
            want = _run(BoundedCapture(encoding, errors, max_bytes, mode), chunks)
            got = _run(native.Capture(encoding, errors, max_bytes, mode), chunks)
            assert got == want, (data, max_bytes, chunks)


@pytest.mark.parametrize("mode", ["truncate", "kill", "tail"])
def test_on_exceeded_is_called_once_when_the_cap_is_passed(mode: str) -> None:
    calls: list[int] = []
    cap = native.Capture("utf-8", "strict", 4, mode)
    cap.on_exceeded = lambda: calls.append(cap.nbytes)
    for chunk in (b"ab", b"cd", b"e", b"fgh"):
        cap.feed(chunk)
    assert calls == ([] if mode == "tail" else [5])
    assert cap.finish() == ("efgh" if mode == "tail" else "abcd")
    assert cap.truncated


def test_on_exceeded_errors_propagate_and_bad_arguments_are_named() -> None:
    cap = native.Capture("utf-8", "strict", 1, "kill")

    def boom() -> None:
        raise RuntimeError("boom")

    cap.on_exceeded = boom
    with pytest.raises(RuntimeError, match="boom"):
        cap.feed(b"xyz")
    with pytest.raises(TypeError, match="on_exceeded"):
        cap.on_exceeded = 3
    with pytest.raises(ValueError, match="mode"):
        native.Capture("utf-8", "strict", 1, "drop")
    with pytest.raises(ValueError, match="max_bytes"):
        native.Capture("utf-8", "strict", -1, "truncate")
    with pytest.raises(TypeError, match="max_bytes"):
        native.Capture("utf-8", "strict", 1.5, "truncate")


def test_a_large_capped_tail_keeps_the_last_bytes() -> None:
    """Past the 4 MiB threshold the block is a str; the tail is compacted."""
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB, not ASCII
    cap = native.Capture("latin-1", "strict", 5 << 20, "tail")
    for i in range(0, len(data), 1 << 20):
        cap.feed(data[i : i + (1 << 20)])
    assert cap.finish() == data[-(5 << 20) :].decode("latin-1")
    ascii_data = b"0123456789abcdef" * (768 * 1024)  # 12 MiB of ASCII
    cap = native.Capture("utf-8", "strict", 5 << 20, "tail")
    for i in range(0, len(ascii_data), 1 << 20):
        cap.feed(ascii_data[i : i + (1 << 20)])
    assert cap.finish() == ascii_data[-(5 << 20) :].decode()


def test_line_events_hooks_that_keep_some_events_see_each_line() -> None:
    lines = [f"line {i}" for i in range(50)]
    kept: list[ExecEvent] = []
    seen: list[str] = []

    def hook(event: ExecEvent) -> None:
        assert event.line is not None
        seen.append(event.line)
        if len(seen) % 3 == 0:
            kept.append(event)

    template = tuple(None for _ in ExecEvent._fields)
    splitter = native.LineEvents("utf-8", "replace", ExecEvent, template, (hook,), [])
    data = "".join(f"{line}\n" for line in lines).encode()
    for i in range(0, len(data), 11):
        splitter.feed(data[i : i + 11])
    splitter.finish()
    assert seen == lines
    assert [e.line for e in kept] == lines[2::3]
