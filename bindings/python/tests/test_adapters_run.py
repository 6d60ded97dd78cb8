# SPDX-License-Identifier: ISC
"""The telemetry adapters observing real executions through the core.

Runs ``git --version`` from a test-only catalogue, so it needs the execution
layer (skipped with a reason when ``cuprum.sh`` cannot be imported) and git
(skipped with a reason when it is not installed).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import typing as typ

import pytest

sh = pytest.importorskip("cuprum.sh", reason="cuprum.sh (the core execution layer) is not importable")
catalogue = pytest.importorskip("cuprum.catalogue", reason="cuprum.catalogue is not importable")
context = pytest.importorskip("cuprum.context", reason="cuprum.context is not importable")
program_module = pytest.importorskip("cuprum.program", reason="cuprum.program is not importable")

from cuprum.adapters.logging_adapter import structured_logging_hook  # noqa: E402
from cuprum.adapters.metrics_adapter import InMemoryMetrics, MetricsHook  # noqa: E402
from cuprum.adapters.tracing_adapter import InMemoryTracer, TracingHook  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

_PROJECT = "adapters-test"


@pytest.fixture
def git_cmd() -> typ.Any:
    """``git --version`` from a catalogue holding only git."""
    git = program_module.Program("git")
    test_catalogue = catalogue.ProgramCatalogue(
        projects=(
            catalogue.ProjectSettings(
                name=_PROJECT,
                programs=(git,),
                documentation_locations=(),
                noise_rules=(),
            ),
        )
    )
    return sh.make(git, catalogue=test_catalogue)("--version")


def test_adapters_observe_a_real_run(git_cmd: typ.Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cuprum.exec")
    tracer = InMemoryTracer()
    metrics = InMemoryMetrics()
    with (
        context.scoped(context.ScopeConfig(allowlist=frozenset({git_cmd.program}))),
        context.observe(TracingHook(tracer)),
        context.observe(MetricsHook(metrics)),
        context.observe(structured_logging_hook()),
    ):
        result = git_cmd.run_sync()

    assert result.ok
    assert result.stdout.startswith("git version")

    (span,) = tracer.spans
    assert span.name == "cuprum.exec git"
    assert span.ended and span.status_ok is True
    assert span.attributes["cuprum.program"] == "git"
    assert span.attributes["cuprum.argv"] == ["git", "--version"]
    assert span.attributes["cuprum.pid"] == result.pid
    assert span.attributes["cuprum.exit_code"] == 0
    assert span.attributes["cuprum.project"] == _PROJECT
    assert any(typ.cast(str, line.get("line", "")).startswith("git version") for _, line in span.events)

    assert metrics.counters["cuprum_executions_total"] == 1.0
    assert metrics.counters["cuprum_stdout_lines_total"] >= 1.0
    assert "cuprum_failures_total" not in metrics.counters
    assert len(metrics.histograms["cuprum_duration_seconds"]) == 1

    phases = [getattr(record, "cuprum_phase") for record in caplog.records]  # set via extra=
    assert phases[0] == "plan"
    assert phases[1] == "start"
    assert phases[-1] == "exit"
    assert "stdout" in phases
    exec_ids = {getattr(record, "cuprum_exec_id", None) for record in caplog.records}
    assert len(exec_ids) == 1 and None not in exec_ids


def test_adapters_keep_concurrent_async_runs_apart(git_cmd: typ.Any) -> None:
    tracer = InMemoryTracer()
    metrics = InMemoryMetrics()

    async def main() -> list[typ.Any]:
        with (
            context.scoped(context.ScopeConfig(allowlist=frozenset({git_cmd.program}))),
            context.observe(TracingHook(tracer)),
            context.observe(MetricsHook(metrics)),
        ):
            return await asyncio.gather(*(git_cmd.run() for _ in range(4)))

    results = asyncio.run(main())
    assert all(result.ok for result in results)
    assert len(tracer.spans) == 4
    assert all(span.ended and span.status_ok for span in tracer.spans)
    assert {span.attributes["cuprum.pid"] for span in tracer.spans} == {r.pid for r in results}
    assert len({span.attributes["cuprum.exec_id"] for span in tracer.spans}) == 4
    assert metrics.counters["cuprum_executions_total"] == 4.0
    assert len(metrics.histograms["cuprum_duration_seconds"]) == 4
