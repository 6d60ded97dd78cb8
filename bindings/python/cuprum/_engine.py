# SPDX-License-Identifier: ISC
"""The stream-engine interface every backend implements.

The execution layer asks :mod:`cuprum._backend` once for an *engine* and then
uses only what this module describes, so the pure-Python engine
(:mod:`cuprum._streams_pure`) and the C extension (``cuprum._native``) are
interchangeable. An engine is any object (a module will do) with these
attributes:

``name: str``
    ``"python"`` or ``"native"``.

``pump(reader_fd, writer_fd, buffer_size=65536) -> int``
    Blocking. Copy everything from ``reader_fd`` to ``writer_fd`` until EOF
    on the reader and return the number of bytes delivered to the writer.
    If the writer closes early (EPIPE / ECONNRESET) stop writing but keep
    reading the reader to EOF, so an upstream producer never blocks for
    ever. EINTR is retried; EAGAIN on a non-blocking descriptor is waited on
    with ``poll``. Pipe-to-pipe copies may use ``splice`` and fall back to
    read/write when it is refused with EINVAL. Other errors raise ``OSError``
    with the errno intact. ``buffer_size`` must be an ``int`` from 1 to
    2**30, else ``ValueError``. Never closes either descriptor.

``consume(fd, *, encoding="utf-8", errors="replace", capture=True, tee=None, on_line=None) -> str | None``
    Blocking. Read ``fd`` to EOF. With ``capture`` return
    ``data.decode(encoding, errors)`` of everything read (whatever the read
    boundaries were), else ``None``. ``tee`` (a :data:`TeeTarget`) receives a
    copy as it arrives; ``on_line`` receives each decoded line without its
    ending. Never closes ``fd``.

``LineSplitter(encoding, errors, callback)``
    Incremental line splitter (:class:`LineSplitter`). Line endings are
    ``\\n``, ``\\r\\n`` and a lone ``\\r`` only; a ``\\r\\n`` split across
    two ``feed`` calls is one ending; ``finish`` delivers a final line
    without an ending. A ``feed`` or ``finish`` made while the splitter is
    delivering lines (from its own callback, or from another thread while
    the callback runs) raises ``RuntimeError`` naming the call
    (``"LineSplitter.feed() called while it is delivering lines ..."``) and
    changes nothing; the splitter stays usable.
    In a codec whose bytes ``\\n`` and ``\\r`` always stand for those
    characters (UTF-8, ASCII, the ISO 8859 and Windows code pages), a strict
    decoding error delivers the complete lines before the bad line and is
    raised once that line ends (or at ``finish``), as the
    ``UnicodeDecodeError`` of decoding that line's bytes alone: the same
    however the reads cut the stream.

``TextTee(sink, encoding, errors)``
    Incremental copier (:class:`TextTee`) to a :data:`TeeTarget`. Raw bytes
    go to binary sinks and file descriptors; text sinks get text decoded
    incrementally, so a multi-byte character split across chunks comes out
    whole.

``Capture(encoding, errors)``
    Accumulator (:class:`Capture`) whose ``finish()`` returns the decoded
    text of everything fed, using at most about twice the payload in memory.
    It may also offer ``read_from(fd, size) -> int``: one read of up to
    ``size`` bytes from ``fd`` straight into the capture (0 at EOF,
    ``BlockingIOError`` on EAGAIN, ``OSError`` otherwise, as ``os.read``);
    the execution layer then uses it when the capture is a channel's only
    sink and has no ``on_exceeded`` (what that raises could not be told from
    a read error), saving a bytes object and a copy per chunk.

``bounded_capture: bool`` (optional; absent means false)
    True when ``Capture`` also takes a cap:
    ``Capture(encoding, errors, max_bytes, mode)``, ``max_bytes`` an ``int``
    >= 0 and ``mode`` ``"truncate"``, ``"tail"`` or ``"kill"``, as
    ``RunOutputOptions``. It keeps the first (``truncate``, ``kill``) or last
    (``tail``) ``max_bytes`` bytes with memory bounded by the cap, and adds
    what :class:`cuprum._exec.limits.BoundedCapture` has: ``nbytes`` counts
    every byte fed, ``truncated`` is true once more than ``max_bytes`` were
    fed, the settable ``on_exceeded`` (``None`` or a callable) is called once
    when a ``truncate`` or ``kill`` capture first passes the cap (its
    exception propagates from ``feed``/``read_from``), and ``finish()``
    decodes exactly as ``BoundedCapture.finish`` does (a head drops an
    incomplete final character, a UTF-8 tail its leading continuation
    bytes). Otherwise the execution layer uses ``BoundedCapture``.

``LineEvents(encoding, errors, event_type, template, hooks, pending, batches=None)``
    A line splitter, as ``LineSplitter``, that builds each line's event
    itself: a copy of the ``template`` tuple as ``event_type`` with the
    fields named ``timestamp`` and ``line`` in ``event_type._fields`` (the
    one definition of the layout) filled in with the time and the decoded line,
    passed to every hook in order; awaitable results are appended to
    ``pending``. The timestamp is the wall-clock time of the ``feed`` (or
    ``finish``) call that completed the line, so the lines of one read share
    it. A hook that raises stops the delivery and the exception propagates.
    ``batches``, if not ``None``, is called once per ``feed`` (or
    ``finish``) that completed lines, after their hooks, with an *event
    batch* of those lines: ``len(batch)`` is its number of events;
    iterating it (once) builds the events, equal to the ones the hooks got,
    in order (so an observer that holds events between reads, a stream's
    queue, holds lines, not events); ``batch.clear()`` drops the events
    not yet taken, ending an iteration at its next pull. The lines of a
    call that raised are not handed over. A ``feed`` or ``finish`` from a
    hook (or another thread while one runs) raises ``RuntimeError``
    (``"LineEvents.feed() called while it is delivering lines ..."``) and
    changes nothing, as for ``LineSplitter``.

``AsyncEvents(refill)`` (optional; the native engine has it)
    The async iterator of an async stream's events: ``__anext__`` returns
    the next event of the iterator last handed over with ``feed(iterator)``
    as an awaitable that completes at once without raising
    ``StopIteration`` (``am_send``), so an event already queued costs no
    async generator step; once that iterator is exhausted it returns
    ``refill(self)``, an awaitable that waits for the next batch, feeds it
    and returns its first event, or raises ``StopAsyncIteration`` at the
    end. An error from the iterator propagates from ``__anext__``. Without
    it the stream uses an async generator, with the same events.

``spawn(argv, *, stdin=None, stdout=None, stderr=None, cwd=None, env=None, process_group=None) -> NativeProcess``
    Optional (the native engine has it, the pure one does not). Start one
    child and return without waiting: ``argv[0]`` looked up in ``PATH`` when
    it has no slash; each stream ``None`` (inherited), a descriptor (lent:
    the child gets a copy, the caller keeps and closes its own), ``-3``
    (``subprocess.DEVNULL``) or, for stderr, ``-2`` (``subprocess.STDOUT``);
    ``cwd`` and ``env`` (the whole environment, or ``None`` to inherit) as
    ``Popen`` takes them; ``process_group`` as ``Popen``'s (``None``: the
    parent's group, 0: a new one, else that group). Every other descriptor
    is closed in the child; it keeps the parent's signal mask and ignored
    signals but gets the default ``SIGPIPE`` and ``SIGXFSZ``, as with
    ``Popen(restore_signals=True)``. A failed start raises the ``OSError`` (by errno:
    ``FileNotFoundError``, ``PermissionError``, ``NotADirectoryError``...)
    that ``Popen`` raises, with the same ``strerror`` and ``filename`` (the
    working directory when entering it failed, else ``argv[0]``), and
    leaves nothing running or open. The execution layer spawns through it
    when present, through ``subprocess.Popen`` otherwise, and runs the same
    lifecycle on either child: run policy (stop sequence, timeouts, caps,
    groups, events) lives in Python for both engines.

Every incremental decoding (``LineSplitter``, ``LineEvents``, a text
``TextTee``, the head of a capped ``Capture``) reads a ``utf-16`` or
``utf-32`` stream without a byte order mark in the machine's byte order, as
``bytes.decode`` does, where Python's own incremental decoders raise
``UnicodeError`` (:func:`incremental_decoder`).

The multiplexing loops in the execution layer own the descriptors and feed
chunks to these incremental objects; the blocking ``pump`` and ``consume``
serve callers that dedicate a thread to one stream.
"""

