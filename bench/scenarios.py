# SPDX-License-Identifier: ISC
"""The scenarios, what a correct run of each yields, and the cell plan.

A *cell* is one (scenario, payload size, pathway) measurement, run in its
own worker process. Spawn scenarios do not depend on the payload, so they
get one cell per pathway with no size; the memory scenario runs only on the
largest selected payload.
"""

from __future__ import annotations

import dataclasses as dc
import typing as typ

from bench.data import Payload
from bench.pathways import PATHWAYS, SPAWNS

PATHWAY_ORDER = ("floor", "native", "pure", "subprocess", "plumbum", "sh")


@dc.dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario: its name, whether it uses a payload, and what it means."""

    name: str
    sized: bool
    unit: str
    description: str

    def expected(self, payload: Payload | None, spawns: int = SPAWNS) -> int:
        """Return the figure a correct trial returns."""
        if self.name in ("spawn-sync", "spawn-async"):
            return spawns
        assert payload is not None  # noqa: S101
        if self.name == "lines":
            return payload.lines
        return payload.chars


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("capture", True, "s", "cat F, stdout captured as text"),
        Scenario("pipeline", True, "s", "cat F | cat | cat | cat, last stdout captured"),
        Scenario("lines", True, "s", "stdout lines of cat F delivered one by one"),
        Scenario("spawn-sync", False, "s", f"{SPAWNS} sequential runs of true (sync)"),
        Scenario("spawn-async", False, "s", f"{SPAWNS} sequential runs of true (one event loop)"),
        Scenario("memory", True, "B", "peak RSS over baseline while capturing cat F"),
    )
}


@dc.dataclass(frozen=True, slots=True)
class Cell:
    """One measurement to make."""

    scenario: Scenario
    payload: Payload | None
    pathway: str

    @property
    def size(self) -> int | None:
        """The payload size in bytes, or None for payload-free scenarios."""
        return None if self.payload is None else self.payload.size

    @property
    def applicable(self) -> bool:
        """Whether the pathway implements the scenario at all."""
        return self.scenario.name in PATHWAYS[self.pathway]


def plan(
    scenarios: typ.Sequence[str],
    payloads: typ.Sequence[Payload],
    pathways: typ.Sequence[str],
) -> list[Cell]:
    """Return every cell to measure, grouped by scenario and size."""
    cells: list[Cell] = []
    for name in scenarios:
        scenario = SCENARIOS[name]
        if not scenario.sized:
            sizes: list[Payload | None] = [payloads[0] if payloads else None]
        elif name == "memory":
            sizes = [max(payloads, key=lambda p: p.size)] if payloads else []
        else:
            sizes = list(payloads)
        for payload in sizes:
            for pathway in pathways:
                if name == "memory" and pathway == "floor":
                    continue
                cells.append(Cell(scenario, payload if scenario.sized else None, pathway))
    return cells
