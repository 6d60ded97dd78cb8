# SPDX-License-Identifier: ISC
"""The issue's performance targets, judged on one run's medians.

Each target compares two medians from the same run, of one scenario or of
two (capture on against off), or one median with a fixed budget (line
events in seconds, a capped capture's memory in MiB). A target whose cells were not measured, or
whose result was wrong, is reported as such rather than as pass or miss; a
verdict whose margin is smaller than the cells' own spread (half the
min-max range over the median, summed over both cells) says so.
"""

from __future__ import annotations

import dataclasses as dc
import typing as typ

from bench.report import Outcome

MiB = 1 << 20
BIG = 256 * MiB
KIB = 1 << 10
PIPE_SIZE = 16 * MiB  # each of pipelines-concurrent's 64 pipelines


@dc.dataclass(frozen=True, slots=True)
class Target:
    """``pathway``'s median in ``scenario`` against a reference or a limit."""

    label: str
    scenario: str
    size: int | None
    pathway: str
    reference: str | None  # a pathway, "payload", or None for an absolute limit
    limit: float  # ratio to the reference, or an absolute figure in ``unit`` when reference is None
    strict: bool = False  # "<" rather than "<="
    ref_scenario: str | None = None  # the reference's scenario, when not ``scenario``
    unit: str = "s"  # of an absolute limit: "s", or "MiB" (of a memory scenario's bytes)


TARGETS: tuple[Target, ...] = (
    Target("native capture <= 2.5x cat F | wc -c", "capture", BIG, "native", "floor", 2.5),
    Target("pure capture <= subprocess.run(text=True)", "capture", BIG, "pure", "subprocess", 1.0),
    Target("native pipeline <= 2x four cats into wc -c", "pipeline", BIG, "native", "floor", 2.0),
    Target("pure pipeline <= Popen chain", "pipeline", BIG, "pure", "subprocess", 1.0),
    Target("native 3.5M line events < 1.5 s", "lines", BIG, "native", None, 1.5, strict=True),
    Target("pure 3.5M line events < 4.25 s", "lines", BIG, "pure", None, 4.25, strict=True),
    Target("native spawn: run_sync(true) <= 1.15x subprocess.run", "spawn-sync", None, "native", "subprocess", 1.15),
    Target("pure spawn: run_sync(true) <= 1.15x subprocess.run", "spawn-sync", None, "pure", "subprocess", 1.15),
    Target("native 1 KiB capture <= 1.15x subprocess.run", "capture", KIB, "native", "subprocess", 1.15),
    Target("pure 1 KiB capture <= 1.15x subprocess.run", "capture", KIB, "pure", "subprocess", 1.15),
    Target("native peak RSS, 256 MiB capture <= 2x payload", "memory", BIG, "native", "payload", 2.0),
    Target("pure peak RSS, 256 MiB capture <= 2x payload", "memory", BIG, "pure", "payload", 2.0),
    # issue 10's speed section
    Target("native 3.5M lines, capture on <= 1.3x capture off", "lines-capture", BIG, "native", "native", 1.3,
           ref_scenario="lines"),
    Target("pure 3.5M lines, capture on <= 1.3x capture off", "lines-capture", BIG, "pure", "pure", 1.3,
           ref_scenario="lines"),
    Target("native 3.5M lines, capture on <= 1.5x for line in proc.stdout", "lines-capture", BIG, "native",
           "subprocess", 1.5),
    Target("native stream() 3.5M lines <= 1.5x observe hook", "stream", BIG, "native", "native", 1.5,
           ref_scenario="lines"),
    Target("pure stream() 3.5M lines <= 1.5x observe hook", "stream", BIG, "pure", "pure", 1.5,
           ref_scenario="lines"),
    Target("native run_concurrent(true), 32 at a time <= asyncio.gather", "spawn-concurrent", None, "native",
           "subprocess", 1.0),
    Target("pure run_concurrent(true), 32 at a time <= asyncio.gather", "spawn-concurrent", None, "pure",
           "subprocess", 1.0),
    Target("native 64 x 4-stage 16 MiB pipelines <= 1.5x sh & wait", "pipelines-concurrent", PIPE_SIZE,
           "native", "floor", 1.5),
    Target("pure 64 x 4-stage 16 MiB pipelines <= 1.5x sh & wait", "pipelines-concurrent", PIPE_SIZE,
           "pure", "floor", 1.5),
    Target("native max_bytes=1MiB capture of 256 MiB: RSS growth < 8 MiB", "capped-memory", BIG, "native",
           None, 8.0, strict=True, unit="MiB"),
    Target("pure max_bytes=1MiB capture of 256 MiB: RSS growth < 8 MiB", "capped-memory", BIG, "pure",
           None, 8.0, strict=True, unit="MiB"),
    # issue 11's C column: libcuprum's pipeline API against the floor and libpipeline
    Target("C libcuprum capture <= 1.1x cat F | wc -c", "capture", BIG, "c-cuprum", "floor", 1.1),
    Target("C libcuprum pipeline <= 1.1x four cats into wc -c", "pipeline", BIG, "c-cuprum", "floor", 1.1),
    Target("C libcuprum capture <= 0.5x libpipeline", "capture", BIG, "c-cuprum", "c-libpipeline", 0.5),
    Target("C libcuprum pipeline <= 0.8x libpipeline", "pipeline", BIG, "c-cuprum", "c-libpipeline", 0.8),
    Target("C libcuprum 200 spawns of true <= libpipeline", "spawn-sync", None, "c-cuprum", "c-libpipeline", 1.0),
    # issue 11's Python row (see performance.md: the child's exec alone is
    # about 0.8x subprocess.run here, so this is expected to miss)
    Target("native spawn: run_sync(true) <= 0.85x subprocess.run", "spawn-sync", None, "native", "subprocess",
           0.85),
)


