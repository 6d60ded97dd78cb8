# SPDX-License-Identifier: ISC
"""Backend selection (``CUPRUM_STREAM_BACKEND``) and the native-module shim."""

from __future__ import annotations

import importlib
import types

import pytest

import cuprum
from cuprum import _backend, _native_shim


def _no_native(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, package: str | None = None) -> types.ModuleType:
        if name == "cuprum._native":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", fake)
    _backend._reset_for_testing()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "auto"),
        ("auto", "auto"),
        ("  PYTHON ", "python"),
        ("Native", "native"),
        ("rust", "native"),
        ("\tRuSt\n", "native"),
    ],
)
def test_parse(raw: str, expected: str) -> None:
    assert _backend.parse_backend(raw) == expected


def test_invalid_value_names_accepted_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "turbo")
    _backend._reset_for_testing()
    with pytest.raises(ValueError, match="turbo.*auto, native, python"):
        cuprum.get_stream_backend()


def test_auto_without_extension_is_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "auto")
    _no_native(monkeypatch)
    assert cuprum.get_stream_backend() == "python"
    assert not cuprum.is_native_available() and not cuprum.is_rust_available()
    assert _backend.get_engine().name == "python"


def test_python_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "python")
    _backend._reset_for_testing()
    assert cuprum.get_stream_backend() == "python"


@pytest.mark.parametrize("value", ["native", "RUST"])
def test_forced_native_missing_is_an_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", value)
    _no_native(monkeypatch)
    with pytest.raises(ImportError, match="CUPRUM_BUILD_NATIVE=1") as info:
        cuprum.get_stream_backend()
    assert "libcuprum" in str(info.value)


def _failing_import(monkeypatch: pytest.MonkeyPatch, error: str) -> None:
    real = importlib.import_module

    def broken(name: str, package: str | None = None) -> types.ModuleType:
        if name == "cuprum._native":
            raise ImportError(error)
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", broken)
    _backend._reset_for_testing()


def test_broken_extension_is_not_silently_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_import(monkeypatch, "/x/_native.so: undefined symbol: PyFoo_Bar")
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "auto")
    with pytest.raises(ImportError, match="undefined symbol: PyFoo_Bar"):
        _native_shim.is_available()
    with pytest.raises(ImportError, match="failed to load"):
        cuprum.get_stream_backend()


_NOT_FOUND = "libcuprum.so.0: cannot open shared object file: No such file or directory"


def test_library_not_found_is_the_pure_engine_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed extension whose libcuprum the loader cannot find: the
    native engine is unavailable, everything runs on the pure one, and a
    RuntimeWarning says why and how to fix it (no silent fallback)."""
    _failing_import(monkeypatch, _NOT_FOUND)
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "auto")
    assert not _native_shim.is_available()
    assert not cuprum.is_native_available()
    reason = _native_shim.why_unavailable()
    assert reason is not None
    assert "the dynamic loader cannot find libcuprum.so.0" in reason
    assert "LD_LIBRARY_PATH=PREFIX/lib" in reason
    with pytest.warns(RuntimeWarning, match="cannot find libcuprum.so.0.*pure-Python engine"):
        assert cuprum.get_stream_backend() == "python"
    assert _backend.get_engine().name == "python"


def test_library_not_found_with_native_forced_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_import(monkeypatch, _NOT_FOUND)
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", "native")
    with pytest.raises(ImportError, match="native requested but .*cannot find libcuprum.so.0"):
        cuprum.get_stream_backend()


def test_extension_missing_dependency_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def missing_dep(name: str, package: str | None = None) -> types.ModuleType:
        if name == "cuprum._native":
            raise ModuleNotFoundError("No module named 'helper'", name="helper")
        return real(name, package)

    monkeypatch.setattr(importlib, "import_module", missing_dep)
    _backend._reset_for_testing()
    with pytest.raises(ImportError, match="helper"):
        _native_shim.is_available()


def test_pure_engine_satisfies_the_protocol() -> None:
    from cuprum import _engine, _streams_pure

    for attribute in ("pump", "consume", "LineSplitter", "TextTee", "Capture", "name"):
        assert hasattr(_streams_pure, attribute)
    for proto in (_engine.LineSplitter, _engine.TextTee):
        assert {"feed", "finish"} <= set(dir(proto))
