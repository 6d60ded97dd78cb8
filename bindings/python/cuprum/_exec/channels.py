# SPDX-License-Identifier: ISC
"""The parent's ends of a run's pipes: output channels and the stdin feed.

An output :class:`Channel` is one pipe the parent reads (the last stage's
stdout, every stage's stderr), with the stream engine's sinks its chunks
feed: a capture, an echo tee, a line-event splitter. Reading is per chunk
(growing to 1 MiB), never per line. :class:`StdinFeed` writes the stdin
payload to the first stage without blocking. Neither registers with a loop:
the run does, and calls them when their descriptor is ready.
"""

from __future__ import annotations

import os
import typing as typ

from cuprum.events import ExecEvent

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.observe import StageEvents
    from cuprum._exec.plan import RunPlan

_MAX_READ = 1024 * 1024
_FIRST_READ = 64 * 1024
_STDIN_CHUNK = 1024 * 1024


class Channel:
    """One output pipe the parent reads, with the sinks its chunks feed."""

    __slots__ = ("capture", "closers", "fd", "feeds", "index", "max_size", "size")

    def __init__(
        self,
        fd: int,
        index: int,
        plan: RunPlan,
        *,
        phase: str,
        sink: typ.Any,
        events: StageEvents | None,
    ) -> None:
        """Wire the sinks ``plan`` asks for to stage ``index``'s ``phase``."""
        self.fd = fd
        self.index = index
        self.feeds: list[cabc.Callable[[bytes], object]] = []
        self.closers: list[cabc.Callable[[], object]] = []
        self.capture: typ.Any = None
        self.max_size = _MAX_READ if plan.max_read is None else plan.max_read
        self.size = min(_FIRST_READ, self.max_size)
        engine = plan.engine
        if plan.capture:
            self.capture = engine.Capture(plan.encoding, plan.errors)
            self.feeds.append(self.capture.feed)
        if sink is not None:
            tee = engine.TextTee(sink, plan.encoding, plan.soft_errors)
            self.feeds.append(tee.feed)
            self.closers.append(tee.finish)
        if events is not None:
            # The engine builds the events itself, so a line costs no Python
            # call of cuprum's own.
            splitter = engine.LineEvents(
                plan.encoding,
                plan.soft_errors,
                ExecEvent,
                events.line_template(phase),
                events.hooks,
                events.pending,
            )
            self.feeds.append(splitter.feed)
            self.closers.append(splitter.finish)

    def reader(self, on_eof: cabc.Callable[[Channel], None]) -> cabc.Callable[[], None]:
        """Return the readiness callback: read one chunk, or report EOF."""
        fd = self.fd
        feeds = self.feeds
        read_from = getattr(self.capture, "read_from", None)
        if len(feeds) == 1 and read_from is not None:
            # The capture is the only sink and can read for itself: the bytes
            # go straight from the pipe into its buffer, with no bytes object
            # or copy per chunk.
            fill: cabc.Callable[[int, int], int] = read_from

            def read_chunk(size: int) -> int:
                return fill(fd, size)
        else:

            def read_chunk(size: int) -> int:
                data = os.read(fd, size)
                if data:
                    for feed in feeds:
                        feed(data)
                return len(data)

        def on_readable() -> None:
            size = self.size
            try:
                got = read_chunk(size)
            except BlockingIOError:
                return
            except OSError:
                got = 0
            if not got:
                on_eof(self)
                return
            if got == size and size < self.max_size:
                self.size = min(size * 2, self.max_size)

        return on_readable

    def close(self) -> None:
        """Close the pipe and flush the sinks (tee, line splitter)."""
        os.close(self.fd)
        for closer in self.closers:
            closer()

    def abandon(self) -> None:
        """Close the pipe without flushing anything (the run is abandoned)."""
        os.close(self.fd)

    def result(self) -> str | None:
        """The captured text, or ``None`` when not capturing."""
        return None if self.capture is None else self.capture.finish()


class StdinFeed:
    """Writes the stdin payload to the first stage without blocking."""

    __slots__ = ("fd", "sent", "view")

    def __init__(self, fd: int, data: bytes) -> None:
        """Take ownership of ``fd`` (non-blocking from now on)."""
        os.set_blocking(fd, False)
        self.fd = fd
        self.view = memoryview(data)
        self.sent = 0

    def write(self) -> bool:
        """Write one chunk; True once everything is written.

        Raises the ``OSError`` (a closed pipe, say) that ends the writing.
        """
        try:
            self.sent += os.write(self.fd, self.view[self.sent : self.sent + _STDIN_CHUNK])
        except BlockingIOError:
            return False
        return self.sent >= len(self.view)

    def close(self) -> None:
        """Release the payload and close the pipe."""
        self.view.release()
        os.close(self.fd)


__all__ = ["Channel", "StdinFeed"]
