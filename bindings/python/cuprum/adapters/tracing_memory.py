# SPDX-License-Identifier: ISC
"""In-memory :class:`Span` and :class:`Tracer` for tests and examples.

:class:`InMemoryTracer` guards its list of spans with a lock; each
:class:`InMemorySpan` is a plain record, expected to be written by the one
execution it belongs to.
"""

from __future__ import annotations

import dataclasses as dc
import typing as typ

from cuprum.adapters._support import LockedStore

if typ.TYPE_CHECKING:
    import collections.abc as cabc


@dc.dataclass
class InMemorySpan:
    """A span that records everything done to it.

    Attributes
    ----------
    name:
        The name it was started with.
    attributes:
        Initial attributes plus those set later.
    events:
        ``(name, attributes)`` pairs in the order they were added.
    status_ok:
        ``None`` until :meth:`set_status`, then its ``ok`` value.
    ended:
        Whether :meth:`end` was called.
    """

    name: str
    attributes: dict[str, object] = dc.field(default_factory=dict)
    events: list[tuple[str, dict[str, object]]] = dc.field(default_factory=list)
    status_ok: bool | None = None
    ended: bool = False

    def set_attribute(self, key: str, value: object) -> None:
        """Set (or overwrite) attribute ``key``."""
        self.attributes[key] = value

    def add_event(
        self,
        name: str,
        attributes: cabc.Mapping[str, object] | None = None,
    ) -> None:
        """Append an event, copying ``attributes`` so later changes don't leak in."""
        self.events.append((name, dict(attributes) if attributes else {}))

    def set_status(self, *, ok: bool) -> None:
        """Record the outcome."""
        self.status_ok = ok

    def end(self) -> None:
        """Mark the span ended."""
        self.ended = True


@dc.dataclass
class InMemoryTracer(LockedStore):
    """A tracer that keeps every span it starts, in order.

    Attributes
    ----------
    spans:
        All spans started since creation or the last :meth:`reset`.
    """

    spans: list[InMemorySpan] = dc.field(default_factory=list)

    def start_span(
        self,
        name: str,
        attributes: cabc.Mapping[str, object] | None = None,
    ) -> InMemorySpan:
        """Create, remember and return a span."""
        span = InMemorySpan(name=name, attributes=dict(attributes) if attributes else {})
        with self._lock:
            self.spans.append(span)
        return span

    def _clear(self) -> None:
        """Forget all spans (lock held by ``reset``)."""
        self.spans.clear()


__all__ = ["InMemorySpan", "InMemoryTracer"]
