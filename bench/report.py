# SPDX-License-Identifier: ISC
"""Summaries, the terminal tables, the JSON record and the ratio chart."""

from __future__ import annotations

import dataclasses as dc
import json
import statistics
import typing as typ
from pathlib import Path

from bench.data import format_size
from bench.scenarios import Cell


@dc.dataclass(slots=True)
class Outcome:
    """A measured cell: the worker's record plus summary figures."""

    cell: Cell
    record: dict[str, typ.Any]
    wall_s: float

    @property
    def status(self) -> str:
        """``ok``, ``missing``, ``skipped``, ``error`` or ``n/a``."""
        return str(self.record.get("status", "error"))

    @property
    def samples(self) -> list[float]:
        """Raw samples: seconds, or bytes for the memory scenario."""
        return [float(s) for s in self.record.get("samples", [])]

    @property
    def median(self) -> float | None:
        """Median of the samples, or None without any."""
        return statistics.median(self.samples) if self.samples else None

    @property
    def spread(self) -> float | None:
        """(max - min) / median, as a fraction."""
        med = self.median
        if not med or len(self.samples) < 2:  # noqa: PLR2004
            return None
        return (max(self.samples) - min(self.samples)) / med

    @property
    def correct(self) -> bool:
        """Whether every trial returned the expected figure."""
        return bool(self.record.get("correct", False))


def key(cell: Cell) -> tuple[str, int | None]:
    """The row a cell belongs to."""
    return (cell.scenario.name, cell.size)


def row_label(scenario: str, size: int | None) -> str:
    """``capture 1MiB``-style row label."""
    return scenario if size is None else f"{scenario} {format_size(size)}"


def ratio(outcome: Outcome, floors: dict[tuple[str, int | None], Outcome]) -> float | None:
    """The cell's median over its floor (payload size for memory)."""
    med = outcome.median
    if med is None or outcome.status != "ok":
        return None
    if outcome.cell.scenario.memory:
        return med / outcome.cell.size if outcome.cell.size else None
    floor = floors.get(key(outcome.cell))
    fmed = None if floor is None or floor.status != "ok" else floor.median
    return med / fmed if fmed else None


def floors_of(outcomes: typ.Sequence[Outcome]) -> dict[tuple[str, int | None], Outcome]:
    """The floor outcome of each row."""
    return {key(o.cell): o for o in outcomes if o.cell.pathway == "floor"}


def _fmt_value(outcome: Outcome) -> str:
    med = outcome.median
    assert med is not None  # noqa: S101
    if outcome.cell.scenario.memory:
        return f"{med / 2**20:.{1 if med < 10 * 2**20 else 0}f}MiB"
    if med < 0.01:  # noqa: PLR2004
        return f"{med * 1000:.2f}ms"
    return f"{med:.3f}s"


def cell_text(outcome: Outcome | None, floors: dict[tuple[str, int | None], Outcome]) -> str:
    """The table text of one cell."""
    if outcome is None or not outcome.cell.applicable:
        return "n/a"
    if outcome.status in ("missing", "skipped"):
        return outcome.status
    if outcome.status != "ok":
        return "ERROR"
    text = _fmt_value(outcome)
    spread = outcome.spread
    if spread is not None:
        text += f" ±{spread * 50:.0f}%"
    r = ratio(outcome, floors)
    if r is not None and outcome.cell.pathway != "floor":
        text += f" {r:.2f}x"
    if not outcome.correct:
        text += " WRONG"
    return text


