# SPDX-License-Identifier: ISC
"""Feeding the first stage's stdin pipe: a payload, or chunks with backpressure.

A feed owns the write end of the pipe (non-blocking) and is called by the
run when that end is writable. :class:`ChunkFeed` writes a ``text``/``data``
payload or the chunks of an iterable; it takes the next chunk only once the
previous one is wholly in the pipe, so at most the pipe's capacity plus one
chunk has been taken from the iterable beyond what the child has read.
:class:`AsyncChunkFeed` does the same for an async iterable from one task
the driver starts on its loop (only drivers on an asyncio loop can). Write
errors (the child closed its stdin)
end the feed and are kept in ``error``; an exception raised by the iterable,
or a chunk of the wrong type, propagates and so stops the run.
``StdinInput(path=)`` and ``(fd=)`` need no feed: see ``stdio``.

When the feed ends (the last chunk written, the child gone, the run
stopped) it closes the iterator it read, on the thread or loop that read
it, once: cuprum owns what ``iter()``/``aiter()`` made from an iterable,
and a generator handed to it is consumed by the run (see
:func:`source_closer`); any other iterator passed in is left open. An
async source is closed from its task, which :attr:`ChunkFeed.busy` reports
until it has ended, so a run is not done before the source's ``finally``.
"""

from __future__ import annotations

import asyncio
import codecs
import collections.abc as cabc
import os
import select
import types
import typing as typ

from cuprum._exec.spawn import make_pipe

if typ.TYPE_CHECKING:
    from cuprum._exec.plan import RunPlan

#: What :meth:`ChunkFeed.write` returns.
DONE = 0  # everything written, or writing failed (see ``error``): close it
MORE = 1  # watch the pipe and call again when it is writable
WAIT = 2  # a task is writing: do not watch the pipe; ``resume`` will follow

#: Chunks written per call at most, so one busy feed cannot starve the
#: other descriptors of the loop.
_BATCH = 256

_Buffer = bytes | bytearray | memoryview


class TaskStarter(typ.Protocol):
    """A driver's way to run a coroutine on its loop (asyncio drivers only)."""

    def __call__(
        self,
        coro: cabc.Coroutine[typ.Any, typ.Any, typ.Any],
        on_done: cabc.Callable[[asyncio.Future[typ.Any]], None],
    ) -> asyncio.Future[typ.Any]:
        """Start ``coro``; call ``on_done(task)`` (under the driver's error
        handling) when it ends."""


class ChunkFeed:
    """Writes a payload or an iterator's chunks to a pipe without blocking."""

    __slots__ = (
        "closer",
        "encode",
        "encoding",
        "error",
        "errors",
        "fd",
        "pending",
        "sent",
        "source",
    )

    def __init__(
        self,
        fd: int,
        source: cabc.Iterator[object] | None,
        first: bytes,
        encoding: str,
        errors: str,
        closer: cabc.Callable[[], object] | None = None,
    ) -> None:
        """Take ownership of ``fd`` (non-blocking from now on); write
        ``first``, then the chunks of ``source``; call ``closer`` (the
        source's ``close``, when cuprum owns it) once the feed is closed."""
        os.set_blocking(fd, False)
        self.fd = fd
        self.source = source
        self.closer = closer
        self.pending: _Buffer | None = first or None
        self.encoding = encoding
        self.errors = errors
        #: The incremental encoder of ``str`` chunks, made at the first: the
        #: chunks are one text (a byte order mark is written once).
        self.encode: cabc.Callable[..., bytes] | None = None
        self.sent = 0
        self.error: OSError | None = None

    @property
    def empty(self) -> bool:
        """True for an empty payload: nothing at all to write."""
        return self.pending is None and self.source is None

    @property
    def busy(self) -> bool:
        """True while a closed feed is still closing its source: never for
        a sync source, closed at once by :meth:`close`."""
        return False

    def orphaned(self) -> bool:
        """True when the pipe has no reader left but the feed will not
        find out by itself: never here, since the run watches the pipe
        while there is anything to write (a broken pipe is writable)."""
        return False

    def to_bytes(self, chunk: object) -> _Buffer:
        """A chunk as something ``os.write`` takes; ``TypeError`` otherwise."""
        kind = type(chunk)
        if kind is bytes or kind is bytearray:
            return typ.cast(_Buffer, chunk)
        if isinstance(chunk, str):
            encode = self.encode
            if encode is None:
                encode = self.encode = codecs.getincrementalencoder(self.encoding)(self.errors).encode
            return encode(chunk)
        if isinstance(chunk, (bytes, bytearray)):
            return chunk
        if isinstance(chunk, memoryview):
            return chunk if chunk.format == "B" and chunk.ndim == 1 else chunk.cast("B")
        msg = f"StdinInput.chunks must yield bytes or str, got {kind.__name__}"
        raise TypeError(msg)

    def pull(self) -> _Buffer | None:
        """The next non-empty chunk, or ``None`` at the end."""
        source = self.source
        if source is None:
            return None
        for chunk in source:
            data = self.to_bytes(chunk)
            if data:
                return data
        self.source = None
        return self.text_end() or None

    def text_end(self) -> bytes:
        """What the encoder of ``str`` chunks holds back at the end (a
        stateful codec's return to its initial state), if any."""
        return b"" if self.encode is None else self.encode("", True)

    def write(self) -> int:
        """Write what the pipe takes now; return ``DONE``, ``MORE`` or ``WAIT``.

        Raises what the source raises (or ``TypeError`` for a bad chunk).
        """
        fd = self.fd
        for _ in range(_BATCH):
            view = self.pending
            if view is None:
                got = self.pull()
                if got is None:
                    return DONE
                view = got
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                self.pending = view
                return MORE
            except OSError as exc:
                self.pending = None
                self.error = exc
                return DONE
            self.sent += written
            if written < len(view):
                # The pipe is full: keep the rest, take no new chunk.
                self.pending = memoryview(view)[written:]
                return MORE
            self.pending = None
        return MORE

    def close(self) -> None:
        """Drop what was not written, close the pipe, then the source (if
        cuprum owns it); raises what closing the source raises."""
        self.pending = None
        self.source = None
        closer, self.closer = self.closer, None
        os.close(self.fd)
        if closer is not None:
            closer()


