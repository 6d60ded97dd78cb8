# SPDX-License-Identifier: ISC
"""One validator per kind of value the public API accepts.

Every option that takes seconds, a codec, an environment mapping, a path or
a file descriptor is checked here, so the same value gets the same verdict
wherever it is passed (a call, an ``ExecutionContext``, a ``ScopeConfig``,
a ``StdinInput``, a redirect). A leaf module: it imports nothing of
cuprum's.
"""

from __future__ import annotations

import codecs
import collections.abc as cabc
import io
import math
import os
import reprlib
from types import MappingProxyType


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = f"{what} must be a number of seconds or None, got {type(value).__name__}"
        raise TypeError(msg)
    number = float(value)
    if math.isnan(number):
        msg = f"{what} must be a number of seconds, got {value!r}"
        raise ValueError(msg)
    return number


def check_timeout(value: float | None, what: str) -> float | None:
    """Return a timeout as a float (``None`` for none).

    Any number but NaN is a timeout: zero or less means the deadline has
    already passed (the command is stopped at once and ``TimeoutExpired``
    raised), infinity means there is no deadline.
    """
    if value is None:
        return None
    return _number(value, what)


def check_seconds(value: float | None, what: str) -> float | None:
    """Return a duration as a float; reject non-numbers, negatives and NaN.

    Infinity is accepted and means "for ever".
    """
    if value is None:
        return None
    number = _number(value, what)
    if number < 0:
        msg = f"{what} must be a non-negative number of seconds, got {value!r}"
        raise ValueError(msg)
    return number


def check_codec(encoding: str, errors: str) -> None:
    """Raise ``LookupError`` naming an unknown encoding or error handler."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError) as exc:
        msg = f"unknown encoding {encoding!r} in ExecutionContext.encoding"
        raise LookupError(msg) from exc
    if not getattr(info, "_is_text_encoding", True):
        msg = (
            f"{encoding!r} is not a text encoding (bytes to str) "
            "in ExecutionContext.encoding"
        )
        raise LookupError(msg)
    try:
        codecs.lookup_error(errors)
    except (LookupError, TypeError) as exc:
        msg = f"unknown error handler {errors!r} in ExecutionContext.errors"
        raise LookupError(msg) from exc


def check_env(
    overlay: cabc.Mapping[str, str] | None, owner: str = "env overlay"
) -> cabc.Mapping[str, str] | None:
    """Validate an environment overlay; return an immutable copy (or ``None``)."""
    if overlay is None:
        return None
    frozen: dict[str, str] = {}
    for key, value in overlay.items():
        if not isinstance(key, str) or not isinstance(value, str):
            msg = (
                f"{owner} entries must be str to str, got "
                f"{type(key).__name__} {key!r} -> {type(value).__name__}"
            )
            raise TypeError(msg)
        if not key or "=" in key or "\0" in key or "\0" in value:
            msg = f"{owner} has an invalid variable name or value: {key!r}"
            raise ValueError(msg)
        frozen[key] = value
    return MappingProxyType(frozen)


def check_path(value: object, what: str) -> str | bytes:
    """Return ``os.fspath(value)`` of a path given to cuprum to open.

    ``TypeError`` for anything but ``str``, ``bytes`` and ``os.PathLike``;
    ``ValueError`` for an empty path or one with a NUL character (the file
    system is not consulted here).
    """
    if not isinstance(value, (str, bytes, os.PathLike)):
        msg = f"{what} must be a path (str or os.PathLike), got {type(value).__name__}"
        raise TypeError(msg)
    path = os.fspath(value)
    if not path:
        msg = f"{what} is an empty path"
        raise ValueError(msg)
    if "\0" in os.fsdecode(path):
        msg = f"{what} path {path!r} contains a NUL character"
        raise ValueError(msg)
    return path


def check_fd(value: object, what: str) -> int:
    """Return a file descriptor number; reject bools, non-ints and negatives.

    Whether it is open is checked when it is used (it may be opened later).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{what} must be a file descriptor (int), got {type(value).__name__}"
        raise TypeError(msg)
    if value < 0:
        msg = f"{what} must be a non-negative file descriptor, got {value}"
        raise ValueError(msg)
    return value


def check_sink(value: object, what: str) -> None:
    """Accept an echo sink: ``None``, a non-negative file descriptor, or an
    object with a callable ``write`` (an ``io`` stream must be open and
    writable). Whether a descriptor is open is checked when it is used."""
    if value is None:
        return
    if isinstance(value, bool):
        msg = f"{what} must be a file descriptor (int) or a writable stream, got {value!r}"
        raise TypeError(msg)
    if isinstance(value, int):
        if value < 0:
            msg = f"{what} must be a non-negative file descriptor, got {value}"
            raise ValueError(msg)
        return
    if not callable(getattr(value, "write", None)):
        msg = (
            f"{what} must be a file descriptor (int) or a stream with a write() method, "
            f"got {type(value).__name__} {_short_repr(value)}"
        )
        raise TypeError(msg)
    if isinstance(value, io.IOBase):
        if value.closed:
            msg = f"{what} is a closed stream: {_short_repr(value)}"
            raise ValueError(msg)
        if not value.writable():
            msg = f"{what} is a stream not open for writing: {_short_repr(value)}"
            raise ValueError(msg)


def _short_repr(value: object) -> str:
    return reprlib.repr(value)


#: The values ``RunOutputOptions.on_overflow`` accepts.
OVERFLOW_MODES = ("truncate", "tail", "kill")


def check_output_cap(max_bytes: object, on_overflow: object) -> None:
    """Reject a bad ``RunOutputOptions.max_bytes`` or ``on_overflow``."""
    if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)):
        msg = f"RunOutputOptions.max_bytes must be an int or None, got {max_bytes!r}"
        raise TypeError(msg)
    if max_bytes is not None and max_bytes < 0:
        msg = f"RunOutputOptions.max_bytes must be non-negative, got {max_bytes!r}"
        raise ValueError(msg)
    if not isinstance(on_overflow, str) or on_overflow not in OVERFLOW_MODES:
        msg = f"RunOutputOptions.on_overflow must be one of {OVERFLOW_MODES}, got {on_overflow!r}"
        raise ValueError(msg)


__all__ = [
    "OVERFLOW_MODES",
    "check_codec",
    "check_env",
    "check_fd",
    "check_output_cap",
    "check_path",
    "check_seconds",
    "check_timeout",
]
