# SPDX-License-Identifier: ISC
"""Building and running curated commands: ``sh.make``, ``SafeCmd``, ``Pipeline``.

``make(program)`` checks the catalogue at once and returns a builder; the
builder turns Python values into an argv tuple (never a shell string) and
returns a :class:`SafeCmd`. ``cmd | other`` builds a :class:`Pipeline`.
``run_sync`` drives the children with a ``poll`` loop and no event loop;
``await run()`` registers the same pipes with the running asyncio loop;
``stream()`` hands the run's events to the caller as it pulls them.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import typing as typ
import os
import warnings
from pathlib import Path

from cuprum import _redirects
from cuprum._exec import plan as _plan
from cuprum._exec.drivers import run_blocking, run_in_loop
from cuprum._exec.stream import EventStream
from cuprum._options import (
    ExecutionContext,
    IOOptions,
    RunOutputOptions,
    StdinInput,
)
from cuprum._results import CommandResult, OutputLimitExceeded, PipelineResult, TimeoutExpired
from cuprum.catalogue import (
    DEFAULT_CATALOGUE,
    ProgramCatalogue,
    ProjectSettings,
    UnknownProgramError,
)
from cuprum.program import Program

_ArgValue = str | int | float | bool | Path
#: A callable returned by :func:`make` that builds :class:`SafeCmd` values.
SafeCmdBuilder = cabc.Callable[..., "SafeCmd"]


def _stringify(value: _ArgValue) -> str:
    if value is None:
        msg = "None is not a valid argv element for sh.make"
        raise TypeError(msg)
    text = value if type(value) is str else str(value)
    if "\0" in text:
        msg = f"argv element {text!r} contains a NUL character"
        raise ValueError(msg)
    return text


def build_argv(*args: _ArgValue, **kwargs: _ArgValue) -> tuple[str, ...]:
    """Return the argv (without the program) a builder makes from its arguments.

    Positional values become ``str(value)`` in order; keyword values become
    ``--key-with-dashes=value`` after them. ``None`` is a ``TypeError``, a
    NUL character in a value or a keyword a ``ValueError``, as in
    :class:`SafeCmd`.
    """
    argv = [_stringify(arg) for arg in args]
    for key, value in kwargs.items():
        item = f"--{key.replace('_', '-')}={_stringify(value)}"
        if "\0" in key:
            msg = f"argv element {item!r} contains a NUL character"
            raise ValueError(msg)
        argv.append(item)
    return tuple(argv)


def _pipeline_output(
    output: RunOutputOptions | None, flags: dict[str, typ.Any]
) -> RunOutputOptions:
    """Accept the deprecated flat ``capture``/``echo`` keywords of pipelines."""
    unknown = sorted(set(flags) - {"capture", "echo"})
    if unknown:
        msg = f"Pipeline.run/run_sync/stream got unexpected keyword arguments: {', '.join(unknown)}"
        raise TypeError(msg)
    if not flags:
        return _plan.resolve_output(output)
    if output is not None:
        msg = "Pass either 'output' or the deprecated 'capture'/'echo' flags, not both"
        raise ValueError(msg)
    warnings.warn(
        "Pipeline.run/run_sync/stream 'capture' and 'echo' keyword arguments are deprecated; "
        "pass output=RunOutputOptions(...) instead",
        DeprecationWarning,
        stacklevel=3,
    )
    return RunOutputOptions(
        capture=bool(flags.get("capture", True)), echo=bool(flags.get("echo", False))
    )


@dc.dataclass(frozen=True, slots=True, weakref_slot=True)
class SafeCmd:
    """A catalogued program with its arguments, ready to run.

    ``program`` must be one of ``project.programs`` (an
    :class:`UnknownProgramError` otherwise, however the command is built:
    directly, by ``dataclasses.replace`` or by :func:`make`). ``argv``
    excludes the program and must hold only strings. ``redirects`` (set by
    :meth:`redirect`, ``None`` by default) says where its stdout or stderr
    go instead of cuprum's pipes.
    """

    program: Program
    argv: tuple[str, ...]
    project: ProjectSettings
    redirects: _redirects.Redirects | None = dc.field(default=None, kw_only=True, repr=False)

    def __post_init__(self) -> None:
        """Check the program, its project and the argv so mistakes fail
        before spawning, and no program outside a catalogue project runs."""
        if not isinstance(self.program, str) or not self.program:
            msg = f"SafeCmd.program must be a non-empty str, got {self.program!r}"
            raise TypeError(msg)
        if "\0" in self.program:
            msg = f"SafeCmd program {self.program!r} contains a NUL character"
            raise ValueError(msg)
        if not isinstance(self.project, ProjectSettings):
            msg = f"SafeCmd.project must be a ProjectSettings, got {type(self.project).__name__}"
            raise TypeError(msg)
        if not self.project.owns(self.program):
            msg = (
                f"Program '{self.program}' is not listed by project "
                f"'{self.project.name}': a SafeCmd runs only a program its "
                "project lists (build commands with sh.make)"
            )
            raise UnknownProgramError(msg)
        if type(self.argv) is not tuple:
            if isinstance(self.argv, (str, bytes)) or not isinstance(self.argv, cabc.Iterable):
                msg = f"SafeCmd.argv must be a tuple of str, got {type(self.argv).__name__}"
                raise TypeError(msg)
            object.__setattr__(self, "argv", tuple(self.argv))
        for item in self.argv:
            if type(item) is not str:
                msg = (
                    f"SafeCmd.argv elements must be str, got {type(item).__name__} "
                    f"{item!r} for program '{self.program}'"
                )
                raise TypeError(msg)
            if "\0" in item:
                msg = f"argv element {item!r} contains a NUL character (program '{self.program}')"
                raise ValueError(msg)

    @property
    def argv_with_program(self) -> tuple[str, ...]:
        """The program followed by its arguments."""
        return (self.program, *self.argv)

    def __or__(self, other: SafeCmd | Pipeline) -> Pipeline:
        """Pipe this command's stdout into ``other``."""
        return Pipeline.concat(self, other)

    def redirect(
        self,
        stdout: str | os.PathLike[str] | int | None = None,
        stderr: str | os.PathLike[str] | int | None = None,
        append: bool = False,  # noqa: FBT001, FBT002 - the documented signature
    ) -> SafeCmd:
        """Return a new command whose stdout and/or stderr go elsewhere.

        A path (``str`` or ``os.PathLike``) is opened for the child when the
        command runs, created with mode ``0o666 & ~umask`` and truncated (or
        appended to with ``append=True``); an ``int`` is a descriptor the
        caller lends (the child gets a duplicate, cuprum never closes it);
        ``stderr="stdout"`` sends stderr wherever stdout goes, in one pipe
        (``2>&1``). A redirected stream is not captured, echoed or observed:
        its result field is ``None``. Streams not given keep their current
        redirection; this command is left unchanged.
        """
        redirects = _redirects.redirected(self.redirects, stdout, stderr, append)
        return dc.replace(self, redirects=redirects)

    def _plan(
        self,
        output: RunOutputOptions | None,
        timeout: float | None,
        context: ExecutionContext | None,
        stdin: StdinInput | None,
    ) -> _plan.RunPlan:
        return _plan.resolve(
            (self,), output=output, timeout=timeout, context=context, stdin=stdin, pipeline=False
        )

    async def run(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
    ) -> CommandResult:
        """Run the command on the running asyncio loop.

        Raises ``ForbiddenProgramError`` (not allowed in this scope),
        ``TimeoutExpired`` (with partial output), ``OSError`` subclasses when
        the program cannot be executed or ``cwd`` does not exist, and
        ``ValueError`` / ``TypeError`` for invalid arguments. Cancelling the
        task stops the child: SIGTERM, ``cancel_grace``, SIGKILL.
        """
        plan = self._plan(output, timeout, context, stdin)
        return typ.cast(CommandResult, await run_in_loop(plan))

    def run_sync(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
    ) -> CommandResult:
        """Run the command and block until it finishes; see :meth:`run`."""
        plan = self._plan(output, timeout, context, stdin)
        return typ.cast(CommandResult, run_blocking(plan))

    def stream(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
    ) -> EventStream[CommandResult]:
        """Run the command as its events are pulled: ``with cmd.stream() as
        s: for event in s: ...`` or ``async with`` / ``async for``.

        Takes what :meth:`run` takes. The stream yields every
        :class:`~cuprum.events.ExecEvent` an observe hook would receive, in
        order, and ``s.result`` holds the ``CommandResult`` after the end;
        :meth:`run`'s errors are raised by the iteration. Output is read only
        as fast as the events are pulled. Leaving the ``with`` block early
        stops the child (SIGTERM, ``cancel_grace``, SIGKILL). Arguments and
        the scope are checked here; the child starts at the first pull.
        """
        plan = self._plan(output, timeout, context, stdin)
        return typ.cast("EventStream[CommandResult]", EventStream(plan))


