# SPDX-License-Identifier: ISC
"""Bounded capture: ``RunOutputOptions(max_bytes=, on_overflow=)``.

A :class:`BoundedCapture` replaces the engine's capture of a stream when a
cap is set, under both stream backends (the engine's chunks feed it), so
results are identical and memory stays bounded by the cap: ``truncate``
and ``kill`` keep one buffer of at most ``max_bytes``; ``tail`` keeps a
deque of chunks trimmed to the cap. The kept bytes are decoded so that no
partial character appears at the cut: a truncated head drops an incomplete
trailing character, a tail drops leading UTF-8 continuation bytes.
"""

from __future__ import annotations

import codecs
import collections
import typing as typ

from cuprum._results import CommandResult, OutputLimitExceeded, PipelineResult

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.plan import RunPlan

_UTF8 = frozenset({"utf-8", "utf_8", "utf8", "u8"})


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
            if codecs.lookup(self.encoding).name.replace("-", "_") in {n.replace("-", "_") for n in _UTF8}:
                start = 0
                while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
                    start += 1
                data = data[start:]
            return data.decode(self.encoding, self.errors)
        # A head: an incremental decoder holds back an incomplete final
        # character, which is exactly what the cut may have split.
        decoder = codecs.getincrementaldecoder(self.encoding)(self.errors)
        return decoder.decode(data, final=False)


def make_capture(engine: typ.Any, encoding: str, errors: str, max_bytes: int | None, mode: str) -> typ.Any:
    """The capture for one stream: the engine's, or a bounded one."""
    if max_bytes is None:
        return engine.Capture(encoding, errors)
    return BoundedCapture(encoding, errors, max_bytes, mode)


def raise_output_limit(plan: RunPlan, results: list[CommandResult], failure_index: int | None) -> typ.NoReturn:
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


__all__ = ["BoundedCapture", "make_capture", "raise_output_limit"]
