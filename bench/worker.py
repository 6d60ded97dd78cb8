# SPDX-License-Identifier: ISC
"""The worker: measures one cell in a fresh process and prints JSON.

Run as ``python3 -m bench.worker`` with a JSON spec on stdin; the parent
sets ``CUPRUM_STREAM_BACKEND`` for the cuprum columns, since cuprum caches
its backend choice per process. Timing mode runs an optional warm-up and
then repetitions until ``reps`` are done or ``budget_s`` has been spent
(at least one). Memory mode warms the pathway up on a tiny payload, runs the trial
once and reports the growth of ``ru_maxrss`` over the baseline measured
just before it. A factory that raises ``Skipped`` (the cuprum under test
lacks the scenario's API) gives status ``skipped`` and its reason. Timing mode can first touch and release fresh memory
(``warm_memory_bytes``, see :func:`warm_memory`).
"""

from __future__ import annotations

import gc
import json
import mmap
import resource
import sys
import time
import traceback

from bench import cdrivers, fanout, pathways
from bench.pathways import PATHWAYS
from bench.support import Missing, Skipped


def _maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def warm_memory(nbytes: int) -> float:
    """Touch ``nbytes`` of fresh memory, release it, and return the seconds.

    Some VMs (this project's CI machine among them) hand memory a guest has
    freed back to the host after a second or two (virtio-balloon free page
    reporting), so the next process to touch it pays a host fault per page,
    about 0.8 s per 256 MiB, where memory freed a moment ago costs 0.03 s.
    The floor never allocates and would not pay; touching and releasing
    the memory first puts every pathway in the state a machine without page
    reporting is always in. Advised for huge pages, like the allocations
    it stands in for.
    """
    t0 = time.perf_counter()
    region = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        if hasattr(mmap, "MADV_HUGEPAGE"):
            region.madvise(mmap.MADV_HUGEPAGE)
        step = 2 << 20
        block = bytes(step)
        for start in range(0, nbytes - step + 1, step):
            region[start : start + step] = block
    finally:
        region.close()
    return time.perf_counter() - t0


def measure(spec: dict[str, object]) -> dict[str, object]:
    """Run the cell described by ``spec`` and return its result record."""
    pathway = str(spec["pathway"])
    scenario = str(spec["scenario"])
    factory = PATHWAYS[pathway][scenario]
    pathways.SPAWNS = typ_int(spec.get("spawns", pathways.SPAWNS))
    cdrivers.SPAWNS = pathways.SPAWNS
    fanout.FANOUT = typ_int(spec.get("fanout", fanout.FANOUT))
    fanout.PIPELINES = typ_int(spec.get("pipelines", fanout.PIPELINES))
    try:
        trial = factory(str(spec["path"]))
    except Missing as exc:
        return {"status": "missing", "reason": str(exc)}
    except Skipped as exc:
        return {"status": "skipped", "reason": str(exc)}
    expected = spec["expected"]
    results: list[int] = []
    samples: list[float] = []
    out: dict[str, object] = {"status": "ok", "samples": samples, "results": results}
    if pathway in ("native", "pure"):
        import cuprum

        out["backend"] = cuprum.get_stream_backend()
    if spec["mode"] == "memory":
        # One run on a tiny payload first, so modules the pathway imports
        # lazily are not counted as capture memory.
        factory(str(spec.get("warm_path", spec["path"])))()
        gc.collect()
        baseline = _maxrss_bytes()
        t0 = time.perf_counter()
        results.append(trial())
        samples.append(float(_maxrss_bytes() - baseline))
        out["elapsed_s"] = time.perf_counter() - t0
        out["baseline_rss"] = baseline
    else:
        warm_bytes = typ_int(spec.get("warm_memory_bytes", 0))
        if warm_bytes > 0:
            out["warm_memory_s"] = warm_memory(warm_bytes)
        for _ in range(int(typ_int(spec["warmup"]))):
            results.append(trial())
        reps = typ_int(spec["reps"])
        budget = float(typ_float(spec["budget_s"]))
        start = time.perf_counter()
        while len(samples) < reps:
            t0 = time.perf_counter()
            value = trial()
            samples.append(time.perf_counter() - t0)
            results.append(value)
            if time.perf_counter() - start > budget:
                break
    out["correct"] = all(r == expected for r in results)
    return out


def typ_int(value: object) -> int:
    """Coerce a JSON number to int."""
    return int(value)  # type: ignore[call-overload]


def typ_float(value: object) -> float:
    """Coerce a JSON number to float."""
    return float(value)  # type: ignore[arg-type]


def main() -> int:
    """Read a spec from stdin, measure, print the record as one JSON line."""
    spec = json.loads(sys.stdin.read())
    try:
        record = measure(spec)
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        tb = traceback.format_exc(limit=3)
        record = {"status": "error", "reason": f"{type(exc).__name__}: {exc}", "traceback": tb}
    sys.stdout.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