def table(outcomes: typ.Sequence[Outcome], pathways: typ.Sequence[str]) -> str:
    """Render the results table: medians, half-range spread, ratio to floor."""
    floors = floors_of(outcomes)
    rows: dict[tuple[str, int | None], dict[str, Outcome]] = {}
    for o in outcomes:
        rows.setdefault(key(o.cell), {})[o.cell.pathway] = o
    header = ["scenario", *pathways]
    lines = [header]
    for (scenario, size), cells in rows.items():
        lines.append([row_label(scenario, size)] + [cell_text(cells.get(p), floors) for p in pathways])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    notes = [
        "cells: median ±half the min-max range, then the ratio to the floor column",
        "(memory rows: peak RSS growth and its ratio to the payload size). WRONG: a",
        "trial returned the wrong length or count. skipped: the cuprum measured has",
        "no API for the scenario (reason below); no figure is made up for it.",
    ]
    reasons: dict[tuple[str, str, str], list[str]] = {}
    for o in outcomes:
        if o.status in ("missing", "skipped", "error"):
            where = (o.cell.pathway, o.status, str(o.record.get("reason")))
            reasons.setdefault(where, []).append(row_label(*key(o.cell)))
    for (pathway, status, reason), rows_hit in reasons.items():
        notes.append(f"{pathway} {status} ({', '.join(rows_hit)}): {reason}")
    for o in outcomes:
        if o.status in ("missing", "skipped", "error"):
            continue
        elif o.status == "ok" and not o.correct:
            got = sorted(set(o.record.get("results", [])))
            notes.append(f"{o.cell.pathway} {row_label(*key(o.cell))}: WRONG result {got[:4]}")
        elif o.status == "ok" and len(o.samples) < typ.cast(int, o.record.get("reps_asked", 0)):
            notes.append(
                f"{o.cell.pathway} {row_label(*key(o.cell))}: {len(o.samples)} of "
                f"{o.record.get('reps_asked')} repetitions (time budget)"
            )
    return "\n".join(out + [""] + notes)


def write_json(path: Path, meta: dict[str, typ.Any], outcomes: typ.Sequence[Outcome], targets: list[dict[str, typ.Any]]) -> None:
    """Write every raw sample and summary to ``path``."""
    floors = floors_of(outcomes)
    cells = []
    for o in outcomes:
        cells.append(
            {
                "scenario": o.cell.scenario.name,
                "size": o.cell.size,
                "pathway": o.cell.pathway,
                "applicable": o.cell.applicable,
                "median": o.median,
                "min": min(o.samples) if o.samples else None,
                "max": max(o.samples) if o.samples else None,
                "ratio_to_floor": ratio(o, floors),
                "unit": o.cell.scenario.unit,
                "wall_s": o.wall_s,
                **o.record,
            }
        )
    path.write_text(json.dumps({"meta": meta, "cells": cells, "targets": targets}, indent=1) + "\n")


def chart(path: Path, outcomes: typ.Sequence[Outcome], pathways: typ.Sequence[str]) -> None:
    """Save a bar chart of each pathway's ratio to the floor, per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floors = floors_of(outcomes)
    rows: dict[tuple[str, int | None], dict[str, Outcome]] = {}
    for o in outcomes:
        if not o.cell.scenario.memory:
            rows.setdefault(key(o.cell), {})[o.cell.pathway] = o
    shown = [p for p in pathways if p != "floor"]
    labels = [row_label(*k) for k in rows]
    fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(labels) + 2), 5.5))
    width = 0.8 / max(1, len(shown))
    for i, pathway in enumerate(shown):
        xs, ys, wrong = [], [], []
        for j, cells in enumerate(rows.values()):
            cell = cells.get(pathway)
            r = None if cell is None else ratio(cell, floors)
            if r is not None and cell is not None:
                xs.append(j + (i - (len(shown) - 1) / 2) * width)
                ys.append(r)
                wrong.append(not cell.correct)
        bars = ax.bar(xs, ys, width=width, label=pathway, color=f"C{i}")
        for bar, bad in zip(bars, wrong, strict=True):
            if bad:  # a wrong result is drawn hatched, never hidden
                bar.set_hatch("xx")
                bar.set_edgecolor("black")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=35, ha="right")
    ax.set_ylabel("median time / shell floor (log scale; lower is better)")
    ax.set_title("cuprum benchmark: ratio to the shell floor (hatched: wrong result)")
    ax.legend(fontsize="small")
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


__all__ = ["Outcome", "cell_text", "chart", "ratio", "table", "write_json"]
