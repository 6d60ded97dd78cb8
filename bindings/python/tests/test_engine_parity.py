# SPDX-License-Identifier: ISC
"""Engine parity: the pure-Python and native stream engines, byte for byte.

Every property feeds the *same* random bytes, cut at random chunk
boundaries and decoded with a random codec and error policy, through each
engine and compares the outcome with a reference computed from the whole
input at once (``data.decode(encoding, errors)``, universal-newline split)
and, when the extension is built, with the other engine.

Each property runs once per engine (:data:`ENGINES`): under ``python``
always, under ``native`` (skipped, with a reason, when ``cuprum._native`` is
not built) also comparing its outcome with the pure engine's
(:func:`_parity`).

Outcomes are compared as ``("ok", value)`` or ``("raise", exception type)``
so "both engines raise ``UnicodeDecodeError`` on strict invalid input" is
part of the same comparison as "both return the same text".

Hypothesis runs derandomised and without an example database, so nothing is
written into the source tree; set ``CUPRUM_PARITY_RANDOM=1`` to explore with
fresh random seeds instead, and ``CUPRUM_PARITY_SCALE=10`` for ten times the
examples.
"""

from __future__ import annotations

import codecs
import encodings.aliases
import errno
import functools
import io
import os
import pkgutil
import random
import re
import tempfile
import threading
import time
import typing as typ

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from conftest import NATIVE as native
from conftest import load_engine

from cuprum import _streams_pure as pure

needs_native = pytest.mark.skipif(
    native is None,
    reason="cuprum._native is not built: no native engine to compare with",
)

#: The engines every parity test runs under, by name (see ``load_engine``).
ENGINES = ["python", pytest.param("native", marks=needs_native)]

