# SPDX-License-Identifier: ISC
"""``logging_hook``: log each command's start and exit through ``logging``."""

from __future__ import annotations

import dataclasses as dc
import logging
import threading
import time
import typing as typ
from weakref import WeakKeyDictionary

from cuprum.context import HookRegistration, after, before

if typ.TYPE_CHECKING:
    from cuprum._results import CommandResult
    from cuprum.sh import SafeCmd


@dc.dataclass(slots=True)
class LoggingHookRegistration:
    """Handle for the paired start/exit hooks; ``detach()`` removes both."""

    start_registration: HookRegistration | None
    exit_registration: HookRegistration | None
    _detached: bool = False

    def detach(self) -> None:
        """Detach both hooks (each takes out its own registration)."""
        if self._detached:
            return
        # Marked only once both are out: a detach refused (another thread
        # or task) leaves it to be detached again where it is in force.
        if self.exit_registration is not None:
            self.exit_registration.detach()
        if self.start_registration is not None:
            self.start_registration.detach()
        self._detached = True
        self.exit_registration = None
        self.start_registration = None

    def __enter__(self) -> LoggingHookRegistration:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.detach()


#: Start times kept per command value (see :func:`logging_hook`).
_KEPT = 64


def logging_hook(
    *,
    logger: logging.Logger | None = None,
    start_level: int = logging.INFO,
    exit_level: int = logging.INFO,
) -> LoggingHookRegistration:
    """Register hooks logging ``cuprum.start`` and ``cuprum.exit`` records.

    ``logger`` defaults to ``logging.getLogger("cuprum")``.
    """
    log = logger if logger is not None else logging.getLogger("cuprum")
    # The start times of each command value: equal commands (the stages of
    # "sh -c cat | sh -c cat", one command run several times at once) are
    # equal keys. An exit takes the newest start, so a start left by a run
    # abandoned early (no exit) never times a later run; at most _KEPT are
    # kept per value, the oldest dropped first.
    started: WeakKeyDictionary[SafeCmd, list[float]] = WeakKeyDictionary()
    lock = threading.Lock()

    def on_start(cmd: SafeCmd) -> None:
        with lock:
            times = started.setdefault(cmd, [])
            times.append(time.perf_counter())
            if len(times) > _KEPT:
                del times[0]
        if log.isEnabledFor(start_level):
            log.log(start_level, "cuprum.start program=%s argv=%r", cmd.program, cmd.argv_with_program)

    def on_exit(cmd: SafeCmd, result: CommandResult) -> None:
        with lock:
            times = started.get(cmd)
            began = times.pop() if times else None
            if times is not None and not times:
                del started[cmd]
        if not log.isEnabledFor(exit_level):
            return
        duration = f"{time.perf_counter() - began:.6f}" if began is not None else "unknown"
        log.log(
            exit_level,
            "cuprum.exit program=%s pid=%s exit_code=%s duration_s=%s stdout_len=%s stderr_len=%s",
            result.program,
            result.pid,
            result.exit_code,
            duration,
            len(result.stdout) if result.stdout is not None else 0,
            len(result.stderr) if result.stderr is not None else 0,
        )

    start_registration = before(on_start)
    exit_registration = after(on_exit)
    return LoggingHookRegistration(start_registration, exit_registration)


__all__ = ["LoggingHookRegistration", "logging_hook"]
