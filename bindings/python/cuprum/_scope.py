# SPDX-License-Identifier: ISC
"""The variable holding the active scope policy, and what the core reads of it.

:mod:`cuprum.context` builds the policy (``CuprumContext``) and stores it
here; the execution core reads it through the :class:`Policy` protocol. Both
import this leaf, so neither imports the other.
"""

from __future__ import annotations

import collections.abc as cabc
import typing as typ
from contextvars import ContextVar

if typ.TYPE_CHECKING:
    from cuprum.program import Program


class Policy(typ.Protocol):
    """The execution policy in force, as the execution core reads it."""

    @property
    def before_hooks(self) -> tuple[cabc.Callable[..., object], ...]:
        """Called with each command before it is spawned, in order."""

    @property
    def after_hooks(self) -> tuple[cabc.Callable[..., object], ...]:
        """Called with each command and its result, in order."""

    @property
    def observe_hooks(self) -> tuple[cabc.Callable[..., object], ...]:
        """Called with every execution event."""

    @property
    def timeout(self) -> float | None:
        """Default timeout of the scope."""

    @property
    def env_overlay(self) -> cabc.Mapping[str, str] | None:
        """Environment overlay of the scope."""

    def check_allowed(self, program: Program) -> None:
        """Raise unless ``program`` may run."""


#: The active policy; unset means the default policy of ``cuprum.context``.
ACTIVE: ContextVar[Policy] = ContextVar("cuprum_context")


__all__ = ["ACTIVE", "Policy"]
