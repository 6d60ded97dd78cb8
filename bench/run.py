# SPDX-License-Identifier: ISC
"""Command line: ``python3 -m bench`` or ``python3 bench/run.py [--quick]``.

Generates the payloads once into the data directory, measures every cell in
its own worker process, then prints the results table and the pass/miss
table, and writes ``results.json`` (every raw sample) and ``ratios.png``
into the output directory. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import importlib.util
import os
import platform
import subprocess
import sys
import time
import typing as typ
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import cdrivers, fanout  # noqa: E402
from bench import targets as targets_mod  # noqa: E402
from bench.data import Payload, ensure_payload, format_size, parse_size  # noqa: E402
from bench.pathways import BACKENDS, PATHWAYS, SPAWNS  # noqa: E402
from bench.report import Outcome, chart, table, write_json  # noqa: E402
from bench.scenarios import PATHWAY_ORDER, SCENARIOS, Cell, Counts, plan  # noqa: E402

BENCH_ROOT = Path(__file__).resolve().parent.parent
FULL_SIZES = "1KiB,1MiB,256MiB"
QUICK_SIZES = "1KiB,1MiB"
PIPELINES_SIZE = "16MiB"
QUICK_PIPELINES_SIZE = "1MiB"
QUICK_FANOUT = 64
QUICK_PIPELINES = 8
LARGE = 64 << 20
#: Large cells of these scenarios build the payload in memory (all
#: pipelines' outputs, for pipelines-concurrent); their workers first touch
#: and release this many times that (the most any pathway holds:
#: subprocess's chunks, joined bytes and str).
WARM_MEMORY_SCENARIOS = ("capture", "pipeline", "lines-capture", "pipelines-concurrent")
WARM_MEMORY_FACTOR = 3


def _parse_args(argv: typ.Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="1 KiB and 1 MiB only, few repetitions (CI)")
    p.add_argument("--sizes", help=f"comma-separated payload sizes (default {FULL_SIZES}; quick {QUICK_SIZES})")
    p.add_argument("--reps", type=int, help="repetitions per cell (default: 15 small, 3 at >= 64 MiB; quick 3)")
    p.add_argument("--rounds", type=int, help="interleaved rounds per cell (default 3; quick 1)")
    p.add_argument("--budget", type=float, help="stop repeating a cell after this many seconds of wall time (default 20; quick 1.5)")
    p.add_argument("--spawns", type=int, help=f"runs of true per spawn trial (default {SPAWNS}; quick 20)")
    p.add_argument(
        "--fanout",
        type=int,
        help=f"runs of true per spawn-concurrent trial, {fanout.LIMIT} at a time "
        f"(default {fanout.FANOUT}; quick {QUICK_FANOUT})",
    )
    p.add_argument(
        "--pipelines",
        type=int,
        help=f"pipelines per pipelines-concurrent trial (default {fanout.PIPELINES}; quick {QUICK_PIPELINES})",
    )
    p.add_argument(
        "--pipelines-size",
        help=f"payload of each concurrent pipeline (default {PIPELINES_SIZE}; quick {QUICK_PIPELINES_SIZE})",
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated scenarios")
    p.add_argument("--pathways", default=",".join(PATHWAY_ORDER), help="comma-separated pathways")
    p.add_argument(
        "--cold-memory",
        action="store_true",
        help="do not touch and release fresh memory before large capture and pipeline trials (see bench/worker.py)",
    )
    p.add_argument("--data-dir", type=Path, default=Path("/tmp/cuprum-bench"), help="payload cache")
    p.add_argument("--out", type=Path, default=Path("/tmp/cuprum-bench/out"), help="output directory")
    p.add_argument("--cuprum-path", type=Path, help="directory holding the cuprum package to measure")
    p.add_argument(
        "--c-drivers",
        type=Path,
        help="directory holding the C column's drivers, bench/cbench-* of a build tree (make bench passes it)",
    )
    p.add_argument("--from-json", type=Path, help="re-render the tables and chart of a saved results.json")
    p.add_argument("--python", default=sys.executable, help="interpreter for the workers")
    p.add_argument("--timeout", type=float, default=300.0, help="kill a worker after this many seconds")
    args = p.parse_args(argv)
    for name in args.scenarios.split(","):
        if name not in SCENARIOS:
            p.error(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    for name in args.pathways.split(","):
        if name not in PATHWAYS:
            p.error(f"unknown pathway {name!r}; choose from {', '.join(PATHWAYS)}")
    for option in ("spawns", "fanout", "pipelines"):
        value = getattr(args, option)
        if value is not None and value < 1:
            p.error(f"--{option} must be at least 1, got {value}")
    return args


def _default_cuprum_path() -> Path:
    """Where cuprum is importable from here, else the source tree's binding."""
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry and (Path(entry) / "cuprum" / "__init__.py").exists():
            return Path(entry).resolve()
    spec = importlib.util.find_spec("cuprum")  # an installed cuprum
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).resolve().parent.parent
    return BENCH_ROOT / "bindings" / "python"


