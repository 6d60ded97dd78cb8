# SPDX-License-Identifier: ISC
"""Resolve a run request into an immutable :class:`RunPlan`.

Everything that can be checked is checked here, before any process exists:
option types, the scope's allowlist, the timeout, the working directory and
the environment. What follows (spawning, channels, lifecycle) reads only
the plan, never the scope or the caller's options again.
"""

from __future__ import annotations

import codecs
import errno
import math
import os
import typing as typ

from cuprum import _backend
from cuprum._env import merge_env_overlays, resolve_env
from cuprum._options import ExecutionContext, RunOutputOptions, StdinInput
from cuprum._scope import ACTIVE, Policy
from cuprum._validate import check_env, check_timeout

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._engine import EventBatch, StreamEngine
    from cuprum._exec.command import Command

_DEFAULT_OUTPUT = RunOutputOptions()
_DEFAULT_CONTEXT = ExecutionContext()


_SURROGATEPASS = codecs.lookup_error("surrogatepass")


def _surrogatepass_or_replace(exc: UnicodeError) -> tuple[str, int]:
    """``surrogatepass`` where it decodes (an encoded surrogate), else
    ``replace``: what echo and line events use for ``surrogatepass``."""
    try:
        return typ.cast("tuple[str, int]", _SURROGATEPASS(exc))
    except UnicodeError:
        return typ.cast("tuple[str, int]", codecs.replace_errors(exc))


#: The handler name of :func:`_surrogatepass_or_replace`.
SURROGATEPASS_OR_REPLACE = "cuprum.surrogatepass-or-replace"
codecs.register_error(SURROGATEPASS_OR_REPLACE, _surrogatepass_or_replace)

#: What echo and line events, which never fail on output, decode with for
#: the standard handlers that raise on some bytes: ``strict`` and the
#: encode-only ones (fine for a stdin text, a ``TypeError`` when decoding)
#: use ``replace``; ``surrogatepass`` keeps the surrogates it can decode.
_SOFT_ERRORS = {
    "strict": "replace",
    "namereplace": "replace",
    "xmlcharrefreplace": "replace",
    "surrogatepass": SURROGATEPASS_OR_REPLACE,
}


class RunPlan:
    """Everything one run needs, resolved and checked."""

    __slots__ = (
        "after_hooks",
        "before_hooks",
        "cancel_grace",
        "capture",
        "commands",
        "context",
        "cwd",
        "echo",
        "encoding",
        "engine",
        "env",
        "errors",
        "event_env",
        "line_batches",
        "max_read",
        "observe_hooks",
        "output",
        "pipeline",
        "soft_errors",
        "stdin",
        "stdin_data",
        "timeout",
    )

    commands: tuple[Command, ...]
    pipeline: bool
    capture: bool
    echo: bool
    #: The output options (``max_bytes`` and ``on_overflow`` among them).
    output: RunOutputOptions
    context: ExecutionContext
    encoding: str
    errors: str
    #: The codec error handler of observers (echo, line events): never
    #: strict, since an undecodable byte must not end a run.
    soft_errors: str
    #: Seconds, or ``None`` for no deadline; zero or less has expired.
    timeout: float | None
    cancel_grace: float
    cwd: str | None
    #: The child's whole environment, or ``None`` to inherit the parent's.
    env: dict[str, str] | None
    #: The overlay shown in events (not the whole environment).
    event_env: cabc.Mapping[str, str] | None
    before_hooks: tuple[cabc.Callable[..., object], ...]
    after_hooks: tuple[cabc.Callable[..., object], ...]
    observe_hooks: tuple[cabc.Callable[..., object], ...]
    #: The first stage's stdin source as given (opened and fed by
    #: ``stdio`` and ``stdin`` when the run starts), or ``None``.
    stdin: StdinInput | None
    #: A ``text``/``data`` payload as bytes, or ``None``.
    stdin_data: bytes | None
    engine: StreamEngine
    #: Largest read from an output pipe, or ``None`` for the channels' own.
    max_read: int | None
    #: Set by :func:`with_observer`: the last observe hook then gets every
    #: event but the line events, which go here instead, one
    #: :class:`~cuprum._engine.EventBatch` per read; ``None`` otherwise.
    line_batches: cabc.Callable[[EventBatch], object] | None


def resolve_output(output: RunOutputOptions | None) -> RunOutputOptions:
    """Return ``output`` or the default; reject anything else."""
    if output is None:
        return _DEFAULT_OUTPUT
    if not isinstance(output, RunOutputOptions):
        msg = f"output must be a RunOutputOptions, got {type(output).__name__}"
        raise TypeError(msg)
    return output


