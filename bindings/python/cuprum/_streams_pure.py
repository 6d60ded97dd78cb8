# SPDX-License-Identifier: ISC
"""The pure-Python stream engine.

Implements the interface described in :mod:`cuprum._engine` with the
standard library only, and knows nothing of the native extension. The
design keeps Python work per *chunk*, never per byte or character: reads are
large, decoding and line splitting run in C-speed builtins over whole chunks,
and a capture is decoded once at the end.
"""

from __future__ import annotations

import codecs
import collections
import errno
import inspect
import io
import itertools
import mmap
import os
import re
import select
import time
import typing as typ

from cuprum._engine import LineCallback, TeeTarget, incremental_decoder

name = "python"

#: Size of the first read from a stream; doubled up to ``MAX_READ`` while
#: reads come back full, so small outputs stay cheap and large ones are read
#: in few system calls.
FIRST_READ = 64 * 1024
MAX_READ = 1024 * 1024
_MAX_BUFFER = 1 << 30
_WRITER_GONE = (errno.EPIPE, errno.ECONNRESET)


def _wait(fd: int, events: int) -> None:
    """Block until ``fd`` is ready for ``events`` (used after EAGAIN)."""
    poller = select.poll()
    poller.register(fd, events)
    poller.poll()


def read_chunk(fd: int, size: int) -> bytes:
    """Read up to ``size`` bytes, waiting if the descriptor is non-blocking."""
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            _wait(fd, select.POLLIN)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of ``data`` to ``fd``, waiting out EAGAIN."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait(fd, select.POLLOUT)
            continue
        view = view[written:]


def _check_buffer_size(buffer_size: int) -> None:
    """Reject a pump buffer size outside 1 byte .. 1 GiB."""
    if isinstance(buffer_size, bool) or not isinstance(buffer_size, int):
        msg = f"buffer_size must be an int, got {type(buffer_size).__name__}"
        raise TypeError(msg)
    if not 1 <= buffer_size <= _MAX_BUFFER:
        msg = f"buffer_size must be between 1 and {_MAX_BUFFER} bytes, got {buffer_size}"
        raise ValueError(msg)


def pump(reader_fd: int, writer_fd: int, buffer_size: int = 65536) -> int:
    """Copy ``reader_fd`` to ``writer_fd`` until EOF; return bytes delivered.

    See :mod:`cuprum._engine` for the contract. Neither descriptor is closed.
    """
    _check_buffer_size(buffer_size)
    delivered = 0
    writing = True
    splice: typ.Any = getattr(os, "splice", None)
    use_splice = splice is not None and os.get_blocking(reader_fd) and os.get_blocking(writer_fd)
    while True:
        if writing and use_splice:
            try:
                moved = splice(reader_fd, writer_fd, buffer_size)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    use_splice = False
                    continue
                if exc.errno in _WRITER_GONE:
                    writing = False
                    continue
                raise
            if moved == 0:
                return delivered
            delivered += moved
            continue
        data = read_chunk(reader_fd, buffer_size)
        if not data:
            return delivered
        if not writing:
            continue
        view = memoryview(data)
        while view:
            try:
                written = os.write(writer_fd, view)
            except BlockingIOError:
                _wait(writer_fd, select.POLLOUT)
                continue
            except OSError as exc:
                if exc.errno not in _WRITER_GONE:
                    raise
                writing = False
                break
            delivered += written
            view = view[written:]


def _final_text(decode: typ.Callable[..., str], encoding: str, errors: str) -> str:
    """Flush an incremental decoder at the end of the stream.

    CPython's ``utf-8-sig`` decoder keeps a stream that is only a prefix of
    the BOM (``b"\\xef\\xbb"``) even when told the input is final, so such
    leftover bytes are decoded here as the whole-stream decode would.
    """
    text = decode(b"", True)
    decoder = getattr(decode, "__self__", None)
    if decoder is None:
        return text
    leftover = decoder.getstate()[0]
    if leftover:
        decoder.reset()
        text += leftover.decode(encoding, errors)
    return text


