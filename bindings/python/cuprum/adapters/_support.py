# SPDX-License-Identifier: ISC
"""Pieces the logging, metrics and tracing adapters share.

- :func:`event_fields` projects an ``ExecEvent`` into the ``(name, value)``
  pairs every backend record carries, leaving out fields that are ``None``.
  Adapters pass a naming function so each keeps its own convention
  (``cuprum_pid`` log extras, ``cuprum.pid`` span attributes) while the
  choice of fields cannot drift between them.
- :class:`LockedStore` gives the in-memory reference backends one lock and a
  ``reset()`` taken under it.

The adapters read events only through attributes, so they work with any
object shaped like ``cuprum.events.ExecEvent``.
"""

from __future__ import annotations

import dataclasses as dc
import threading
import typing as typ

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum.events import ExecEvent

# Optional event fields projected after the always-present program and argv,
# in this order. exec_id is rendered as text because backends store scalars.
_OPTIONAL_FIELDS: tuple[str, ...] = (
    "pid",
    "cwd",
    "exit_code",
    "duration_s",
    "line",
    "exec_id",
    "note",
    "byte_count",
    "operation",
    "error_type",
)
_AS_TEXT: frozenset[str] = frozenset({"cwd", "exec_id"})


def _unchanged(value: tuple[str, ...]) -> object:
    """Return argv as it is (the default argv rendering)."""
    return value


def event_fields(
    event: ExecEvent,
    name: cabc.Callable[[str], str],
    *,
    argv: cabc.Callable[[tuple[str, ...]], object] = _unchanged,
) -> cabc.Iterator[tuple[str, object]]:
    """Yield ``(name(field), value)`` for the event's common fields.

    ``program`` and ``argv`` always appear; the others only when not ``None``.
    """
    yield name("program"), str(event.program)
    yield name("argv"), argv(tuple(event.argv))
    for field in _OPTIONAL_FIELDS:
        value = getattr(event, field, None)
        if value is None:
            continue
        yield name(field), str(value) if field in _AS_TEXT else value


def prefixed(prefix: str) -> cabc.Callable[[str], str]:
    """Return a naming function that puts ``prefix`` before each field name."""

    def with_prefix(field: str) -> str:
        return prefix + field

    return with_prefix


def project_tag(event: ExecEvent) -> str | None:
    """Return the event's ``project`` tag as text, or ``None`` when absent."""
    project = event.tags.get("project") if event.tags is not None else None
    return None if project is None else str(project)


def correlation_key(event: ExecEvent) -> tuple[str, object] | None:
    """Return the key that ties one execution's events together.

    ``exec_id`` is preferred because the kernel can recycle a pid between
    executions; events without one (hand-built or legacy) fall back to the
    pid. ``None`` means the event cannot be correlated at all.
    """
    exec_id = getattr(event, "exec_id", None)
    if exec_id is not None:
        return ("exec_id", exec_id)
    if event.pid is not None:
        return ("pid", event.pid)
    return None


@dc.dataclass
class LockedStore:
    """Base for the thread-safe in-memory reference backends.

    Subclasses guard every read-modify-write of their storage with
    ``self._lock`` and implement :meth:`_clear`, which :meth:`reset` calls with
    the lock held. The lock is never held across an ``await`` or a call into
    user code, so the stores are safe from threads and asyncio tasks alike.
    """

    _lock: threading.Lock = dc.field(
        default_factory=threading.Lock,
        init=False,
        repr=False,
        compare=False,
    )

    def reset(self) -> None:
        """Forget everything collected so far."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        """Empty the subclass's storage; called with the lock held."""
        raise NotImplementedError


__all__: list[str] = []