def _machine(args: argparse.Namespace, cuprum_path: Path) -> dict[str, typ.Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    natives = sorted(p.name for p in (cuprum_path / "cuprum").glob("_native*.so"))
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": subprocess.run(
            [args.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
        ).stdout.strip(),
        "cuprum_path": str(cuprum_path),
        "native_extension_files": natives,
        "argv": sys.argv,
    }


def _progress(text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\r\x1b[K" + text)
    else:
        sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _held_bytes(cell: Cell, counts: Counts) -> int:
    """The payload bytes one trial of ``cell`` moves (all pipelines' for the concurrent one)."""
    if cell.payload is None:
        return 0
    if cell.scenario.name in ("pipelines-concurrent", "pipelines-discard"):
        return cell.payload.size * counts.pipelines
    return cell.payload.size


def _run_worker(  # noqa: PLR0913
    cell: Cell, args: argparse.Namespace, env: dict[str, str], reps: int, budget: float, counts: Counts, warm: Payload
) -> dict[str, typ.Any]:
    """Measure ``reps`` repetitions of ``cell`` in a fresh worker process."""
    payload = cell.payload
    held = _held_bytes(cell, counts)
    large = held >= LARGE
    memory = cell.scenario.memory
    spec = {
        "pathway": cell.pathway,
        "scenario": cell.scenario.name,
        "path": str(payload.path) if payload else "/dev/null",
        "expected": cell.scenario.expected(payload, counts),
        "spawns": counts.spawns,
        "fanout": counts.fanout,
        "pipelines": counts.pipelines,
        "mode": "memory" if memory else "time",
        "reps": 1 if memory else reps,
        "warmup": 0 if large or memory else 1,
        "warm_memory_bytes": WARM_MEMORY_FACTOR * held
        if large and not memory and not args.cold_memory and cell.scenario.name in WARM_MEMORY_SCENARIOS
        else 0,
        "budget_s": budget,
        "warm_path": str(warm.path),
    }
    wenv = dict(env)
    wenv.pop("CUPRUM_STREAM_BACKEND", None)
    if cell.pathway in BACKENDS:
        wenv["CUPRUM_STREAM_BACKEND"] = BACKENDS[cell.pathway]
    try:
        proc = subprocess.run(
            [args.python, "-m", "bench.worker"],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            env=wenv,
            timeout=args.timeout,
            cwd=str(BENCH_ROOT),
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"worker timed out after {args.timeout:.0f} s"}
    try:
        record: dict[str, typ.Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"status": "error", "reason": f"worker exit {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    return record


def _merge(outcome: Outcome, record: dict[str, typ.Any], wall: float) -> None:
    """Fold one worker's record into the cell's accumulated outcome."""
    acc = outcome.record
    outcome.wall_s += wall
    acc["workers"] = acc.get("workers", 0) + 1
    if record.get("status") != "ok":
        acc.update(record)
        return
    acc["status"] = "ok"
    acc["correct"] = bool(acc.get("correct", True)) and bool(record.get("correct"))
    for field in ("samples", "results"):
        acc.setdefault(field, []).extend(record.get(field, []))
    if "warm_memory_s" in record:
        acc.setdefault("warm_memory_s", []).append(record["warm_memory_s"])
    for field, value in record.items():
        if field not in ("samples", "results", "correct", "status", "warm_memory_s"):
            acc[field] = value


def _measure_all(  # noqa: PLR0913
    cells: list[Cell], args: argparse.Namespace, env: dict[str, str], budget: float, counts: Counts, warm: Payload
) -> list[Outcome]:
    """Measure every cell in rounds, so load drift spreads over all pathways.

    Each round gives every unfinished cell a worker with its share of the
    remaining repetitions and time budget; memory cells run once.
    """
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    outcomes = [Outcome(c, {"status": "pending" if c.applicable else "n/a"}, 0.0) for c in cells]
    for rnd in range(rounds):
        for i, outcome in enumerate(outcomes, 1):
            cell = outcome.cell
            acc = outcome.record
            if acc["status"] not in ("pending", "ok"):
                continue
            large = _held_bytes(cell, counts) >= LARGE
            reps = args.reps if args.reps is not None else (3 if args.quick or large else 15)
            if cell.scenario.memory:
                reps = 1
            acc["reps_asked"] = reps
            done = len(acc.get("samples", []))
            spent = outcome.wall_s
            if done >= reps or (done and spent >= budget):
                continue
            left = rounds - rnd
            want = -(-(reps - done) // left)
            size = "" if cell.size is None else " " + format_size(cell.size)
            _progress(f"round {rnd + 1}/{rounds} [{i}/{len(cells)}] {cell.scenario.name}{size} {cell.pathway} x{want} ...")
            t0 = time.perf_counter()
            record = _run_worker(cell, args, env, want, max(0.0, budget - spent) / left, counts, warm)
            _merge(outcome, record, time.perf_counter() - t0)
    return outcomes


def _reload(path: Path) -> tuple[dict[str, typ.Any], list[Outcome]]:
    """Rebuild the outcomes of a saved run from its ``results.json``."""
    saved = json.loads(path.read_text())
    payloads = {p["size"]: Payload(Path(p["path"]), p["size"], p["chars"], p["lines"]) for p in saved["meta"]["payloads"]}
    outcomes = []
    for rec in saved["cells"]:
        payload = None if rec["size"] is None else payloads.get(rec["size"])
        if rec["size"] is not None and payload is None:
            payload = Payload(Path("?"), rec["size"], rec["size"], 0)
        outcomes.append(Outcome(Cell(SCENARIOS[rec["scenario"]], payload, rec["pathway"]), rec, rec.get("wall_s", 0.0)))
    return saved["meta"], outcomes


def _render(meta: dict[str, typ.Any], outcomes: list[Outcome], pathways: list[str], out: Path) -> None:
    """Print both tables and write the JSON record and the chart into ``out``."""
    verdicts = targets_mod.judge(outcomes)
    print(f"cuprum benchmark  {meta['date_utc']}  {meta['nproc']} x {meta['cpu']}  "
          f"Linux {meta['kernel']}  Python {meta['python']}")
    print(f"cuprum from {meta['cuprum_path']}; native extension files: "
          f"{', '.join(meta['native_extension_files']) or 'none'}")
    print(f"spawn rows: {meta.get('spawns')} sequential runs of true per trial; payload lines are 77 bytes")
    if "fanout" in meta:
        print(f"concurrent rows: spawn-concurrent {meta['fanout']} runs of true, {fanout.LIMIT} at a time; "
              f"pipelines-concurrent {meta['pipelines']} pipelines at once")
    print(f"memory: {meta.get('memory', 'cold')}")
    print()
    print(table(outcomes, pathways))
    touches: list[float] = []
    for o in outcomes:
        value = o.record.get("warm_memory_s", [])
        touches.extend(value if isinstance(value, list) else [value])
    if touches:
        per = sorted(touches)
        print(f"fresh memory on this machine: touching {WARM_MEMORY_FACTOR}x the payload took "
              f"{per[0]:.2f} to {per[-1]:.2f} s before the large capture and pipeline trials (untimed)")
    print()
    print(targets_mod.render(verdicts))
    json_path = out / "results.json"
    png_path = out / "ratios.png"
    write_json(json_path, meta, outcomes, verdicts)
    try:
        chart(png_path, outcomes, pathways)
    except ImportError as exc:
        print(f"\nchart not written: matplotlib missing ({exc})")
    else:
        print(f"\nchart: {png_path}")
    print(f"raw samples: {json_path}\nelapsed: {meta.get('elapsed_s', 0.0):.1f} s")


def main(argv: typ.Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 (timings never fail the run)."""
    args = _parse_args(argv)
    if args.from_json is not None:
        meta, outcomes = _reload(args.from_json)
        args.out.mkdir(parents=True, exist_ok=True)
        present = {o.cell.pathway for o in outcomes}
        _render(meta, outcomes, [p for p in PATHWAY_ORDER if p in present], args.out)
        return 0
    started = time.perf_counter()
    sizes = [parse_size(s) for s in (args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)).split(",")]
    spawns = args.spawns if args.spawns is not None else (20 if args.quick else SPAWNS)
    counts = Counts(
        spawns=spawns,
        fanout=args.fanout if args.fanout is not None else (QUICK_FANOUT if args.quick else fanout.FANOUT),
        pipelines=args.pipelines if args.pipelines is not None else (QUICK_PIPELINES if args.quick else fanout.PIPELINES),
    )
    pipelines_size = parse_size(args.pipelines_size or (QUICK_PIPELINES_SIZE if args.quick else PIPELINES_SIZE))
    budget = args.budget if args.budget is not None else (1.5 if args.quick else 20.0)
    cuprum_path = (args.cuprum_path or _default_cuprum_path()).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    _progress(f"payloads: {', '.join(format_size(s) for s in sizes)} in {args.data_dir}")
    payloads: list[Payload] = [ensure_payload(args.data_dir, s) for s in sorted(set(sizes))]
    own_payload = ensure_payload(args.data_dir, pipelines_size)
    own = {"pipelines-concurrent": own_payload, "pipelines-discard": own_payload}
    warm = ensure_payload(args.data_dir, 1024)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(BENCH_ROOT), str(cuprum_path), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if args.c_drivers is not None:
        env[cdrivers.ENV] = str(args.c_drivers.resolve())
    pathways = [p for p in PATHWAY_ORDER if p in args.pathways.split(",")]
    cells = plan(args.scenarios.split(","), payloads, pathways, own)
    outcomes = _measure_all(cells, args, env, budget, counts, warm)
    elapsed = time.perf_counter() - started
    _progress(f"done in {elapsed:.1f} s\n" if sys.stderr.isatty() else f"done in {elapsed:.1f} s")
    meta = _machine(args, cuprum_path)
    meta["elapsed_s"] = elapsed
    meta["payloads"] = [p.to_json() for p in payloads]
    meta["spawns"] = spawns
    meta["fanout"] = counts.fanout
    meta["pipelines"] = counts.pipelines
    if own_payload not in payloads:
        meta["payloads"].append(own_payload.to_json())
    meta["budget_s"] = budget
    meta["rounds"] = args.rounds if args.rounds is not None else (1 if args.quick else 3)
    if not any(p.size >= LARGE for p in payloads) and own_payload.size * counts.pipelines < LARGE:
        meta["memory"] = f"as found (no payload of {format_size(LARGE)} or more)"
    elif args.cold_memory:
        meta["memory"] = "cold (--cold-memory)"
    else:
        meta["memory"] = (
            f"warmed ({WARM_MEMORY_FACTOR}x the payload touched and released before large capture/pipeline trials)"
        )
    _render(meta, outcomes, pathways, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
