# SPDX-License-Identifier: ISC
"""Scoped execution policy: allowlists, hooks, timeouts and env overlays.

The active :class:`CuprumContext` lives in a ``ContextVar``, so each thread
and asyncio task sees its own. :func:`scoped` narrows it for a ``with`` block
(nested allowlists intersect: a scope can only take programs away);
:func:`allow`, :func:`before`, :func:`after`, :func:`observe` and :func:`env`
layer one change on it and return a handle whose ``detach()`` takes that one
change out again.

The active context is the top of a chain: each registration and each entry
of a scope is a layer applied to the context below it, and every context
made so records its layer and its parent. ``detach()`` rebuilds the chain
without its layer, re-applying the layers above it, so handles may be
detached in any order and a detach never brings back a revoked grant nor
lifts a scope's narrowing. A scope's exit drops its own layer and whatever
was registered inside its block and is still attached, and keeps what was
detached in it detached.

Environment precedence at spawn time, lowest first: the live ``os.environ``,
then ``env()`` / ``ScopeConfig.env_overlay`` overlays (innermost wins), then
``ExecutionContext.env``.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import functools
import typing as typ

from cuprum._env import merge_env_overlays, resolve_env
from cuprum._scope import ACTIVE
from cuprum._validate import check_env, check_timeout
from cuprum.program import Program

if typ.TYPE_CHECKING:
    # ExecHook's home is cuprum.events; this module does not re-export it.
    from cuprum._results import CommandResult
    from cuprum.events import ExecHook
    from cuprum.sh import SafeCmd

    BeforeHook = cabc.Callable[[SafeCmd], None]
    AfterHook = cabc.Callable[[SafeCmd, CommandResult], None]
else:
    #: Called with the command before it is spawned, in registration order.
    BeforeHook = cabc.Callable[["SafeCmd"], None]
    #: Called with the command and its result, innermost registration first.
    AfterHook = cabc.Callable[["SafeCmd", "CommandResult"], None]


class ForbiddenProgramError(PermissionError):
    """Raised when running a program the active scope does not allow."""

    def __init__(self, program: Program, *, restricted_state: bool = True) -> None:
        """Describe the refused ``program``."""
        self.program = program
        self.restricted_state = restricted_state
        super().__init__(f"Program '{program}' is not allowed in the current context")

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy through the constructor, attributes intact."""
        make = functools.partial(type(self), self.program, restricted_state=self.restricted_state)
        return (make, (), self.__dict__)


@dc.dataclass(frozen=True, slots=True)
class ScopeConfig:
    """What a :func:`scoped` block changes.

    Attributes
    ----------
    allowlist:
        Programs allowed inside the scope, intersected with the enclosing
        scope's; ``None`` keeps the enclosing allowlist.
    before_hooks:
        Appended after the enclosing scope's (they run first to last).
    after_hooks:
        Run before the enclosing scope's (innermost first).
    observe_hooks:
        Appended after the enclosing scope's.
    timeout:
        Default timeout in seconds for runs inside the scope; zero or less
        has already expired, infinity never does.
    env_overlay:
        Environment variables layered over the enclosing overlay.
    """

    allowlist: frozenset[Program] | None = None
    before_hooks: tuple[BeforeHook, ...] = ()
    after_hooks: tuple[AfterHook, ...] = ()
    observe_hooks: tuple[ExecHook, ...] = ()
    timeout: float | None = None
    env_overlay: cabc.Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        """Validate the timeout and freeze the allowlist and overlay."""
        object.__setattr__(self, "timeout", check_timeout(self.timeout, "ScopeConfig.timeout"))
        if isinstance(self.allowlist, (str, bytes)):
            # frozenset("echo") would be the set of its letters.
            msg = (
                f"ScopeConfig.allowlist must be a collection of programs, not a "
                f"{type(self.allowlist).__name__} ({self.allowlist!r}); "
                f"write frozenset({{{self.allowlist!r}}})"
            )
            raise TypeError(msg)
        if self.allowlist is not None:
            object.__setattr__(self, "allowlist", frozenset(self.allowlist))
        object.__setattr__(self, "env_overlay", check_env(self.env_overlay))