#: Bytes of a chunk decoded and split into lines at a time (see feed).
_FEED_WINDOW = 64 * 1024

#: A line ending in bytes, for the per-line decoding after a strict error.
_RAW_ENDING = re.compile(rb"\r\n|\r|\n")

#: Canonical names of the codecs in which bytes 0x0A and 0x0D never occur
#: inside a multi-byte sequence and each stands for its ASCII character
#: alone: the native engine splits their bytes into lines before decoding
#: each line (``splittable_codecs`` in ``_native/codecs.c``; a parity test
#: checks the two lists agree).
SPLIT_BEFORE_DECODING = frozenset(
    (
        "utf-8", "ascii", "iso8859-1", "iso8859-2", "iso8859-3", "iso8859-4",
        "iso8859-5", "iso8859-6", "iso8859-7", "iso8859-8", "iso8859-9",
        "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16",
        "cp1250", "cp1251", "cp1252", "cp1253", "cp1254", "cp1255", "cp1256",
        "cp1257", "cp1258", "cp437", "cp850", "koi8-r", "koi8-u",
    )
)  # fmt: skip


class LineSplitter:
    """Incremental splitter delivering decoded lines without their endings.

    Line endings are ``\\n``, ``\\r\\n`` and a lone ``\\r``. Each chunk is
    decoded incrementally (so multi-byte characters may straddle chunks) and
    split with ``str.split`` after normalising ``\\r`` endings; a ``\\r``
    ending a chunk ends its line at once (a ``\\n`` opening the next chunk
    is then skipped), so lines come with the same calls as in the native
    engine. A line that goes on over many chunks is joined once, when it
    ends.

    A ``feed`` or ``finish`` made while another one is delivering lines
    (from the callback, or from another thread) raises ``RuntimeError``
    and changes nothing, as the native splitter does.

    A strict decoding error in a codec of :data:`SPLIT_BEFORE_DECODING`
    behaves as in the native engine, which splits bytes before decoding
    each line: the complete lines before the bad one are delivered, and the
    ``UnicodeDecodeError`` is raised once the bad line has ended (or at
    ``finish``), naming that line's bytes, so it does not depend on where
    the reads cut the stream. From the first error on, the splitter works
    that way itself (:meth:`_feed_raw`); error-free input never gets there.
    """

    __slots__ = ("_busy", "_callback", "_decode", "_encoding", "_errors", "_pending", "_raw", "_skip_lf")

    #: Names for the error of a call made while lines are being delivered.
    _kind = "LineSplitter"
    _caller = "callback"

    def __init__(self, encoding: str, errors: str, callback: LineCallback) -> None:
        """Prepare to decode ``encoding`` with ``errors`` and call ``callback``.

        An unknown codec or error handler (``LookupError``) and a callback
        that cannot be called (``TypeError``) are refused here, as the
        native splitter refuses them, not at the first line."""
        if not callable(callback):
            msg = f"{self._kind} callback must be callable"
            raise TypeError(msg)
        codecs.lookup(encoding)
        codecs.lookup_error(errors)
        self._decode = incremental_decoder(encoding, errors).decode
        self._encoding = encoding
        self._errors = errors
        self._callback = callback
        #: The pieces of the line begun and not yet ended.
        self._pending: list[str] = []
        self._busy = False
        #: The undecoded start of the current line once a strict error was
        #: met (see the class docstring); ``None`` until then.
        self._raw: bytes | None = None
        #: Whether a "\\n" opening the next chunk ends nothing (the line
        #: before it ended at a "\\r" that closed a chunk).
        self._skip_lf = False

    def _enter(self, method: str) -> None:
        """Mark the splitter busy delivering, or raise if it already is."""
        if self._busy:
            msg = (
                f"{self._kind}.{method}() called while it is delivering lines "
                f"(from its own {self._caller}, or from another thread)"
            )
            raise RuntimeError(msg)
        self._busy = True

    def _split(self, text: str, *, final: bool) -> None:
        if "\r" in text:
            if not final and text[-1] == "\r":
                # The line ends here, as in libcuprum's splitter, which
                # delivers it with this chunk: a "\n" opening the next one
                # is the rest of this ending.
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        parts = text.split("\n")
        pending = self._pending
        if len(parts) == 1 and not final:
            # No line ends in this text: keep the piece. Joining the pieces
            # of a long line only once it ends keeps it linear.
            if text:
                pending.append(text)
            return
        if pending:
            # Join the held start of a line to its rest after splitting, not
            # before: prefixing a whole chunk would copy it into fresh memory.
            pending.append(parts[0])
            parts[0] = "".join(pending)
            pending.clear()
        tail = parts.pop()
        if final:
            if tail:
                parts.append(tail)
        elif tail:
            pending.append(tail)
        if parts:
            self._deliver(parts)

    def _deliver(self, lines: list[str]) -> None:
        """Hand each finished line to the callback, in order."""
        collections.deque(map(self._callback, lines), 0)

    def feed(self, data: bytes) -> None:
        """Consume ``data`` and deliver the lines it completes."""
        self._enter("feed")
        try:
            self._begin()
            self._feed_bytes(data)
        finally:
            self._busy = False
        self._end()

    def _begin(self) -> None:
        """Start a ``feed`` or ``finish`` (nothing to do here)."""

    def _end(self) -> None:
        """End a ``feed`` or ``finish`` that did not raise (nothing to do
        here)."""

    def _feed_bytes(self, data: bytes) -> None:
        """Decode ``data`` and deliver the lines it completes."""
        if self._raw is not None:
            self._feed_raw(data, final=False)
            return
        # Large chunks (the runner reads up to 1 MiB) go through a window at
        # a time, so the decoded text and its lines stay small and reuse the
        # same memory. Decoding and splitting 1 MiB at once made fresh pages
        # for the text and for the allocator arenas of its lines on every
        # chunk: about 480 page faults per MiB, as much time as the rest.
        start = 0
        while True:
            window = data if len(data) <= _FEED_WINDOW else data[start : start + _FEED_WINDOW]
            try:
                text = self._decode(window)
            except UnicodeDecodeError:
                if not self._start_raw():
                    raise
                self._feed_raw(data[start:], final=False)
                return
            self._feed_text(text)
            start += _FEED_WINDOW
            if start >= len(data):
                return

    def _start_raw(self) -> bool:
        """After a decoding error: when the native engine would split this
        codec's bytes before decoding, keep the current line's bytes (what
        is pending, encoded back, and what the decoder holds) in
        ``_raw`` and return True; else False (the error stands)."""
        if self._errors != "strict":
            return False
        info = codecs.lookup(self._encoding)
        if info.name not in SPLIT_BEFORE_DECODING:
            return False
        decoder = getattr(self._decode, "__self__", None)
        held = decoder.getstate()[0] if decoder is not None else b""
        if held:
            # The text ended at a "\r", but the bytes did not.
            self._skip_lf = False
        # Strictly decoded text of these codecs encodes back to its bytes.
        self._raw = "".join(self._pending).encode(info.name) + held
        self._pending.clear()
        return True

    def _feed_raw(self, data: bytes, *, final: bool) -> None:
        """Split the held bytes and ``data`` into lines as libcuprum's
        splitter does, decoding and delivering each complete one (and the
        last, when ``final``). A line ended by the last byte, a ``\\r``,
        is complete: a ``\\n`` opening the next chunk is skipped. A line
        that does not decode raises after the lines before it were
        delivered, and the rest of ``data`` is dropped, as there."""
        if data and self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        buf = typ.cast("bytes", self._raw) + data
        name = codecs.lookup(self._encoding).name
        lines: list[str] = []
        error: UnicodeDecodeError | None = None
        start = 0
        for ending in _RAW_ENDING.finditer(buf):
            line = buf[start : ending.start()]
            start = ending.end()
            if start == len(buf) and ending.group() == b"\r":
                self._skip_lf = True
            try:
                lines.append(line.decode(name))
            except UnicodeDecodeError as exc:
                error = exc
                break
        self._raw = b""
        if error is None:
            rest = buf[start:]
            if not final:
                self._raw = rest
            elif rest:
                try:
                    lines.append(rest.decode(name))
                except UnicodeDecodeError as exc:
                    error = exc
        if lines:
            self._deliver(lines)
        if error is not None:
            raise error

    def _feed_text(self, text: str) -> None:
        """Deliver the lines ``text`` completes after what is pending."""
        if text:
            if self._skip_lf:
                self._skip_lf = False
                if text[0] == "\n":
                    text = text[1:]
                    if not text:
                        return
            self._split(text, final=False)

    def finish(self) -> None:
        """Deliver whatever remains, including a final unterminated line."""
        self._enter("finish")
        try:
            self._begin()
            self._finish_text()
        finally:
            self._busy = False
        self._end()

    def _finish_text(self) -> None:
        """Deliver what is pending and what the decoder still holds."""
        # A "\r" that closed the last chunk closed the stream.
        self._skip_lf = False
        if self._raw is None:
            try:
                final = _final_text(self._decode, self._encoding, self._errors)
            except UnicodeDecodeError:
                if not self._start_raw():
                    raise
            else:
                self._split(final, final=True)
                return
        self._feed_raw(b"", final=True)


