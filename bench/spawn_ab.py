# SPDX-License-Identifier: ISC
"""Where one ``run_sync(true)`` spends its time, against its floors.

``python3 bench/spawn_ab.py [--runs N]``: in one process, one run of each
case per round, the order reversed every other round, so that the load of a
shared machine falls on every case alike; prints the quartiles of the single
runs' wall times and each median's ratio to ``subprocess.run(["true"])``
(the spawn-sync row's subprocess column). The cases go from the row's two
sides down to the cheapest spawn Python can make:

- ``subprocess.run`` / ``subprocess.run capture``: the row's column, and
  the same with ``capture_output=True`` (what ``run_sync`` does by default);
- ``run_sync`` / ``run_sync capture=False``: cuprum, each way;
- ``native spawn + wait``: ``cuprum._native.spawn`` (libcuprum's
  ``cuprum_cmd_spawn``) and a blocking wait, no pipes, no run machinery;
- ``libc posix_spawnp + waitpid``: the C library's ``posix_spawnp`` called
  through ctypes with the process's own environment, no file action, no
  attribute: about the least any Python code can do per child.

Only ratios measured side by side in one run mean anything on a noisy
machine; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import time
import typing as typ
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import Cuprum  # noqa: E402


def cases() -> dict[str, typ.Callable[[], object]]:
    """The cases, by name, each running ``true`` once."""
    cu = Cuprum()
    cmd = cu.true()
    no_capture = cu.mod.RunOutputOptions(capture=False)
    engine = cu.mod._backend.get_engine()
    spawn = getattr(engine, "spawn", None)

    def native() -> None:
        assert spawn is not None  # noqa: S101
        proc = spawn(("true",), stdin=None, stdout=None, stderr=None, cwd=None, env=None, process_group=None)
        fd = proc.take_pidfd()
        if fd >= 0:
            os.close(fd)
        proc.wait()

    libc = ctypes.CDLL(None, use_errno=True)
    environ = ctypes.c_void_p.in_dll(libc, "environ")
    argv = (ctypes.c_char_p * 2)(b"true", None)
    child = ctypes.c_int()

    def posix_spawnp() -> None:
        if libc.posix_spawnp(ctypes.byref(child), b"true", None, None, argv, environ) != 0:
            raise OSError("posix_spawnp failed")
        os.waitpid(child.value, 0)

    found: dict[str, typ.Callable[[], object]] = {
        "subprocess.run": lambda: subprocess.run(["true"], check=True),
        "subprocess.run capture": lambda: subprocess.run(["true"], capture_output=True, check=True),
        "run_sync": cmd.run_sync,
        "run_sync capture=False": lambda: cmd.run_sync(output=no_capture),
    }
    if spawn is not None:
        found["native spawn + wait"] = native
    found["libc posix_spawnp + waitpid"] = posix_spawnp
    return found


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="rounds (one run of each case per round)")
    args = parser.parse_args()
    found = cases()
    times: dict[str, list[float]] = {name: [] for name in found}
    items = list(found.items())
    clock = time.perf_counter
    for _ in range(20):  # warm up
        for _name, case in items:
            case()
    for round_ in range(args.runs):
        for name, case in items if round_ % 2 else reversed(items):
            start = clock()
            case()
            times[name].append(clock() - start)
    base = statistics.median(times["subprocess.run"])
    print(f"{args.runs} rounds; wall time of one run, us; load {os.getloadavg()[0]:.1f}")
    print(f"{'case':28s} {'p25':>7s} {'p50':>7s} {'p75':>7s}  p50 / subprocess.run")
    for name, samples in times.items():
        q1, q2, q3 = statistics.quantiles(samples, n=4)
        print(f"{name:28s} {q1 * 1e6:7.1f} {q2 * 1e6:7.1f} {q3 * 1e6:7.1f}  {q2 / base:.3f}")


if __name__ == "__main__":
    main()