from __future__ import annotations

import codecs
import collections.abc as cabc
import sys
import typing as typ

#: Where a tee copies output: a file descriptor, a binary stream or a text
#: stream.
TeeTarget = int | typ.IO[bytes] | typ.IO[str]

#: Per-line callback; its return value is ignored by the engine.
LineCallback = cabc.Callable[[str], object]


class LineSplitter(typ.Protocol):
    """Turns a byte stream into decoded lines, one callback per line.

    Neither method may be called while the splitter delivers lines (from
    its callback): that raises ``RuntimeError`` and changes nothing.
    """

    def feed(self, data: bytes) -> None:
        """Consume the next chunk, delivering every completed line."""

    def finish(self) -> None:
        """Flush the decoder and deliver a final unterminated line, if any."""


class EventBatch(typ.Protocol):
    """The line events of one ``LineEvents`` feed, built as they are iterated."""

    def __len__(self) -> int:
        """The number of events in the batch."""

    def __iter__(self) -> cabc.Iterator[typ.Any]:
        """Build the events in order (a batch is iterated once)."""

    def clear(self) -> None:
        """Drop the events not yet taken."""


class TextTee(typ.Protocol):
    """Copies a byte stream to a sink as it arrives."""

    def feed(self, data: bytes) -> None:
        """Copy the next chunk to the sink."""

    def finish(self) -> None:
        """Flush any partial character held back by the decoder."""


class Capture(typ.Protocol):
    """Accumulates a byte stream and decodes it once at the end."""

    @property
    def nbytes(self) -> int:
        """Bytes fed so far."""

    def feed(self, data: bytes) -> None:
        """Append the next chunk."""

    def finish(self) -> str:
        """Return the decoded text of everything fed and release the chunks;
        the capture starts again empty (``nbytes`` 0), even if decoding
        raised."""