def _check_cwd(cwd: str | os.PathLike[str]) -> str:
    path = os.fspath(cwd)
    if "\0" in path:
        msg = f"working directory {path!r} contains a NUL character"
        raise ValueError(msg)
    if not os.path.isdir(path):
        # With errno and filename, as the OSError of a failed chdir.
        if os.path.exists(path):
            raise NotADirectoryError(errno.ENOTDIR, "working directory is not a directory", path)
        raise FileNotFoundError(errno.ENOENT, "working directory does not exist", path)
    return path


def check_allowed(commands: cabc.Iterable[Command]) -> Policy | None:
    """Check every one of ``commands`` against the active scope's allowlist
    before any starts: the scope's error (``ForbiddenProgramError``) names
    the first refused program. Return the scope, ``None`` outside any (which
    allows every program)."""
    scope = ACTIVE.get(None)
    if scope is not None:
        for cmd in commands:
            scope.check_allowed(cmd.program)
    return scope


def resolve(
    commands: tuple[Command, ...],
    *,
    output: RunOutputOptions | None,
    timeout: float | None,
    context: ExecutionContext | None,
    stdin: StdinInput | None,
    pipeline: bool,
) -> RunPlan:
    """Check a request against its options and the active scope."""
    out = resolve_output(output)
    if context is not None and not isinstance(context, ExecutionContext):
        msg = f"context must be an ExecutionContext, got {type(context).__name__}"
        raise TypeError(msg)
    ctx = _DEFAULT_CONTEXT if context is None else context
    if stdin is not None and not isinstance(stdin, StdinInput):
        msg = f"stdin must be a StdinInput, got {type(stdin).__name__}"
        raise TypeError(msg)
    stdin_data = stdin.resolve(ctx) if stdin is not None else None
    scope = check_allowed(commands)
    timeout = check_timeout(timeout, "timeout")
    if timeout is None:
        timeout = ctx.timeout if ctx.timeout is not None or scope is None else scope.timeout
    if timeout == math.inf:
        timeout = None
    plan = RunPlan()
    plan.commands = commands
    plan.pipeline = pipeline
    plan.capture = out.capture
    plan.output = out
    plan.echo = out.echo
    plan.context = ctx
    plan.encoding = ctx.encoding
    plan.errors = ctx.errors
    plan.soft_errors = _SOFT_ERRORS.get(ctx.errors, ctx.errors)
    plan.timeout = timeout
    plan.cancel_grace = ctx.cancel_grace
    plan.cwd = None if ctx.cwd is None else _check_cwd(ctx.cwd)
    call_env = check_env(ctx.env, "ExecutionContext.env") if ctx.env else None
    overlay = None if scope is None else scope.env_overlay
    plan.env = resolve_env(overlay, call_env)
    if scope is None:
        plan.before_hooks = plan.after_hooks = plan.observe_hooks = ()
    else:
        plan.before_hooks = scope.before_hooks
        plan.after_hooks = scope.after_hooks
        plan.observe_hooks = scope.observe_hooks
    plan.event_env = merge_env_overlays(overlay, call_env)
    plan.stdin = stdin
    plan.stdin_data = stdin_data
    plan.engine = _backend.get_engine()
    plan.max_read = None
    plan.line_batches = None
    return plan


def with_observer(
    plan: RunPlan,
    hook: cabc.Callable[..., object],
    batches: cabc.Callable[[EventBatch], object],
    *,
    max_read: int | None = None,
) -> RunPlan:
    """Return a copy of ``plan`` observed by one more observer, after the
    observe hooks: ``hook`` receives each event but the line events, which
    ``batches`` receives as one :class:`~cuprum._engine.EventBatch` per read
    (built only when iterated). Reads from output pipes take at most
    ``max_read`` bytes if given.

    A stream observes its own run this way, so it receives exactly the
    events the scope's observe hooks do, in order; its smaller reads bound
    the lines one batch holds.
    """
    copy = RunPlan()
    for name in RunPlan.__slots__:
        setattr(copy, name, getattr(plan, name))
    copy.observe_hooks = (*plan.observe_hooks, hook)
    copy.line_batches = batches
    if max_read is not None:
        copy.max_read = max_read
    return copy


__all__ = ["RunPlan", "check_allowed", "resolve", "resolve_output", "with_observer"]