class LineEvents(LineSplitter):
    """A :class:`LineSplitter` that builds each line's event itself.

    The engine-interface ``LineEvents`` (see :mod:`cuprum._engine`): each
    line becomes a copy of ``template`` as ``event_type`` with the wall-clock
    time and the line filled in, handed to every hook in order; awaitable
    results go to ``pending``. The lines of a chunk are delivered by one
    loop, without a Python call per line of cuprum's own, which is most of
    what a line costs when millions arrive. The lines one ``feed`` (or
    ``finish``) completes share its wall-clock time. Splits every codec and
    policy (it decodes before splitting), including those the native engine
    hands over to it.

    With ``batches``, each ``feed`` (or ``finish``) that completes lines
    also hands them, after the hooks, to ``batches`` as one
    :class:`EventBatch` that builds their events only when iterated (the
    line events of a stream's queue).
    """

    __slots__ = (
        "_batch",
        "_batches",
        "_event_type",
        "_hooks",
        "_line_at",
        "_results",
        "_stamp",
        "_stamp_at",
        "_template",
    )

    def __init__(
        self,
        encoding: str,
        errors: str,
        event_type: type[tuple[object, ...]],
        template: tuple[object, ...],
        hooks: tuple[typ.Callable[[typ.Any], object], ...],
        pending: list[typ.Any],
        batches: typ.Callable[[EventBatch], object] | None = None,
    ) -> None:
        """Prepare the splitter and the per-stage parts of every event."""
        # The layout is the event type's own (``ExecEvent._fields``), the
        # one definition of it; the native engine reads it the same way.
        fields = getattr(event_type, "_fields", None)
        if (
            not (isinstance(event_type, type) and issubclass(event_type, tuple))
            or not isinstance(fields, tuple)
            or "timestamp" not in fields
            or "line" not in fields
            or len(template) != len(fields)
        ):
            msg = "LineEvents needs a named tuple type with timestamp and line fields and a template of its fields"
            raise TypeError(msg)
        self._stamp_at = fields.index("timestamp")
        self._line_at = fields.index("line")
        super().__init__(encoding, errors, _no_callback)
        self._event_type = event_type
        self._template = tuple(template)
        self._hooks = tuple(hooks)
        self._results = pending
        self._stamp = 0.0
        if batches is not None and not callable(batches):
            msg = "LineEvents batches must be callable or None"
            raise TypeError(msg)
        self._batches = batches
        self._batch: list[str] = []

    _kind = "LineEvents"
    _caller = "hook"

    def _begin(self) -> None:
        """Start a ``feed`` or ``finish``: its lines share one wall-clock
        time and one batch."""
        self._stamp = time.time()
        self._batch = []

    def _end(self) -> None:
        """Hand the lines of the call just delivered to ``batches``."""
        lines = self._batch
        if lines and self._batches is not None:
            self._batch = []
            batch = EventBatch(self._event_type, self._template, self._stamp_at, self._line_at, self._stamp, lines)
            self._batches(batch)

    def _deliver(self, lines: list[str]) -> None:
        """Build and deliver the event of each line in ``lines``."""
        if self._batches is not None:
            self._batch += lines
            if not self._hooks:
                return
        n = len(lines)
        r = itertools.repeat
        # The events are built by C iterators (zip over repeated fields, the
        # feed's timestamp among them), so a line costs no Python bytecode
        # of cuprum's beyond the loop that calls the hook.
        columns: list[typ.Iterable[object]] = [r(value, n) for value in self._template]
        columns[self._stamp_at] = r(self._stamp, n)
        columns[self._line_at] = lines
        build: typ.Callable[..., tuple[object, ...]] = tuple.__new__
        events = map(build, r(self._event_type, n), zip(*columns))
        pending, isawaitable = self._results, inspect.isawaitable
        hooks = self._hooks
        if len(hooks) == 1:
            for result in map(hooks[0], events):
                if result is not None and isawaitable(result):
                    pending.append(result)
            return
        for event in events:
            for hook in hooks:
                result = hook(event)
                if result is not None and isawaitable(result):
                    pending.append(result)


