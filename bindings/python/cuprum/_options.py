# SPDX-License-Identifier: ISC
"""Per-call run options: output handling, stdin payload, execution context.

These are plain immutable values validated on construction, so a mistake
(negative grace period, unknown encoding, text *and* data for stdin) is reported
where it was made and before anything is spawned.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import typing as typ
import warnings
from pathlib import Path

from cuprum._constants import DEFAULT_CANCEL_GRACE, DEFAULT_ENCODING, DEFAULT_ERRORS
from cuprum._validate import check_codec, check_output_cap, check_seconds, check_timeout


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
        ``sys.stdout`` / ``sys.stderr``. A text stream, a binary stream or a
        file descriptor.
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
    stdout_sink: typ.IO[str] | None = None
    stderr_sink: typ.IO[str] | None = None
    encoding: str = DEFAULT_ENCODING
    errors: str = DEFAULT_ERRORS
    tags: cabc.Mapping[str, object] | None = None
    process_group: bool = False

    def __post_init__(self) -> None:
        """Validate timings, codec names and flags."""
        if not isinstance(self.process_group, bool):
            msg = f"ExecutionContext.process_group must be a bool, got {self.process_group!r}"
            raise TypeError(msg)
        check_seconds(self.cancel_grace, "ExecutionContext.cancel_grace")
        check_timeout(self.timeout, "ExecutionContext.timeout")
        check_codec(self.encoding, self.errors)


@dc.dataclass(frozen=True, slots=True)
class StdinInput:
    """Data written to the child's stdin, which is then closed.

    Give ``text`` (encoded with the context's encoding) or ``data``, not both.
    """

    text: str | None = None
    data: bytes | None = None

    def __post_init__(self) -> None:
        """Reject ambiguous or mistyped payloads."""
        if self.text is not None and self.data is not None:
            msg = "StdinInput: text and data cannot both be provided"
            raise ValueError(msg)
        if self.text is not None and not isinstance(self.text, str):
            msg = f"StdinInput.text must be str, got {type(self.text).__name__}"
            raise TypeError(msg)
        if self.data is not None and not isinstance(self.data, (bytes, bytearray, memoryview)):
            msg = f"StdinInput.data must be bytes, got {type(self.data).__name__}"
            raise TypeError(msg)

    def resolve(self, ctx: ExecutionContext) -> bytes | None:
        """Return the payload as bytes (``None`` when empty of both)."""
        if self.text is not None:
            return self.text.encode(ctx.encoding, ctx.errors)
        if self.data is not None:
            return bytes(self.data)
        return None


__all__ = [
    "ExecutionContext",
    "IOOptions",
    "RunOutputOptions",
    "StdinInput",
]