#: The settings every property shares; each ``@settings`` takes them as its
#: parent and adds only its example count.
_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=os.environ.get("CUPRUM_PARITY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _n(examples: int) -> int:
    """Examples per property, scaled by ``CUPRUM_PARITY_SCALE`` (default 1)."""
    return max(1, int(examples * float(os.environ.get("CUPRUM_PARITY_SCALE", "1"))))

ENCODINGS = (
    "utf-8",
    "latin-1",
    "ascii",
    "cp1252",
    "utf-16-le",
    "shift_jis",
    "utf-8-sig",
)
ERRORS = ("strict", "replace", "ignore", "surrogateescape", "backslashreplace")

#: Characters that must split lines (the first three) and characters that
#: Python's str.splitlines() would split on but the lines contract must not.
_PIECES = (
    "\r\n",
    "\r",
    "\n",
    "\v",
    "\f",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
    "a",
    "xyz ",
    "é",
    "€",
    "😀",
    "日本",
    "ｶ",
    "\ufeff",
    "\\",
)

#: Byte sequences that are invalid, incomplete or odd in some codec: stray
#: continuation bytes, truncated multi-byte sequences, an encoded surrogate,
#: an overlong NUL, bytes cp1252/shift_jis leave undefined, BOM prefixes.
_BAD_BYTES = (
    b"\x80",
    b"\xff",
    b"\x81",
    b"\x8d",
    b"\xa0",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xed\xa0\x80",
    b"\xc0\x80",
    b"\xef",
    b"\xef\xbb",
    b"\xef\xbb\xbf",
    b"\xfe\xff",
    b"\x00",
    b"\x00\xd8",
    b"\x00\xdc",
    b"\xfd",
)

# ---------------------------------------------------------------------------
# Strategies and references


def _encode(text: str, encoding: str) -> bytes:
    """Encode what the codec can represent; drop the rest."""
    if encoding == "utf-8-sig":
        encoding = "utf-8"  # a BOM, when wanted, is added once at the start
    return text.encode(encoding, "ignore")


@st.composite
def streams(draw: st.DrawFn, max_pieces: int = 40) -> tuple[bytes, str, str, list[bytes]]:
    """``(data, encoding, errors, chunks)`` with ``b"".join(chunks) == data``.

    ``data`` mixes encoded text (line endings, non-ending separators,
    multi-byte characters) with raw random bytes, so it is often invalid in
    the chosen codec.  Chunks are cut at random points, sometimes exactly
    between the ``\\r`` and ``\\n`` of every CRLF, and may be empty.
    """
    encoding = draw(st.sampled_from(ENCODINGS))
    errors = draw(st.sampled_from(ERRORS))
    parts = draw(
        st.lists(
            st.one_of(
                st.sampled_from(_PIECES).map(lambda s: _encode(s, encoding)),
                st.text(max_size=4).map(lambda s: _encode(s, encoding)),
                st.binary(max_size=3),
                st.sampled_from(_BAD_BYTES),
                st.sampled_from(_PIECES).map(lambda s: _encode(s, encoding)[:-1]),
            ),
            max_size=max_pieces,
        )
    )
    # A BOM, whole or cut short, at the start; often a bad sequence at the
    # very end, where decoders flush and splitters deliver the last line.
    bom = codecs.BOM_UTF8 if encoding.startswith("utf-8") else codecs.BOM_UTF16_LE
    prefix = draw(st.sampled_from([b"", bom, bom[:1], bom[:2]]))
    suffix = draw(st.one_of(st.just(b""), st.sampled_from(_BAD_BYTES)))
    data = prefix + b"".join(parts) + suffix
    cuts = set(draw(st.lists(st.integers(0, max(len(data), 0)), max_size=10)))
    if draw(st.booleans()):
        crlf = _encode("\r\n", encoding)
        half = len(crlf) // 2
        start = data.find(crlf)
        while start >= 0:
            cuts.add(start + half)
            start = data.find(crlf, start + 1)
    if draw(st.booleans()):
        cuts.update(range(len(data) + 1))  # byte at a time
    return data, encoding, errors, _cut(data, cuts)


def _cut(data: bytes, cuts: typ.Iterable[int]) -> list[bytes]:
    chunks, last = [], 0
    for point in sorted(cuts):
        chunks.append(data[last:point])
        last = point
    chunks.append(data[last:])
    return chunks


Outcome = tuple[str, typ.Any]
_T = typ.TypeVar("_T")


def _parity(engine_name: str, check: typ.Callable[..., _T], *args: typ.Any) -> _T:
    """Return ``check(engine, *args)`` (a check against the reference) for
    the engine called ``engine_name``; the native engine's outcome must also
    be the pure engine's."""
    got = check(load_engine(engine_name), *args)
    if engine_name == "native":
        assert got == check(pure, *args)
    return got


def _outcome(func: typ.Callable[[], typ.Any]) -> Outcome:
    try:
        return ("ok", func())
    except Exception as exc:  # noqa: BLE001 - compared by type
        return ("raise", type(exc))


def ref_text(data: bytes, encoding: str, errors: str) -> Outcome:
    """The whole-stream decode every engine must reproduce."""
    return _outcome(lambda: data.decode(encoding, errors))


def ref_lines(data: bytes, encoding: str, errors: str) -> Outcome:
    """Universal newlines (\\r\\n, \\r, \\n only) over the whole decode."""

    def split() -> list[str]:
        pieces = re.split(r"\r\n|\r|\n", data.decode(encoding, errors))
        if pieces[-1] == "":
            pieces.pop()
        return pieces

    return _outcome(split)


# ---------------------------------------------------------------------------
# Running one engine


def run_capture(engine: typ.Any, encoding: str, errors: str, chunks: list[bytes]) -> Outcome:
    def go() -> tuple[int, str]:
        cap = engine.Capture(encoding, errors)
        for chunk in chunks:
            cap.feed(chunk)
        nbytes = cap.nbytes
        return nbytes, cap.finish()

    return _outcome(go)


def run_lines(engine: typ.Any, encoding: str, errors: str, chunks: list[bytes]) -> Outcome:
    def go() -> list[str]:
        got: list[str] = []
        splitter = engine.LineSplitter(encoding, errors, got.append)
        for chunk in chunks:
            splitter.feed(chunk)
        splitter.finish()
        return got

    return _outcome(go)


def _read_all(fd: int) -> bytes:
    out = []
    while chunk := os.read(fd, 65536):
        out.append(chunk)
    return b"".join(out)


def run_tee(
    engine: typ.Any, sink_kind: str, encoding: str, errors: str, chunks: list[bytes]
) -> Outcome:
    """Feed ``chunks`` through a TextTee into a fresh sink; return what it got."""
    if sink_kind == "pipe":
        read_fd, write_fd = os.pipe()  # payloads stay well under a pipe's size
        try:
            res = _feed_tee(engine.TextTee(write_fd, encoding, errors), chunks)
            os.close(write_fd)
            write_fd = -1
            return res if res[0] == "raise" else ("ok", _read_all(read_fd))
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
    if sink_kind == "file":
        with tempfile.TemporaryFile() as tmp:
            res = _feed_tee(engine.TextTee(tmp.fileno(), encoding, errors), chunks)
            tmp.seek(0)
            return res if res[0] == "raise" else ("ok", tmp.read())
    sink: typ.Any = io.StringIO() if sink_kind == "text" else io.BytesIO()
    res = _feed_tee(engine.TextTee(sink, encoding, errors), chunks)
    return res if res[0] == "raise" else ("ok", sink.getvalue())


def _feed_tee(tee: typ.Any, chunks: list[bytes]) -> Outcome:
    def go() -> None:
        for chunk in chunks:
            tee.feed(chunk)
        tee.finish()

    return _outcome(go)


def _writer(fd: int, data: bytes, sizes: list[int]) -> threading.Thread:
    """Write ``data`` to ``fd`` in pieces of the given sizes, then close it."""

    def run() -> None:
        try:
            view = memoryview(data)
            i = 0
            while view:
                size = sizes[i % len(sizes)] if sizes else len(view)
                i += 1
                piece = view[:size]
                while piece:
                    n = os.write(fd, piece)
                    piece = piece[n:]
                    view = view[n:]
        except BrokenPipeError:
            pass  # the reader stopped early (an exception): nothing to do
        finally:
            os.close(fd)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def run_consume(
    engine: typ.Any,
    data: bytes,
    sizes: list[int],
    *,
    encoding: str,
    errors: str,
    capture: bool,
    tee_kind: str,
    lines: bool,
    nonblocking: bool = False,
) -> tuple[Outcome, typ.Any, list[str] | None]:
    """``consume`` over a real pipe written by a thread.

    Returns ``(outcome of consume, what the tee received, lines)``; the tee
    and lines are only meaningful when consume returned normally.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, not nonblocking)  # EAGAIN must be waited on
    feeder = _writer(write_fd, data, sizes)
    got: list[str] = []
    tmp = tempfile.TemporaryFile() if tee_kind == "file" else None
    sink: typ.Any = {"text": io.StringIO(), "binary": io.BytesIO()}.get(tee_kind)
    tee = tmp.fileno() if tmp is not None else sink
    try:
        res = _outcome(
            lambda: engine.consume(
                read_fd,
                encoding=encoding,
                errors=errors,
                capture=capture,
                tee=tee,
                on_line=got.append if lines else None,
            )
        )
        os.fstat(read_fd)  # consume never closes the descriptor it was lent
    finally:
        os.close(read_fd)  # unblocks the writer if consume stopped early
        feeder.join(10)
    assert not feeder.is_alive(), "the writer thread was left blocked"
    teed: typ.Any = None
    if tmp is not None:
        tmp.seek(0)
        teed = tmp.read()
        tmp.close()
    elif sink is not None:
        teed = sink.getvalue()
    return res, teed, (got if lines else None)


# ---------------------------------------------------------------------------
# Capture


def _check_capture(
    engine: typ.Any, data: bytes, encoding: str, errors: str, chunks: list[bytes]
) -> Outcome:
    got = run_capture(engine, encoding, errors, chunks)
    ref = ref_text(data, encoding, errors)
    if ref[0] == "ok":
        assert got == ("ok", (len(data), ref[1]))
    else:
        assert got == ref
    return got


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(150))
@given(stream=streams())
def test_capture_matches_reference(engine_name: str, stream: tuple[bytes, str, str, list[bytes]]) -> None:
    _parity(engine_name, _check_capture, *stream)


@st.composite
def spill_cases(draw: st.DrawFn) -> dict[str, typ.Any]:
    data, encoding, errors, chunks = draw(streams())
    return {
        "data": data,
        "encoding": encoding,
        "errors": errors,
        "chunks": chunks,
        "spill_size": draw(st.integers(0, 64)),
        "first_region": draw(st.sampled_from([1, 2, 5, 16, 4096])),
    }


@settings(_SETTINGS, max_examples=_n(100))
@given(spill_cases())
def test_capture_pure_spill_path_matches_reference(case: dict[str, typ.Any]) -> None:
    """The pure Capture's memory-map path (and its regrowth), made reachable
    with tiny thresholds, decodes exactly like the chunk-list path."""
    data, encoding, errors = case["data"], case["encoding"], case["errors"]
    saved = pure.SPILL_SIZE, pure._FIRST_REGION
    pure.SPILL_SIZE, pure._FIRST_REGION = case["spill_size"], case["first_region"]
    try:
        _check_capture(pure, data, encoding, errors, case["chunks"])
    finally:
        pure.SPILL_SIZE, pure._FIRST_REGION = saved


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "shift_jis"])
def test_capture_large_payload(engine_name: str, encoding: str) -> None:
    """A capture past the pure engine's spill threshold, fed and read in odd sizes."""
    engine = load_engine(engine_name)
    unit = _encode("é€😀日本ｶ xyz\x85\u2028" * 6 + "\r\n" + "ab\r" * 3 + "\n", encoding)
    data = unit * (pure.SPILL_SIZE // len(unit) + 2) + b"\xff"
    assert len(data) > pure.SPILL_SIZE
    sizes = [1, 4093, 65536, 1 << 20, 7]
    chunks, at, i = [], 0, 0
    while at < len(data):
        chunks.append(data[at : at + sizes[i % len(sizes)]])
        at += sizes[i % len(sizes)]
        i += 1
    assert run_capture(engine, encoding, "replace", chunks) == (
        "ok",
        (len(data), data.decode(encoding, "replace")),
    )
    res, _teed, lines = run_consume(
        engine, data, [70_001, 3], encoding=encoding, errors="replace", capture=True,
        tee_kind="none", lines=True,
    )
    assert res == ref_text(data, encoding, "replace")
    assert ("ok", lines) == ref_lines(data, encoding, "replace")


# ---------------------------------------------------------------------------
# LineSplitter


def _check_lines(
    engine: typ.Any, data: bytes, encoding: str, errors: str, chunks: list[bytes]
) -> Outcome:
    got = run_lines(engine, encoding, errors, chunks)
    assert got == ref_lines(data, encoding, errors), (data, encoding, errors, chunks)
    return got


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(200))
@given(stream=streams())
def test_lines_match_reference(engine_name: str, stream: tuple[bytes, str, str, list[bytes]]) -> None:
    _parity(engine_name, _check_lines, *stream)


@st.composite
def long_line_streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Texts of 100 KiB to 400 KiB: many short lines, some longer than the
    pure engine's 64 KiB feed window, mixed endings, so that windows and
    chunks cut lines and CRLFs anywhere, fed in a few large uneven chunks."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    pieces: list[str] = []
    size = 0
    target = draw(st.integers(100_000, 400_000))
    while size < target:
        length = rng.choice([0, 1, 5, 77, 200, 70_000, 140_000]) if rng.random() < 0.1 else rng.randint(0, 120)
        piece = "x" * length + rng.choice(["\n", "\r\n", "\r", "\n\n", "\r\r\n"])
        pieces.append(piece)
        size += len(piece)
    if draw(st.booleans()):
        pieces.append("unterminated tail")
    data = "".join(pieces).encode()
    cuts = sorted(rng.sample(range(1, len(data)), draw(st.integers(0, 6))))
    return data, _cut(data, cuts)


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(30))
@given(stream=long_line_streams())
def test_lines_of_large_chunks_match_reference(engine_name: str, stream: tuple[bytes, list[bytes]]) -> None:
    """Chunks far larger than one feed window (the runner reads up to
    1 MiB) give the lines of the whole-stream decode."""
    data, chunks = stream
    assert run_lines(load_engine(engine_name), "utf-8", "strict", chunks) == ref_lines(data, "utf-8", "strict")


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_separators_that_are_not_line_endings(engine_name: str, encoding: str) -> None:
    """\\v \\f \\x1c-\\x1e \\x85 \\u2028 \\u2029 never split; a CRLF cut in two is one ending."""
    engine = load_engine(engine_name)
    text = "a\vb\fc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\r\nj\rk\nl"
    data = _encode(text, encoding)
    expected = ref_lines(data, encoding, "strict")
    crlf = _encode("\r\n", encoding)
    at = data.index(crlf) + len(crlf) // 2
    assert run_lines(engine, encoding, "strict", [data[:at], data[at:]]) == expected
    assert run_lines(engine, encoding, "strict", [bytes([b]) for b in data]) == expected
    if encoding in ("utf-8", "utf-8-sig", "utf-16-le"):
        assert expected == ("ok", ["a\vb\fc\x1cd\x1de\x1ef\x85g\u2028h\u2029i", "j", "k", "l"])


