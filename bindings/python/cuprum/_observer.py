# SPDX-License-Identifier: ISC
"""Building and delivering the :class:`~cuprum.events.ExecEvent` of one stage.

A run with observe hooks gives each command (or pipeline stage) a
:class:`StageEvents`: it holds everything constant across that stage's
events, so a per-line event costs one tuple build and one call per hook.
Awaitables returned by hooks are collected in ``pending`` for the driver to
await before the run returns.
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
    from cuprum.sh import SafeCmd

_new_event = tuple.__new__


class StageEvents:
    """Event factory and dispatcher for one stage."""

    __slots__ = ("argv", "cwd", "env", "exec_id", "hooks", "pending", "pid", "program", "tags")

    def __init__(
        self,
        cmd: SafeCmd,
        *,
        hooks: tuple[cabc.Callable[[ExecEvent], object], ...],
        pending: list[typ.Any],
        cwd: str | None,
        env: cabc.Mapping[str, str] | None,
        tags: dict[str, object],
    ) -> None:
        """Fix the values shared by every event of ``cmd``'s execution."""
        self.hooks = hooks
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
        """The fields of every ``phase`` line event, with the timestamp and
        the line left as ``None`` for the engine to fill in (positions 6 and
        7 of :class:`~cuprum.events.ExecEvent`)."""
        return (
            phase, self.program, self.argv, self.cwd, self.env, self.pid, None, None,
            None, None, self.tags, None, None, None, None, self.exec_id,
        )

    def line_callback(self, phase: str) -> cabc.Callable[[str], None]:
        """Return the per-line callback for ``phase`` (``stdout``/``stderr``).

        The constant fields are bound to closure variables and the tuple is
        spelled out: measurably cheaper than unpacking prebuilt tuples, which
        matters at millions of lines.
        """
        program, argv, cwd, env, pid = self.program, self.argv, self.cwd, self.env, self.pid
        tags, exec_id = self.tags, self.exec_id
        now = time.time
        pending = self.pending
        isawaitable = inspect.isawaitable
        hooks = self.hooks
        if len(hooks) == 1:
            hook = hooks[0]

            def one(line: str) -> None:
                result = hook(
                    _new_event(
                        ExecEvent,
                        (phase, program, argv, cwd, env, pid, now(), line,
                         None, None, tags, None, None, None, None, exec_id),
                    )
                )
                if result is not None and isawaitable(result):
                    pending.append(result)

            return one

        def many(line: str) -> None:
            event = _new_event(
                ExecEvent,
                (phase, program, argv, cwd, env, pid, now(), line,
                 None, None, tags, None, None, None, None, exec_id),
            )
            for hook in hooks:
                result = hook(event)
                if result is not None and isawaitable(result):
                    pending.append(result)

        return many


__all__ = ["StageEvents"]