class EventBatch:
    """The line events of one ``LineEvents.feed`` (or ``finish``), built as
    they are iterated, for a stream's queue (see :mod:`cuprum._engine`).

    ``len`` is the number of its events; iterate it once; :meth:`clear`
    drops the events not yet taken, ending an iteration at its next pull.
    """

    __slots__ = ("_event_type", "_line_at", "_lines", "_stamp", "_stamp_at", "_template")

    def __init__(  # noqa: PLR0913 - the layout of the events
        self,
        event_type: type[tuple[object, ...]],
        template: tuple[object, ...],
        stamp_at: int,
        line_at: int,
        stamp: float,
        lines: list[str],
    ) -> None:
        """Hold ``lines`` and what their events share."""
        self._event_type = event_type
        self._template = template
        self._stamp_at = stamp_at
        self._line_at = line_at
        self._stamp = stamp
        self._lines = lines

    def __len__(self) -> int:
        """The number of events (lines) the batch holds."""
        return len(self._lines)

    def __iter__(self) -> typ.Iterator[typ.Any]:
        """Return an iterator building the events in order, as ``LineEvents``
        builds them for its hooks (C iterators: no bytecode per event)."""
        r = itertools.repeat
        columns: list[typ.Iterable[object]] = [r(value) for value in self._template]
        columns[self._stamp_at] = r(self._stamp)
        # The list itself, not a copy: clear() ends the zip at once.
        columns[self._line_at] = self._lines
        build: typ.Callable[..., tuple[object, ...]] = tuple.__new__
        return map(build, r(self._event_type), zip(*columns))

    def clear(self) -> None:
        """Drop the events not yet taken."""
        self._lines.clear()