class ChildProcess(typ.Protocol):
    """What the execution layer uses of a child: ``subprocess.Popen`` has it."""

    @property
    def pid(self) -> int:
        """The child's process id."""

    @property
    def returncode(self) -> int | None:
        """``None`` until reaped, then the exit status or minus the signal."""

    def poll(self) -> int | None:
        """Reap the child if it has exited; :attr:`returncode`."""

    def wait(self) -> int:
        """Block until the child exits and is reaped; :attr:`returncode`."""

    def send_signal(self, sig: int) -> None:
        """Signal the child unless it was reaped (its pid may be reused)."""


class NativeProcess(ChildProcess, typ.Protocol):
    """A child started by an engine's ``spawn``."""

    def take_pidfd(self) -> int:
        """Hand over the child's close-on-exec pidfd (-1: none); the caller
        closes it. Later calls return -1."""


class StreamEngine(typ.Protocol):
    """The object :func:`cuprum._backend.get_engine` returns."""

    name: str

    def pump(self, reader_fd: int, writer_fd: int, buffer_size: int = 65536) -> int:
        """Copy reader to writer with backpressure; see the module docs."""

    def consume(
        self,
        fd: int,
        *,
        encoding: str = "utf-8",
        errors: str = "replace",
        capture: bool = True,
        tee: TeeTarget | None = None,
        on_line: LineCallback | None = None,
    ) -> str | None:
        """Read ``fd`` to EOF; see the module docs."""

    def LineEvents(  # noqa: N802, PLR0913 - a constructor
        self,
        encoding: str,
        errors: str,
        event_type: type[tuple[object, ...]],
        template: tuple[object, ...],
        hooks: tuple[cabc.Callable[[typ.Any], object], ...],
        pending: list[typ.Any],
        batches: cabc.Callable[[EventBatch], object] | None = None,
    ) -> LineSplitter:
        """Create a line splitter that delivers each line as an event."""

    def LineSplitter(  # noqa: N802 - a constructor
        self, encoding: str, errors: str, callback: LineCallback
    ) -> LineSplitter:
        """Create an incremental line splitter."""

    def TextTee(self, sink: TeeTarget, encoding: str, errors: str) -> TextTee:  # noqa: N802
        """Create an incremental tee to ``sink``."""

    def Capture(self, encoding: str, errors: str) -> Capture:  # noqa: N802
        """Create a capture accumulator."""


class _UnmarkedWideDecoder(codecs.BufferedIncrementalDecoder):
    """An incremental ``utf-16`` or ``utf-32`` decoder that takes the byte
    order from a leading byte order mark, else the machine's, as
    ``bytes.decode`` does."""

    def __init__(self, errors: str, width: int, marked: typ.Any, little: typ.Any, big: typ.Any) -> None:
        """``marked``: the codec's ``*_ex_decode``; ``little``, ``big``: its
        fixed-order decoders; ``width``: its code unit's size."""
        super().__init__(errors)
        self._width = width
        self._marked = marked
        self._orders = (little, big)
        self._decoder: typ.Any = None

    def _buffer_decode(self, data: typ.Any, errors: str, final: bool) -> tuple[str, int]:  # noqa: FBT001
        if self._decoder is not None:
            return self._decoder(data, errors, final)
        # Order 0: a mark sets the order, else the machine's is used.
        text, consumed, order = self._marked(data, errors, 0, final)
        if order:
            self._decoder = self._orders[order > 0]
        elif consumed >= self._width:
            self._decoder = self._orders[sys.byteorder == "big"]
        return text, consumed

    def reset(self) -> None:
        """Forget the byte order with the buffered bytes."""
        super().reset()
        self._decoder = None


_UNMARKED_WIDE = {
    "utf-16": (2, codecs.utf_16_ex_decode, codecs.utf_16_le_decode, codecs.utf_16_be_decode),
    "utf-32": (4, codecs.utf_32_ex_decode, codecs.utf_32_le_decode, codecs.utf_32_be_decode),
}


def incremental_decoder(encoding: str, errors: str) -> codecs.IncrementalDecoder:
    """``codecs.getincrementaldecoder(encoding)(errors)``, except that a
    ``utf-16`` or ``utf-32`` stream without a byte order mark is read in the
    machine's byte order, as ``bytes.decode`` reads it, where Python's own
    decoder raises ``UnicodeError``. An unknown codec raises
    ``LookupError``; the error handler is looked up at the first error."""
    factory = codecs.getincrementaldecoder(encoding)
    wide = _UNMARKED_WIDE.get(codecs.lookup(encoding).name)
    if wide is None:
        return factory(errors)
    return _UnmarkedWideDecoder(errors, *wide)


__all__ = [
    "Capture",
    "ChildProcess",
    "EventBatch",
    "LineCallback",
    "LineSplitter",
    "NativeProcess",
    "StreamEngine",
    "TeeTarget",
    "TextTee",
    "incremental_decoder",
]