class _Linked:
    """Where a context in force sits in the chain (see :func:`_push`).

    Plain slots, not dataclass fields: the link is bookkeeping of the
    context variable, not part of the policy value, so equality, ``repr``,
    hashing, ``dataclasses.replace`` (and so the ``with_*`` helpers),
    ``fields``, ``asdict`` and copies leave it out.
    """

    __slots__ = ("_layer", "_parent")

    _layer: _Layer | None
    _parent: CuprumContext | None


@dc.dataclass(frozen=True, slots=True)
class CuprumContext(_Linked):
    """The immutable execution policy in force.

    An empty allowlist that no scope ever restricted permits every catalogued
    program (so code runs without any setup); once a scope or ``allow()`` has
    set an allowlist, only its members may run, even if narrowing emptied it.
    """

    allowlist: frozenset[Program] = dc.field(default_factory=frozenset)
    before_hooks: tuple[BeforeHook, ...] = ()
    after_hooks: tuple[AfterHook, ...] = ()
    observe_hooks: tuple[ExecHook, ...] = ()
    timeout: float | None = None
    env_overlay: cabc.Mapping[str, str] | None = None
    _allowlist_is_restricted: bool = False

    def __post_init__(self) -> None:
        """Validate the timeout and freeze the overlay."""
        object.__setattr__(self, "timeout", check_timeout(self.timeout, "CuprumContext.timeout"))
        object.__setattr__(self, "env_overlay", check_env(self.env_overlay))
        # Not made by a layer: the root of any chain it heads.
        object.__setattr__(self, "_layer", None)
        object.__setattr__(self, "_parent", None)

    def is_allowed(self, program: Program) -> bool:
        """Return True when ``program`` is a member of the allowlist."""
        return program in self.allowlist

    def check_allowed(self, program: Program) -> None:
        """Raise :class:`ForbiddenProgramError` unless ``program`` may run."""
        if not self.allowlist and not self._allowlist_is_restricted:
            return
        if program not in self.allowlist:
            raise ForbiddenProgramError(program, restricted_state=self._allowlist_is_restricted)

    def narrow(self, config: ScopeConfig) -> CuprumContext:
        """Return the context a scope with ``config`` produces inside this one."""
        if config.allowlist is None:
            allowlist = self.allowlist
            restricted = self._allowlist_is_restricted
        elif self.allowlist or self._allowlist_is_restricted:
            allowlist = self.allowlist & config.allowlist
            restricted = True
        else:
            allowlist = config.allowlist
            restricted = True
        return CuprumContext(
            allowlist=allowlist,
            before_hooks=self.before_hooks + tuple(config.before_hooks),
            after_hooks=tuple(config.after_hooks) + self.after_hooks,
            observe_hooks=self.observe_hooks + tuple(config.observe_hooks),
            timeout=self.timeout if config.timeout is None else config.timeout,
            env_overlay=merge_env_overlays(self.env_overlay, config.env_overlay),
            _allowlist_is_restricted=restricted,
        )

    def with_allowlist(self, allowlist: frozenset[Program]) -> CuprumContext:
        """Return a copy whose allowlist is replaced by ``allowlist``."""
        return dc.replace(
            self,
            allowlist=frozenset(allowlist),
            _allowlist_is_restricted=(
                self._allowlist_is_restricted or bool(self.allowlist) or bool(allowlist)
            ),
        )

    def with_program(self, program: Program) -> CuprumContext:
        """Return a copy that also allows ``program``."""
        return self.with_allowlist(self.allowlist | {program})

    def without_program(self, program: Program) -> CuprumContext:
        """Return a copy that no longer allows ``program``."""
        return self.with_allowlist(self.allowlist - {program})

    def with_before_hook(self, hook: BeforeHook) -> CuprumContext:
        """Return a copy with ``hook`` appended to the before hooks."""
        return dc.replace(self, before_hooks=(*self.before_hooks, hook))

    def without_before_hook(self, hook: BeforeHook) -> CuprumContext:
        """Return a copy without ``hook`` among the before hooks."""
        return dc.replace(self, before_hooks=tuple(h for h in self.before_hooks if h is not hook))

    def with_after_hook(self, hook: AfterHook) -> CuprumContext:
        """Return a copy with ``hook`` run first among the after hooks."""
        return dc.replace(self, after_hooks=(hook, *self.after_hooks))

    def without_after_hook(self, hook: AfterHook) -> CuprumContext:
        """Return a copy without ``hook`` among the after hooks."""
        return dc.replace(self, after_hooks=tuple(h for h in self.after_hooks if h is not hook))

    def with_observe_hook(self, hook: ExecHook) -> CuprumContext:
        """Return a copy with ``hook`` appended to the observe hooks."""
        return dc.replace(self, observe_hooks=(*self.observe_hooks, hook))

    def without_observe_hook(self, hook: ExecHook) -> CuprumContext:
        """Return a copy without ``hook`` among the observe hooks."""
        return dc.replace(
            self, observe_hooks=tuple(h for h in self.observe_hooks if h is not hook)
        )

    def with_env_overlay(self, overlay: cabc.Mapping[str, str] | None) -> CuprumContext:
        """Return a copy with ``overlay`` layered over the current overlay."""
        return dc.replace(self, env_overlay=merge_env_overlays(self.env_overlay, overlay))


