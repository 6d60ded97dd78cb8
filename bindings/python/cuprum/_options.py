# SPDX-License-Identifier: ISC
"""Per-call run options: output handling, stdin payload, execution context.

These are plain immutable values validated on construction, so a mistake
(negative grace period, unknown encoding, two sources for stdin) is reported
where it was made and before anything is spawned.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import os
import typing as typ
import warnings
from pathlib import Path

from cuprum._constants import DEFAULT_CANCEL_GRACE, DEFAULT_ENCODING, DEFAULT_ERRORS
from cuprum._validate import (
    check_codec,
    check_env,
    check_fd,
    check_output_cap,
    check_path,
    check_seconds,
    check_sink,
    check_timeout,
)


@dc.dataclass(frozen=True, slots=True)
class RunOutputOptions:
    """How a run handles the child's output.

    Attributes
    ----------
    capture:
        Capture stdout and stderr into the result; when false they are
        discarded (unless echoed or observed) and the result holds ``None``.
    echo:
        Copy stdout and stderr to the context's sinks (``sys.stdout`` and
        ``sys.stderr`` by default) as they arrive.
    max_bytes:
        Keep at most this many bytes of each captured stream (stdout and
        stderr of each stage); ``None`` keeps everything. Memory stays
        bounded by the cap whatever the output size.
    on_overflow:
        What a stream beyond ``max_bytes`` does: ``"truncate"`` keeps the
        first bytes, ``"tail"`` the last, ``"kill"`` stops the run (its
        process group, if any) and raises
        :class:`~cuprum.OutputLimitExceeded`. Text is cut on a character
        boundary; ``CommandResult.truncated`` says whether a cap was hit.
    """

    capture: bool = True
    echo: bool = False
    max_bytes: int | None = None
    on_overflow: str = "truncate"

    def __post_init__(self) -> None:
        """Validate the output cap."""
        check_output_cap(self.max_bytes, self.on_overflow)


@dc.dataclass(frozen=True, slots=True)
class IOOptions(RunOutputOptions):
    """Deprecated alias of :class:`RunOutputOptions`."""

    def __post_init__(self) -> None:
        """Validate like the parent, and warn that the alias is deprecated."""
        check_output_cap(self.max_bytes, self.on_overflow)
        warnings.warn(
            "IOOptions is deprecated; use RunOutputOptions instead",
            DeprecationWarning,
            stacklevel=3,
        )


@dc.dataclass(frozen=True, slots=True)
class ExecutionContext:
    """Runtime settings for one run.

    Attributes
    ----------
    env:
        Environment variables layered over ``os.environ`` and any ``env()``
        overlays (these win).
    cwd:
        Working directory for the child; it must exist.
    cancel_grace:
        Seconds between SIGTERM and SIGKILL when a child is stopped
        (infinity: never SIGKILL).
    timeout:
        Timeout in seconds used when the call passes none; zero or less has
        already expired, infinity never does.
    stdout_sink / stderr_sink:
        Where ``echo`` copies output; ``None`` means the current
        ``sys.stdout`` / ``sys.stderr``. A text stream, a binary stream (any
        object with a ``write`` method; an ``io`` stream open for writing) or
        a non-negative file descriptor; anything else is refused when the
        context is built.
    encoding / errors:
        How output is decoded (and stdin text encoded).
    tags:
        Metadata added to every :class:`~cuprum.events.ExecEvent`.
    process_group:
        Run the command, or the whole pipeline, in one new process group,
        and send every signal of the stop sequence (timeout, cancellation,
        fail-fast, Ctrl-C) to the whole group, grandchildren included. Off
        by default: a background group cannot read the terminal (SIGTTIN).
    """

    env: cabc.Mapping[str, str] | None = None
    cwd: str | Path | None = None
    cancel_grace: float = DEFAULT_CANCEL_GRACE
    timeout: float | None = None
    stdout_sink: int | typ.IO[str] | typ.IO[bytes] | None = None
    stderr_sink: int | typ.IO[str] | typ.IO[bytes] | None = None
    encoding: str = DEFAULT_ENCODING
    errors: str = DEFAULT_ERRORS
    tags: cabc.Mapping[str, object] | None = None
    process_group: bool = False

    def __post_init__(self) -> None:
        """Validate the environment, directory, timings, codec names, sinks
        and flags (whether the directory exists is checked at each run)."""
        check_env(self.env, "ExecutionContext.env")
        if self.cwd is not None:
            cwd = self.cwd
            if not isinstance(cwd, (str, os.PathLike)) or isinstance(os.fspath(cwd), bytes):
                msg = f"ExecutionContext.cwd must be a str or os.PathLike path, got {type(cwd).__name__}"
                raise TypeError(msg)
            if "\0" in os.fspath(cwd):
                msg = f"working directory {os.fspath(cwd)!r} contains a NUL character"
                raise ValueError(msg)
        if not isinstance(self.process_group, bool):
            msg = f"ExecutionContext.process_group must be a bool, got {self.process_group!r}"
            raise TypeError(msg)
        check_seconds(self.cancel_grace, "ExecutionContext.cancel_grace")
        check_timeout(self.timeout, "ExecutionContext.timeout")
        check_codec(self.encoding, self.errors)
        check_sink(self.stdout_sink, "ExecutionContext.stdout_sink")
        check_sink(self.stderr_sink, "ExecutionContext.stderr_sink")


#: A stream of stdin chunks: ``bytes``-like or ``str`` items.
StdinChunks = typ.Union[
    cabc.Iterable[bytes | bytearray | memoryview | str],
    cabc.AsyncIterable[bytes | bytearray | memoryview | str],
]

_SOURCES = ("text", "data", "path", "fd", "chunks")


@dc.dataclass(frozen=True, slots=True)
class StdinInput:
    """What the first stage reads on its stdin: exactly one source.

    Attributes
    ----------
    text:
        A string, encoded with the context's encoding and error handler,
        written to the child, whose stdin is then closed.
    data:
        Bytes written the same way.
    path:
        A file opened (read-only) for the child: it reads the file itself,
        nothing passes through Python. A file that cannot be opened is an
        ``OSError`` naming it, raised before any process is started.
    fd:
        A descriptor the caller lends: the child gets a duplicate (sharing
        its file offset); cuprum never closes the caller's descriptor.
    chunks:
        An iterable (or, for ``await run()`` only, an async iterable) of
        ``bytes`` or ``str`` chunks (``str`` encoded like ``text``),
        written in order with backpressure: the next chunk is taken only
        when the pipe has taken the previous one. The child sees end of file
        after the last one. An exception raised by the iterable stops the
        run and propagates. When the run stops reading it (at its end or
        early), cuprum closes what it owns, before the run returns: the
        iterator ``iter()``/``aiter()`` made from an iterable, or a
        generator (or async generator) passed itself; any other iterator
        passed itself is left open.

    With no source at all the child inherits the parent's stdin.
    """

    text: str | None = None
    data: bytes | None = None
    path: str | os.PathLike[str] | None = dc.field(default=None, kw_only=True)
    fd: int | None = dc.field(default=None, kw_only=True)
    chunks: StdinChunks | None = dc.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        """Reject ambiguous or mistyped sources."""
        given = [name for name in _SOURCES if getattr(self, name) is not None]
        if len(given) > 1:
            msg = (
                "StdinInput takes exactly one source (text, data, path, fd or chunks); "
                f"got {', '.join(given[:-1])} and {given[-1]}"
            )
            raise ValueError(msg)
        if self.text is not None and not isinstance(self.text, str):
            msg = f"StdinInput.text must be str, got {type(self.text).__name__}"
            raise TypeError(msg)
        if self.data is not None and not isinstance(self.data, (bytes, bytearray, memoryview)):
            msg = f"StdinInput.data must be bytes, got {type(self.data).__name__}"
            raise TypeError(msg)
        if self.path is not None:
            check_path(self.path, "StdinInput.path")
        if self.fd is not None:
            check_fd(self.fd, "StdinInput.fd")
        if self.chunks is not None:
            _check_chunks(self.chunks)

    def resolve(self, ctx: ExecutionContext) -> bytes | None:
        """Return a ``text`` or ``data`` payload as bytes (else ``None``)."""
        if self.text is not None:
            return self.text.encode(ctx.encoding, ctx.errors)
        if self.data is not None:
            return bytes(self.data)
        return None


def _check_chunks(chunks: object) -> None:
    if isinstance(chunks, (str, bytes, bytearray, memoryview)):
        single = "text" if isinstance(chunks, str) else "data"
        msg = (
            f"StdinInput.chunks must be an iterable of chunks, not a single "
            f"{type(chunks).__name__} (use {single}= for one payload)"
        )
        raise TypeError(msg)
    if not isinstance(chunks, (cabc.Iterable, cabc.AsyncIterable)):
        msg = (
            "StdinInput.chunks must be an iterable or async iterable of bytes or str, "
            f"got {type(chunks).__name__}"
        )
        raise TypeError(msg)


__all__ = [
    "ExecutionContext",
    "IOOptions",
    "RunOutputOptions",
    "StdinChunks",
    "StdinInput",
]
