# SPDX-License-Identifier: ISC
"""Probe for the optional native extension ``cuprum._native``.

The native engine is unavailable when the extension is not installed, or
when it is but the dynamic loader cannot find libcuprum's shared library
(installed under a prefix it does not search, or not installed at all):
then everything still works on the pure engine, only slower, and
:func:`why_unavailable` gives a message naming the library and the three
ways to make it findable, which backend selection shows as a warning
(never a silent fallback) or, with the native engine forced, raises.

An extension that fails to load otherwise is an installation error,
reported as an ``ImportError`` naming the cause. The loader finding a
libcuprum older than the ``cuprum.h`` the extension was built against, and
stopping at a symbol it lacks, gets a message of its own naming both
versions and the library's path, as the extension itself does when it loads
but finds the library too old.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import re
import types

_MODULE = "cuprum._native"
_UNSET = object()
_cached: object = _UNSET
_reason: str | None = None
_NOT_FOUND = re.compile(r"(libcuprum[^\s:]*): cannot open shared object file")
_UNDEFINED = re.compile(r"undefined symbol: (cuprum_\w+)")
# The marker the extension keeps in its binary (bindings/python/_native/
# module.c): the cuprum.h version it was compiled against.
_BUILT_AGAINST = re.compile(rb"cuprum\._native was built against libcuprum ([0-9][0-9A-Za-z.+~-]*)")


def _not_found_message(library: str, exc: ImportError) -> str:
    return (
        f"{_MODULE} is installed but failed to load: the dynamic loader "
        f"cannot find {library}, libcuprum's shared library ({exc}). If "
        f"libcuprum is installed under a prefix the loader does not search "
        f"(/opt/..., or /usr/local before ldconfig ran), make it findable in "
        f"one of three ways: run 'ldconfig' as root (for /usr/local/lib; for another "
        f"PREFIX, first add PREFIX/lib to a file in /etc/ld.so.conf.d/); "
        f"set LD_LIBRARY_PATH=PREFIX/lib; or reinstall the binding with an "
        f"rpath (LDFLAGS=-Wl,-rpath,PREFIX/lib in pip's environment, after "
        f"removing bindings/python/build, which setuptools would reuse). If "
        f"libcuprum is not installed, install it, or reinstall the binding "
        f"without the extension (CUPRUM_BUILD_NATIVE=0)."
    )


def _library_of(extension: str) -> tuple[str, str] | None:
    """Return (version, path) of the libcuprum ``extension`` links, or None.

    Loads the extension with lazy binding, which the loader allows even when
    a function it calls is missing, so that ``cuprum_version`` resolves in
    the libcuprum the loader picks for it; ``dladdr`` names that library.
    """
    try:
        handle = ctypes.CDLL(extension, mode=os.RTLD_LAZY | os.RTLD_LOCAL)
        version_of = handle.cuprum_version
        version_of.restype = ctypes.c_char_p
        version = version_of()

        class DlInfo(ctypes.Structure):
            _fields_ = [
                ("dli_fname", ctypes.c_char_p),
                ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p),
                ("dli_saddr", ctypes.c_void_p),
            ]

        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        info = DlInfo()
        address = ctypes.cast(version_of, ctypes.c_void_p).value
        path = info.dli_fname if dladdr(address, ctypes.byref(info)) else None
    except (OSError, AttributeError):
        return None
    if version is None:
        return None
    return version.decode(errors="replace"), (
        path.decode(errors="replace") if path else "an unknown path"
    )


def _too_old_message(symbol: str, exc: ImportError) -> str | None:
    """Name both versions when the loader stops at a symbol libcuprum lacks."""
    spec = importlib.util.find_spec(_MODULE)
    extension = spec.origin if spec is not None else None
    if extension is None:
        return None
    try:
        with open(extension, "rb") as handle:
            marker = _BUILT_AGAINST.search(handle.read())
    except OSError:
        return None
    library = _library_of(extension)
    if marker is None or library is None:
        return None
    built, (loaded, path) = marker.group(1).decode(), library
    return (
        f"{_MODULE} was built against libcuprum {built} but loaded libcuprum "
        f"{loaded} from {path}, which lacks {symbol} ({exc}): rebuild the "
        f"binding against that library, or make a libcuprum {built} or newer "
        f"the one the loader finds first"
    )


def load() -> types.ModuleType | None:
    """Return the extension module; ``None`` when it is not installed, or
    libcuprum's shared library cannot be found (see :func:`why_unavailable`)."""
    global _cached, _reason
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
        text = str(exc)
        msg = None
        if (found := _NOT_FOUND.search(text)) is not None:
            _reason = _not_found_message(found.group(1), exc)
            _cached = None
            return None
        if (undefined := _UNDEFINED.search(text)) is not None:
            msg = _too_old_message(undefined.group(1), exc)
        elif "was built against libcuprum" in text:
            msg = text  # the extension's own version check says it all
        if msg is None:
            msg = f"{_MODULE} is installed but failed to load: {exc}"
        raise ImportError(msg, name=_MODULE) from exc
    _cached = module
    return module


def is_available() -> bool:
    """Return True when ``cuprum._native`` imports; False when it is absent
    or libcuprum's shared library cannot be found."""
    return load() is not None


def why_unavailable() -> str | None:
    """Why an installed extension is unavailable (the loader cannot find
    libcuprum), naming the fixes; ``None`` when it loads or is not
    installed."""
    load()
    return _reason


def _reset_for_testing() -> None:
    """Forget the cached probe result."""
    global _cached, _reason
    _cached = _UNSET
    _reason = None


__all__ = ["is_available", "load", "why_unavailable"]