# ---------------------------------------------------------------------------
# TextTee

_TEE_SINKS = ("pipe", "file", "text", "binary")


def _tee_reference(sink_kind: str, data: bytes, encoding: str, errors: str) -> Outcome:
    if sink_kind == "text":
        return ref_text(data, encoding, errors)
    return ("ok", data)  # descriptors and binary streams get the raw bytes


def _check_tee(
    engine: typ.Any, sink_kind: str, data: bytes, encoding: str, errors: str, chunks: list[bytes]
) -> Outcome:
    got = run_tee(engine, sink_kind, encoding, errors, chunks)
    expected = _tee_reference(sink_kind, data, encoding, errors)
    assert got == expected, (data, encoding, errors, chunks)
    return got


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(150))
@given(sink_kind=st.sampled_from(_TEE_SINKS), stream=streams())
def test_tee_matches_reference(
    engine_name: str, sink_kind: str, stream: tuple[bytes, str, str, list[bytes]]
) -> None:
    _parity(engine_name, _check_tee, sink_kind, *stream)


# ---------------------------------------------------------------------------
# consume over a real pipe

_CONSUME_TEES = ("none", "text", "binary", "file")


@st.composite
def consume_cases(draw: st.DrawFn) -> dict[str, typ.Any]:
    data, encoding, errors, _chunks = draw(streams(max_pieces=30))
    repeat = draw(st.sampled_from([1, 1, 1, 7, 3000]))  # 3000: several pipe-fulls
    return {
        "data": data * repeat,
        "sizes": draw(st.lists(st.integers(1, 70_000), max_size=6)),
        "encoding": encoding,
        "errors": errors,
        "capture": draw(st.booleans()),
        "tee_kind": draw(st.sampled_from(_CONSUME_TEES)),
        "lines": draw(st.booleans()),
        "nonblocking": draw(st.booleans()),
    }


def _check_consume(engine: typ.Any, case: dict[str, typ.Any]) -> tuple[Outcome, typ.Any, typ.Any]:
    data, encoding, errors = case["data"], case["encoding"], case["errors"]
    res, teed, got_lines = run_consume(
        engine,
        data,
        case["sizes"],
        encoding=encoding,
        errors=errors,
        capture=case["capture"],
        tee_kind=case["tee_kind"],
        lines=case["lines"],
        nonblocking=case["nonblocking"],
    )
    text = ref_text(data, encoding, errors)
    decoding_needed = case["capture"] or case["lines"] or case["tee_kind"] == "text"
    if text[0] == "raise" and decoding_needed:
        assert res == text  # strict and invalid: UnicodeDecodeError, nothing else
        return res, None, None
    assert res == (text if case["capture"] else ("ok", None))
    if case["tee_kind"] != "none":
        assert teed == _tee_reference(case["tee_kind"], data, encoding, errors)[1]
    if case["lines"]:
        assert ("ok", got_lines) == ref_lines(data, encoding, errors)
    return res, teed, got_lines


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(80))
@given(case=consume_cases())
def test_consume_matches_reference(engine_name: str, case: dict[str, typ.Any]) -> None:
    _parity(engine_name, _check_consume, case)


# ---------------------------------------------------------------------------
# pump over pipes


