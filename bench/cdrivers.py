# SPDX-License-Identifier: ISC
"""The C column: libcuprum's pipeline API and libpipeline, from C.

Each trial runs one of the small C drivers built beside the benchmark
(``bench/cbench-cuprum`` always, ``bench/cbench-libpipeline`` where
configure found libpipeline) and times the whole process, as the floor
column times its ``sh -c``: the driver's own start-up (about a millisecond)
is in both. A driver prints the figure a correct trial yields (bytes
captured, or successful runs of ``true``), which is checked like every
other pathway's. ``run.py --c-drivers DIR`` (``make bench`` passes its
build directory) says where the drivers are, through :data:`ENV`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench.support import Factory, Missing, Trial
from bench.support import which as _which

#: The environment variable naming the directory of the built drivers.
ENV = "CUPRUM_BENCH_C_DRIVERS"
#: Runs of ``true`` per spawn trial (the worker sets it, as pathways.SPAWNS).
SPAWNS = 200

_WHY = {
    "cbench-cuprum": "built by `make` in a configured tree",
    "cbench-libpipeline": "built only where configure finds libpipeline by pkg-config "
    "(Debian: libpipeline-dev), and it did not",
}


def _driver(name: str) -> str:
    where = os.environ.get(ENV)
    if not where:
        raise Missing(f"no C drivers: run.py --c-drivers DIR names the build directory holding {name} (make bench does)")
    path = Path(where) / name
    if not os.access(path, os.X_OK):
        raise Missing(f"{path} not found: {_WHY[name]}")
    return str(path)


def _trial(argv: list[str]) -> Trial:
    def trial() -> int:
        proc = subprocess.run(argv, capture_output=True, check=False)
        if proc.returncode != 0:
            msg = f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}"
            raise RuntimeError(msg)
        return int(proc.stdout.split()[0])

    return trial


def _capture(name: str) -> Factory:
    return lambda path: _trial([_driver(name), "capture", path])


def _pipeline(name: str) -> Factory:
    return lambda path: _trial([_driver(name), "pipeline", path])


def _spawn(name: str) -> Factory:
    return lambda _path: _trial([_driver(name), "spawn", str(SPAWNS), _which("true")])


def scenarios(name: str) -> dict[str, Factory]:
    """The scenarios the driver ``name`` runs, as pathway factories."""
    return {"capture": _capture(name), "pipeline": _pipeline(name), "spawn-sync": _spawn(name)}


#: The C column's pathways and their drivers.
DRIVERS = {"c-cuprum": "cbench-cuprum", "c-libpipeline": "cbench-libpipeline"}

__all__ = ["DRIVERS", "ENV", "scenarios"]
