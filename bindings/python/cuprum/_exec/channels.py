# SPDX-License-Identifier: ISC
"""The parent's ends of a run's output pipes: channels.

An output :class:`Channel` is one pipe the parent reads (the last stage's
stdout, every stage's stderr), with the stream engine's sinks its chunks
feed: a capture, an echo tee, a line-event splitter. Reading is per chunk
(growing to 1 MiB), never per line. A channel does not register with a
loop: the run does, and calls it when its descriptor is ready. (The stdin
feed is in :mod:`~cuprum._exec.stdin`.)
"""

from __future__ import annotations

import fcntl
import os
import sys
import termios
import typing as typ

from cuprum._exec.limits import limited_lines_codec, line_limit, line_limiter, make_capture
from cuprum._exec.spawn import grow_pipe
from cuprum.events import ExecEvent

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.observe import StageEvents
    from cuprum._exec.plan import RunPlan

_MAX_READ = 1024 * 1024
_FIRST_READ = 64 * 1024
#: A pipe is grown to pipe-max-size once this much came through it.
_GROW_AFTER = 64 * 1024


class Channel:
    """One output pipe the parent reads, with the sinks its chunks feed."""

    __slots__ = (
        "capture",
        "closers",
        "drain_mark",
        "fd",
        "feeds",
        "index",
        "max_size",
        "nread",
        "phase",
        "program",
        "size",
    )

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
        #: "stdout" or "stderr", and the stage's program: what a read error names.
        self.phase = phase
        self.program = plan.commands[index].program
        #: Bytes read so far; the run's drain closes the pipe only once
        #: ``nread`` reaches ``drain_mark``.
        self.nread = 0
        self.drain_mark = 0
        self.feeds: list[cabc.Callable[[bytes], object]] = []
        self.closers: list[cabc.Callable[[], object]] = []
        self.capture: typ.Any = None
        self.max_size = _MAX_READ if plan.max_read is None else plan.max_read
        self.size = min(_FIRST_READ, self.max_size)
        engine = plan.engine
        if plan.capture:
            out = plan.output
            self.capture = make_capture(engine, plan.encoding, plan.errors, out.max_bytes, out.on_overflow)
            self.feeds.append(self.capture.feed)
        if sink is not None:
            tee = engine.TextTee(sink, plan.encoding, plan.soft_errors)
            self.feeds.append(tee.feed)
            self.closers.append(tee.finish)
        if events is not None:
            # The engine builds the events itself, so a line costs no Python
            # call of cuprum's own.
            max_bytes = plan.output.max_bytes
            encoding, errors = plan.encoding, plan.soft_errors
            if max_bytes is not None:
                # The limiter may hand the splitter the stream decoded.
                encoding, errors = limited_lines_codec(encoding, errors)
            splitter = engine.LineEvents(
                encoding,
                errors,
                ExecEvent,
                events.line_template(phase),
                events.line_hooks,
                events.pending,
                events.batches,
            )
            if max_bytes is not None:
                limit = line_limit(max_bytes)
                limiter = line_limiter(splitter.feed, limit, plan.encoding, plan.soft_errors)
                self.feeds.append(limiter.feed)
                self.closers.append(limiter.flush)
            else:
                self.feeds.append(splitter.feed)
            self.closers.append(splitter.finish)

    def reader(self, on_eof: cabc.Callable[[Channel], None]) -> cabc.Callable[[], None]:
        """Return the readiness callback: read one chunk, or report EOF."""
        fd = self.fd
        feeds = self.feeds
        read_from = getattr(self.capture, "read_from", None)
        if len(feeds) == 1 and read_from is not None and getattr(self.capture, "on_exceeded", None) is None:
            # The capture is the only sink and can read for itself: the bytes
            # go straight from the pipe into its buffer, with no bytes object
            # or copy per chunk. Not with a cap's callback (a "kill" cap
            # stops the run from inside the read): an OSError from stopping
            # would pass for an error of the read.
            fill: cabc.Callable[[int, int], int] = read_from

            def read_chunk(size: int) -> int:
                try:
                    return fill(fd, size)
                except BlockingIOError:
                    raise
                except OSError as exc:
                    self._read_failed(exc)
                    raise
        else:

            def read_chunk(size: int) -> int:
                try:
                    data = os.read(fd, size)
                except BlockingIOError:
                    raise
                except OSError as exc:
                    self._read_failed(exc)
                    raise
                # A sink's error (echo into a closed pipe) propagates.
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
            if not got:
                on_eof(self)
                return
            before = self.nread
            self.nread = before + got
            if before < _GROW_AFTER <= self.nread:
                grow_pipe(fd)  # the output proves large
            if got == size and size < self.max_size:
                self.size = min(size * 2, self.max_size)

        return on_readable

    def _read_failed(self, exc: OSError) -> None:
        """Name the pipe on ``exc``, a failing read, which then propagates and
        stops the run: taken for the end of the output, as it once was, it
        would lose the rest of the output silently."""
        exc.add_note(f"cuprum: reading the {self.phase} of stage {self.index} ({self.program}) failed")

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


def pending_bytes(fd: int) -> int:
    """The bytes waiting in pipe ``fd`` (0 if that cannot be told)."""
    try:
        data = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    except OSError:
        return 0
    return int.from_bytes(data, sys.byteorder)


__all__ = ["Channel", "pending_bytes"]
