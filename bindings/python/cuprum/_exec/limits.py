# SPDX-License-Identifier: ISC
"""Bounded capture: ``RunOutputOptions(max_bytes=, on_overflow=)``.

When a cap is set, an engine that offers ``bounded_capture`` (the native
one, over libcuprum's capture buffer) caps its own capture; otherwise a
:class:`BoundedCapture` replaces the engine's capture of the stream (the
engine's chunks feed it). Both give identical results (this module's
rules, below, are the reference), and memory stays bounded by the cap. Here: ``truncate``
and ``kill`` keep one buffer of at most ``max_bytes``; ``tail`` keeps a
deque of chunks trimmed to the cap. The kept bytes are decoded so that no
partial character appears at the cut: a truncated head drops an incomplete
trailing character, a tail drops leading UTF-8 continuation bytes.
"""

from __future__ import annotations

import codecs
import collections
import re
import sys
import typing as typ

from cuprum._engine import incremental_decoder
from cuprum._results import CommandResult, OutputLimitExceeded, PipelineResult

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.plan import RunPlan

#: Line events of a capped run never carry more than this many bytes of a
#: line (or ``max_bytes`` when larger); a longer line is cut and ends with
#: :data:`LINE_CUT_MARKER`, and the rest of it up to its ending is dropped.
MIN_LINE_LIMIT = 64 * 1024
#: Appended to a line event that was cut, encoded in the stream's encoding
#: (as ASCII bytes in ASCII-compatible encodings).
LINE_CUT_MARKER = " [cuprum: line cut]"

#: Encodings of fixed-size code units: the size of a unit, and the byte
#: order (``None``: from the stream's byte order mark, else the machine's,
#: as Python's decoder reads one without a mark).
_Order = typ.Literal["little", "big"]
_WIDE_CODECS: dict[str, tuple[int, _Order | None]] = {
    "utf-16": (2, None),
    "utf-16-le": (2, "little"),
    "utf-16-be": (2, "big"),
    "utf-32": (4, None),
    "utf-32-le": (4, "little"),
    "utf-32-be": (4, "big"),
}


#: Codecs (canonical names) whose streams :class:`LineLimiter` may scan as
#: bytes: stateless, with ``\\n``, ``\\r`` and the marker written as their
#: ASCII bytes, and the bytes 0x0A and 0x0D standing for those characters
#: wherever they occur (never inside a multi-byte character). Any other
#: codec, such as EBCDIC ``cp037``, the stateful ``utf-7`` and
#: ``iso2022_jp`` or one registered by the caller, gets a
#: :class:`DecodingLineLimiter` (UTF-16 and UTF-32 a :class:`WideLineLimiter`).
BYTE_SCANNED_CODECS = frozenset(
    (
        "utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "iso8859-2",
        "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7",
        "iso8859-8", "iso8859-9", "iso8859-10", "iso8859-11", "iso8859-13",
        "iso8859-14", "iso8859-15", "iso8859-16", "cp1006", "cp1125",
        "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256",
        "cp1257", "cp1258", "cp437", "cp720", "cp737", "cp775", "cp850",
        "cp852", "cp855", "cp856", "cp857", "cp858", "cp860", "cp861",
        "cp862", "cp863", "cp864", "cp865", "cp866", "cp869", "cp874",
        "hp-roman8", "koi8-r", "koi8-t", "koi8-u", "kz1048", "mac-croatian",
        "mac-cyrillic", "mac-greek", "mac-iceland", "mac-latin2", "mac-roman",
        "mac-romanian", "mac-turkish", "palmos", "ptcp154", "tis-620",
        "big5", "big5hkscs", "cp932", "cp949", "cp950", "euc_jis_2004",
        "euc_jisx0213", "euc_jp", "euc_kr", "gb18030", "gb2312", "gbk",
        "johab", "shift_jis", "shift_jis_2004", "shift_jisx0213",
    )
)  # fmt: skip

#: What a :class:`DecodingLineLimiter` passes on: the decoded text as UTF-8,
#: with any surrogate the stream's error handler made passed unchanged.
DECODED_LINES_CODEC = ("utf-8", "surrogatepass")

#: Below ``re``'s repeat limit (``MAXREPEAT``, 2**32 - 1 on 64-bit builds).
_MAX_REPEAT = 2**31 - 1


def _is_utf8(encoding: str) -> bool:
    """UTF-8, with or without a byte order mark (a whole character)."""
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