def _find(outcomes: typ.Sequence[Outcome], scenario: str, size: int | None, pathway: str) -> Outcome | None:
    for o in outcomes:
        if o.cell.scenario.name == scenario and o.cell.size == size and o.cell.pathway == pathway:
            return o
    return None


def _noise(outcome: Outcome) -> float:
    """Half the min-max range over the median: the cell's relative spread."""
    spread = outcome.spread
    return 0.0 if spread is None else spread / 2


def judge(outcomes: typ.Sequence[Outcome]) -> list[dict[str, typ.Any]]:
    """Return one record per target: verdict, measured figure and limit."""
    verdicts = []
    for t in TARGETS:
        o = _find(outcomes, t.scenario, t.size, t.pathway)
        rec: dict[str, typ.Any] = {"target": t.label, "verdict": "not measured", "value": None, "limit": t.limit}
        if o is None or o.median is None:
            if o is not None:
                reason = o.record.get("reason")
                rec["verdict"] = o.status if o.status != "skipped" or not reason else f"skipped: {reason}"
            verdicts.append(rec)
            continue
        ref_o = None
        value: float | None
        if t.reference is None:
            value = o.median / MiB if t.unit == "MiB" else o.median
        elif t.reference == "payload":
            value = o.median / t.size if t.size else None
        else:
            ref_o = _find(outcomes, t.ref_scenario or t.scenario, t.size, t.reference)
            ok_ref = ref_o is not None and ref_o.median and ref_o.correct
            value = o.median / ref_o.median if ok_ref and ref_o is not None and ref_o.median else None
        rec["value"] = value
        if value is None and ref_o is not None and ref_o.status in ("missing", "skipped", "error"):
            rec["verdict"] = f"no reference: {ref_o.cell.pathway} {ref_o.status} ({ref_o.record.get('reason')})"
        elif value is None:
            rec["verdict"] = "no reference"
        elif not o.correct:
            rec["verdict"] = "WRONG result"
        else:
            ok = value < t.limit if t.strict else value <= t.limit
            rec["verdict"] = "pass" if ok else "MISS"
            noise = _noise(o) + (0.0 if ref_o is None else _noise(ref_o))
            rec["noise"] = noise
            if abs(value - t.limit) <= noise * value:
                rec["verdict"] += f" (within noise ±{noise * 100:.0f}%)"
        rec["unit"] = t.unit if t.reference is None else "x"
        rec["digits"] = 4 if t.reference == "payload" else 3
        verdicts.append(rec)
    return verdicts


def render(verdicts: typ.Sequence[dict[str, typ.Any]]) -> str:
    """The pass/miss table as text."""
    width = max(len(v["target"]) for v in verdicts)
    out = [f"{'target'.ljust(width)}  measured   verdict", "-" * (width + 22)]
    for v in verdicts:
        value = v["value"]
        shown = "-" if value is None else f"{value:.{v.get('digits', 3)}f}{v.get('unit', '')}"
        out.append(f"{v['target'].ljust(width)}  {shown:<9}  {v['verdict']}")
    return "\n".join(out)