def _payload(size: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def run_pump(
    engine: typ.Any,
    data: bytes,
    sizes: list[int],
    buffer_size: int,
    *,
    nonblocking: bool,
    to_file: bool,
) -> tuple[int, bytes]:
    src_r, src_w = os.pipe()
    feeder = _writer(src_w, data, sizes)
    received: list[bytes] = []
    tmp = None
    if to_file:
        tmp = tempfile.TemporaryFile()
        dst_r, dst_w = -1, tmp.fileno()
        reader = None
    else:
        dst_r, dst_w = os.pipe()
        reader = threading.Thread(target=lambda: received.append(_read_all(dst_r)), daemon=True)
        reader.start()
    try:
        if nonblocking:
            os.set_blocking(src_r, False)
            if not to_file:
                os.set_blocking(dst_w, False)
        delivered = engine.pump(src_r, dst_w, buffer_size)
        os.fstat(src_r)  # pump never closes either descriptor
        os.fstat(dst_w)
    finally:
        if tmp is None:
            os.close(dst_w)
        feeder.join(10)
        if reader is not None:
            reader.join(10)
        os.close(src_r)
        if dst_r >= 0:
            os.close(dst_r)
    assert not feeder.is_alive() and (reader is None or not reader.is_alive())
    if tmp is not None:
        tmp.seek(0)
        received.append(tmp.read())
        tmp.close()
    return delivered, received[0]


_BUFFER_SIZES = st.one_of(
    st.sampled_from([1, 2, 7, 4096, 65536, 65537, 1 << 20]), st.integers(1, 200_000)
)


@st.composite
def pump_cases(draw: st.DrawFn) -> dict[str, typ.Any]:
    size = draw(st.one_of(st.integers(0, 3000), st.integers(0, 400_000)))
    buffer_size = draw(_BUFFER_SIZES)
    assume(size // buffer_size < 20_000)  # keep a 1-byte buffer affordable
    return {
        "data": _payload(size, draw(st.integers(0, 2**32))),
        "sizes": draw(st.lists(st.integers(1, 100_000), max_size=6)),
        "buffer_size": buffer_size,
        "nonblocking": draw(st.booleans()),
        "to_file": draw(st.booleans()),
    }


def _check_pump(engine: typ.Any, case: dict[str, typ.Any]) -> None:
    delivered, received = run_pump(
        engine,
        case["data"],
        case["sizes"],
        case["buffer_size"],
        nonblocking=case["nonblocking"],
        to_file=case["to_file"],
    )
    assert delivered == len(case["data"])
    assert received == case["data"]


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(60))
@given(case=pump_cases())
def test_pump_is_exact(engine_name: str, case: dict[str, typ.Any]) -> None:
    _check_pump(load_engine(engine_name), case)


def _pump_outcome(engine: typ.Any, *args: typ.Any, **kwargs: typ.Any) -> Outcome:
    """Call pump on a fresh pipe pair (reader at EOF) with extra arguments."""
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    os.close(src_w)
    try:
        return _outcome(lambda: engine.pump(src_r, dst_w, *args, **kwargs))
    finally:
        for fd in (src_r, dst_r, dst_w):
            os.close(fd)


_BAD_SIZES = [
    (0, ValueError),
    (-1, ValueError),
    (2**30 + 1, ValueError),
    (2**64, ValueError),
    (-(2**100), ValueError),
    (True, TypeError),
    (False, TypeError),
    (1.5, TypeError),
    (1.0, TypeError),
    ("1", TypeError),
    (None, TypeError),
]


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(("size", "error"), _BAD_SIZES, ids=[repr(s) for s, _ in _BAD_SIZES])
def test_pump_rejects_bad_buffer_size(engine_name: str, size: object, error: type) -> None:
    engine = load_engine(engine_name)
    assert _pump_outcome(engine, size) == ("raise", error)
    assert _pump_outcome(engine, buffer_size=size) == ("raise", error)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("size", [1, 2**30])
def test_pump_accepts_buffer_size_limits(engine_name: str, size: int) -> None:
    engine = load_engine(engine_name)
    delivered, received = run_pump(engine, b"limits", [3], size, nonblocking=False, to_file=False)
    assert (delivered, received) == (6, b"limits")


@needs_native
@pytest.mark.parametrize("size", [s for s, _ in _BAD_SIZES] + [1, 2**30])
def test_pump_argument_checks_agree(size: object) -> None:
    assert _pump_outcome(native, size) == _pump_outcome(pure, size)


def run_pump_closed_reader(
    engine: typ.Any,
    data: bytes,
    sizes: list[int],
    buffer_size: int,
    keep: int,
    *,
    nonblocking: bool,
) -> tuple[int, bytes]:
    """Pump into a pipe whose reader takes ``keep`` bytes (maybe none) and leaves."""
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    feeder = _writer(src_w, data, sizes)
    taken: list[bytes] = []

    def take_then_close() -> None:
        got = b""
        try:
            while len(got) < keep:
                chunk = os.read(dst_r, keep - len(got))
                if not chunk:
                    break
                got += chunk
        finally:
            taken.append(got)
            os.close(dst_r)

    reader = threading.Thread(target=take_then_close, daemon=True)
    if keep == 0:
        take_then_close()
    else:
        reader.start()
    try:
        if nonblocking:
            os.set_blocking(src_r, False)
            os.set_blocking(dst_w, False)
        delivered = engine.pump(src_r, dst_w, buffer_size)
        os.fstat(src_r)
        os.fstat(dst_w)
    finally:
        feeder.join(10)
        if keep:
            reader.join(10)
        os.close(src_r)
        os.close(dst_w)
    # The writer finished: the pump drained the reader to EOF although its
    # own writer went away.
    assert not feeder.is_alive() and not reader.is_alive()
    return delivered, taken[0]


@st.composite
def closed_reader_cases(draw: st.DrawFn) -> dict[str, typ.Any]:
    size = draw(st.integers(0, 600_000))
    return {
        "data": _payload(size, draw(st.integers(0, 2**32))),
        "sizes": draw(st.lists(st.integers(1, 100_000), max_size=6)),
        "buffer_size": draw(st.sampled_from([1024, 4096, 65536, 1 << 20])),
        "keep": draw(st.one_of(st.just(0), st.integers(0, size))),
        "nonblocking": draw(st.booleans()),
    }


def _check_closed_reader(engine: typ.Any, case: dict[str, typ.Any]) -> None:
    data = case["data"]
    delivered, taken = run_pump_closed_reader(
        engine,
        data,
        case["sizes"],
        case["buffer_size"],
        case["keep"],
        nonblocking=case["nonblocking"],
    )
    assert taken == data[: len(taken)]
    # Bytes delivered: everything the reader took, at most what was sent.
    assert len(taken) <= delivered <= len(data)
    if case["keep"] == 0:
        assert delivered == 0


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(40))
@given(case=closed_reader_cases())
def test_pump_closed_reader(engine_name: str, case: dict[str, typ.Any]) -> None:
    _check_closed_reader(load_engine(engine_name), case)



@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("src_file", [False, True], ids=["src-pipe", "src-file"])
@pytest.mark.parametrize("to_file", [False, True], ids=["dst-pipe", "dst-file"])
def test_pump_pipes_and_files(engine_name: str, src_file: bool, to_file: bool) -> None:
    """Pipe or regular file on either side; file to file has no splice (EINVAL fallback)."""
    engine = load_engine(engine_name)
    data = _payload(300_001, 7)
    if not src_file:
        assert run_pump(engine, data, [4099], 65536, nonblocking=False, to_file=to_file) == (
            len(data),
            data,
        )
        return
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst_file:
        src.write(b"skipped" + data)
        src.flush()
        os.lseek(src.fileno(), 7, os.SEEK_SET)  # pump starts at the reader's offset
        if to_file:
            assert engine.pump(src.fileno(), dst_file.fileno(), 65536) == len(data)
            dst_file.seek(0)
            assert dst_file.read() == data
            return
        dst_r, dst_w = os.pipe()
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(_read_all(dst_r)))
        reader.start()
        try:
            assert engine.pump(src.fileno(), dst_w, 65536) == len(data)
        finally:
            os.close(dst_w)
            reader.join(10)
            os.close(dst_r)
        assert received == [data]


def _pump_error(engine: typ.Any, how: str) -> tuple[str, typ.Any, int | None]:
    r, w = os.pipe()
    r2, w2 = os.pipe()
    os.write(w, b"xyz")
    os.close(w)
    reader, writer = {
        "writer-is-a-read-end": (r, r2),
        "reader-is-a-write-end": (w2, w2),
        "closed-reader": (w, w2),  # w was closed above
        "negative-reader": (-1, w2),
        "negative-writer": (r, -1),
    }[how]
    try:
        engine.pump(reader, writer)
    except OSError as exc:
        return ("raise", type(exc), exc.errno)
    except Exception as exc:  # noqa: BLE001
        return ("raise", type(exc), None)
    else:
        return ("ok", None, None)
    finally:
        for fd in (r, r2, w2):
            os.close(fd)


_PUMP_ERRORS = (
    "writer-is-a-read-end",
    "reader-is-a-write-end",
    "closed-reader",
    "negative-reader",
    "negative-writer",
)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("how", _PUMP_ERRORS)
def test_pump_errors_keep_errno(engine_name: str, how: str) -> None:
    kind, exc_type, err = _parity(engine_name, _pump_error, how)
    assert kind == "raise" and issubclass(exc_type, OSError) and err is not None