_DEFAULT_CONTEXT = CuprumContext()


def current_context() -> CuprumContext:
    """Return the execution context active in this thread or task."""
    # Only this module stores policies in ACTIVE, and only CuprumContexts.
    return typ.cast(CuprumContext, ACTIVE.get(_DEFAULT_CONTEXT))


def get_context() -> CuprumContext:
    """Alias of :func:`current_context`."""
    return current_context()


class _Layer:
    """One change applied to the active context: a registration, or one
    entry of a scope. Compared by identity: it names that change.

    ``removed`` tells, once it is no longer in force in some thread or task,
    a detach that finds nothing to do (done already) from one made where
    the layer never was (another thread, or a task that did not inherit it).
    """

    __slots__ = ("removed",)

    def __init__(self) -> None:
        self.removed = False

    def apply(self, parent: CuprumContext) -> CuprumContext:
        """Return a new context: ``parent`` with this change made."""
        raise NotImplementedError


class _ScopeLayer(_Layer):
    __slots__ = ("config", "owner")

    def __init__(self, config: ScopeConfig, owner: _ScopedContext) -> None:
        super().__init__()
        self.config = config
        #: The scope object whose entry this layer is.
        self.owner = owner

    def apply(self, parent: CuprumContext) -> CuprumContext:
        return parent.narrow(self.config)


class _AllowLayer(_Layer):
    __slots__ = ("programs",)

    def __init__(self, programs: frozenset[Program]) -> None:
        super().__init__()
        self.programs = programs

    def apply(self, parent: CuprumContext) -> CuprumContext:
        return parent.with_allowlist(parent.allowlist | self.programs)


class _HookLayer(_Layer):
    __slots__ = ("hook", "hook_type")

    def __init__(
        self,
        hook: BeforeHook | AfterHook | ExecHook,
        hook_type: typ.Literal["before", "after", "observe"],
    ) -> None:
        super().__init__()
        self.hook = hook
        self.hook_type = hook_type

    def apply(self, parent: CuprumContext) -> CuprumContext:
        if self.hook_type == "before":
            return parent.with_before_hook(typ.cast(BeforeHook, self.hook))
        if self.hook_type == "after":
            return parent.with_after_hook(typ.cast(AfterHook, self.hook))
        return parent.with_observe_hook(typ.cast("ExecHook", self.hook))


