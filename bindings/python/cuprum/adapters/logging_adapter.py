# SPDX-License-Identifier: ISC
"""Structured logging of cuprum execution events with the standard library.

``cuprum.logging_hook()`` logs a start and an exit line per command from the
before/after hooks. This adapter instead follows the whole ``ExecEvent``
stream (plan, start, output lines, stdin, exit) and attaches the event's
fields to each record as ``cuprum_*`` extras, ready for a log pipeline;
:class:`JsonLoggingFormatter` renders those records as one JSON object each.

Example::

    import logging
    from cuprum.context import observe
    from cuprum.adapters.logging_adapter import structured_logging_hook

    logging.basicConfig(level=logging.DEBUG)
    with observe(structured_logging_hook()):
        cmd.run_sync()
"""

from __future__ import annotations

import collections.abc as cabc
import dataclasses as dc
import json
import logging
import typing as typ

from cuprum.adapters._support import event_fields, prefixed

if typ.TYPE_CHECKING:
    from cuprum.events import ExecEvent, ExecHook

_DEFAULT_LOGGER_NAME = "cuprum.exec"
_EXTRA_NAME = prefixed("cuprum_")


@dc.dataclass
class LogLevels:
    """Log level for each event phase.

    Attributes
    ----------
    plan_level:
        ``plan`` (about to spawn). Default ``DEBUG``.
    start_level:
        ``start`` (spawned). Default ``INFO``.
    output_level:
        ``stdout`` and ``stderr`` lines. Default ``DEBUG``.
    exit_level:
        ``exit`` (finished). Default ``INFO``.

    Any other phase (``stdin``, ``stdin_error``...) is logged at ``DEBUG``.
    """

    plan_level: int = logging.DEBUG
    start_level: int = logging.INFO
    output_level: int = logging.DEBUG
    exit_level: int = logging.INFO


def structured_logging_hook(
    *,
    logger: logging.Logger | None = None,
    levels: LogLevels | None = None,
) -> ExecHook:
    """Return an observe hook that logs every event with structured extras.

    Parameters
    ----------
    logger:
        Where to log; default ``logging.getLogger("cuprum.exec")``.
    levels:
        Level per phase; default ``LogLevels()``.

    Returns
    -------
    ExecHook
        A synchronous hook for ``observe()``.

    Notes
    -----
    The hook checks ``isEnabledFor`` first, so a disabled level costs one
    comparison per event, and otherwise does no I/O of its own: where records
    go is the handlers' business (use a ``QueueHandler`` to keep slow handlers
    off the event loop). Each record carries ``cuprum_phase``,
    ``cuprum_program``, ``cuprum_argv`` and ``cuprum_tags``, plus, when set,
    ``cuprum_pid``, ``cuprum_cwd``, ``cuprum_exit_code``,
    ``cuprum_duration_s``, ``cuprum_line``, ``cuprum_exec_id``,
    ``cuprum_note``, ``cuprum_byte_count``, ``cuprum_operation`` and
    ``cuprum_error_type``.
    """
    log = logger if logger is not None else logging.getLogger(_DEFAULT_LOGGER_NAME)
    chosen = levels if levels is not None else LogLevels()
    level_for: dict[str, int] = {
        "plan": chosen.plan_level,
        "start": chosen.start_level,
        "stdout": chosen.output_level,
        "stderr": chosen.output_level,
        "exit": chosen.exit_level,
    }

    def hook(event: ExecEvent) -> None:
        """Log ``event`` at its phase's level, if that level is enabled."""
        level = level_for.get(event.phase, logging.DEBUG)
        if log.isEnabledFor(level):
            log.log(level, _format_message(event), extra=_build_extra(event))

    return hook


def _build_extra(event: ExecEvent) -> dict[str, object]:
    """Return the ``extra`` mapping for ``event``'s log record."""
    extra: dict[str, object] = {"cuprum_phase": event.phase}
    extra.update(event_fields(event, _EXTRA_NAME))
    extra["cuprum_tags"] = dict(event.tags) if event.tags is not None else {}
    return extra


def _format_duration(duration_s: float | None) -> str:
    """Render a duration with microsecond precision, or ``unknown``."""
    return "unknown" if duration_s is None else f"{duration_s:.6f}"


def _format_message(event: ExecEvent) -> str:
    """Return the one-line human-readable message for ``event``."""
    phase = event.phase
    program = event.program
    if phase == "plan":
        return f"cuprum.plan program={program} argv={tuple(event.argv)!r}"
    if phase == "start":
        return f"cuprum.start program={program} pid={event.pid}"
    if phase in ("stdout", "stderr"):
        return f"cuprum.{phase} pid={event.pid} line={event.line!r}"
    if phase == "exit":
        return (
            f"cuprum.exit program={program} pid={event.pid} "
            f"exit_code={event.exit_code} "
            f"duration_s={_format_duration(event.duration_s)}"
        )
    if phase == "stdin":
        return f"cuprum.stdin program={program} pid={event.pid} byte_count={event.byte_count}"
    if phase == "stdin_error":
        return (
            f"cuprum.stdin_error program={program} pid={event.pid} "
            f"operation={event.operation} error_type={event.error_type}"
        )
    return f"cuprum.{phase} program={program}"


class JsonLoggingFormatter(logging.Formatter):
    """Format each record as one JSON object, including its ``cuprum_*`` extras.

    The object has ``timestamp``, ``level``, ``logger`` and ``message`` keys,
    then every ``cuprum_*`` attribute of the record with tuples turned into
    lists and anything else JSON cannot hold turned into text.

    Example::

        handler = logging.StreamHandler()
        handler.setFormatter(JsonLoggingFormatter())
        logging.getLogger("cuprum.exec").addHandler(handler)
    """

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a JSON string."""
        payload: dict[str, object] = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key.startswith("cuprum_"):
                payload[key] = _json_safe(value)
        return json.dumps(payload, default=str)


def _json_safe(value: object) -> object:
    """Return ``value`` made of JSON types only (text for anything else)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, cabc.Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return str(value)


__all__ = ["JsonLoggingFormatter", "LogLevels", "structured_logging_hook"]