# ---------------------------------------------------------------------------
# Regressions found by the properties above (fixed; kept as examples)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(
    ("data", "encoding"),
    [(b"a\n\xff", "utf-8"), (b"\xff", "utf-8"), (b"\x80", "ascii"), (b"x\r\x81", "cp1252")],
)
def test_final_line_that_decodes_to_nothing_is_no_line(
    engine_name: str, data: bytes, encoding: str
) -> None:
    """The native splitter once delivered an extra '' here (b'a\\n\\xff' -> ['a', ''])."""
    engine = load_engine(engine_name)
    assert run_lines(engine, encoding, "ignore", [data]) == ref_lines(data, encoding, "ignore")


def _consume_tee_error(engine: typ.Any, how: str) -> tuple[str, typ.Any, int | None]:
    """consume() teeing into a pipe whose reader is closed, or into a read end."""
    read_fd, write_fd = os.pipe()
    tee_r, tee_w = os.pipe()
    os.write(write_fd, b"hello")
    os.close(write_fd)
    if how == "closed-pipe":
        os.close(tee_r)
        target, other = tee_w, -1
    else:  # "read-end": a descriptor not open for writing (EBADF)
        target, other = tee_r, tee_w
    try:
        engine.consume(read_fd, tee=target)
    except OSError as exc:
        return ("raise", type(exc), exc.errno)
    except Exception as exc:  # noqa: BLE001
        return ("raise", type(exc), None)
    else:
        return ("ok", None, None)
    finally:
        for fd in (read_fd, target, other):
            if fd >= 0:
                os.close(fd)


_TEE_ERRORS = {
    "closed-pipe": ("raise", BrokenPipeError, errno.EPIPE),
    "read-end": ("raise", OSError, errno.EBADF),
}


@pytest.mark.parametrize(
    "engine_name",
    [
        "python",
        pytest.param("native", marks=needs_native),
    ],
)
@pytest.mark.parametrize("how", sorted(_TEE_ERRORS))
def test_consume_tee_error_keeps_errno(engine_name: str, how: str) -> None:
    """A tee write error is an OSError with its errno (EPIPE included).

    The native engine once raised RuntimeError here: it read the error code
    after releasing the capture that held it."""
    assert _consume_tee_error(load_engine(engine_name), how) == _TEE_ERRORS[how]


def _consume_callback_raises(engine: typ.Any) -> tuple[Outcome, list[str]]:
    read_fd, write_fd = os.pipe()
    feeder = _writer(write_fd, b"one\ntwo\nthree\n" * 20_000, [1000])
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if len(seen) == 2:
            raise ValueError(line)

    try:
        res = _outcome(lambda: engine.consume(read_fd, on_line=on_line))
    finally:
        os.close(read_fd)
        feeder.join(10)
    assert not feeder.is_alive()
    return res, seen


@pytest.mark.parametrize("engine_name", ENGINES)
def test_consume_callback_exception_propagates(engine_name: str) -> None:
    assert _consume_callback_raises(load_engine(engine_name)) == (
        ("raise", ValueError),
        ["one", "two"],
    )


# ---------------------------------------------------------------------------
# A splitter called again while it delivers lines (from its own callback or
# hook, or from another thread): RuntimeError, nothing changed. The native
# splitter used to run the nested call on the C splitter in the middle of
# the delivery, and the pure one to deliver its lines inside the other's.

#: The chunks every re-entrance test feeds: lines within a chunk, spanning
#: chunks, a "\r\n" split across two, and a last line without an ending.
_REENTER_CHUNKS = [b"one\ntw", b"o\r", b"\nthree\rfo", b"ur\n\nfi", b"ve"]
_REENTER_LINES = ["one", "two", "three", "four", "", "five"]

#: The codecs: one the native engine splits as bytes, one it hands to the
#: pure splitter.
_REENTER_CODECS = ["utf-8", "utf-16-le"]


def _busy_message(kind: str, method: str, caller: str) -> str:
    return re.escape(f"{kind}.{method}() called while it is delivering lines (from its own {caller}")


@pytest.mark.parametrize("encoding", _REENTER_CODECS)
@pytest.mark.parametrize("engine_name", ENGINES)
def test_line_splitter_refuses_calls_from_its_callback(engine_name: str, encoding: str) -> None:
    """feed() and finish() from the callback raise RuntimeError and change
    nothing: the lines are those of the chunks alone, in order, and the
    splitter goes on working."""
    engine = load_engine(engine_name)
    seen: list[str] = []
    errors: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        for call in (lambda: splitter.feed("x\ny\r".encode(encoding)), splitter.finish):
            with pytest.raises(RuntimeError) as info:
                call()
            errors.append(str(info.value))

    splitter = engine.LineSplitter(encoding, "strict", on_line)
    for chunk in _REENTER_CHUNKS:
        splitter.feed(chunk.decode().encode(encoding))
    splitter.finish()
    assert seen == _REENTER_LINES
    assert len(errors) == 2 * len(_REENTER_LINES)
    for message in errors[::2]:
        assert re.match(_busy_message("LineSplitter", "feed", "callback"), message)
    for message in errors[1::2]:
        assert re.match(_busy_message("LineSplitter", "finish", "callback"), message)
    splitter.feed("again\n".encode(encoding))
    assert seen[-1] == "again"


@pytest.mark.parametrize("engine_name", ENGINES)
def test_line_splitter_reentrant_error_propagates_and_leaves_it_usable(engine_name: str) -> None:
    """A nested feed() left uncaught stops the delivery like any exception
    of the callback; the next feed() works."""
    engine = load_engine(engine_name)
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "a":
            splitter.feed(b"nested\n")

    splitter = engine.LineSplitter("utf-8", "strict", on_line)
    with pytest.raises(RuntimeError, match=_busy_message("LineSplitter", "feed", "callback")):
        splitter.feed(b"a\nb\n")
    assert seen == ["a"]
    splitter.feed(b"c\nd")
    splitter.finish()
    assert seen == ["a", "c", "d"]


@pytest.mark.parametrize("encoding", _REENTER_CODECS)
@pytest.mark.parametrize("engine_name", ENGINES)
def test_line_events_refuse_calls_from_a_hook(engine_name: str, encoding: str) -> None:
    """The same for LineEvents: a hook's feed() or finish() raises, the
    events and the batches are those of the chunks alone."""
    from cuprum.events import ExecEvent

    engine = load_engine(engine_name)
    template: tuple[typ.Any, ...] = tuple(dict.fromkeys(ExecEvent._fields).values())
    seen: list[str] = []
    batches: list[list[str]] = []
    errors: list[str] = []

    def hook(event: ExecEvent) -> None:
        seen.append(typ.cast(str, event.line))
        for call in (lambda: splitter.feed("x\ny\r".encode(encoding)), splitter.finish):
            with pytest.raises(RuntimeError) as info:
                call()
            errors.append(str(info.value))

    def on_batch(batch: typ.Any) -> None:
        batches.append([event.line for event in batch])

    splitter = engine.LineEvents(encoding, "strict", ExecEvent, template, (hook,), [], on_batch)
    for chunk in _REENTER_CHUNKS:
        splitter.feed(chunk.decode().encode(encoding))
    splitter.finish()
    assert seen == _REENTER_LINES
    assert [line for batch in batches for line in batch] == _REENTER_LINES
    assert len(errors) == 2 * len(_REENTER_LINES)
    for message in errors[::2]:
        assert re.match(_busy_message("LineEvents", "feed", "hook"), message)
    for message in errors[1::2]:
        assert re.match(_busy_message("LineEvents", "finish", "hook"), message)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_line_splitter_refuses_another_thread_while_delivering(engine_name: str) -> None:
    """A thread that calls feed() while the callback runs in another one
    (the callback waits on an event, so the GIL is free) is refused the
    same way, and the first feed finishes with its own lines."""
    engine = load_engine(engine_name)
    inside = threading.Event()
    done = threading.Event()
    seen: list[str] = []
    outcome: list[BaseException | None] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "a":
            inside.set()
            assert done.wait(30)

    def other() -> None:
        assert inside.wait(30)
        try:
            splitter.feed(b"from the other thread\n")
        except Exception as exc:  # noqa: BLE001 - any outcome is checked below
            outcome.append(exc)
        else:
            outcome.append(None)
        finally:
            done.set()

    splitter = engine.LineSplitter("utf-8", "strict", on_line)
    thread = threading.Thread(target=other)
    thread.start()
    try:
        splitter.feed(b"a\nb\n")
    finally:
        inside.set()
        thread.join(30)
    assert not thread.is_alive()
    assert seen == ["a", "b"]
    assert len(outcome) == 1 and isinstance(outcome[0], RuntimeError)
    assert re.match(_busy_message("LineSplitter", "feed", "callback"), str(outcome[0]))


