# SPDX-License-Identifier: ISC
"""Building and delivering the :class:`~cuprum.events.ExecEvent` of one stage.

A run with observe hooks gives each command (or pipeline stage) a
:class:`StageEvents`: it holds everything constant across that stage's
events. Line events are built by the stream engine's ``LineEvents`` from
:meth:`StageEvents.line_template`, so a line costs one tuple build and one
call per hook. Awaitables returned by hooks are collected in ``pending``
for the driver to await before the run returns. A stream observing the run
gets the line events as batches instead (``line_hooks`` then leaves out its
hook, and ``batches`` takes one batch per read).
"""

from __future__ import annotations

import collections.abc as cabc
import inspect
import time
import typing as typ
from pathlib import Path
from types import MappingProxyType

from cuprum.events import ExecEvent, new_exec_id

if typ.TYPE_CHECKING:
    from cuprum._exec.command import Command


class StageEvents:
    """Event factory and dispatcher for one stage."""

    __slots__ = (
        "argv",
        "batches",
        "cwd",
        "env",
        "exec_id",
        "hooks",
        "line_hooks",
        "pending",
        "pid",
        "program",
        "tags",
    )

    def __init__(
        self,
        cmd: Command,
        *,
        hooks: tuple[cabc.Callable[[ExecEvent], object], ...],
        pending: list[typ.Any],
        cwd: str | None,
        env: cabc.Mapping[str, str] | None,
        tags: dict[str, object],
        batches: cabc.Callable[[typ.Any], object] | None = None,
    ) -> None:
        """Fix the values shared by every event of ``cmd``'s execution.

        With ``batches``, the last of ``hooks`` is a stream's: it gets no
        line event, ``batches`` gets them (see
        :func:`~cuprum._exec.plan.with_observer`).
        """
        self.hooks = hooks
        self.line_hooks = hooks if batches is None else hooks[:-1]
        self.batches = batches
        self.pending = pending
        self.program = cmd.program
        self.argv = (cmd.program, *cmd.argv)
        self.cwd = None if cwd is None else Path(cwd)
        self.env = env
        self.tags = MappingProxyType(tags)
        self.exec_id = new_exec_id()
        self.pid: int | None = None

    def emit(
        self,
        phase: str,
        *,
        exit_code: int | None = None,
        duration_s: float | None = None,
        note: str | None = None,
        byte_count: int | None = None,
        operation: str | None = None,
        error_type: str | None = None,
    ) -> None:
        """Deliver one non-line event to every hook."""
        event = ExecEvent(
            phase,  # type: ignore[arg-type]
            self.program,
            self.argv,
            self.cwd,
            self.env,
            self.pid,
            time.time(),
            None,
            exit_code,
            duration_s,
            self.tags,
            note,
            byte_count,
            operation,
            error_type,
            self.exec_id,
        )
        pending = self.pending
        for hook in self.hooks:
            result = hook(event)
            if result is not None and inspect.isawaitable(result):
                pending.append(result)

    def line_template(self, phase: str) -> tuple[object, ...]:
        """The fields of every ``phase`` line event, in
        :class:`~cuprum.events.ExecEvent`'s own order, with the timestamp and
        the line left empty for the engine to fill in (the engines find them
        by name in ``ExecEvent._fields``)."""
        return tuple(
            ExecEvent(
                phase=phase,  # type: ignore[arg-type]
                program=self.program, argv=self.argv, cwd=self.cwd, env=self.env,
                pid=self.pid, timestamp=0.0, line=None, exit_code=None, duration_s=None,
                tags=self.tags, exec_id=self.exec_id,
            )
        )


__all__ = ["StageEvents"]