def _no_callback(_line: str) -> None:
    """Never called: :class:`LineEvents` delivers lines itself."""


def _same_codec(left: str | None, right: str) -> bool:
    """Return True when two encoding names denote the same codec."""
    if not left:
        return False
    try:
        return codecs.lookup(left).name == codecs.lookup(right).name
    except LookupError:
        return False


class TextTee:
    """Copies a byte stream to a sink as it arrives.

    File descriptors and binary streams get the raw bytes. A text stream
    whose underlying ``buffer`` uses the same codec (``sys.stdout`` usually)
    gets the raw bytes written to that buffer after the text layer is
    flushed; any other text stream gets incrementally decoded text.
    """

    __slots__ = ("_decode", "_encoding", "_errors", "_flush", "_sink", "_write")

    def __init__(self, sink: TeeTarget, encoding: str, errors: str) -> None:
        """Prepare to copy into ``sink``."""
        self._sink = sink
        self._encoding = encoding
        self._errors = errors
        self._decode: typ.Callable[..., str] | None = None
        self._flush: typ.Callable[[], object] | None = None
        if isinstance(sink, int):
            fd = sink
            self._write: typ.Callable[[typ.Any], object] = lambda data: write_all(fd, data)
            return
        is_text = isinstance(sink, io.TextIOBase) or (
            not isinstance(sink, (io.RawIOBase, io.BufferedIOBase)) and hasattr(sink, "encoding")
        )
        if not is_text:
            self._write = sink.write
            self._flush = getattr(sink, "flush", None)
            return
        buffer: typ.Any = getattr(sink, "buffer", None)
        if buffer is not None and _same_codec(getattr(sink, "encoding", None), encoding):
            text_flush = sink.flush
            raw_write = buffer.write

            def write_raw(data: bytes) -> None:
                text_flush()
                raw_write(data)

            self._write = write_raw
            self._flush = buffer.flush
            return
        self._decode = incremental_decoder(encoding, errors).decode
        self._write = sink.write
        self._flush = getattr(sink, "flush", None)

    def feed(self, data: bytes) -> None:
        """Copy ``data`` to the sink."""
        if self._decode is not None:
            text = self._decode(data)
            if text:
                self._write(text)
        else:
            self._write(data)
        if self._flush is not None:
            self._flush()

    def finish(self) -> None:
        """Flush a character held back by the decoder, if any."""
        if self._decode is not None:
            text = _final_text(self._decode, self._encoding, self._errors)
            if text:
                self._write(text)
        if self._flush is not None:
            self._flush()