#: Codecs (and aliases) the native engine splits into lines before decoding
#: (see ``SPLIT_BEFORE_DECODING``), where a strict error can happen.
_SPLIT_CODECS = ("utf-8", "UTF8", "ascii", "US-ASCII", "cp1252", "windows-1252", "koi8-r", "iso8859-7")


def _error_of(exc: UnicodeDecodeError) -> tuple[object, ...]:
    return ("raise", exc.encoding, exc.object, exc.start, exc.end, exc.reason)


def ref_strict_lines(data: bytes, encoding: str) -> tuple[list[str], tuple[object, ...]]:
    """The lines before the first line of ``data`` that does not decode,
    and the error of decoding that line's bytes (``("ok",)`` if none)."""
    raw = re.split(rb"\r\n|\r|\n", data)
    if raw[-1] == b"":
        raw.pop()
    lines: list[str] = []
    for part in raw:
        try:
            lines.append(part.decode(codecs.lookup(encoding).name))
        except UnicodeDecodeError as exc:
            return lines, _error_of(exc)
    return lines, ("ok",)


def run_strict_lines(engine: typ.Any, kind: str, encoding: str, chunks: list[bytes]) -> tuple[list[str], tuple[object, ...]]:
    """Feed ``chunks`` to a strict splitter of ``kind`` (``LineSplitter``,
    or ``LineEvents`` with a hook); return the lines delivered and how it
    ended, up to the first error."""
    got: list[str] = []
    if kind == "LineSplitter":
        splitter = engine.LineSplitter(encoding, "strict", got.append)
    else:
        from cuprum.events import ExecEvent

        template = tuple(dict.fromkeys(ExecEvent._fields).values())

        def hook(event: ExecEvent) -> None:
            got.append(typ.cast(str, event.line))

        splitter = engine.LineEvents(encoding, "strict", ExecEvent, template, (hook,), [])
    try:
        for chunk in chunks:
            splitter.feed(chunk)
        splitter.finish()
    except UnicodeDecodeError as exc:
        return got, _error_of(exc)
    return got, ("ok",)


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("kind", ["LineSplitter", "LineEvents"])
@settings(_SETTINGS, max_examples=_n(150))
@given(stream=streams(), encoding=st.sampled_from(_SPLIT_CODECS))
def test_strict_error_delivers_the_lines_before_the_bad_one(
    engine_name: str, kind: str, stream: tuple[bytes, str, str, list[bytes]], encoding: str
) -> None:
    """In a codec split before decoding, a strict error comes with the
    complete lines before the bad line delivered, and names that line's
    bytes and positions in it, however the reads cut the stream: both
    engines alike."""
    data, _encoding, _errors, chunks = stream
    expected = ref_strict_lines(data, encoding)
    assert _parity(engine_name, run_strict_lines, kind, encoding, chunks) == expected


def run_strict_calls(engine: typ.Any, encoding: str, chunks: list[bytes]) -> list[tuple[list[str], tuple[object, ...]]]:
    """Feed ``chunks`` one call each, then finish, going on after errors;
    return what each call delivered and how it ended."""
    got: list[str] = []
    splitter = engine.LineSplitter(encoding, "strict", got.append)
    calls: list[tuple[list[str], tuple[object, ...]]] = []
    for call in [*(functools.partial(splitter.feed, chunk) for chunk in chunks), splitter.finish]:
        got.clear()
        try:
            call()
        except UnicodeDecodeError as exc:
            calls.append((list(got), _error_of(exc)))
        else:
            calls.append((list(got), ("ok",)))
    return calls


@needs_native
@pytest.mark.parametrize(
    "chunks",
    [
        [b"a\n\xff\nb", b"c\n"],  # the rest of a failing chunk is dropped
        [b"\xff\na"],
        [b"ok\n\xff\r"],  # a line ended by a chunk's last byte, a \r, is whole
        [b"\xff\r", b"\nx\n"],
        [b"x\r", b"\xff\n", b"y"],
    ],
)
def test_strict_errors_call_by_call(chunks: list[bytes]) -> None:
    """Which call raises, what each call delivers, and what a feed after
    an error sees: the same in both engines."""
    assert run_strict_calls(pure, "utf-8", chunks) == run_strict_calls(native, "utf-8", chunks)


@needs_native
@settings(_SETTINGS, max_examples=_n(150))
@given(stream=streams(), encoding=st.sampled_from(_SPLIT_CODECS))
def test_strict_errors_call_by_call_property(stream: tuple[bytes, str, str, list[bytes]], encoding: str) -> None:
    _data, _encoding, _errors, chunks = stream
    assert run_strict_calls(pure, encoding, chunks) == run_strict_calls(native, encoding, chunks)


@needs_native
def test_split_before_decoding_is_the_native_engines_list() -> None:
    """The pure engine emulates the native engine's per-line decoding for
    exactly the codecs the native engine splits before decoding (the
    others it hands over to the pure splitter)."""
    modules = {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    names = sorted({codecs.lookup(n).name for n in modules | set(encodings.aliases.aliases.values()) if _known(n)})
    native_split = {n for n in names if not isinstance(native.LineSplitter(n, "strict", print), pure.LineSplitter)}
    assert native_split == {n for n in names if n in pure.SPLIT_BEFORE_DECODING}
    assert pure.SPLIT_BEFORE_DECODING <= set(names)


def _known(name: str) -> bool:
    """Whether ``name`` is a text codec (not bytes-to-bytes like ``zlib``)."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    return bool(getattr(info, "_is_text_encoding", True))


# ---------------------------------------------------------------------------
# Defects and divergences found between the engines, each kept as a minimal
# reproducer that runs under both (a new one starts as a strict xfail).


@pytest.mark.parametrize("data", [b"\xef", b"\xef\xbb"])
@pytest.mark.parametrize("errors", ["replace", "strict"])
@pytest.mark.parametrize("engine_name", ENGINES)
def test_utf8_sig_truncated_bom_lines(engine_name: str, errors: str, data: bytes) -> None:
    """A stream that is only part of a BOM decodes as data.decode() does
    (CPython's utf-8-sig incremental decoder drops it when final)."""
    engine = load_engine(engine_name)
    assert run_lines(engine, "utf-8-sig", errors, [data]) == ref_lines(data, "utf-8-sig", errors)


@pytest.mark.parametrize("data", [b"\xef", b"\xef\xbb"])
@pytest.mark.parametrize("errors", ["replace", "strict"])
@pytest.mark.parametrize("engine_name", ENGINES)
def test_utf8_sig_truncated_bom_tee(engine_name: str, errors: str, data: bytes) -> None:
    engine = load_engine(engine_name)
    expected = ref_text(data, "utf-8-sig", errors)
    assert run_tee(engine, "text", "utf-8-sig", errors, [data]) == expected


@needs_native
@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\r\x80\n", "utf-8"),
        (b"a\r\xff\xfe\nb", "utf-8"),
        (b"x\r\x80\n", "ascii"),
        (b"\r\x81\n", "cp1252"),
    ],
)
def test_known_native_ignored_bytes_inside_crlf(data: bytes, encoding: str) -> None:
    assert run_lines(native, encoding, "ignore", [data]) == ref_lines(data, encoding, "ignore")


