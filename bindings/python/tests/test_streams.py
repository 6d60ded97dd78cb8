# SPDX-License-Identifier: ISC
"""Stream-engine contracts, run once per available engine (``engine`` fixture)."""

from __future__ import annotations

import io
import os
import threading
import typing as typ

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from conftest import ENGINE_NAMES, load_engine


def _lines(engine: typ.Any, chunks: list[bytes], encoding: str = "utf-8") -> list[str]:
    got: list[str] = []
    splitter = engine.LineSplitter(encoding, "replace", got.append)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.finish()
    return got


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for point in points:
        out.append(data[last:point])
        last = point
    out.append(data[last:])
    return out


class TestLineSplitter:
    def test_basic_endings(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"a\nb\r\nc\rd"]) == ["a", "b", "c", "d"]

    def test_crlf_split_across_reads_is_one_ending(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"one\r", b"\ntwo\r", b"\n"]) == ["one", "two"]

    def test_lone_cr_at_chunk_end_then_text(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"a\r", b"b"]) == ["a", "b"]

    def test_cr_at_eof_ends_line(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"a\r"]) == ["a"]

    def test_other_separators_are_not_endings(self, engine: typ.Any) -> None:
        text = "a\vb\fc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"
        assert _lines(engine, [text.encode()]) == [text]

    def test_final_unterminated_line_delivered(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"x\ny"]) == ["x", "y"]

    def test_empty_lines_kept(self, engine: typ.Any) -> None:
        assert _lines(engine, [b"\n\n\r\n\r"]) == ["", "", "", ""]

    def test_multibyte_split_across_reads(self, engine: typ.Any) -> None:
        data = "é€😀\n".encode()
        assert _lines(engine, [bytes([b]) for b in data]) == ["é€😀"]

    def test_other_encoding(self, engine: typ.Any) -> None:
        data = "ab\r\ncd".encode("utf-16-le")
        assert _lines(engine, [data[:5], data[5:]], "utf-16-le") == ["ab", "cd"]

    def test_nothing_fed(self, engine: typ.Any) -> None:
        assert _lines(engine, []) == []

    @pytest.mark.parametrize("engine_name", ENGINE_NAMES)
    @settings(max_examples=150, deadline=None)
    @given(
        st.text(alphabet=st.sampled_from("ab\r\n\vé€😀\x85\u2028"), max_size=60),
        st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    )
    def test_any_chunking_matches_reference(
        self, engine_name: str, text: str, cuts: list[int]
    ) -> None:
        engine = load_engine(engine_name)
        data = text.encode()
        expected = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if expected and expected[-1] == "":
            expected.pop()
        assert _lines(engine, _split_at(data, cuts)) == expected


class TestCapture:
    @pytest.mark.parametrize("engine_name", ENGINE_NAMES)
    @settings(max_examples=150, deadline=None)
    @given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=8))
    def test_equals_whole_decode(self, engine_name: str, data: bytes, cuts: list[int]) -> None:
        engine = load_engine(engine_name)
        cap = engine.Capture("utf-8", "replace")
        for chunk in _split_at(data, cuts):
            cap.feed(chunk)
        assert cap.nbytes == len(data)
        assert cap.finish() == data.decode("utf-8", "replace")

    def test_engine_capture_multibyte(self, engine: typ.Any) -> None:
        data = "naïve 😀".encode()
        cap = engine.Capture("utf-8", "strict")
        for byte in data:
            cap.feed(bytes([byte]))
        assert cap.finish() == "naïve 😀"

    def test_strict_errors_raise(self, engine: typ.Any) -> None:
        cap = engine.Capture("utf-8", "strict")
        cap.feed(b"\xff")
        with pytest.raises(UnicodeDecodeError):
            cap.finish()

    def test_empty(self, engine: typ.Any) -> None:
        assert engine.Capture("utf-8", "replace").finish() == ""


class TestTextTee:
    def test_text_sink_gets_whole_characters(self, engine: typ.Any) -> None:
        sink = io.StringIO()
        tee = engine.TextTee(sink, "utf-8", "replace")
        for byte in "€x😀".encode():
            tee.feed(bytes([byte]))
        tee.finish()
        assert sink.getvalue() == "€x😀"

    @pytest.mark.parametrize("engine_name", ENGINE_NAMES)
    @settings(max_examples=100, deadline=None)
    @given(st.text(max_size=40), st.lists(st.integers(0, 200), max_size=6))
    def test_text_sink_any_chunking(self, engine_name: str, text: str, cuts: list[int]) -> None:
        sink = io.StringIO()
        tee = load_engine(engine_name).TextTee(sink, "utf-8", "replace")
        for chunk in _split_at(text.encode("utf-8", "surrogatepass"), cuts):
            tee.feed(chunk)
        tee.finish()
        assert sink.getvalue() == text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")

    def test_binary_sink_gets_raw_bytes(self, engine: typ.Any) -> None:
        sink = io.BytesIO()
        tee = engine.TextTee(sink, "utf-8", "replace")
        tee.feed(b"\xff\xfe")
        tee.finish()
        assert sink.getvalue() == b"\xff\xfe"

    def test_wrapper_with_same_codec_gets_raw_bytes(self, engine: typ.Any) -> None:
        raw = io.BytesIO()
        sink = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        sink.write("a")
        tee = engine.TextTee(sink, "utf-8", "replace")
        tee.feed(b"\xe2\x82")
        tee.feed(b"\xac")
        tee.finish()
        assert raw.getvalue() == "a€".encode()

    def test_fd_sink(self, engine: typ.Any) -> None:
        read_fd, write_fd = os.pipe()
        try:
            tee = engine.TextTee(write_fd, "utf-8", "replace")
            tee.feed(b"hello")
            tee.finish()
            assert os.read(read_fd, 100) == b"hello"
        finally:
            os.close(read_fd)
            os.close(write_fd)


