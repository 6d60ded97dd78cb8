# SPDX-License-Identifier: ISC
"""Feeding the first stage's stdin pipe: a payload, or chunks with backpressure.

A feed owns the write end of the pipe (non-blocking) and is called by the
run when that end is writable. :class:`ChunkFeed` writes a ``text``/``data``
payload or the chunks of an iterable; it takes the next chunk only once the
previous one is wholly in the pipe, so at most the pipe's capacity plus one
chunk has been taken from the iterable beyond what the child has read.
:class:`AsyncChunkFeed` does the same for an async iterable, fetching each
chunk in a task the driver starts (only drivers on an asyncio loop can),
while the pipe is not watched. Write errors (the child closed its stdin)
end the feed and are kept in ``error``; an exception raised by the iterable,
or a chunk of the wrong type, propagates and so stops the run.
``StdinInput(path=)`` and ``(fd=)`` need no feed: see ``stdio``.
"""

from __future__ import annotations

import collections.abc as cabc
import os
import typing as typ

from cuprum._exec.spawn import make_pipe

if typ.TYPE_CHECKING:
    import asyncio

    from cuprum._exec.plan import RunPlan

#: What :meth:`ChunkFeed.write` returns.
DONE = 0  # everything written, or writing failed (see ``error``): close it
MORE = 1  # watch the pipe and call again when it is writable
WAIT = 2  # a chunk is being fetched: stop watching until ``resume`` is called

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

    __slots__ = ("encoding", "error", "errors", "fd", "pending", "sent", "source")

    def __init__(
        self,
        fd: int,
        source: cabc.Iterator[object] | None,
        first: bytes,
        encoding: str,
        errors: str,
    ) -> None:
        """Take ownership of ``fd`` (non-blocking from now on); write
        ``first``, then the chunks of ``source``."""
        os.set_blocking(fd, False)
        self.fd = fd
        self.source = source
        self.pending: _Buffer | None = first or None
        self.encoding = encoding
        self.errors = errors
        self.sent = 0
        self.error: OSError | None = None

    @property
    def empty(self) -> bool:
        """True when there is nothing at all to write."""
        return self.pending is None and self.source is None

    def to_bytes(self, chunk: object) -> _Buffer:
        """A chunk as something ``os.write`` takes; ``TypeError`` otherwise."""
        kind = type(chunk)
        if kind is bytes or kind is bytearray:
            return typ.cast(_Buffer, chunk)
        if isinstance(chunk, str):
            return chunk.encode(self.encoding, self.errors)
        if isinstance(chunk, (bytes, bytearray)):
            return chunk
        if isinstance(chunk, memoryview):
            return chunk if chunk.format == "B" and chunk.ndim == 1 else chunk.cast("B")
        msg = f"StdinInput.chunks must yield bytes or str, got {kind.__name__}"
        raise TypeError(msg)

    def pull(self) -> _Buffer | int | None:
        """The next non-empty chunk, ``None`` at the end (or ``WAIT``)."""
        source = self.source
        if source is None:
            return None
        for chunk in source:
            data = self.to_bytes(chunk)
            if data:
                return data
        self.source = None
        return None

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
                if isinstance(got, int):
                    return got
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
        """Drop what was not written and close the pipe."""
        self.pending = None
        self.source = None
        os.close(self.fd)


#: What a fetch returns at the end of an async iteration.
_END = object()


async def _anext(source: cabc.AsyncIterator[object]) -> object:
    try:
        return await source.__anext__()
    except StopAsyncIteration:
        return _END


class AsyncChunkFeed(ChunkFeed):
    """Writes an async iterator's chunks, fetching each one in a task."""

    __slots__ = ("asource", "closed", "ready", "resume", "start_task", "task")

    def __init__(
        self,
        fd: int,
        source: cabc.AsyncIterator[object],
        encoding: str,
        errors: str,
        start_task: TaskStarter,
        resume: cabc.Callable[[], None],
    ) -> None:
        """Take ownership of ``fd``; ``resume`` is called when a fetched
        chunk (or the end) is ready to be written."""
        super().__init__(fd, None, b"", encoding, errors)
        self.asource: cabc.AsyncIterator[object] | None = source
        self.start_task = start_task
        self.resume = resume
        self.ready: object = None
        self.task: asyncio.Future[typ.Any] | None = None
        self.closed = False

    @property
    def empty(self) -> bool:
        """Never known to be empty before the first fetch."""
        return False

    def pull(self) -> _Buffer | int | None:
        """The fetched chunk, ``None`` at the end, else start a fetch: ``WAIT``."""
        while self.ready is not None:
            chunk, self.ready = self.ready, None
            if chunk is _END:
                self.asource = None
                return None
            data = self.to_bytes(chunk)
            if data:
                return data
        if self.asource is None:
            return None
        if self.task is None:
            self.task = self.start_task(_anext(self.asource), self._fetched)
        return WAIT

    def _fetched(self, task: asyncio.Future[typ.Any]) -> None:
        self.task = None
        if task.cancelled():
            return
        exc = task.exception()
        if self.closed:
            return
        if exc is not None:
            raise exc
        self.ready = task.result()
        self.resume()

    def close(self) -> None:
        """Cancel a fetch in flight and close the pipe."""
        self.closed = True
        self.asource = None
        self.ready = None
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
        super().close()


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
    read_fd, write_fd = make_pipe(enlarge=False)
    try:
        feed: ChunkFeed
        start_task = async_capable(driver)
        if chunks is None:
            feed = ChunkFeed(write_fd, None, plan.stdin_data or b"", plan.encoding, plan.errors)
        elif isinstance(chunks, cabc.AsyncIterable) and start_task is not None:
            feed = AsyncChunkFeed(
                write_fd, aiter(chunks), plan.encoding, plan.errors, start_task, resume
            )
        else:
            source_iter = iter(typ.cast("cabc.Iterable[object]", chunks))
            feed = ChunkFeed(write_fd, source_iter, b"", plan.encoding, plan.errors)
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
]
