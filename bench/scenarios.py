# SPDX-License-Identifier: ISC
"""The scenarios, what a correct run of each yields, and the cell plan.

A *cell* is one (scenario, payload size, pathway) measurement, run in its
own worker process. Spawn scenarios do not depend on the payload, so they
get one cell per pathway with no size; the memory scenarios run only on the
largest selected payload; ``pipelines-concurrent`` and ``pipelines-discard``
run on a payload of their own size (``--pipelines-size``), whatever
``--sizes`` says.
"""

from __future__ import annotations

import dataclasses as dc
import typing as typ

from bench.fanout import FANOUT, LIMIT, PIPELINES
from bench.data import Payload
from bench.pathways import PATHWAYS, SPAWNS, capped_bytes

PATHWAY_ORDER = ("floor", "native", "pure", "subprocess", "plumbum", "sh", "c-cuprum", "c-libpipeline")


@dc.dataclass(frozen=True, slots=True)
class Counts:
    """How many runs the payload-free and concurrent scenarios make per trial."""

    spawns: int = SPAWNS
    fanout: int = FANOUT
    pipelines: int = PIPELINES


@dc.dataclass(frozen=True, slots=True)
class Scenario:
    """A scenario: its name, whether it uses a payload, and what it means."""

    name: str
    sized: bool
    unit: str
    description: str

    @property
    def memory(self) -> bool:
        """Whether the scenario measures peak RSS growth rather than time."""
        return self.unit == "B"

    def expected(self, payload: Payload | None, counts: Counts) -> int:
        """Return the figure a correct trial returns."""
        if self.name in ("spawn-sync", "spawn-async"):
            return counts.spawns
        if self.name == "spawn-concurrent":
            return counts.fanout
        if self.name == "pipelines-discard":
            return counts.pipelines
        assert payload is not None  # noqa: S101
        if self.name in ("lines", "lines-capture", "stream"):
            return payload.lines
        if self.name == "pipelines-concurrent":
            return counts.pipelines * payload.chars
        if self.name == "capped-memory":
            return capped_bytes(payload.chars)
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
        Scenario("lines-capture", True, "s", "the lines scenario with stdout captured too (the default)"),
        Scenario("stream", True, "s", "stdout line events of cat F pulled from cmd.stream()"),
        Scenario("spawn-concurrent", False, "s", f"{FANOUT} runs of true, {LIMIT} at a time"),
        Scenario(
            "pipelines-concurrent", True, "s", f"{PIPELINES} x (cat F | cat | cat | cat) at once, stdout captured"
        ),
        Scenario("pipelines-discard", True, "s", f"{PIPELINES} x (cat F | cat | cat | cat > /dev/null) at once"),
        Scenario("capped-memory", True, "B", "peak RSS over baseline capturing cat F with max_bytes=1 MiB"),
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
    own: dict[str, Payload] | None = None,
) -> list[Cell]:
    """Return every cell to measure, grouped by scenario and size.

    ``own`` maps a scenario to the one payload it runs on instead of
    ``payloads``.
    """
    cells: list[Cell] = []
    for name in scenarios:
        scenario = SCENARIOS[name]
        if not scenario.sized:
            sizes: list[Payload | None] = [payloads[0] if payloads else None]
        elif own is not None and name in own:
            sizes = [own[name]]
        elif scenario.memory:
            sizes = [max(payloads, key=lambda p: p.size)] if payloads else []
        else:
            sizes = list(payloads)
        for payload in sizes:
            for pathway in pathways:
                if scenario.memory and pathway == "floor":
                    continue
                cells.append(Cell(scenario, payload if scenario.sized else None, pathway))
    return cells