#: Captures stay a list of chunks up to this size; beyond it they move into
#: one anonymous memory map (transparent huge pages where allowed), so the
#: result is decoded straight from that map without joining chunks and with
#: far fewer page faults.
SPILL_SIZE = 4 * 1024 * 1024
_FIRST_REGION = 1 << 30


def _new_region(size: int) -> mmap.mmap:
    region = mmap.mmap(
        -1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, prot=mmap.PROT_READ | mmap.PROT_WRITE
    )
    advise = getattr(region, "madvise", None)
    hugepage = getattr(mmap, "MADV_HUGEPAGE", None)
    if advise is not None and hugepage is not None:
        try:
            advise(hugepage)
        except OSError:
            pass  # huge pages are an optimisation only
    return region


class Capture:
    """Accumulates chunks and decodes them once.

    Small captures keep a list of chunks joined at the end. Past
    ``SPILL_SIZE`` the bytes are copied into one reserved anonymous map
    (only touched pages use memory) and decoded from it directly. Either way
    peak memory is about twice the payload (bytes plus text), and the result
    equals ``data.decode(encoding, errors)`` whatever the chunk boundaries.
    """

    __slots__ = ("_chunks", "_encoding", "_errors", "_region", "_spillable", "nbytes")

    def __init__(self, encoding: str, errors: str) -> None:
        """Prepare to decode with ``encoding`` and ``errors``; an unknown
        codec or error handler raises ``LookupError`` here, as in the
        native capture, not at ``finish()``."""
        codecs.lookup(encoding)
        codecs.lookup_error(errors)
        self._chunks: list[bytes] = []
        self._encoding = encoding
        self._errors = errors
        self._region: mmap.mmap | None = None
        self._spillable = True
        self.nbytes = 0

    def _spill(self, needed: int) -> None:
        size = _FIRST_REGION
        while size < needed * 2:
            size *= 4
        try:
            region = _new_region(size)
        except (OSError, OverflowError) as exc:
            if self._region is not None:
                # Out of memory, as the native capture reports it: an
                # OSError here would pass for an error of the read.
                raise MemoryError(f"cannot map {size} bytes for the capture: {exc}") from exc
            self._spillable = False  # keep the chunk list: slower, never wrong
            return
        offset = 0
        old = self._region
        if old is not None:
            with memoryview(old) as view, view[: self.nbytes] as used:
                region[: self.nbytes] = used
            old.close()
        else:
            for chunk in self._chunks:
                region[offset : offset + len(chunk)] = chunk
                offset += len(chunk)
            self._chunks = []
        self._region = region

    def feed(self, data: bytes) -> None:
        """Append ``data``."""
        start = self.nbytes
        end = start + len(data)
        region = self._region
        if region is None:
            self._chunks.append(data)
            self.nbytes = end
            if end > SPILL_SIZE and self._spillable:
                self._spill(end)
            return
        if end > len(region):
            self._spill(end)
            region = self._region
            assert region is not None  # noqa: S101
        region[start:end] = data
        self.nbytes = end

    def read_from(self, fd: int, size: int) -> int:
        """Read once from ``fd`` (up to ``size`` bytes) into the capture.

        Once the capture lives in its memory map, the read lands there
        directly (``os.readv``), with no bytes object per chunk. Returns the
        byte count, 0 at end of file; raises as ``os.read`` does, and
        ``ValueError`` for a size below 1 (whose 0 would read as the end).
        """
        if size < 1:
            msg = "read_from size must be positive"
            raise ValueError(msg)
        region = self._region
        if region is None:
            data = os.read(fd, size)
            if data:
                self.feed(data)
            return len(data)
        start = self.nbytes
        end = start + size
        if end > len(region):
            self._spill(end)
            region = self._region
            assert region is not None  # noqa: S101
        with memoryview(region) as view, view[start:end] as part:
            got = os.readv(fd, [part])
        self.nbytes = start + got
        return got

    def finish(self) -> str:
        """Return the decoded text and release the storage; the capture
        starts again empty (``nbytes`` 0), whether or not decoding raised."""
        region = self._region
        nbytes = self.nbytes
        self.nbytes = 0
        if region is not None:
            self._region = None
            try:
                with memoryview(region) as view, view[:nbytes] as used:
                    return str(used, self._encoding, self._errors)
            finally:
                region.close()
        chunks = self._chunks
        self._chunks = []
        if not chunks:
            return ""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        return data.decode(self._encoding, self._errors)


