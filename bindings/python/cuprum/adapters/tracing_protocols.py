# SPDX-License-Identifier: ISC
"""The two small protocols a tracing backend implements for cuprum.

:class:`Tracer` starts spans and :class:`Span` records attributes, events, a
status and its end. They mirror the shape of OpenTelemetry's API, so an OTel
tracer can be wrapped in a few lines and cuprum needs no tracing dependency.
"""

from __future__ import annotations

import typing as typ

if typ.TYPE_CHECKING:
    import collections.abc as cabc


class Span(typ.Protocol):
    """A unit of traced work: here, one command or pipeline stage."""

    def set_attribute(self, key: str, value: object) -> None:
        """Set attribute ``key`` (e.g. ``cuprum.exit_code``) to ``value``."""
        ...

    def add_event(
        self,
        name: str,
        attributes: cabc.Mapping[str, object] | None = None,
    ) -> None:
        """Record a timestamped event (e.g. ``cuprum.stdout``) on the span."""
        ...

    def set_status(self, *, ok: bool) -> None:
        """Mark the span as succeeded (``ok=True``) or failed."""
        ...

    def end(self) -> None:
        """Finish the span."""
        ...


class Tracer(typ.Protocol):
    """A tracing backend. Must be thread-safe: hooks run concurrently."""

    def start_span(
        self,
        name: str,
        attributes: cabc.Mapping[str, object] | None = None,
    ) -> Span:
        """Start and return a span named ``name`` with initial ``attributes``.

        The caller ends it with :meth:`Span.end`.
        """
        ...


__all__ = ["Span", "Tracer"]
