# SPDX-License-Identifier: ISC
"""Probe for the optional native extension ``cuprum._native``.

Only a *missing* extension means "native unavailable". An extension that
exists but fails to load (for example because libcuprum's shared library is
missing or incompatible) is an installation error, reported as an
``ImportError`` naming the cause rather than silently falling back.
"""

from __future__ import annotations

import importlib
import types

_MODULE = "cuprum._native"
_UNSET = object()
_cached: object = _UNSET


def load() -> types.ModuleType | None:
    """Return the extension module, ``None`` when it is not installed."""
    global _cached
    if _cached is not _UNSET:
        return _cached  # type: ignore[return-value]
    try:
        module: types.ModuleType | None = importlib.import_module(_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _MODULE:
            msg = f"{_MODULE} is installed but cannot be imported: it needs {exc.name!r} ({exc})"
            raise ImportError(msg, name=_MODULE) from exc
        module = None
    except ImportError as exc:
        msg = f"{_MODULE} is installed but failed to load: {exc}"
        raise ImportError(msg, name=_MODULE) from exc
    _cached = module
    return module


def is_available() -> bool:
    """Return True when ``cuprum._native`` imports; False when it is absent."""
    return load() is not None


def _reset_for_testing() -> None:
    """Forget the cached probe result."""
    global _cached
    _cached = _UNSET


__all__ = ["is_available", "load"]
