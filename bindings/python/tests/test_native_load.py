# SPDX-License-Identifier: ISC
"""Loading ``cuprum._native`` against a libcuprum that does not fit.

Each test builds the extension in a temporary directory through setup.py,
against a copy of ``cuprum.h`` (as is, or claiming a newer version) and the
libcuprum the extension under test loads, then imports it in a fresh
interpreter and checks what the user sees: the backend, or an ImportError
that names the versions, the library and what to do. Never a crash, never
a silent fallback: only a libcuprum the loader cannot find means the pure
engine under ``auto``, with a warning saying why and what to do.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import typing as typ
from pathlib import Path

import pytest

_BINDING = Path(__file__).resolve().parents[1]
_SOURCE_HEADER = _BINDING.parents[1] / "libcuprum" / "cuprum.h"
# Run in the child: select the backend as an application would (auto).
_PROBE = """
import sys
import cuprum
try:
    backend = cuprum.get_stream_backend()
except ImportError as exc:
    print(f"ImportError: {exc}")
    sys.exit(3)
from cuprum import _native
print(f"backend {backend} library {_native.library_version()}")
"""


class Library(typ.NamedTuple):
    """The libcuprum the extension under test has loaded."""

    path: Path  # the file, symlinks resolved
    soname: str  # the name the extension asks the loader for
    version: str
    header: Path  # the cuprum.h to copy


def _loaded_library() -> Library:
    """Find the libcuprum of this process's extension, or skip saying why."""
    if importlib.util.find_spec("cuprum._native") is None:
        pytest.skip("cuprum._native is not built here (pure install): nothing loads libcuprum")
    native = importlib.import_module("cuprum._native")
    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = {line.split(maxsplit=5)[-1].strip() for line in maps if "libcuprum" in line}
    files = [Path(p) for p in paths if re.search(r"/libcuprum\.so[.0-9]*$", p)]
    if len(files) != 1:
        pytest.skip(f"cannot tell which libcuprum cuprum._native loaded (mapped: {sorted(paths)})")
    soname = re.match(r"libcuprum\.so\.\d+", files[0].name)
    if soname is None:
        pytest.skip(f"libcuprum's file name {files[0].name} has no soname version")
    header = _SOURCE_HEADER
    if not header.exists():
        header = files[0].parent.parent / "include" / "cuprum.h"
    if not header.exists():
        pytest.skip("no cuprum.h: neither the source tree's nor one beside the library")
    return Library(files[0].resolve(), soname.group(0), native.library_version(), header)


def _header_version(text: str) -> tuple[int, int, int]:
    parts = [re.search(rf"#define CUPRUM_VERSION_{part} (\d+)", text)
             for part in ("MAJOR", "MINOR", "PATCH")]
    assert all(parts), "cuprum.h lacks a CUPRUM_VERSION_* macro"
    major, minor, patch = (int(m.group(1)) for m in parts if m is not None)
    return major, minor, patch


def _with_version(text: str, version: tuple[int, int, int]) -> str:
    for part, value in zip(("MAJOR", "MINOR", "PATCH"), version):
        text = re.sub(rf"(#define CUPRUM_VERSION_{part}) \d+", rf"\g<1> {value}", text)
    dotted = ".".join(map(str, version))
    return re.sub(r'(#define CUPRUM_VERSION_STRING) "[^"]*"', rf'\g<1> "{dotted}"', text)


class Builder:
    """Builds the binding into a directory of its own, against ``library``."""

    def __init__(self, library: Library, root: Path) -> None:
        self.library = library
        self.root = root
        # The header copy claims the loaded library's version, so that the
        # control matches even when the source tree is ahead of the library.
        found = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", library.version)
        assert found, f"libcuprum reports an unreadable version {library.version!r}"
        major, minor, patch = (int(part) for part in found.groups())
        self.version = (major, minor, patch)
        text = library.header.read_text(encoding="utf-8")
        _header_version(text)  # the macros the copies rewrite are there
        self.header = _with_version(text, self.version)

    def build(self, name: str, header: str, cflags: str = "") -> Path:
        """Return the directory holding the built ``cuprum`` package."""
        work = self.root / name
        if (work / "lib").exists():
            return work / "lib"  # built by an earlier test
        (work / "include").mkdir(parents=True)
        (work / "include" / "cuprum.h").write_text(header, encoding="utf-8")
        # A pkg-config file for exactly this header and this library file:
        # setup.py finds libcuprum through pkg-config only.
        (work / "cuprum.pc").write_text(
            "Name: cuprum\nDescription: test copy\nVersion: 0\n"
            f"Cflags: -I{work / 'include'}\n"
            f"Libs: -L{self.library.path.parent} -l:{self.library.path.name}\n",
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PKG_CONFIG_PATH": str(work),
            "CUPRUM_BUILD_NATIVE": "1",
            "CFLAGS": cflags,
            "PYTHONDONTWRITEBYTECODE": "1",
            "LC_ALL": "C",
        }
        done = subprocess.run(
            [sys.executable, "setup.py", "-q", "build", "--build-base", str(work / "build"),
             "--build-lib", str(work / "lib")],
            cwd=_BINDING, env=env, capture_output=True, text=True, check=False,
        )
        assert done.returncode == 0, f"building the extension failed:\n{done.stdout}\n{done.stderr}"
        assert list((work / "lib" / "cuprum").glob("_native*.so")), "setup.py built no extension"
        return work / "lib"

    def newer(self) -> tuple[str, str]:
        """A version above the library's, as (dotted, header text)."""
        major, minor, _ = self.version
        version = (major, minor + 1, 0)
        return ".".join(map(str, version)), _with_version(self.header, version)