def consume(
    fd: int,
    *,
    encoding: str = "utf-8",
    errors: str = "replace",
    capture: bool = True,
    tee: TeeTarget | None = None,
    on_line: LineCallback | None = None,
) -> str | None:
    """Read ``fd`` to EOF, capturing, teeing and splitting lines as asked.

    Returns the decoded capture, or ``None`` when ``capture`` is false. The
    descriptor is not closed.
    """
    codecs.lookup(encoding)
    codecs.lookup_error(errors)
    sinks: list[typ.Any] = []
    cap = Capture(encoding, errors) if capture else None
    if cap is not None:
        sinks.append(cap)
    if tee is not None:
        sinks.append(TextTee(tee, encoding, errors))
    if on_line is not None:
        sinks.append(LineSplitter(encoding, errors, on_line))
    feeds = [sink.feed for sink in sinks]
    size = FIRST_READ
    while True:
        data = read_chunk(fd, size)
        if not data:
            break
        if len(data) == size and size < MAX_READ:
            size *= 2
        for feed in feeds:
            feed(data)
    for sink in sinks[1:] if cap is not None else sinks:
        sink.finish()
    return cap.finish() if cap is not None else None


__all__ = [
    "Capture",
    "EventBatch",
    "LineEvents",
    "LineSplitter",
    "TextTee",
    "consume",
    "name",
    "pump",
    "read_chunk",
    "write_all",
]