@dc.dataclass(frozen=True, slots=True)
class Pipeline:
    """Two or more commands, each stage's stdout feeding the next's stdin.

    A stage other than the last cannot redirect its stdout (it feeds the
    next stage): building such a pipeline is a ``ValueError`` naming it.
    """

    parts: tuple[SafeCmd, ...]

    def __post_init__(self) -> None:
        """Require at least two ``SafeCmd`` stages."""
        object.__setattr__(self, "parts", tuple(self.parts))
        for part in self.parts:
            if not isinstance(part, SafeCmd):
                msg = f"Pipeline stages must be SafeCmd, got {type(part).__name__}"
                raise TypeError(msg)
        if len(self.parts) < 2:  # noqa: PLR2004
            msg = "Pipeline must contain at least two stages"
            raise ValueError(msg)
        _redirects.check_positions(self.parts)

    def __or__(self, other: SafeCmd | Pipeline) -> Pipeline:
        """Append ``other``'s stages."""
        return Pipeline.concat(self, other)

    @classmethod
    def concat(cls, left: SafeCmd | Pipeline, right: SafeCmd | Pipeline) -> Pipeline:
        """Return a pipeline of ``left``'s stages followed by ``right``'s."""
        for operand in (left, right):
            if not isinstance(operand, (SafeCmd, Pipeline)):
                msg = f"cannot pipe into {type(operand).__name__}; expected SafeCmd or Pipeline"
                raise TypeError(msg)
        left_parts = left.parts if isinstance(left, Pipeline) else (left,)
        right_parts = right.parts if isinstance(right, Pipeline) else (right,)
        return cls((*left_parts, *right_parts))

    def _plan(
        self,
        output: RunOutputOptions,
        timeout: float | None,
        context: ExecutionContext | None,
        stdin: StdinInput | None = None,
    ) -> _plan.RunPlan:
        return _plan.resolve(
            self.parts, output=output, timeout=timeout, context=context, stdin=stdin, pipeline=True
        )

    async def run(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
        **deprecated_flags: bool,
    ) -> PipelineResult:
        """Run the pipeline on the running asyncio loop.

        Stages are connected by kernel pipes; ``stdin`` feeds the first
        stage, as for :meth:`SafeCmd.run`. The first stage to fail (exit
        non-zero, other than a producer killed by SIGPIPE) sets
        ``failure_index`` and every other stage is stopped at once. The flat
        ``capture``/``echo`` keywords are deprecated spellings of ``output``.
        """
        plan = self._plan(_pipeline_output(output, deprecated_flags), timeout, context, stdin)
        return typ.cast(PipelineResult, await run_in_loop(plan))

    def run_sync(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
        **deprecated_flags: bool,
    ) -> PipelineResult:
        """Run the pipeline and block until it finishes; see :meth:`run`."""
        plan = self._plan(_pipeline_output(output, deprecated_flags), timeout, context, stdin)
        return typ.cast(PipelineResult, run_blocking(plan))

    def stream(
        self,
        *,
        output: RunOutputOptions | None = None,
        timeout: float | None = None,
        context: ExecutionContext | None = None,
        stdin: StdinInput | None = None,
        **deprecated_flags: bool,
    ) -> EventStream[PipelineResult]:
        """Run the pipeline as its events are pulled; see
        :meth:`SafeCmd.stream`. ``stdin`` feeds the first stage, as for
        :meth:`run` (``chunks=`` are written only as the first stage reads
        them). It yields the last stage's stdout lines and every stage's
        stderr lines, and ``s.result`` holds the ``PipelineResult``; leaving
        early stops every stage."""
        plan = self._plan(_pipeline_output(output, deprecated_flags), timeout, context, stdin)
        return typ.cast("EventStream[PipelineResult]", EventStream(plan))


def make(program: Program, *, catalogue: ProgramCatalogue = DEFAULT_CATALOGUE) -> SafeCmdBuilder:
    """Return a builder of :class:`SafeCmd` for ``program``.

    Raises :class:`UnknownProgramError` at once when ``program`` is not in
    ``catalogue``.
    """
    entry = catalogue.lookup(program)
    resolved = entry.program
    project = entry.project

    def builder(*args: _ArgValue, **kwargs: _ArgValue) -> SafeCmd:
        return SafeCmd(resolved, build_argv(*args, **kwargs), project)

    builder.__name__ = f"make_{resolved}"
    builder.__doc__ = f"Build a SafeCmd running '{resolved}'."
    return builder


__all__ = [
    "CommandResult",
    "EventStream",
    "ExecutionContext",
    "IOOptions",
    "OutputLimitExceeded",
    "Pipeline",
    "PipelineResult",
    "RunOutputOptions",
    "SafeCmd",
    "SafeCmdBuilder",
    "StdinInput",
    "TimeoutExpired",
    "UnknownProgramError",
    "build_argv",
    "make",
]