class _EnvLayer(_Layer):
    __slots__ = ("overlay",)

    def __init__(self, overlay: cabc.Mapping[str, str] | None) -> None:
        super().__init__()
        self.overlay = overlay

    def apply(self, parent: CuprumContext) -> CuprumContext:
        return parent.with_env_overlay(self.overlay)


def _link(layer: _Layer, parent: CuprumContext) -> CuprumContext:
    """Return ``parent`` with ``layer`` applied, recording both in it."""
    ctx = layer.apply(parent)
    object.__setattr__(ctx, "_layer", layer)
    object.__setattr__(ctx, "_parent", parent)
    return ctx


def _push(layer: _Layer) -> CuprumContext:
    """Apply ``layer`` on top of the active context and make it active."""
    ctx = _link(layer, current_context())
    ACTIVE.set(ctx)
    return ctx


def _remove(layer: _Layer, *, keep_later: bool) -> bool:
    """Take ``layer`` out of the active context's chain.

    With ``keep_later`` the layers applied after it are applied again, in
    their order, on what was below it (a detached registration); without
    (a scope's exit), the registrations its block left are dropped with it,
    but the scopes entered after it and still open are applied again: an
    exit out of order (a generator's scope closed inside a later scope, or
    in another task that inherited it) never lifts their narrowing.
    Return False, changing nothing, when ``layer`` is not in force in this
    thread or task.
    """
    later: list[_Layer] = []
    node: CuprumContext | None = current_context()
    while node is not None and node._layer is not None:
        if node._layer is layer:
            # A context made by a layer always has a parent (see _link).
            ctx = typ.cast(CuprumContext, node._parent)
            for again in reversed(later):
                if keep_later or isinstance(again, _ScopeLayer):
                    ctx = _link(again, ctx)
                else:
                    again.removed = True
            layer.removed = True
            ACTIVE.set(ctx)
            return True
        later.append(node._layer)
        node = node._parent
    return False


class _ScopedContext:
    """Context manager that activates a narrowed context.

    It narrows the context current when the block is entered, not when the
    manager was made, so a scope made ahead of time (a module-level policy)
    still only takes programs away from whatever scope it is entered in;
    and it may be entered again, nested or not, each entry being a layer of
    its own that its ``with`` removes.
    """

    __slots__ = ("_config",)

    def __init__(self, config: ScopeConfig) -> None:
        self._config = config

    def __enter__(self) -> CuprumContext:
        return _push(_ScopeLayer(self._config, self))

    def __exit__(self, *exc_info: object) -> None:
        # The newest entry of this object in force in this context (this
        # task or thread): one object may be entered in several at once, as
        # a shared policy is.  Usually the top of the chain.
        node: CuprumContext | None = current_context()
        while node is not None and node._layer is not None:
            layer = node._layer
            if isinstance(layer, _ScopeLayer) and layer.owner is self:
                _remove(layer, keep_later=False)
                return
            node = node._parent


def scoped(config: ScopeConfig | None = None, **fields: typ.Any) -> _ScopedContext:
    """Return a context manager that narrows the current context.

    Pass a :class:`ScopeConfig`, or its fields as keyword arguments (the
    older spelling), not both.
    """
    if config is not None and fields:
        msg = "scoped() accepts a ScopeConfig or keyword fields, not both"
        raise TypeError(msg)
    if config is None:
        config = ScopeConfig(**fields)
    elif not isinstance(config, ScopeConfig):
        msg = f"scoped() expects a ScopeConfig, got {type(config).__name__}"
        raise TypeError(msg)
    return _ScopedContext(config)


