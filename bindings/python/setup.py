# SPDX-License-Identifier: ISC
"""Build script for the cuprum Python binding.

Metadata lives in pyproject.toml; this file only decides whether to build
the optional native extension ``cuprum._native`` against libcuprum:

``CUPRUM_BUILD_NATIVE=auto`` (default)
    build it when its source exists and ``pkg-config`` finds libcuprum,
    otherwise install the pure-Python package quietly;
``CUPRUM_BUILD_NATIVE=1``
    build it or fail loudly, saying what is missing;
``CUPRUM_BUILD_NATIVE=0``
    never build it.

``$PKG_CONFIG`` names the pkg-config program (default ``pkg-config``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup

HERE = Path(__file__).resolve().parent
# The extension's C files, one per concern, beside the package rather than
# inside it: a directory cuprum/_native/ would make ``import cuprum._native``
# find a namespace package wherever the .so is missing (a source checkout),
# where only "absent" is right.  NATIVE_HEADERS are dependencies: editing
# one rebuilds the extension.
NATIVE_DIR = HERE / "_native"
NATIVE_SOURCES = tuple(NATIVE_DIR / name for name in (
    "module.c", "codecs.c", "lines.c", "capture.c", "tee.c", "pump.c", "consume.c",
    "spawn.c", "aevents.c"))
NATIVE_HEADERS = (NATIVE_DIR / "native.h",)
SWITCH = "CUPRUM_BUILD_NATIVE"


def _switch() -> str:
    raw = os.environ.get(SWITCH, "auto").strip().lower()
    table = {"": "auto", "auto": "auto", "1": "on", "yes": "on", "on": "on", "true": "on",
             "0": "off", "no": "off", "off": "off", "false": "off"}
    if raw not in table:
        sys.exit(f"error: {SWITCH}={raw!r}; expected auto, 1 or 0")
    return table[raw]


def pkgconfig(package: str) -> dict[str, list[str]] | None:
    """Return compile/link flags for ``package`` from pkg-config, or None."""
    program = os.environ.get("PKG_CONFIG", "pkg-config")
    if shutil.which(program) is None:
        return None
    try:
        cflags = subprocess.run([program, "--cflags", package], check=True,
                                capture_output=True, text=True).stdout
        libs = subprocess.run([program, "--libs", package], check=True,
                              capture_output=True, text=True).stdout
    except subprocess.CalledProcessError:
        return None
    flags: dict[str, list[str]] = {"include_dirs": [], "library_dirs": [], "libraries": [],
                                   "extra_compile_args": [], "extra_link_args": []}
    for token in shlex.split(cflags):
        key = "include_dirs" if token.startswith("-I") else "extra_compile_args"
        flags[key].append(token[2:] if key == "include_dirs" else token)
    for token in shlex.split(libs):
        if token.startswith("-L"):
            flags["library_dirs"].append(token[2:])
        elif token.startswith("-l"):
            flags["libraries"].append(token[2:])
        else:
            flags["extra_link_args"].append(token)
    return flags


def native_extensions() -> list[Extension]:
    """The extensions to build, honouring the three-way switch."""
    mode = _switch()
    if mode == "off":
        return []
    missing = []
    absent = [path for path in (*NATIVE_SOURCES, *NATIVE_HEADERS) if not path.exists()]
    if absent:
        names = ", ".join(str(path.relative_to(HERE)) for path in absent)
        missing.append(f"the extension sources {names}")
    flags = pkgconfig("cuprum")
    if flags is None:
        missing.append("libcuprum (pkg-config cannot find 'cuprum'; set PKG_CONFIG_PATH)")
    if missing:
        if mode == "on":
            sys.exit(f"error: {SWITCH}=1 but cannot build cuprum._native: missing "
                     + " and ".join(missing))
        # auto: say so plainly, so that a pure-Python install is never a
        # surprise found later in a benchmark.
        print(f"cuprum: not building the native extension (missing "
              f"{' and '.join(missing)}); installing the pure-Python engine. "
              f"Set {SWITCH}=1 to make this an error.", file=sys.stderr)
        return []
    assert flags is not None
    return [Extension("cuprum._native", [str(path.relative_to(HERE)) for path in NATIVE_SOURCES],
                      depends=[str(path.relative_to(HERE)) for path in NATIVE_HEADERS], **flags)]


def build_options() -> dict[str, dict[str, str]]:
    """Keep setuptools' egg-info out of the source tree when building elsewhere.

    ``setup.py build --build-base DIR`` (as ``make`` runs it) would otherwise
    write ``cuprum.egg-info`` beside this file.
    """
    base = None
    args = sys.argv[1:]
    for index, arg in enumerate(args):
        if arg == "--build-base" and index + 1 < len(args):
            base = args[index + 1]
        elif arg.startswith("--build-base="):
            base = arg.split("=", 1)[1]
    if base is None:
        return {}
    os.makedirs(base, exist_ok=True)
    return {"egg_info": {"egg_base": os.path.abspath(base)}}


# What a wheel ships: the package's Python modules, the PEP 561 marker and,
# in the native wheel only, the compiled cuprum._native.  No C source (the
# extension's _native/ travels in the sdist, see MANIFEST.in, and in the
# release tarball), so the pure and the native wheel list the same files
# apart from the .so.  (Set here, not in pyproject.toml's [tool.setuptools],
# which Debian 12's setuptools 66 still calls beta and warns about.)
setup(
    packages=find_packages(include=["cuprum", "cuprum.*"]),
    include_package_data=False,
    package_data={"cuprum": ["py.typed"]},
    ext_modules=native_extensions(),
    zip_safe=False,
    options=build_options(),
)