@needs_native
def test_known_native_ignored_bytes_inside_crlf_consume() -> None:
    res, _teed, lines = run_consume(
        native, b"\r\x80\n", [], encoding="utf-8", errors="ignore", capture=False,
        tee_kind="none", lines=True,
    )
    assert (res, lines) == (("ok", None), [""])


def _newline_handler(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return "\n", exc.end


@needs_native
def test_known_native_error_handler_that_returns_a_newline() -> None:
    """A registered handler that replaces bad bytes with '\\n': the decoded
    text has a line ending there, so the line must be split (the native
    engine delivers 'a\\nb', a line containing its ending)."""
    codecs.register_error("cuprum-test-newline", _newline_handler)
    data = b"a\xffb"
    assert run_lines(pure, "utf-8", "cuprum-test-newline", [data]) == ("ok", ["a", "b"])
    assert run_lines(native, "utf-8", "cuprum-test-newline", [data]) == ("ok", ["a", "b"])


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(
    "first", [b"abc", b"\xff", b"a" * (pure.SPILL_SIZE + 10)], ids=["small", "undecodable", "spilled"]
)
def test_capture_starts_again_after_finish(engine_name: str, first: bytes) -> None:
    """finish() empties the capture, even when decoding raised: nbytes
    starts again at 0, and what is fed next is all the next finish()
    returns (a spilled capture once left that many NULs in front)."""

    def run(engine: typ.Any) -> tuple[object, ...]:
        cap = engine.Capture("utf-8", "strict")
        cap.feed(first)
        done = _outcome(cap.finish)
        after = cap.nbytes
        cap.feed(b"x")
        cap.feed(b"b" * (pure.SPILL_SIZE + 10))
        fed = cap.nbytes
        text = cap.finish()
        return done[0], after, fed, len(text), text[:2], cap.nbytes

    got = _parity(engine_name, run)
    assert got[1:] == (0, pure.SPILL_SIZE + 11, pure.SPILL_SIZE + 11, "xb", 0)


@needs_native
@pytest.mark.parametrize(
    ("factory", "args", "error"),
    [
        ("Capture", ("no-such-codec", "strict"), LookupError),
        ("Capture", ("utf-8", "no-such-handler"), LookupError),
        ("LineSplitter", ("no-such-codec", "strict", print), LookupError),
        ("LineSplitter", ("utf-8", "no-such-handler", print), LookupError),
        ("LineSplitter", ("no-such-codec", "no-such-handler", print), LookupError),
        ("LineSplitter", ("utf-8", "strict", None), TypeError),
    ],
)
def test_constructors_refuse_bad_arguments_at_once(
    factory: str, args: tuple[typ.Any, ...], error: type[Exception]
) -> None:
    """Both engines refuse an unknown codec or error handler and a callback
    that cannot be called when the object is made, with the same message."""
    messages = []
    for engine in (native, pure):
        info: pytest.ExceptionInfo[Exception]
        with pytest.raises(error) as info:
            getattr(engine, factory)(*args)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@needs_native
def test_native_codec_reuse_keeps_each_objects_codec() -> None:
    """The native engine remembers the last codec it looked up; objects made
    in turn for different codecs and policies still decode by their own,
    and an unknown name is rejected right after a known one."""
    data = b"caf\xc3\xa9 \xff\n"
    pairs = [("utf-8", "replace"), ("latin-1", "strict"), ("utf-8", "replace"), ("utf-8", "surrogateescape")]
    for _ in range(2):
        for encoding, errors in pairs:
            cap = native.Capture(encoding, errors)
            cap.feed(data)
            assert cap.finish() == data.decode(encoding, errors)
            with pytest.raises(LookupError):
                native.Capture(encoding, "no-such-handler")
            with pytest.raises(LookupError):
                native.Capture("no-such-codec", errors)


# ---------------------------------------------------------------------------
# LineEvents: the native engine builds line events in C.  They must equal
# what the Python callback path builds, field for field.


def _events_both_ways(
    chunks: list[bytes], hooks_count: int = 2, engine: typ.Any = None
) -> tuple[list[list[tuple[object, ...]]], list[list[tuple[object, ...]]]]:
    from cuprum.events import ExecEvent

    engine = native if engine is None else engine

    template: tuple[typ.Any, ...] = ("stdout", "prog", ("prog", "a"), None, None, 42, None, None,
                None, None, {"k": 1}, None, None, None, None, "id")
    c_seen: list[list[ExecEvent]] = [[] for _ in range(hooks_count)]
    py_seen: list[list[ExecEvent]] = [[] for _ in range(hooks_count)]
    c_hooks = tuple(seen.append for seen in c_seen)
    splitter = engine.LineEvents("utf-8", "replace", ExecEvent, template, c_hooks, [])
    assert splitter is not None
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.finish()

    def callback(line: str) -> None:
        event = ExecEvent._make((*template[:6], 0.0, line, *template[8:]))
        for seen in py_seen:
            seen.append(event)

    ref = pure.LineSplitter("utf-8", "replace", callback)
    for chunk in chunks:
        ref.feed(chunk)
    ref.finish()

    def strip(events: list[ExecEvent]) -> list[tuple[object, ...]]:
        return [tuple(event._replace(timestamp=0.0)) for event in events]

    for events in c_seen:
        for event in events:
            assert type(event) is ExecEvent
            assert isinstance(event.timestamp, float) and event.timestamp > 0
    return [strip(s) for s in c_seen], [strip(s) for s in py_seen]


@pytest.mark.parametrize("engine_name", ENGINES)
@settings(_SETTINGS, max_examples=_n(100))
@given(stream=streams())
def test_line_events_match_the_python_path(
    engine_name: str, stream: tuple[bytes, str, str, list[bytes]]
) -> None:
    _data, _encoding, _errors, chunks = stream
    for hooks_count in (1, 2):
        got, want = _events_both_ways(chunks, hooks_count, load_engine(engine_name))
        assert got == want


@pytest.mark.parametrize("engine_name", ENGINES)
def test_line_events_awaitables_and_hook_errors(engine_name: str) -> None:
    from cuprum.events import ExecEvent

    engine = load_engine(engine_name)
    template: tuple[typ.Any, ...] = ("stdout", "p", ("p",), None, None, 1, None, None,
                None, None, {}, None, None, None, None, None)

    async def async_hook(event: ExecEvent) -> None:
        return None

    for hooks in ((async_hook,), (async_hook, async_hook)):
        pending: list[typ.Any] = []
        splitter = engine.LineEvents("utf-8", "strict", ExecEvent, template, hooks, pending)
        splitter.feed(b"one\ntwo\n")
        assert len(pending) == 2 * len(hooks)
        for coro in pending:
            coro.close()

    def boom(event: ExecEvent) -> None:
        raise RuntimeError(event.line)

    seen: list[str] = []
    splitter = engine.LineEvents(
        "utf-8", "strict", ExecEvent, template, (boom, lambda e: seen.append(e.line)), []
    )
    with pytest.raises(RuntimeError, match="first"):
        splitter.feed(b"first\nsecond\n")
    assert seen == []  # the hook after the failing one never saw the line
    with pytest.raises(TypeError):
        engine.LineEvents("utf-8", "strict", tuple, (), (), [])
    with pytest.raises(TypeError):
        engine.LineEvents("utf-8", "strict", dict, template, (), [])


@needs_native
@pytest.mark.parametrize(
    ("encoding", "errors", "data", "lines"),
    [
        ("utf-16-le", "strict", "one\r\nt\u00e9\u20ac\rx".encode("utf-16-le"), ["one", "t\u00e9\u20ac", "x"]),
        ("utf-8", "ignore", b"one\r\xff\nt\xc3\xa9\xff\n", ["one", "t\u00e9"]),
    ],
)
def test_native_line_events_hand_unsplittable_codecs_to_pure(
    encoding: str, errors: str, data: bytes, lines: list[str]
) -> None:
    """Codecs and policies whose bytes cannot be split before decoding get
    the pure engine's LineEvents: decoded first, then split (under
    ``ignore`` the byte dropped between ``\\r`` and ``\\n`` makes them one
    ending, as in the whole-stream decode)."""
    from cuprum.events import ExecEvent

    template: tuple[typ.Any, ...] = ("stdout", "p", ("p",), None, None, 1, None, None,
                None, None, {}, None, None, None, None, None)
    seen: list[ExecEvent] = []
    splitter = native.LineEvents(encoding, errors, ExecEvent, template, (seen.append,), [])
    assert type(splitter) is pure.LineEvents
    for i in range(0, len(data), 2):
        splitter.feed(data[i : i + 2])
    splitter.finish()
    assert [e.line for e in seen] == lines


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(("encoding", "errors"), [("utf-8", "strict"), ("utf-16-le", "strict"), ("utf-8", "ignore")])
def test_line_events_stamp_each_read(engine_name: str, encoding: str, errors: str) -> None:
    """The lines one feed completes share that feed's wall-clock time; the
    next feed's lines carry a later one; finish stamps the final line."""
    from cuprum.events import ExecEvent

    engine = load_engine(engine_name)
    template: tuple[typ.Any, ...] = ("stdout", "p", ("p",), None, None, 1, None, None,
                None, None, {}, None, None, None, None, None)
    seen: list[ExecEvent] = []
    splitter = engine.LineEvents(encoding, errors, ExecEvent, template, (seen.append,), [])
    before = time.time()
    splitter.feed("a\nb\nc".encode(encoding))
    middle = time.time()
    time.sleep(0.01)
    splitter.feed("\nd\ne".encode(encoding))
    splitter.finish()
    after = time.time()
    assert [e.line for e in seen] == ["a", "b", "c", "d", "e"]
    stamps = [e.timestamp for e in seen]
    assert before <= stamps[0] == stamps[1] <= middle
    assert middle < stamps[2] == stamps[3] <= stamps[4] <= after
    # One large read (more than the pure engine's 64 KiB window): one stamp.
    seen.clear()
    splitter.feed(("line\n" * 50_000).encode(encoding))
    assert len(seen) == 50_000
    assert len({e.timestamp for e in seen}) == 1


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(
    "data",
    [
        b"a" * (5 << 20),  # large ASCII: the native huge-page fast path
        b"line\r\n" * (1 << 20) + "é".encode(),  # non-ASCII at the very end
        b"\x80" + b"b" * (5 << 20),  # invalid byte at the start
    ],
    ids=["ascii", "late-non-ascii", "early-invalid"],
)
@pytest.mark.parametrize(
    ("encoding", "errors"),
    [("utf-8", "replace"), ("ascii", "strict"), ("latin-1", "strict"), ("utf-8", "surrogateescape")],
)
def test_large_capture_equals_whole_decode(
    engine_name: str, data: bytes, encoding: str, errors: str
) -> None:
    engine = load_engine(engine_name)
    cap = engine.Capture(encoding, errors)
    for start in range(0, len(data), 1 << 20):
        cap.feed(data[start : start + (1 << 20)])
    try:
        want: object = data.decode(encoding, errors)
    except UnicodeDecodeError:
        want = UnicodeDecodeError
    try:
        got: object = cap.finish()
    except UnicodeDecodeError:
        got = UnicodeDecodeError
    assert got == want


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize(
    ("encoding", "unit"),
    [
        ("utf-8", b"plain ascii line\n"),
        ("utf-8", "caf\u00e9 line\n".encode()),
        ("utf-16-le", "wide \u00e9 line\n".encode("utf-16-le")),
        ("latin-1", b"\xe9t\xe9\r\n"),
    ],
    ids=["ascii", "utf-8", "utf-16-le", "latin-1"],
)
def test_capture_growing_past_many_doublings(engine_name: str, encoding: str, unit: bytes) -> None:
    """70 MiB fed in uneven pieces makes the storage grow several times
    (the native engine's malloc'd block doubles to 4 MiB, moves into a str
    of 64 MiB, which doubles to 128 MiB and is trimmed at the end); the
    text, its hash and its kind equal the whole decode."""
    engine = load_engine(engine_name)
    data = unit * ((70 << 20) // len(unit) + 1)
    cap = engine.Capture(encoding, "strict")
    step = (3 << 20) + 17
    for start in range(0, len(data), step):
        cap.feed(data[start : start + step])
    got = cap.finish()
    want = data.decode(encoding)
    assert len(got) == len(want)
    assert got == want
    assert hash(got) == hash(want)
    assert got.isascii() == want.isascii()


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("size", [0, 1000, (6 << 20) + 3])
def test_capture_read_from_a_pipe(engine_name: str, size: int) -> None:
    """read_from fills the capture straight from a descriptor, across the
    pure engine's switch to its memory map and the native one's to a
    huge-page map, and the text equals the whole decode."""
    engine = load_engine(engine_name)
    data = (b"caf\xc3\xa9 \xff line\r\n" * (size // 10 + 1))[:size]
    read_fd, write_fd = os.pipe()
    feeder = _writer(write_fd, data, [65536])
    cap = engine.Capture("utf-8", "replace")
    try:
        while cap.read_from(read_fd, 1 << 20):
            pass
    finally:
        os.close(read_fd)
        feeder.join(10)
    assert cap.nbytes == size
    assert cap.finish() == data.decode("utf-8", "replace")


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("size", [0, -1])
def test_capture_read_from_refuses_a_size_below_one(engine_name: str, size: int) -> None:
    """A read of 0 bytes would come back as 0, the end of file: refused."""
    cap = load_engine(engine_name).Capture("utf-8", "replace")
    read_fd, write_fd = os.pipe()
    try:
        with pytest.raises(ValueError, match="read_from size must be positive"):
            cap.read_from(read_fd, size)
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert cap.finish() == ""


@needs_native
def test_splitter_fed_again_after_finish() -> None:
    """finish() ends the stream: a "\\r" that closed it does not make the
    next stream's first "\\n" part of its ending."""

    def run(engine: typ.Any) -> list[str]:
        got: list[str] = []
        splitter = engine.LineSplitter("utf-8", "strict", got.append)
        splitter.feed(b"a\r")
        splitter.finish()
        splitter.feed(b"\nb\n")
        splitter.finish()
        return got

    assert run(pure) == run(native) == ["a", "", "b"]
