# SPDX-License-Identifier: ISC
"""Reference telemetry adapters for cuprum's execution events.

Each module turns the ``ExecEvent`` stream seen by an ``observe()`` hook into
records for one kind of backend, without importing any telemetry library:

- :mod:`cuprum.adapters.logging_adapter`: structured standard-library logging
  (``structured_logging_hook``, ``LogLevels``, ``JsonLoggingFormatter``);
- :mod:`cuprum.adapters.metrics_adapter`: Prometheus-style counters and a
  duration histogram (``MetricsHook``, ``MetricsCollector``,
  ``InMemoryMetrics``, ``metrics_hook``);
- :mod:`cuprum.adapters.tracing_adapter`: OpenTelemetry-style spans
  (``TracingHook``, ``Tracer``, ``Span``, ``InMemoryTracer``,
  ``InMemorySpan``, ``tracing_hook``).

Import from those modules; this package itself exports nothing.
"""

from __future__ import annotations

__all__: list[str] = []