class AsyncChunkFeed(ChunkFeed):
    """Writes an async iterator's chunks from one task on the driver's loop.

    The task takes a chunk, writes it, waits for the pipe to be writable
    while it is full, and only then takes the next one. The run does not
    watch the pipe: :meth:`write` starts the task and answers ``WAIT`` until
    it has ended, when the driver's ``resume`` callback lets the run close
    the feed (or raise what the source raised). The task ends by closing
    the source (``aclose``, when cuprum owns it), also when :meth:`close`
    cancels it; a feed closed before its task started starts one that only
    closes the source. Made on the driver's running loop.
    """

    __slots__ = (
        "aclose",
        "asource",
        "closed",
        "closing",
        "finished",
        "loop",
        "pumping",
        "resume",
        "start_task",
        "task",
        "waiting",
    )

    def __init__(
        self,
        fd: int,
        source: cabc.AsyncIterator[object],
        encoding: str,
        errors: str,
        start_task: TaskStarter,
        resume: cabc.Callable[[], None],
        aclose: cabc.Callable[[], cabc.Awaitable[object]] | None = None,
    ) -> None:
        """Take ownership of ``fd``; ``resume`` is called when the task ends;
        ``aclose`` (the source's, when cuprum owns it) is awaited by the
        task at its end."""
        super().__init__(fd, None, b"", encoding, errors)
        self.asource = source
        self.aclose = aclose
        self.start_task = start_task
        self.resume = resume
        self.task: asyncio.Future[typ.Any] | None = None
        self.loop = asyncio.get_running_loop()
        self.waiting = False
        self.closed = False
        #: The task's body has begun: cancelling it now reaches its finally.
        self.pumping = False
        #: The task is awaiting ``aclose``: a cancellation would cut it short.
        self.closing = False
        #: The task's done callback has run. The task is done a moment
        #: before (its callbacks are scheduled, not called, when it ends):
        #: until then what it raised has not reached the run.
        self.finished = False

    @property
    def empty(self) -> bool:
        """Unknown until the source is read: never."""
        return False

    @property
    def busy(self) -> bool:
        """True until the task (which closes the source) has ended and its
        end has been handled: a run seen done in between would lose what
        closing the source raised."""
        return self.task is not None and not self.finished

    def orphaned(self) -> bool:
        """True when the pipe has no reader left while the task awaits
        the source's next chunk: nothing watches the pipe then, and the
        task would find it broken only once a chunk comes (maybe never).
        A task not yet started is left to start, as a sync feed is left to
        take its first chunk: it finds the pipe broken at its first write."""
        task = self.task
        if task is None or self.waiting or self.closing or task.done():
            return False
        probe = select.poll()
        probe.register(self.fd, select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in probe.poll(0))

    def write(self) -> int:
        """Start the task; ``WAIT`` while it runs, then ``DONE`` (or raise)."""
        task = self.task
        if task is None:
            self.task = self.start_task(self._pump(), self._ended)
            return WAIT
        if not task.done():
            return WAIT
        # Raises what the task raised, a CancelledError too: the feed is
        # not closed, so cuprum did not cancel it (the source raised it, an
        # await of its own cancelled), and that is no end of the chunks.
        task.result()
        return DONE

    def _ended(self, task: asyncio.Future[typ.Any]) -> None:
        """The task has ended: resume the run, or, when the feed was closed
        meanwhile, raise what the task raised (closing the source failed,
        or the source raised on being cancelled): the run raises it."""
        self.finished = True
        if self.closed:
            if not task.cancelled():
                exc = task.exception()
                if exc is not None:
                    raise exc
            return
        self.resume()

    async def _pump(self) -> None:
        self.pumping = True
        try:
            if not self.closed:
                await self._copy()
        finally:
            aclose, self.aclose = self.aclose, None
            if aclose is not None:
                self.closing = True
                await aclose()

    async def _copy(self) -> None:
        loop = self.loop
        fd = self.fd
        taken = 0
        async for chunk in self.asource:
            if not await self._write_all(loop, fd, self.to_bytes(chunk)):
                return
            taken += 1
            if taken % _BATCH == 0:
                # A source that never suspends must not starve the loop.
                await asyncio.sleep(0)
        await self._write_all(loop, fd, self.text_end())

    async def _write_all(self, loop: asyncio.AbstractEventLoop, fd: int, view: _Buffer) -> bool:
        """Write ``view`` whole, waiting while the pipe is full; False
        (the error kept) when writing failed or the feed is closed."""
        while view:
            if self.closed:
                return False  # a source that went on after its cancellation
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                await self._writable(loop, fd)
                continue
            except OSError as exc:
                self.error = exc
                return False
            self.sent += written
            view = memoryview(view)[written:] if written < len(view) else b""
        return True

    async def _writable(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        ready: asyncio.Future[None] = loop.create_future()

        def on_writable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, on_writable)
        self.waiting = True
        try:
            await ready
        finally:
            if self.waiting:
                self.waiting = False
                loop.remove_writer(fd)

    def close(self) -> None:
        """Stop the task (its pipe unwatched at once) and close the pipe;
        the task then closes the source. Never started, the task is started
        now to close it, on the feed's loop only (when that loop is gone, an
        async generator it never started has no ``finally`` to run)."""
        self.closed = True
        if self.waiting:
            self.waiting = False
            self.loop.remove_writer(self.fd)
        task = self.task
        if task is None:
            if self.aclose is not None and _running_loop() is self.loop:
                self.task = self.start_task(self._pump(), self._ended)
        elif self.pumping and not self.closing and not task.done() and not self.loop.is_closed():
            task.cancel()
        super().close()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def async_capable(driver: object) -> TaskStarter | None:
    """The driver's task starter, or ``None`` when it has no asyncio loop."""
    return typ.cast("TaskStarter | None", getattr(driver, "start_task", None))


