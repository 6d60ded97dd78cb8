# SPDX-License-Identifier: ISC
"""Stream backend selection.

``CUPRUM_STREAM_BACKEND`` chooses the stream engine: ``auto`` (the default:
native when the extension is installed and loads, else pure Python),
``native`` (``rust`` is accepted as an alias), or ``python``. The value is
case-insensitive and surrounding whitespace is ignored. Forcing ``native``
without the extension is an ``ImportError``; under ``auto``, an installed
extension whose libcuprum the loader cannot find means the pure engine and
a ``RuntimeWarning`` saying why and how to fix it, never a silent fallback.
The choice is made once per process (see :func:`_reset_for_testing`).
"""

from __future__ import annotations

import functools
import os
import typing as typ
import warnings

from cuprum import _native_shim

if typ.TYPE_CHECKING:
    from cuprum._engine import StreamEngine

ENV_VAR = "CUPRUM_STREAM_BACKEND"
_ALIASES = {"": "auto", "auto": "auto", "native": "native", "rust": "native", "python": "python"}
_BUILD_HINT = (
    "install libcuprum (./configure && make && make install), then rebuild "
    "the Python binding with CUPRUM_BUILD_NATIVE=1 (for example "
    "'CUPRUM_BUILD_NATIVE=1 pip install ./bindings/python')"
)


def parse_backend(raw: str) -> str:
    """Map a raw setting to ``"auto"``, ``"native"`` or ``"python"``."""
    value = _ALIASES.get(raw.strip().lower())
    if value is None:
        msg = (
            f"invalid {ENV_VAR} value {raw!r}; expected one of: "
            "auto, native, python (rust is an alias of native)"
        )
        raise ValueError(msg)
    return value


def is_native_available() -> bool:
    """Return True when the native extension ``cuprum._native`` is installed."""
    return _native_shim.is_available()


def is_rust_available() -> bool:
    """Compatibility alias of :func:`is_native_available`."""
    return _native_shim.is_available()


@functools.cache
def get_stream_backend() -> str:
    """Return the backend in use: ``"native"`` or ``"python"``.

    Raises ``ValueError`` for an invalid ``CUPRUM_STREAM_BACKEND`` and
    ``ImportError`` when ``native`` is forced but unavailable, or when the
    installed extension fails to load for another reason than a libcuprum
    the loader cannot find (which, under ``auto``, warns and selects
    ``"python"``).
    """
    requested = parse_backend(os.environ.get(ENV_VAR, ""))
    if requested == "python":
        return "python"
    available = _native_shim.is_available()
    reason = _native_shim.why_unavailable()
    if requested == "native" and not available:
        msg = (
            f"{ENV_VAR}=native requested but {reason}"
            if reason is not None
            else f"{ENV_VAR}=native requested but the native extension "
            f"cuprum._native is not installed; {_BUILD_HINT}"
        )
        raise ImportError(msg, name="cuprum._native")
    if reason is not None:
        warnings.warn(
            f"{reason} Running on the pure-Python engine meanwhile (slower, same results; "
            f"{ENV_VAR}=python selects it without this warning).",
            RuntimeWarning,
            stacklevel=2,
        )
    return "native" if available else "python"


@functools.cache
def get_engine() -> StreamEngine:
    """Return the stream engine for the selected backend."""
    if get_stream_backend() == "native":
        module = _native_shim.load()
        assert module is not None  # noqa: S101 - get_stream_backend checked it
        return typ.cast("StreamEngine", module)
    from cuprum import _streams_pure

    return typ.cast("StreamEngine", _streams_pure)


def _reset_for_testing() -> None:
    """Forget the cached selection so the next call re-reads the environment."""
    get_stream_backend.cache_clear()
    get_engine.cache_clear()
    _native_shim._reset_for_testing()


__all__ = [
    "ENV_VAR",
    "get_engine",
    "get_stream_backend",
    "is_native_available",
    "is_rust_available",
    "parse_backend",
]
