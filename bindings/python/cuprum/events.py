# SPDX-License-Identifier: ISC
"""Structured execution events delivered to ``observe`` hooks.

An :class:`ExecEvent` describes one moment of one command (or pipeline
stage): its plan, start, each output line, stdin delivery and exit. All events
of one execution share an ``exec_id``.

Why a named tuple: a run may deliver millions of ``stdout`` line events, and
building a tuple costs a fraction of initialising a frozen dataclass (which
sets every field through ``object.__setattr__``). The class still behaves like
the frozen dataclass users know: fields by name, immutable, and it carries
dataclass field metadata so ``dataclasses.fields`` and ``dataclasses.replace``
work on it; it pickles and copies (``copy.deepcopy``) with ``env`` and
``tags`` read-only again. ``dataclasses.asdict`` does not work (it cannot
copy a read-only mapping): ``event._asdict()`` gives the fields by name.
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import typing as typ
import uuid
from pathlib import Path
from types import MappingProxyType

from cuprum.program import Program

ExecPhase = typ.Literal["plan", "start", "stdout", "stderr", "exit", "stdin", "stdin_error"]

#: Stable per-execution correlation token.
ExecId = typ.NewType("ExecId", uuid.UUID)


def new_exec_id() -> ExecId:
    """Return a fresh execution correlation token."""
    return ExecId(uuid.uuid4())


class ExecEvent(typ.NamedTuple):
    """One structured execution event.

    Attributes
    ----------
    phase:
        ``plan`` (before spawning), ``start`` (spawned), ``stdout`` /
        ``stderr`` (one decoded output line), ``stdin`` (input delivered),
        ``stdin_error`` (input could not be delivered) or ``exit``.
    program:
        The catalogued program.
    argv:
        Full argv, program first.
    cwd:
        Working directory when one was set, else ``None``.
    env:
        The environment overlay in force (not the whole environment), or
        ``None`` when there is none.
    pid:
        Child process id; ``None`` for ``plan``.
    timestamp:
        Wall-clock time (``time.time()``) of the event. For ``stdout`` and
        ``stderr`` lines, the time the read that completed the line was
        handed to the stream engine: the lines of one read share it.
    line:
        The line, without its ending, for ``stdout`` / ``stderr``.
    exit_code:
        Exit status for ``exit``; negative when killed by a signal.
    duration_s:
        Seconds from ``start`` to exit, for ``exit``.
    tags:
        Read-only metadata: ``project``, ``capture``, ``echo``, for pipeline
        stages ``pipeline_stage_index`` and ``pipeline_stages``, then the
        caller's ``ExecutionContext.tags``.
    note:
        Human-readable detail for ``stdin_error``.
    byte_count:
        Bytes written, for ``stdin``.
    operation:
        The failing operation for ``stdin_error`` (``write``).
    error_type:
        Exception class name for ``stdin_error``.
    exec_id:
        Correlation token shared by every event of one execution.
    """

    phase: ExecPhase
    program: Program
    argv: tuple[str, ...]
    cwd: Path | None
    env: cabc.Mapping[str, str] | None
    pid: int | None
    timestamp: float
    line: str | None
    exit_code: int | None
    duration_s: float | None
    tags: cabc.Mapping[str, object]
    note: str | None = None
    byte_count: int | None = None
    operation: str | None = None
    error_type: str | None = None
    exec_id: ExecId | None = None

    def __reduce__(self) -> tuple[typ.Any, ...]:
        """Pickle and copy with ``env`` and ``tags`` as dicts, read-only
        again once rebuilt."""
        fields: list[typ.Any] = list(self)
        for at in _MAPPING_FIELDS:
            if fields[at] is not None:
                fields[at] = dict(fields[at])
        return (_rebuild_event, (tuple(fields),))


#: Where ``env`` and ``tags`` sit in an event's fields.
_MAPPING_FIELDS = (ExecEvent._fields.index("env"), ExecEvent._fields.index("tags"))


def _rebuild_event(fields: tuple[typ.Any, ...]) -> ExecEvent:
    """An event from the fields :meth:`ExecEvent.__reduce__` gave."""
    values = list(fields)
    for at in _MAPPING_FIELDS:
        if values[at] is not None:
            values[at] = MappingProxyType(values[at])
    return ExecEvent(*values)


def _attach_dataclass_metadata(cls: type) -> None:
    """Give ``cls`` the field metadata of an equivalent frozen dataclass."""
    defaults = cls._field_defaults  # type: ignore[attr-defined]
    spec: list[typ.Any] = [
        (name, object, dc.field(default=defaults[name]))
        if name in defaults
        else (name, object)
        for name in cls._fields  # type: ignore[attr-defined]
    ]
    shadow = dc.make_dataclass(cls.__name__, spec, frozen=True)
    cls.__dataclass_fields__ = shadow.__dataclass_fields__  # type: ignore[attr-defined]
    cls.__dataclass_params__ = shadow.__dataclass_params__  # type: ignore[attr-defined]


_attach_dataclass_metadata(ExecEvent)

#: An observe hook: called with each event; may return an awaitable, which
#: cuprum awaits before the run returns.
ExecHook = cabc.Callable[[ExecEvent], "cabc.Awaitable[None] | None"]

__all__ = ["ExecEvent", "ExecHook", "ExecId", "ExecPhase", "new_exec_id"]
