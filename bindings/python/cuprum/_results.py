# SPDX-License-Identifier: ISC
"""Run results and the timeout error."""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import functools
import typing as typ

from cuprum.program import Program


@dc.dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command (or pipeline stage) did.

    Attributes
    ----------
    program:
        The program that ran.
    argv:
        Its arguments, without the program.
    exit_code:
        Exit status; ``-N`` when killed by signal ``N``.
    pid:
        Process id.
    stdout:
        Captured output, or ``None`` when not captured (and for every
        pipeline stage but the last).
    stderr:
        Captured error output, or ``None`` when not captured.
    truncated:
        True when ``RunOutputOptions.max_bytes`` cut stdout or stderr.
    """

    program: Program
    argv: tuple[str, ...]
    exit_code: int
    pid: int
    stdout: str | None
    stderr: str | None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True exactly when ``exit_code`` is zero."""
        return self.exit_code == 0


@dc.dataclass(frozen=True, slots=True)
class PipelineResult:
    """What a pipeline did.

    Attributes
    ----------
    stages:
        One result per stage, in pipeline order.
    failure_index:
        Index of the stage whose failure stopped the pipeline, or ``None``.
    """

    stages: tuple[CommandResult, ...]
    failure_index: int | None = None

    @property
    def final(self) -> CommandResult:
        """The last stage's result."""
        return self.stages[-1]

    @property
    def failure(self) -> CommandResult | None:
        """The stage that failed first, or ``None``."""
        return None if self.failure_index is None else self.stages[self.failure_index]

    @property
    def ok(self) -> bool:
        """True when every stage exited with status zero."""
        return all(stage.exit_code == 0 for stage in self.stages)

    @property
    def stdout(self) -> str | None:
        """The last stage's captured output."""
        return self.stages[-1].stdout

    @property
    def truncated(self) -> bool:
        """True when an output cap cut the capture of any stage."""
        return any(stage.truncated for stage in self.stages)


class TimeoutExpired(TimeoutError):
    """Raised when a run outlives its timeout; carries the partial output.

    Attributes mirror ``subprocess.TimeoutExpired``: ``cmd``, ``timeout``,
    ``output`` (also ``stdout``) and ``stderr``. For a pipeline ``cmd`` is a
    tuple of each stage's argv, ``output`` the last stage's partial stdout
    and ``stderr`` every stage's partial stderr joined in stage order.
    """

    def __init__(
        self,
        *,
        cmd: cabc.Sequence[str] | object,
        timeout: float,
        output: str | bytes | None = None,
        stderr: str | bytes | None = None,
    ) -> None:
        """Record the command, timeout and partial output."""
        super().__init__(f"Command {cmd!r} timed out after {timeout} seconds")
        self.cmd = cmd
        self.timeout = timeout
        self.output = output
        self.stderr = stderr

    @property
    def stdout(self) -> str | bytes | None:
        """Alias of ``output``."""
        return self.output

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy through the keyword-only constructor."""
        make = functools.partial(
            type(self), cmd=self.cmd, timeout=self.timeout, output=self.output, stderr=self.stderr
        )
        return (make, (), self.__dict__)


class OutputLimitExceeded(RuntimeError):
    """Raised when a capture passes ``max_bytes`` with ``on_overflow="kill"``.

    The run (its process group, if any) was stopped. ``cmd`` is the argv (a
    tuple of each stage's argv for a pipeline), ``max_bytes`` the cap, and
    ``result`` the partial :class:`CommandResult` or :class:`PipelineResult`
    (captures hold the first ``max_bytes`` bytes, ``truncated`` is true);
    ``output`` (also ``stdout``) and ``stderr`` mirror
    :class:`TimeoutExpired`. A ``RuntimeError``, not an ``OSError``: the
    command ran, its output broke a limit the caller set.
    """

    def __init__(
        self,
        *,
        cmd: cabc.Sequence[str] | object,
        max_bytes: int,
        result: CommandResult | PipelineResult,
        output: str | None = None,
        stderr: str | None = None,
    ) -> None:
        """Record the command, the cap and the partial result."""
        super().__init__(f"Command {cmd!r} produced more than {max_bytes} bytes on a captured stream")
        self.cmd = cmd
        self.max_bytes = max_bytes
        self.result = result
        self.output = output
        self.stderr = stderr

    @property
    def stdout(self) -> str | None:
        """Alias of ``output``."""
        return self.output

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy through the keyword-only constructor."""
        make = functools.partial(
            type(self),
            cmd=self.cmd,
            max_bytes=self.max_bytes,
            result=self.result,
            output=self.output,
            stderr=self.stderr,
        )
        return (make, (), self.__dict__)


__all__ = ["CommandResult", "OutputLimitExceeded", "PipelineResult", "TimeoutExpired"]