class _Registration:
    """Handle shared by every registration kind: one layer in the chain."""

    __slots__ = ("_layer",)

    def __init__(self, layer: _Layer) -> None:
        self._layer = layer
        _push(layer)

    def detach(self) -> None:
        """Take this registration out of the active context.

        The context becomes what it would be had this registration never
        been made: every other registration and scope in force stays, in
        whatever order handles are detached. Idempotent; it changes nothing
        where the registration is no longer in force (detached already, or
        made inside a ``scoped()`` block that has since exited).

        Raises
        ------
        ValueError
            In a thread or task where the registration was never in force
            (each has its own context; a task starts with a copy of its
            creator's): detach it where it was made.
        """
        if not _remove(self._layer, keep_later=True) and not self._layer.removed:
            msg = (
                f"{type(self).__name__}.detach(): the registration is not in force in "
                f"this thread or task and never was; detach it in the thread or task "
                f"that made it"
            )
            raise ValueError(msg)

    def __enter__(self) -> typ.Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.detach()


class AllowRegistration(_Registration):
    """Handle returned by :func:`allow`."""

    __slots__ = ("programs",)

    def __init__(self, *programs: Program) -> None:
        """Add ``programs`` to the current allowlist."""
        self.programs = frozenset(programs)
        super().__init__(_AllowLayer(self.programs))


class HookRegistration(_Registration):
    """Handle returned by :func:`before`, :func:`after` and :func:`observe`."""

    __slots__ = ("hook", "hook_type")

    def __init__(
        self,
        hook: BeforeHook | AfterHook | ExecHook,
        hook_type: typ.Literal["before", "after", "observe"],
    ) -> None:
        """Register ``hook`` as a ``hook_type`` hook."""
        if not callable(hook):
            msg = f"{hook_type} hook must be callable, got {type(hook).__name__}"
            raise TypeError(msg)
        if hook_type not in ("before", "after", "observe"):
            msg = f"unknown hook type {hook_type!r}; expected before, after or observe"
            raise ValueError(msg)
        self.hook = hook
        self.hook_type = hook_type
        super().__init__(_HookLayer(hook, hook_type))


class EnvRegistration(_Registration):
    """Handle returned by :func:`env`."""

    __slots__ = ("_overlay",)

    def __init__(self, overlay: cabc.Mapping[str, str]) -> None:
        """Layer ``overlay`` over the current overlay."""
        self._overlay = check_env(overlay, "env()")
        super().__init__(_EnvLayer(self._overlay))

    @property
    def overlay(self) -> cabc.Mapping[str, str] | None:
        """The overlay this registration applied."""
        return self._overlay


def allow(*programs: Program) -> AllowRegistration:
    """Add ``programs`` to the current allowlist until detached."""
    return AllowRegistration(*programs)


def before(hook: BeforeHook) -> HookRegistration:
    """Run ``hook(cmd)`` before each command, in registration order."""
    return HookRegistration(hook, "before")


def after(hook: AfterHook) -> HookRegistration:
    """Run ``hook(cmd, result)`` after each command, newest first."""
    return HookRegistration(hook, "after")


def observe(hook: ExecHook) -> HookRegistration:
    """Deliver every :class:`~cuprum.events.ExecEvent` to ``hook``."""
    return HookRegistration(hook, "observe")


def env(*overlays: cabc.Mapping[str, str], **variables: str) -> EnvRegistration:
    """Overlay environment variables for commands spawned until detached.

    Mappings merge left to right and keyword variables win. The live
    ``os.environ`` is read at spawn time, not now.
    """
    merged: dict[str, str] = {}
    for overlay in overlays:
        merged.update(overlay)
    merged.update(variables)
    return EnvRegistration(merged)


__all__ = [
    "AfterHook",
    "AllowRegistration",
    "BeforeHook",
    "CuprumContext",
    "EnvRegistration",
    "ForbiddenProgramError",
    "HookRegistration",
    "ScopeConfig",
    "after",
    "allow",
    "before",
    "current_context",
    "env",
    "get_context",
    "merge_env_overlays",
    "observe",
    "resolve_env",
    "scoped",
]
