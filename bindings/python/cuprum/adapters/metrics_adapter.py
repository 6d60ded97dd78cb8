# SPDX-License-Identifier: ISC
"""Prometheus-style metrics from cuprum execution events.

:class:`MetricsHook` turns the event stream into counter increments and
histogram observations on a :class:`MetricsCollector`, a two-method protocol
any backend (prometheus_client, statsd, OpenTelemetry metrics) can satisfy in
a few lines, so cuprum itself depends on none of them.
:class:`InMemoryMetrics` is the reference collector for tests and examples.

Metrics emitted, each labelled ``program`` and ``project``:

- ``cuprum_executions_total``: one per ``start``
- ``cuprum_failures_total``: one per ``exit`` with a non-zero exit code
- ``cuprum_duration_seconds`` (histogram): each ``exit``'s ``duration_s``
- ``cuprum_stdout_lines_total`` / ``cuprum_stderr_lines_total``: one per line
- ``cuprum_stdin_bytes_total``: ``byte_count`` of each ``stdin`` event
- ``cuprum_stdin_errors_total``: one per ``stdin_error``

Example::

    from cuprum.context import observe
    from cuprum.adapters.metrics_adapter import InMemoryMetrics, MetricsHook

    metrics = InMemoryMetrics()
    with observe(MetricsHook(metrics)):
        cmd.run_sync()
    metrics.counters["cuprum_executions_total"]  # 1.0
"""

from __future__ import annotations

import dataclasses as dc
import logging
import typing as typ

from cuprum.adapters._support import LockedStore, project_tag

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum.events import ExecEvent, ExecHook

_LOGGER = logging.getLogger("cuprum.adapters")

# Phases that each add exactly one to a counter.
_UNIT_COUNTERS: dict[str, str] = {
    "start": "cuprum_executions_total",
    "stdout": "cuprum_stdout_lines_total",
    "stderr": "cuprum_stderr_lines_total",
    "stdin_error": "cuprum_stdin_errors_total",
}


class MetricsCollector(typ.Protocol):
    """What :class:`MetricsHook` needs from a metrics backend.

    Implementations must be thread-safe: hooks run from whichever thread or
    asyncio task is executing a command, possibly several at once.
    """

    def inc_counter(
        self,
        name: str,
        value: float,
        labels: cabc.Mapping[str, str],
    ) -> None:
        """Add ``value`` (usually 1.0) to counter ``name`` for ``labels``."""
        ...

    def observe_histogram(
        self,
        name: str,
        value: float,
        labels: cabc.Mapping[str, str],
    ) -> None:
        """Record one observation ``value`` in histogram ``name``."""
        ...


@dc.dataclass
class InMemoryMetrics(LockedStore):
    """Reference collector that keeps totals in dictionaries (labels ignored).

    Thread-safe; meant for tests and examples, not production.

    Attributes
    ----------
    counters:
        Metric name to accumulated value.
    histograms:
        Metric name to the observed values, in arrival order.
    """

    counters: dict[str, float] = dc.field(default_factory=dict)
    histograms: dict[str, list[float]] = dc.field(default_factory=dict)

    def inc_counter(
        self,
        name: str,
        value: float,
        labels: cabc.Mapping[str, str],
    ) -> None:
        """Add ``value`` to counter ``name``."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0.0) + value

    def observe_histogram(
        self,
        name: str,
        value: float,
        labels: cabc.Mapping[str, str],
    ) -> None:
        """Append ``value`` to histogram ``name``."""
        with self._lock:
            self.histograms.setdefault(name, []).append(value)

    def _clear(self) -> None:
        """Drop all counters and histograms (lock held by ``reset``)."""
        self.counters.clear()
        self.histograms.clear()


@dc.dataclass(frozen=True)
class _Increment:
    """A counter increment an event calls for."""

    name: str
    value: float


@dc.dataclass(frozen=True)
class _Observation:
    """A histogram observation an event calls for."""

    name: str
    value: float


def _operations(event: ExecEvent) -> tuple[_Increment | _Observation, ...]:
    """Return what ``event`` should record, without touching a collector.

    Kept pure so the phase-to-metric mapping can be checked on its own.
    ``plan`` records nothing, nor does a ``stdin`` event without a byte count;
    a phase this adapter does not know is ignored (and logged at DEBUG) rather
    than raised, because a hook that raises would break the run it observes.
    """
    phase = event.phase
    counter = _UNIT_COUNTERS.get(phase)
    if counter is not None:
        return (_Increment(counter, 1.0),)
    if phase == "exit":
        ops: list[_Increment | _Observation] = []
        if event.exit_code is not None and event.exit_code != 0:
            ops.append(_Increment("cuprum_failures_total", 1.0))
        if event.duration_s is not None:
            ops.append(_Observation("cuprum_duration_seconds", float(event.duration_s)))
        return tuple(ops)
    if phase == "stdin":
        if event.byte_count is None:
            return ()
        return (_Increment("cuprum_stdin_bytes_total", float(event.byte_count)),)
    if phase != "plan":
        _LOGGER.debug("metrics adapter ignoring unknown phase %r", phase)
    return ()


class MetricsHook:
    """Observe hook that feeds a :class:`MetricsCollector`.

    Labels are deliberately low-cardinality: ``program`` and the ``project``
    tag (``"unknown"`` when missing), never pids, argv or lines.

    Parameters
    ----------
    collector:
        The backend to record into.
    """

    __slots__ = ("_collector",)

    def __init__(self, collector: MetricsCollector) -> None:
        """Remember ``collector``; the hook itself holds no other state."""
        self._collector = collector

    def __call__(self, event: ExecEvent) -> None:
        """Record the metrics ``event`` calls for."""
        operations = _operations(event)
        if not operations:
            return
        labels = self._extract_labels(event)
        for op in operations:
            if isinstance(op, _Increment):
                self._collector.inc_counter(op.name, op.value, labels)
            else:
                self._collector.observe_histogram(op.name, op.value, labels)

    @staticmethod
    def _extract_labels(event: ExecEvent) -> dict[str, str]:
        """Return the ``program`` and ``project`` labels for ``event``."""
        return {
            "program": str(event.program) or "unknown",
            "project": project_tag(event) or "unknown",
        }


def metrics_hook(collector: MetricsCollector) -> ExecHook:
    """Return a :class:`MetricsHook` for ``collector``, typed as an ``ExecHook``."""
    return MetricsHook(collector)


__all__ = ["InMemoryMetrics", "MetricsCollector", "MetricsHook", "metrics_hook"]