def _writer(fd: int, data: bytes) -> threading.Thread:
    def run() -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _pump_through(
    engine: typ.Any, payload: bytes, *, non_blocking: bool = False, **kwargs: typ.Any
) -> tuple[int, bytes]:
    """Pump ``payload`` from one pipe into another (a thread feeds the first,
    one drains the second), the pump's ends non-blocking if asked; return
    what ``pump`` returned and what came out."""
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    if non_blocking:
        os.set_blocking(src_r, False)
        os.set_blocking(dst_w, False)
    feeder = _writer(src_w, payload)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(_read_all(dst_r)))
    reader.start()
    copied = engine.pump(src_r, dst_w, **kwargs)
    os.close(dst_w)
    feeder.join()
    reader.join()
    os.close(src_r)
    os.close(dst_r)
    return copied, received[0]


class TestPump:
    def test_copies_everything(self, engine: typ.Any) -> None:
        payload = os.urandom(300_000)
        copied, received = _pump_through(engine, payload)
        assert copied == len(payload)
        assert received == payload

    def test_non_blocking_descriptors(self, engine: typ.Any) -> None:
        payload = os.urandom(200_000)
        copied, received = _pump_through(engine, payload, non_blocking=True, buffer_size=4096)
        assert copied == len(payload)
        assert received == payload

    def test_closed_writer_drains_reader(self, engine: typ.Any) -> None:
        payload = b"z" * 1_000_000
        src_r, src_w = os.pipe()
        dst_r, dst_w = os.pipe()
        os.close(dst_r)
        feeder = _writer(src_w, payload)
        assert engine.pump(src_r, dst_w) == 0
        feeder.join()  # the producer finished: it was never left blocked
        os.close(src_r)
        os.close(dst_w)

    def test_does_not_close_descriptors(self, engine: typ.Any) -> None:
        src_r, src_w = os.pipe()
        dst_r, dst_w = os.pipe()
        os.write(src_w, b"abc")
        os.close(src_w)
        assert engine.pump(src_r, dst_w, 1) == 3
        os.fstat(src_r)
        os.fstat(dst_w)
        assert os.read(dst_r, 10) == b"abc"
        for fd in (src_r, dst_r, dst_w):
            os.close(fd)

    @pytest.mark.parametrize("size", [0, -1, 2**30 + 1])
    def test_rejects_bad_buffer_size(self, engine: typ.Any, size: int) -> None:
        with pytest.raises(ValueError, match="buffer_size"):
            engine.pump(0, 1, size)

    def test_other_errors_keep_errno(self, engine: typ.Any) -> None:
        read_fd, write_fd = os.pipe()
        os.close(write_fd)
        with pytest.raises(OSError) as info:
            engine.pump(read_fd, write_fd)
        assert info.value.errno is not None
        os.close(read_fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class TestConsume:
    def test_capture_tee_and_lines(self, engine: typ.Any) -> None:
        read_fd, write_fd = os.pipe()
        feeder = _writer(write_fd, "a\r\nb€\rc".encode())
        sink = io.StringIO()
        lines: list[str] = []
        text = engine.consume(read_fd, tee=sink, on_line=lines.append)
        feeder.join()
        os.fstat(read_fd)
        os.close(read_fd)
        assert text == "a\r\nb€\rc"
        assert sink.getvalue() == "a\r\nb€\rc"
        assert lines == ["a", "b€", "c"]

    def test_no_capture_returns_none(self, engine: typ.Any) -> None:
        read_fd, write_fd = os.pipe()
        feeder = _writer(write_fd, b"data")
        assert engine.consume(read_fd, capture=False) is None
        feeder.join()
        os.close(read_fd)

    def test_large_payload_decoded_once(self, engine: typ.Any) -> None:
        payload = ("ü" * 700_001).encode()
        read_fd, write_fd = os.pipe()
        feeder = _writer(write_fd, payload)
        assert engine.consume(read_fd, encoding="utf-8", errors="strict") == "ü" * 700_001
        feeder.join()
        os.close(read_fd)
