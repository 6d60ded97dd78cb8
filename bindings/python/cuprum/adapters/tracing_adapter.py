# SPDX-License-Identifier: ISC
"""OpenTelemetry-style tracing of cuprum executions.

:class:`TracingHook` opens one span per execution (command or pipeline
stage) at its ``start`` event, adds each output line as a span event, and
sets the exit code, duration and status and ends the span at ``exit``. Spans
are matched to later events by the event's ``exec_id`` (falling back to the
pid for events that carry none), so concurrent runs, and a pid the kernel
reuses, never cross wires.

The backend is anything satisfying :class:`Tracer` / :class:`Span`;
:class:`InMemoryTracer` is the reference one. Wrapping OpenTelemetry::

    class OTelSpan:
        def __init__(self, span): self._span = span
        def set_attribute(self, key, value): self._span.set_attribute(key, value)
        def add_event(self, name, attributes=None):
            self._span.add_event(name, attributes=attributes or {})
        def set_status(self, *, ok):
            from opentelemetry.trace import StatusCode
            self._span.set_status(StatusCode.OK if ok else StatusCode.ERROR)
        def end(self): self._span.end()

    class OTelTracer:
        def __init__(self, tracer): self._tracer = tracer
        def start_span(self, name, attributes=None):
            return OTelSpan(self._tracer.start_span(name, attributes=attributes))

    hook = TracingHook(OTelTracer(opentelemetry.trace.get_tracer("cuprum")))
"""

from __future__ import annotations

import threading
import typing as typ

from cuprum.adapters._support import correlation_key, event_fields, prefixed, project_tag
from cuprum.adapters.tracing_memory import InMemorySpan, InMemoryTracer
from cuprum.adapters.tracing_protocols import Span, Tracer

if typ.TYPE_CHECKING:
    from cuprum.events import ExecEvent, ExecHook

_ATTRIBUTE_NAME = prefixed("cuprum.")

# Tags copied onto the span when present, under "cuprum.<tag>".
_COPIED_TAGS: tuple[str, ...] = ("pipeline_stage_index", "pipeline_stages")


class TracingHook:
    """Observe hook that records one span per execution.

    Span name: ``cuprum.exec <program>``. Attributes at start:
    ``cuprum.program``, ``cuprum.argv`` (a list), and when known
    ``cuprum.pid``, ``cuprum.cwd``, ``cuprum.exec_id``, ``cuprum.project``
    (from the ``project`` tag), ``cuprum.pipeline_stage_index`` and
    ``cuprum.pipeline_stages``. At exit: ``cuprum.exit_code`` and
    ``cuprum.duration_s``, status ok when the exit code is 0 (or unknown).

    Parameters
    ----------
    tracer:
        The backend that creates spans.
    record_output:
        Add each ``stdout``/``stderr`` line as a ``cuprum.stdout`` /
        ``cuprum.stderr`` span event. Default true.

    Notes
    -----
    Safe to share between threads and asyncio tasks: the table of open spans
    is guarded by a lock that is never held while calling the backend.
    A run abandoned early (an exception, a cancelled task, a stream left
    early) emits no ``exit`` event, so its spans stay open.
    """

    __slots__ = ("_active_spans", "_lock", "_record_output", "_tracer")

    def __init__(self, tracer: Tracer, *, record_output: bool = True) -> None:
        """Remember the backend and start with no open spans."""
        self._tracer = tracer
        self._record_output = record_output
        self._active_spans: dict[tuple[str, object], Span] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ExecEvent) -> None:
        """Update the trace for ``event``; phases without span meaning are ignored."""
        phase = event.phase
        if phase == "start":
            self._handle_start(event)
        elif phase in ("stdout", "stderr"):
            if self._record_output:
                self._handle_output(event)
        elif phase == "exit":
            self._handle_exit(event)

    def _handle_start(self, event: ExecEvent) -> None:
        """Open the execution's span."""
        key = correlation_key(event)
        if key is None:
            return
        span = self._tracer.start_span(
            f"cuprum.exec {event.program}",
            self._build_attributes(event),
        )
        with self._lock:
            self._active_spans[key] = span

    def _handle_output(self, event: ExecEvent) -> None:
        """Add an output line to the execution's span as an event."""
        key = correlation_key(event)
        if key is None:
            return
        with self._lock:
            span = self._active_spans.get(key)
        if span is None:
            return
        attributes: dict[str, object] = {}
        if event.line is not None:
            attributes["line"] = event.line
        span.add_event(f"cuprum.{event.phase}", attributes)

    def _handle_exit(self, event: ExecEvent) -> None:
        """Close the execution's span with its outcome."""
        key = correlation_key(event)
        if key is None:
            return
        with self._lock:
            span = self._active_spans.pop(key, None)
        if span is None:
            return
        if event.exit_code is not None:
            span.set_attribute("cuprum.exit_code", event.exit_code)
        if event.duration_s is not None:
            span.set_attribute("cuprum.duration_s", event.duration_s)
        span.set_status(ok=event.exit_code is None or event.exit_code == 0)
        span.end()

    @staticmethod
    def _build_attributes(event: ExecEvent) -> dict[str, object]:
        """Return the span's initial attributes for a ``start`` event."""
        attributes = dict(event_fields(event, _ATTRIBUTE_NAME, argv=list))
        project = project_tag(event)
        if project is not None:
            attributes["cuprum.project"] = project
        tags = event.tags if event.tags is not None else {}
        for tag in _COPIED_TAGS:
            if tag in tags:
                attributes[f"cuprum.{tag}"] = tags[tag]
        return attributes


def tracing_hook(tracer: Tracer, *, record_output: bool = True) -> ExecHook:
    """Return a :class:`TracingHook`, typed as an ``ExecHook``.

    Parameters
    ----------
    tracer:
        The backend that creates spans.
    record_output:
        Record output lines as span events. Default true.
    """
    return TracingHook(tracer, record_output=record_output)


__all__ = [
    "InMemorySpan",
    "InMemoryTracer",
    "Span",
    "Tracer",
    "TracingHook",
    "tracing_hook",
]