def _probe_env(lib: Path, library_dir: Path | None = None, backend: str = "auto") -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(lib),
           "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C", "CUPRUM_STREAM_BACKEND": backend}
    if library_dir is not None:
        env["LD_LIBRARY_PATH"] = str(library_dir)
    # A sanitized libcuprum (CI's ASan run) needs the runtimes this
    # interpreter was started with.
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _probe(lib: Path, library_dir: Path | None, backend: str = "auto") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _PROBE], env=_probe_env(lib, library_dir, backend),
                          capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    """What the tests need, or a skip naming what is missing."""
    library = _loaded_library()
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) to build the extension with")
    if shutil.which(os.environ.get("PKG_CONFIG", "pkg-config")) is None:
        pytest.skip("no pkg-config, which setup.py needs to find libcuprum")
    return Builder(library, tmp_path_factory.mktemp("native-load"))


def test_same_version_loads(builder: Builder) -> None:
    """The control: built against a header of the library's version, it loads."""
    lib = builder.build("same", builder.header)
    done = _probe(lib, builder.library.path.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"backend native library {builder.library.version}"


def test_newer_header_is_refused_naming_both_versions(builder: Builder) -> None:
    """Built against a newer cuprum.h, the extension refuses the older library."""
    newer, header = builder.newer()
    lib = builder.build("newer", header)
    done = _probe(lib, builder.library.path.parent)
    assert done.returncode == 3, done.stdout + done.stderr
    found = re.search(
        rf"cuprum\._native was built against libcuprum {re.escape(newer)} but loaded "
        rf"libcuprum {re.escape(builder.library.version)} from (\S+):",
        done.stdout,
    )
    assert found, done.stdout + done.stderr
    assert Path(found.group(1)).resolve() == builder.library.path
    assert "Traceback" not in done.stderr


def test_missing_symbol_is_named_with_both_versions(builder: Builder) -> None:
    """A symbol the older library lacks stops the loader; the shim explains."""
    newer, header = builder.newer()
    # The newer header's extension calls a function the library does not
    # have, as one using an interface added after the library would.
    lib = builder.build("symbol", header, "-Dcuprum_strerror=cuprum_strerror_from_the_future")
    done = _probe(lib, builder.library.path.parent)
    assert done.returncode == 3, done.stdout + done.stderr
    found = re.search(
        rf"cuprum\._native was built against libcuprum {re.escape(newer)} but loaded "
        rf"libcuprum {re.escape(builder.library.version)} from (\S+), which lacks "
        r"cuprum_strerror_from_the_future",
        done.stdout,
    )
    assert found, done.stdout + done.stderr
    assert Path(found.group(1)).resolve() == builder.library.path


def test_library_not_found_names_the_fixes(builder: Builder) -> None:
    """Without the library on the loader's path, ``auto`` runs on the pure
    engine with a warning, and forcing ``native`` is an error; both say
    what to do."""
    soname = builder.library.soname
    findable = subprocess.run(
        [sys.executable, "-c", f"import ctypes; ctypes.CDLL({soname!r})"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        capture_output=True, check=False,
    )
    if findable.returncode == 0:
        pytest.skip(f"{soname} is installed where the loader finds it without help")
    lib = builder.build("same", builder.header)
    auto = subprocess.run(
        [sys.executable, "-c", "import cuprum; print('backend', cuprum.get_stream_backend())"],
        env=_probe_env(lib), capture_output=True, text=True, check=False, timeout=60,
    )
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert auto.stdout == "backend python\n"
    assert "RuntimeWarning" in auto.stderr and "pure-Python engine" in auto.stderr, auto.stderr
    forced = _probe(lib, None, backend="native")
    assert forced.returncode == 3, forced.stdout + forced.stderr
    for message in (auto.stderr, forced.stdout):
        assert f"the dynamic loader cannot find {soname}" in message, message
        for fix in ("ldconfig", "/etc/ld.so.conf.d/", "LD_LIBRARY_PATH=PREFIX/lib",
                    "LDFLAGS=-Wl,-rpath,PREFIX/lib"):
            assert fix in message, f"{fix!r} missing from: {message}"