def check_source(plan: RunPlan, driver: object) -> None:
    """Raise ``TypeError`` before anything starts when the plan's chunks
    cannot be read by this driver (an async iterable without a loop)."""
    source = plan.stdin
    if source is None or source.chunks is None:
        return
    chunks = source.chunks
    if isinstance(chunks, cabc.AsyncIterable) and async_capable(driver) is not None:
        return
    if not isinstance(chunks, cabc.Iterable):
        msg = (
            "StdinInput.chunks is an async iterable: it can feed only an asyncio run "
            "(await run()), not run_sync"
        )
        raise TypeError(msg)


def source_closer(chunks: object, source: object, name: str) -> typ.Any:
    """The ``close``/``aclose`` (``name``) of ``source``, the iterator
    cuprum reads from ``chunks``, when cuprum owns it, else ``None``.

    cuprum owns an iterator that ``iter()``/``aiter()`` made (``source``
    is not ``chunks``), and a generator or async generator handed to it
    (a generator passed to one run is consumed by it, as ``contextlib``
    and asyncio close the generators they stop reading); any other
    iterator passed in (a file object, say) is the caller's.
    """
    if source is chunks and not isinstance(source, (types.GeneratorType, types.AsyncGeneratorType)):
        return None
    return getattr(source, name, None)


def open_feed(
    plan: RunPlan, driver: object, resume: cabc.Callable[[], None]
) -> tuple[int, ChunkFeed] | None:
    """Make the stdin pipe and its feed for a payload or chunks source.

    Returns the read end (for the first stage) and the feed (owning the
    write end), or ``None`` when the plan has neither.
    """
    source = plan.stdin
    chunks = None if source is None else source.chunks
    if plan.stdin_data is None and chunks is None:
        return None
    read_fd, write_fd = make_pipe()
    try:
        feed: ChunkFeed
        start_task = async_capable(driver)
        if chunks is None:
            feed = ChunkFeed(write_fd, None, plan.stdin_data or b"", plan.encoding, plan.errors)
        elif isinstance(chunks, cabc.AsyncIterable) and start_task is not None:
            asource = aiter(chunks)
            aclose = source_closer(chunks, asource, "aclose")
            feed = AsyncChunkFeed(
                write_fd, asource, plan.encoding, plan.errors, start_task, resume, aclose
            )
        else:
            source_iter = iter(typ.cast("cabc.Iterable[object]", chunks))
            closer = source_closer(chunks, source_iter, "close")
            feed = ChunkFeed(write_fd, source_iter, b"", plan.encoding, plan.errors, closer)
    except BaseException:
        os.close(read_fd)
        os.close(write_fd)
        raise
    return read_fd, feed


__all__ = [
    "DONE",
    "MORE",
    "WAIT",
    "AsyncChunkFeed",
    "ChunkFeed",
    "TaskStarter",
    "async_capable",
    "check_source",
    "open_feed",
    "source_closer",
]