class BoundedCapture:
    """A capture that keeps at most ``max_bytes`` bytes of its stream."""

    __slots__ = ("chunks", "encoding", "errors", "kept", "max_bytes", "mode", "nbytes", "on_exceeded")

    def __init__(self, encoding: str, errors: str, max_bytes: int, mode: str) -> None:
        """Keep ``max_bytes`` bytes; ``mode`` as ``RunOutputOptions.on_overflow``."""
        self.encoding = encoding
        self.errors = errors
        self.max_bytes = max_bytes
        self.mode = mode
        #: Bytes fed so far (kept or not).
        self.nbytes = 0
        self.kept = 0
        self.chunks: collections.deque[bytes] = collections.deque()
        #: Called once when the stream first passes the cap (``kill``).
        self.on_exceeded: cabc.Callable[[], None] | None = None

    @property
    def truncated(self) -> bool:
        """True once more than ``max_bytes`` bytes were fed."""
        return self.nbytes > self.max_bytes

    def feed(self, data: bytes) -> None:
        """Keep what the cap allows of the next chunk."""
        before = self.nbytes
        self.nbytes += len(data)
        cap = self.max_bytes
        if self.mode == "tail":
            if len(data) >= cap:
                self.chunks.clear()
                self.kept = 0
                data = data[len(data) - cap :] if cap else b""
            if data:
                self.chunks.append(bytes(data))
                self.kept += len(data)
            while self.kept > cap:
                excess = self.kept - cap
                head = self.chunks[0]
                if len(head) <= excess:
                    self.chunks.popleft()
                    self.kept -= len(head)
                else:
                    self.chunks[0] = head[excess:]
                    self.kept -= excess
            return
        room = cap - self.kept
        if room > 0 and data:
            piece = bytes(data[:room])
            self.chunks.append(piece)
            self.kept += len(piece)
        if before <= cap < self.nbytes and self.on_exceeded is not None:
            self.on_exceeded()

    def finish(self) -> str:
        """Decode the kept bytes, cut on a character boundary."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        if not self.truncated:
            return data.decode(self.encoding, self.errors)
        if self.mode == "tail":
            if _is_utf8(self.encoding):
                start = 0
                while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
                    start += 1
                # The stream's start, and with it any utf-8-sig BOM, is
                # gone: the tail is plain UTF-8 (a U+FEFF in it is text).
                return data[start:].decode("utf-8", self.errors)
            return data.decode(self.encoding, self.errors)
        # A head: an incremental decoder holds back an incomplete final
        # character, which is exactly what the cut may have split.
        decoder = incremental_decoder(self.encoding, self.errors)
        return decoder.decode(data, final=False)


class _LineBound:
    """What both line limiters keep of the current line, and the end of
    stream, where a held-back tail is passed on if it fits and cut
    otherwise (:meth:`_cut_tail`, each limiter's own way)."""

    __slots__ = ("dropping", "feed_next", "held", "limit", "run")

    def __init__(self, feed_next: cabc.Callable[[bytes], object], limit: int) -> None:
        """Pass bounded chunks to ``feed_next``."""
        self.feed_next = feed_next
        self.limit = limit
        #: Bytes of the current (unended) line passed on so far.
        self.run = 0
        self.dropping = False
        #: A tail held back for the next chunk, so a cut never splits a
        #: character across two chunks.
        self.held = b""

    def flush(self) -> None:
        """Pass on what was held back (at end of stream), or cut the line
        before it when it does not fit."""
        held, self.held = self.held, b""
        if not held or self.dropping:
            return
        if self.run + len(held) <= self.limit:
            self.run += len(held)
            self.feed_next(held)
        else:
            self.feed_next(self._cut_tail(held))
            self.dropping = True

    def _cut_tail(self, held: bytes) -> bytes:
        """What goes on for a held-back tail that does not fit: what of it
        fits, then the marker."""
        raise NotImplementedError


class LineLimiter(_LineBound):
    """Bounds the lines fed to a line splitter: a line longer than ``limit``
    bytes goes on as its first ``limit`` bytes (cut on a UTF-8 character
    boundary when the encoding is UTF-8) plus :data:`LINE_CUT_MARKER`; the
    rest up to its ending is dropped. Endings are ``\\n`` and ``\\r``, as
    for the splitters. Chunks without a long line pass through unchanged.
    For the :data:`BYTE_SCANNED_CODECS`; UTF-16 and UTF-32 take a
    :class:`WideLineLimiter`, others a :class:`DecodingLineLimiter`
    (:func:`line_limiter` picks)."""

    __slots__ = ("long_line", "utf8")

    def __init__(self, feed_next: cabc.Callable[[bytes], object], limit: int, encoding: str) -> None:
        """Pass bounded chunks to ``feed_next``; a trailing incomplete UTF-8
        character is held back."""
        super().__init__(feed_next, limit)
        self.utf8 = _is_utf8(encoding)
        # A line start (string start or after an ending) followed by more
        # than ``limit`` non-ending bytes; tried only at line starts: O(n).
        # ``re`` repeats at most 2**32 - 2 times: past that, no chunk holds
        # such a line and the fast path's length test decides alone.
        self.long_line = (
            re.compile(rb"(?<![^\r\n])[^\r\n]{%d}" % (limit + 1)) if limit < _MAX_REPEAT else None
        )

    def feed(self, data: bytes) -> None:
        """Pass on the next chunk, cutting over-long lines."""
        if self.held:
            data = self.held + data
            self.held = b""
        if self.utf8:
            # Even while dropping: the chunk may end the dropped line and
            # end the next one with a partial character.
            keep = _incomplete_tail(data)
            if keep:
                data, self.held = data[:-keep], data[-keep:]
        first = _next_ending(data, 0)
        fits = not self.dropping and self.run + first <= self.limit
        # The lines after the first hold at most ``len(data) - first - 1`` bytes.
        if fits and (
            len(data) - first - 1 <= self.limit
            or (self.long_line is not None and self.long_line.search(data, first) is None)
        ):
            last = max(data.rfind(b"\n"), data.rfind(b"\r"))
            self.run = self.run + len(data) if last < 0 else len(data) - last - 1
            self.feed_next(data)
            return
        out = bytearray()
        start = 0
        size = len(data)
        while start <= size:
            end = _next_ending(data, start)
            segment = data[start:end]
            if not self.dropping:
                room = self.limit - self.run
                if len(segment) <= room:
                    out += segment
                    self.run += len(segment)
                else:
                    cut = room
                    if self.utf8:
                        back = 0
                        while cut > 0 and back < 3 and segment[cut] & 0xC0 == 0x80:
                            cut -= 1
                            back += 1
                    out += segment[:cut]
                    out += LINE_CUT_MARKER.encode("ascii")
                    self.dropping = True
            if end == size:
                break
            out.append(data[end])
            self.run = 0
            self.dropping = False
            start = end + 1
        if out:
            self.feed_next(bytes(out))

    def _cut_tail(self, held: bytes) -> bytes:
        """The marker alone: the tail is one partial character."""
        return LINE_CUT_MARKER.encode("ascii")


class WideLineLimiter(_LineBound):
    """A :class:`LineLimiter` for UTF-16 and UTF-32: it works on code units.

    Endings are the ``\\n`` and ``\\r`` code units (at unit boundaries
    only), a cut falls on a unit boundary and, in UTF-16, never between
    the two halves of a surrogate pair, and :data:`LINE_CUT_MARKER` is
    encoded in the stream's byte order (without a byte order mark). A
    trailing partial unit (and in UTF-16 a trailing high surrogate) is
    held back for the next chunk, so chunks are passed on whole units.
    """

    __slots__ = ("cr", "marker", "nl", "order", "unit")

    def __init__(self, feed_next: cabc.Callable[[bytes], object], limit: int, encoding: str) -> None:
        """Pass bounded chunks of ``encoding`` (one of ``_WIDE_CODECS``) on."""
        super().__init__(feed_next, limit)
        self.unit, order = _WIDE_CODECS[codecs.lookup(encoding).name]
        self.order: _Order | None = None
        self.nl = self.cr = self.marker = b""
        if order is not None:
            self._set_order(order)

    def _set_order(self, order: _Order) -> None:
        width = self.unit
        self.order = order
        self.nl = (10).to_bytes(width, order)
        self.cr = (13).to_bytes(width, order)
        codec = f"utf-{8 * width}-{'le' if order == 'little' else 'be'}"
        self.marker = LINE_CUT_MARKER.encode(codec)

    def _find_order(self, data: bytes) -> None:
        """Take the byte order from a leading mark, else the machine's."""
        width = self.unit
        mark = int.from_bytes(data[:width], "little")
        if mark == 0xFEFF:
            self._set_order("little")
        elif mark == (0xFFFE if width == 2 else 0xFFFE0000):
            self._set_order("big")
        else:
            self._set_order(sys.byteorder)

    def _ending(self, data: bytes, start: int, stop: int | None = None) -> int:
        """Offset of the first ending unit in ``data[start:stop]``, else ``stop``
        (``len(data)`` when ``None``)."""
        end = len(data) if stop is None else stop
        width = self.unit
        for unit in (self.nl, self.cr):
            found = data.find(unit, start, end)
            while found >= 0 and found % width:
                found = data.find(unit, found + 1, end)
            if found >= 0:
                end = found
        return end

    def _fits(self, data: bytes) -> bool:
        """Whether no line of ``data`` needs a cut: the first fits after
        what the line already holds, and every window of half the limit
        after it holds an ending, so no later line is longer than the limit
        (a few searches per chunk, not a step per line)."""
        first = self._ending(data, 0)
        if self.run + first > self.limit:
            return False
        width = self.unit
        window = self.limit // 2 - self.limit // 2 % width
        if window < width:
            return False
        size = len(data)
        for start in range(first + width, size, window):
            stop = min(start + window, size)
            if self._ending(data, start, stop) == stop:
                return False
        return True

    def _last_ending(self, data: bytes) -> int:
        """Offset of the last ending unit, else -1."""
        last = -1
        width = self.unit
        for unit in (self.nl, self.cr):
            found = data.rfind(unit)
            while found > last and found % width:
                found = data.rfind(unit, 0, found + width - 1)
            last = max(last, found)
        return last

    def _hold(self, data: bytes) -> int:
        """Bytes at the end of ``data`` to hold back for the next chunk."""
        width = self.unit
        keep = len(data) % width
        if width == 2 and len(data) - keep >= 2:
            at = len(data) - keep - 2
            unit = data[at + 1] if self.order == "little" else data[at]
            if unit & 0xFC == 0xD8:  # a high surrogate: its pair may follow
                keep += 2
        return keep

    def feed(self, data: bytes) -> None:
        """Pass on the next chunk, cutting over-long lines."""
        if self.held:
            data = self.held + data
            self.held = b""
        if self.order is None:
            if len(data) < self.unit:
                self.held = bytes(data)
                return
            self._find_order(data)
        keep = self._hold(data)
        if keep:
            data, self.held = data[:-keep], bytes(data[-keep:])
        if not data:
            return
        if not self.dropping and (self.run + len(data) <= self.limit or self._fits(data)):
            last = self._last_ending(data)
            self.run = self.run + len(data) if last < 0 else len(data) - last - self.unit
            self.feed_next(data)
            return
        self.feed_next(self._bounded(data))

    def _bounded(self, data: bytes) -> bytes:
        """``data`` with its over-long lines cut."""
        out = bytearray()
        width = self.unit
        start = 0
        size = len(data)
        while True:
            end = self._ending(data, start)
            if not self.dropping:
                room = self.limit - self.run
                if end - start <= room:
                    out += data[start:end]
                    self.run += end - start
                else:
                    cut = start + room - room % width
                    if width == 2 and cut > start:
                        # Never between a high surrogate and its low one.
                        little = self.order == "little"
                        high = data[cut - 1] if little else data[cut - 2]
                        low = data[cut + 1] if little else data[cut]
                        if high & 0xFC == 0xD8 and low & 0xFC == 0xDC:
                            cut -= 2
                    out += data[start:cut]
                    out += self.marker
                    self.dropping = True
            if end == size:
                return bytes(out)
            out += data[end : end + width]
            self.run = 0
            self.dropping = False
            start = end + width

    def _cut_tail(self, held: bytes) -> bytes:
        """The whole units of the tail that fit, then the marker in the
        stream's byte order."""
        if self.order is None:
            self._find_order(held)
        cut = self.limit - self.run
        cut -= cut % self.unit
        return held[:cut] + self.marker


class DecodingLineLimiter:
    """A line limiter for the codecs that cannot be scanned as bytes (not in
    :data:`BYTE_SCANNED_CODECS`, nor UTF-16 or UTF-32): it decodes the
    stream with ``encoding`` and ``errors``, as the line splitter would, and
    passes the text on in :data:`DECODED_LINES_CODEC`, bounded by a UTF-8
    :class:`LineLimiter`: a line is cut after ``limit`` bytes of its UTF-8
    form, on a character. The splitter fed must read that codec: the lines
    it makes are those it would make of the stream itself."""

    __slots__ = ("decode", "inner")

    def __init__(self, feed_next: cabc.Callable[[bytes], object], limit: int, encoding: str, errors: str) -> None:
        """Pass bounded UTF-8 chunks to ``feed_next``."""
        self.inner = LineLimiter(feed_next, limit, "utf-8")
        self.decode = incremental_decoder(encoding, errors).decode

    def feed(self, data: bytes) -> None:
        """Decode the next chunk and pass it on, cutting over-long lines."""
        text = self.decode(data, False)
        if text:
            self.inner.feed(text.encode(*DECODED_LINES_CODEC))

    def flush(self) -> None:
        """Pass on what the decoder still holds (at end of stream)."""
        text = self.decode(b"", True)
        if text:
            self.inner.feed(text.encode(*DECODED_LINES_CODEC))
        self.inner.flush()


def limited_lines_codec(encoding: str, errors: str) -> tuple[str, str]:
    """The codec and error handler the line splitter behind
    :func:`line_limiter` reads: the stream's own, or
    :data:`DECODED_LINES_CODEC` behind a :class:`DecodingLineLimiter`."""
    name = codecs.lookup(encoding).name
    if name in _WIDE_CODECS or name in BYTE_SCANNED_CODECS:
        return encoding, errors
    return DECODED_LINES_CODEC


def line_limiter(
    feed_next: cabc.Callable[[bytes], object], limit: int, encoding: str, errors: str
) -> LineLimiter | WideLineLimiter | DecodingLineLimiter:
    """The limiter for ``encoding`` (``errors``: the splitter's handler):
    :class:`WideLineLimiter` for UTF-16 and UTF-32, the byte-wise
    :class:`LineLimiter` for :data:`BYTE_SCANNED_CODECS`, else a
    :class:`DecodingLineLimiter`, whose splitter must read
    :func:`limited_lines_codec`'s codec."""
    name = codecs.lookup(encoding).name
    if name in _WIDE_CODECS:
        return WideLineLimiter(feed_next, limit, encoding)
    if name in BYTE_SCANNED_CODECS:
        return LineLimiter(feed_next, limit, encoding)
    return DecodingLineLimiter(feed_next, limit, encoding, errors)


def _incomplete_tail(data: bytes) -> int:
    """Length of an incomplete UTF-8 sequence ending ``data`` (0 if none)."""
    size = len(data)
    for back in range(1, min(3, size) + 1):
        byte = data[size - back]
        if byte & 0xC0 != 0x80:
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if need > back else 0
    return 0


def _next_ending(data: bytes, start: int) -> int:
    """Index of the first ``\\n`` or ``\\r`` at or after ``start``, else ``len(data)``."""
    end = len(data)
    for ending in (data.find(b"\n", start), data.find(b"\r", start)):
        if 0 <= ending < end:
            end = ending
    return end


def line_limit(max_bytes: int) -> int:
    """The byte limit of a line event when captures are capped."""
    return max(MIN_LINE_LIMIT, max_bytes)


def make_capture(engine: typ.Any, encoding: str, errors: str, max_bytes: int | None, mode: str) -> typ.Any:
    """The capture for one stream: the engine's (capped by the engine itself
    when it offers ``bounded_capture``), or a :class:`BoundedCapture`."""
    if max_bytes is None:
        return engine.Capture(encoding, errors)
    if getattr(engine, "bounded_capture", False):
        # A cap past a C ssize_t cannot be reached: the largest one is as good.
        return engine.Capture(encoding, errors, min(max_bytes, sys.maxsize), mode)
    return BoundedCapture(encoding, errors, max_bytes, mode)


def raise_output_limit(
    plan: RunPlan, results: list[CommandResult], failure_index: int | None
) -> typ.NoReturn:
    """Raise :class:`OutputLimitExceeded` with the partial ``results``."""
    max_bytes = plan.output.max_bytes
    assert max_bytes is not None  # noqa: S101
    result: CommandResult | PipelineResult
    if plan.pipeline:
        cmd: object = tuple((c.program, *c.argv) for c in plan.commands)
        errs = [r.stderr for r in results if r.stderr is not None]
        stderr = "".join(errs) if plan.capture else None
        result = PipelineResult(stages=tuple(results), failure_index=failure_index)
    else:
        cmd = (plan.commands[0].program, *plan.commands[0].argv)
        stderr = results[0].stderr
        result = results[0]
    raise OutputLimitExceeded(
        cmd=cmd, max_bytes=max_bytes, result=result, output=results[-1].stdout, stderr=stderr
    )


__all__ = [
    "LINE_CUT_MARKER",
    "MIN_LINE_LIMIT",
    "BYTE_SCANNED_CODECS",
    "DECODED_LINES_CODEC",
    "BoundedCapture",
    "DecodingLineLimiter",
    "LineLimiter",
    "WideLineLimiter",
    "line_limit",
    "limited_lines_codec",
    "line_limiter",
    "make_capture",
    "raise_output_limit",
]
