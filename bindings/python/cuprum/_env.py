# SPDX-License-Identifier: ISC
"""Layering environment overlays: the one place that reads ``os.environ``.

Precedence at spawn time, lowest first: the live ``os.environ``, then
``env()`` / ``ScopeConfig.env_overlay`` overlays (innermost wins), then
``ExecutionContext.env``.
"""

from __future__ import annotations

import collections.abc as cabc
import os
from types import MappingProxyType


def merge_env_overlays(
    parent: cabc.Mapping[str, str] | None,
    child: cabc.Mapping[str, str] | None,
) -> cabc.Mapping[str, str] | None:
    """Layer ``child`` over ``parent`` without reading ``os.environ``.

    ``None`` means "no overlay"; the result is immutable, or ``None`` when both
    layers are ``None``.
    """
    if parent is None and child is None:
        return None
    merged: dict[str, str] = dict(parent) if parent else {}
    if child:
        merged.update(child)
    return MappingProxyType(merged)


def resolve_env(*layers: cabc.Mapping[str, str] | None) -> dict[str, str] | None:
    """Return the live ``os.environ`` with ``layers`` applied left to right.

    Returns ``None`` when no layer has any entry, meaning "inherit the parent
    environment unchanged" to the spawning code.
    """
    if not any(layers):
        return None
    merged = os.environ.copy()
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged


__all__ = ["merge_env_overlays", "resolve_env"]
