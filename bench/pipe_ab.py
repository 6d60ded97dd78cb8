# SPDX-License-Identifier: ISC
"""A/B of the pipe size between pipeline stages in the Python engines.

``python3 bench/pipe_ab.py [--rounds N] [--reps N] [--backends native,pure]``
measures, for each scenario (``pipelines-concurrent`` and
``pipelines-discard``: 64 x ``cat F | cat | cat | cat`` of 16 MiB at once;
``pipeline``: one such pipeline of 256 MiB), the shell floor and each
backend twice: with the pipes between stages enlarged to
``/proc/sys/fs/pipe-max-size`` (``1m``) and left at the kernel's 64 KiB
(``64k``). The pipe a capture reads (the last stage's stdout) is left as the
engine makes it. Each worker is a fresh process running the benchmark's own
trial (:mod:`bench.worker`, memory warmed as ``bench/run.py`` does), and
each round runs every cell once, the order of the ``1m`` and ``64k`` workers
alternating between rounds, so the load of a shared machine falls on both
alike. Prints, per cell, the median and range of the wall time per trial and
of the CPU time (the worker and its children, per trial), and each
``64k``/``1m`` ratio of medians with the range of the single rounds' ratios.
Run it as an unprivileged user too: their pipes count against
``/proc/sys/fs/pipe-user-pages-soft``, root's do not. Results and commands:
docs/performance.md, "Pipe size between stages in the Python engines".

The mode is forced by wrapping ``start_stage`` as ``cuprum._exec.run``
calls it, so the same script measures the engines whatever size they
choose themselves.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import typing as typ
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import ensure_payload, parse_size  # noqa: E402

BENCH_ROOT = Path(__file__).resolve().parent.parent
ENV = "CUPRUM_BENCH_STAGE_PIPE"
MODES = ("1m", "64k")
SCENARIOS = ("pipelines-concurrent", "pipelines-discard", "pipeline")
PIPELINES = 64


def _pipe_max() -> int:
    return int(Path("/proc/sys/fs/pipe-max-size").read_text())


def _force_stage_pipes(mode: str) -> None:
    """Make every pipe between stages ``mode`` sized, whatever the engine asks."""
    from cuprum._exec import run, spawn

    state = threading.local()
    make_pipe = spawn.make_pipe
    start_stage = run.start_stage

    def forced_make_pipe(**kwargs: typ.Any) -> tuple[int, int]:
        # Builds before 2026-11-30 take make_pipe(enlarge=...); later ones none.
        if not getattr(state, "between", False):
            return make_pipe(**kwargs)
        # The first pipe a stage but the last makes feeds the next stage.
        state.between = False
        kwargs.pop("enlarge", None)
        read_fd, write_fd = make_pipe(**kwargs)
        if mode == "1m":
            fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _pipe_max())
        else:  # the kernel's default, whatever an old build asked for
            fcntl.fcntl(write_fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 64 * 1024)
        return read_fd, write_fd

    def forced_start_stage(plan: typ.Any, index: int, *args: typ.Any, **kwargs: typ.Any) -> typ.Any:
        state.between = index < len(plan.commands) - 1
        try:
            return start_stage(plan, index, *args, **kwargs)
        finally:
            state.between = False

    spawn.make_pipe = forced_make_pipe  # type: ignore[assignment]
    run.start_stage = forced_start_stage  # type: ignore[assignment]


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def worker() -> None:
    """The worker: :func:`bench.worker.measure` with the stage pipes forced
    and the CPU time of each trial recorded."""
    from bench import worker as bench_worker
    from bench.pathways import PATHWAYS

    mode = os.environ.get(ENV, "")
    if mode:
        _force_stage_pipes(mode)
    spec = json.loads(sys.stdin.read())
    table = PATHWAYS[str(spec["pathway"])]
    factory = table[str(spec["scenario"])]
    cpu: list[float] = []

    def timed_factory(path: str) -> typ.Callable[[], int]:
        trial = factory(path)

        def timed() -> int:
            t0 = _cpu()
            value = trial()
            cpu.append(_cpu() - t0)
            return value

        return timed

    table[str(spec["scenario"])] = timed_factory
    record = bench_worker.measure(spec)
    record["cpu"] = cpu
    sys.stdout.write(json.dumps(record) + "\n")


def _run(python: str, env: dict[str, str], cell: tuple[str, str, str], spec: dict[str, object]) -> dict[str, typ.Any]:
    scenario, pathway, mode = cell
    wenv = dict(env)
    wenv.pop(ENV, None)
    wenv.pop("CUPRUM_STREAM_BACKEND", None)
    if pathway != "floor":
        wenv["CUPRUM_STREAM_BACKEND"] = {"native": "native", "pure": "python"}[pathway]
        wenv[ENV] = mode
    code = "from bench.pipe_ab import worker; worker()"
    proc = subprocess.run(
        [python, "-c", code], input=json.dumps(spec), capture_output=True, text=True, env=wenv, cwd=str(BENCH_ROOT)
    )
    try:
        record: dict[str, typ.Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error", "reason": f"worker exit {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    if record.get("status") != "ok" or not record.get("correct"):
        raise SystemExit(f"{cell}: {record}")
    return record


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> int:
    """Measure and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--reps", type=int, default=2, help="trials per worker")
    p.add_argument("--backends", default="native,pure")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--pipelines", type=int, default=PIPELINES)
    p.add_argument("--pipelines-size", default="16MiB")
    p.add_argument("--size", default="256MiB", help="payload of the single pipeline")
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/cuprum-bench"))
    p.add_argument("--cuprum-path", type=Path, default=BENCH_ROOT / "bindings" / "python")
    p.add_argument("--python", default=sys.executable)
    args = p.parse_args()
    small = ensure_payload(args.data_dir, parse_size(args.pipelines_size))
    large = ensure_payload(args.data_dir, parse_size(args.size))
    tiny = ensure_payload(args.data_dir, 1024)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_ROOT), str(args.cuprum_path.resolve()), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    backends = args.backends.split(",")
    samples: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for rnd in range(args.rounds):
        for scenario in args.scenarios.split(","):
            payload = large if scenario == "pipeline" else small
            many = scenario != "pipeline"
            held = payload.size * (args.pipelines if many else 1)
            spec: dict[str, object] = {
                "scenario": scenario,
                "path": str(payload.path),
                "expected": args.pipelines
                if scenario == "pipelines-discard"
                else payload.chars * (args.pipelines if many else 1),
                "pipelines": args.pipelines,
                "mode": "time",
                "reps": args.reps,
                "warmup": 0,
                # As bench/run.py: touch and release 3x what a trial holds.
                "warm_memory_bytes": 3 * held if scenario != "pipelines-discard" else 0,
                "budget_s": 1e9,
                "warm_path": str(tiny.path),
            }
            modes = MODES if rnd % 2 == 0 else MODES[::-1]
            cells = [(scenario, "floor", "-")] + [(scenario, b, m) for b in backends for m in modes]
            for cell in cells:
                record = _run(args.python, env, cell, {**spec, "pathway": cell[1]})
                got = samples.setdefault(cell, {"wall": [], "cpu": []})
                got["wall"].extend(record["samples"])
                got["cpu"].extend(record["cpu"])
                got.setdefault("round_wall", []).append(statistics.fmean(record["samples"]))
                got.setdefault("round_cpu", []).append(statistics.fmean(record["cpu"]))
                sys.stderr.write(f"round {rnd + 1}: {' '.join(cell)} {record['samples']}\n")
    print("| scenario | pathway | stage pipes | wall s, median (range) | CPU s, median (range) | n |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (scenario, pathway, mode), got in samples.items():
        print(
            f"| {scenario} | {pathway} | {mode} | {_summary(got['wall'])} | {_summary(got['cpu'])} | {len(got['wall'])} |"
        )
    print()
    print("Ratios of medians; in brackets, the range of the rounds' own ratios (each round's mean of 64k over 1m).")
    print()
    print("| scenario | backend | wall 64k/1m | CPU 64k/1m | 1m wall/floor | 64k wall/floor |")
    print("| --- | --- | --- | --- | --- | --- |")
    for scenario in args.scenarios.split(","):
        floor = statistics.median(samples[(scenario, "floor", "-")]["wall"])
        for b in backends:
            one = samples[(scenario, b, "1m")]
            small_ = samples[(scenario, b, "64k")]
            wall_1m = statistics.median(one["wall"])
            wall_64k = statistics.median(small_["wall"])
            cpu_ratio = statistics.median(small_["cpu"]) / statistics.median(one["cpu"])
            paired = {
                kind: sorted(x / y for x, y in zip(small_[f"round_{kind}"], one[f"round_{kind}"]))
                for kind in ("wall", "cpu")
            }
            spread = {kind: f"({r[0]:.2f}-{r[-1]:.2f})" for kind, r in paired.items()}
            print(
                f"| {scenario} | {b} | {wall_64k / wall_1m:.2f} {spread['wall']} | {cpu_ratio:.2f} {spread['cpu']} | "
                f"{wall_1m / floor:.2f} | {wall_64k / floor:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
