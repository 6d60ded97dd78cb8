# SPDX-License-Identifier: ISC
"""The telemetry adapters driven by hand-built ``ExecEvent`` values.

Needs only ``cuprum.events`` (skipped with a reason when it is missing); the
real-run tests live in ``test_adapters_run.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pathlib
import threading
import typing as typ
import uuid

import pytest

events = pytest.importorskip("cuprum.events", reason="cuprum.events (ExecEvent) is not importable")

import cuprum.adapters as adapters_pkg  # noqa: E402
from cuprum.adapters import (  # noqa: E402
    logging_adapter,
    metrics_adapter,
    tracing_adapter,
    tracing_memory,
    tracing_protocols,
)
from cuprum.adapters.logging_adapter import (  # noqa: E402
    JsonLoggingFormatter,
    LogLevels,
    structured_logging_hook,
)
from cuprum.adapters.metrics_adapter import (  # noqa: E402
    InMemoryMetrics,
    MetricsCollector,
    MetricsHook,
    metrics_hook,
)
from cuprum.adapters.tracing_adapter import (  # noqa: E402
    InMemorySpan,
    InMemoryTracer,
    Span,
    Tracer,
    TracingHook,
    tracing_hook,
)

if typ.TYPE_CHECKING:
    import collections.abc as cabc

ExecEvent = events.ExecEvent

_DEFAULT_TAGS: dict[str, object] = {"project": "core-ops"}


def _field(record: logging.LogRecord, name: str) -> object:
    """Return ``record``'s ``name``, a field the hook set through ``extra=``
    (so unknown to ``logging.LogRecord``'s type)."""
    return getattr(record, name)


def make_event(phase: str, **fields: object) -> typ.Any:
    """Return an ``ExecEvent`` for ``echo hi`` with ``fields`` overriding defaults."""
    base: dict[str, object] = {
        "phase": phase,
        "program": "echo",
        "argv": ("echo", "hi"),
        "cwd": None,
        "env": None,
        "pid": None if phase == "plan" else 4242,
        "timestamp": 1_700_000_000.0,
        "line": None,
        "exit_code": None,
        "duration_s": None,
        "tags": _DEFAULT_TAGS,
    }
    base.update(fields)
    return ExecEvent(**base)


def lifecycle(exec_id: object = None, pid: int = 4242, exit_code: int = 0) -> list[typ.Any]:
    """Return the events of one ``echo hi`` execution, in order."""
    common = {"exec_id": exec_id, "pid": pid}
    return [
        make_event("plan", exec_id=exec_id, pid=None),
        make_event("start", **common),
        make_event("stdout", line="hi", **common),
        make_event("stderr", line="warn", **common),
        make_event("exit", exit_code=exit_code, duration_s=0.25, **common),
    ]


# ------------------------------------------------------------- public names


def test_public_names() -> None:
    assert adapters_pkg.__all__ == []
    assert sorted(logging_adapter.__all__) == [
        "JsonLoggingFormatter",
        "LogLevels",
        "structured_logging_hook",
    ]
    assert sorted(metrics_adapter.__all__) == [
        "InMemoryMetrics",
        "MetricsCollector",
        "MetricsHook",
        "metrics_hook",
    ]
    assert sorted(tracing_adapter.__all__) == [
        "InMemorySpan",
        "InMemoryTracer",
        "Span",
        "Tracer",
        "TracingHook",
        "tracing_hook",
    ]
    # The protocols and in-memory backends live in their own modules and are
    # re-exported, not copied, by tracing_adapter.
    assert sorted(tracing_protocols.__all__) == ["Span", "Tracer"]
    assert sorted(tracing_memory.__all__) == ["InMemorySpan", "InMemoryTracer"]
    assert tracing_adapter.Span is tracing_protocols.Span
    assert tracing_adapter.InMemoryTracer is tracing_memory.InMemoryTracer


# ------------------------------------------------------------------ logging


@pytest.fixture
def exec_logger(caplog: pytest.LogCaptureFixture) -> logging.Logger:
    """The adapter's default logger, captured at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="cuprum.exec")
    return logging.getLogger("cuprum.exec")


def test_log_levels_defaults() -> None:
    levels = LogLevels()
    assert (levels.plan_level, levels.start_level, levels.output_level, levels.exit_level) == (
        logging.DEBUG,
        logging.INFO,
        logging.DEBUG,
        logging.INFO,
    )


def test_structured_logging_messages_and_levels(
    exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    hook = structured_logging_hook()
    exec_id = uuid.uuid4()
    for event in lifecycle(exec_id=exec_id, exit_code=3):
        assert hook(event) is None
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        ("cuprum.exec", logging.DEBUG, "cuprum.plan program=echo argv=('echo', 'hi')"),
        ("cuprum.exec", logging.INFO, "cuprum.start program=echo pid=4242"),
        ("cuprum.exec", logging.DEBUG, "cuprum.stdout pid=4242 line='hi'"),
        ("cuprum.exec", logging.DEBUG, "cuprum.stderr pid=4242 line='warn'"),
        (
            "cuprum.exec",
            logging.INFO,
            "cuprum.exit program=echo pid=4242 exit_code=3 duration_s=0.250000",
        ),
    ]


def test_structured_logging_extras(exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    hook = structured_logging_hook()
    exec_id = uuid.uuid4()
    hook(
        make_event(
            "exit",
            cwd=pathlib.Path("/work"),
            exit_code=0,
            duration_s=1.5,
            exec_id=exec_id,
            tags={"project": "p", "k": 1},
        )
    )
    (record,) = caplog.records
    assert _field(record, "cuprum_phase") == "exit"
    assert _field(record, "cuprum_program") == "echo"
    assert _field(record, "cuprum_argv") == ("echo", "hi")
    assert _field(record, "cuprum_pid") == 4242
    assert _field(record, "cuprum_cwd") == "/work"
    assert _field(record, "cuprum_exit_code") == 0
    assert _field(record, "cuprum_duration_s") == 1.5
    assert _field(record, "cuprum_exec_id") == str(exec_id)
    assert _field(record, "cuprum_tags") == {"project": "p", "k": 1}
    assert type(_field(record, "cuprum_tags")) is dict
    # Fields that are None are left out, not logged as None.
    for absent in ("cuprum_line", "cuprum_note", "cuprum_byte_count", "cuprum_operation"):
        assert not hasattr(record, absent)


def test_structured_logging_plan_has_no_pid(exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    structured_logging_hook()(make_event("plan"))
    (record,) = caplog.records
    assert not hasattr(record, "cuprum_pid")
    assert not hasattr(record, "cuprum_exit_code")


def test_structured_logging_exit_without_duration(
    exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    structured_logging_hook()(make_event("exit", exit_code=-9))
    assert caplog.records[0].getMessage() == (
        "cuprum.exit program=echo pid=4242 exit_code=-9 duration_s=unknown"
    )


def test_structured_logging_stdin_phases(exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture) -> None:
    hook = structured_logging_hook()
    hook(make_event("stdin", byte_count=12))
    hook(
        make_event(
            "stdin_error",
            operation="write",
            error_type="BrokenPipeError",
            note="child closed stdin",
        )
    )
    hook(make_event("someday"))
    stdin, error, other = caplog.records
    assert stdin.levelno == logging.DEBUG
    assert stdin.getMessage() == "cuprum.stdin program=echo pid=4242 byte_count=12"
    assert _field(stdin, "cuprum_byte_count") == 12
    assert error.levelno == logging.DEBUG
    assert error.getMessage() == (
        "cuprum.stdin_error program=echo pid=4242 operation=write error_type=BrokenPipeError"
    )
    assert (_field(error, "cuprum_operation"), _field(error, "cuprum_error_type"), _field(error, "cuprum_note")) == (
        "write",
        "BrokenPipeError",
        "child closed stdin",
    )
    assert other.getMessage() == "cuprum.someday program=echo"


def test_structured_logging_custom_logger_and_levels(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.adapters.custom")
    caplog.set_level(logging.DEBUG, logger=logger.name)
    levels = LogLevels(plan_level=logging.INFO, start_level=logging.WARNING,
                       output_level=logging.ERROR, exit_level=logging.CRITICAL)
    hook = structured_logging_hook(logger=logger, levels=levels)
    for event in lifecycle():
        hook(event)
    assert [(r.name, r.levelno) for r in caplog.records] == [
        (logger.name, logging.INFO),
        (logger.name, logging.WARNING),
        (logger.name, logging.ERROR),
        (logger.name, logging.ERROR),
        (logger.name, logging.CRITICAL),
    ]


def test_structured_logging_skips_disabled_levels(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="cuprum.exec")
    built: list[object] = []
    original = logging_adapter._build_extra

    def recording(event: typ.Any) -> dict[str, object]:
        built.append(event)
        return original(event)

    monkeypatch.setattr(logging_adapter, "_build_extra", recording)
    hook = structured_logging_hook()
    hook(make_event("stdout", line="quiet"))
    assert caplog.records == []
    assert built == []  # no work done for a disabled level
    hook(make_event("start"))
    assert len(caplog.records) == 1


def test_structured_logging_hook_parameters_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        structured_logging_hook(logging.getLogger("x"))  # type: ignore[misc]


def test_json_formatter_renders_cuprum_extras(
    exec_logger: logging.Logger, caplog: pytest.LogCaptureFixture
) -> None:
    structured_logging_hook()(
        make_event("stdout", line="héllo", cwd=pathlib.Path("/w"),
                   tags={"project": "p", "nested": {"when": object()}})
    )
    (record,) = caplog.records
    payload = json.loads(JsonLoggingFormatter().format(record))
    assert payload["level"] == "DEBUG"
    assert payload["logger"] == "cuprum.exec"
    assert payload["message"] == "cuprum.stdout pid=4242 line='héllo'"
    assert isinstance(payload["timestamp"], str)
    assert payload["cuprum_phase"] == "stdout"
    assert payload["cuprum_argv"] == ["echo", "hi"]
    assert payload["cuprum_line"] == "héllo"
    assert payload["cuprum_cwd"] == "/w"
    assert payload["cuprum_tags"]["project"] == "p"
    assert payload["cuprum_tags"]["nested"]["when"].startswith("<object object")
    base_keys = {"timestamp", "level", "logger", "message"}
    assert all(key in base_keys or key.startswith("cuprum_") for key in payload)


def test_json_formatter_plain_record() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "plain %s", ("msg",), None)
    record.cuprum_custom = (1, pathlib.Path("/p"), None, True, 2.5)
    payload = json.loads(JsonLoggingFormatter().format(record))
    assert payload["message"] == "plain msg"
    assert payload["cuprum_custom"] == [1, "/p", None, True, 2.5]
    assert set(payload) == {"timestamp", "level", "logger", "message", "cuprum_custom"}


# ------------------------------------------------------------------ metrics


class RecordingCollector:
    """A MetricsCollector that keeps every call, labels included."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float, dict[str, str]]] = []

    def inc_counter(self, name: str, value: float, labels: cabc.Mapping[str, str]) -> None:
        self.calls.append(("counter", name, value, dict(labels)))

    def observe_histogram(self, name: str, value: float, labels: cabc.Mapping[str, str]) -> None:
        self.calls.append(("histogram", name, value, dict(labels)))


def test_metrics_hook_full_lifecycle() -> None:
    metrics = InMemoryMetrics()
    hook: cabc.Callable[[typ.Any], object] = MetricsHook(metrics)
    for event in lifecycle(exit_code=0):
        assert hook(event) is None
    assert metrics.counters == {
        "cuprum_executions_total": 1.0,
        "cuprum_stdout_lines_total": 1.0,
        "cuprum_stderr_lines_total": 1.0,
    }
    assert metrics.histograms == {"cuprum_duration_seconds": [0.25]}


@pytest.mark.parametrize("exit_code", [1, 2, -15])
def test_metrics_hook_counts_failures(exit_code: int) -> None:
    metrics = InMemoryMetrics()
    hook = MetricsHook(metrics)
    hook(make_event("exit", exit_code=exit_code))
    assert metrics.counters == {"cuprum_failures_total": 1.0}
    assert metrics.histograms == {}


def test_metrics_hook_stdin_phases() -> None:
    metrics = InMemoryMetrics()
    hook = MetricsHook(metrics)
    hook(make_event("stdin", byte_count=100))
    hook(make_event("stdin", byte_count=28))
    hook(make_event("stdin"))  # no byte count: nothing to add
    hook(make_event("stdin_error", operation="write", error_type="BrokenPipeError"))
    assert metrics.counters == {
        "cuprum_stdin_bytes_total": 128.0,
        "cuprum_stdin_errors_total": 1.0,
    }


def test_metrics_hook_ignores_plan_and_unknown_phases(caplog: pytest.LogCaptureFixture) -> None:
    collector = RecordingCollector()
    hook = MetricsHook(collector)
    caplog.set_level(logging.DEBUG, logger="cuprum.adapters")
    hook(make_event("plan"))
    hook(make_event("exit"))  # clean exit without exit code or duration
    hook(make_event("mystery"))
    assert collector.calls == []
    assert any("mystery" in r.getMessage() for r in caplog.records)


def test_metrics_labels_are_program_and_project_only() -> None:
    collector = RecordingCollector()
    hook = metrics_hook(collector)
    assert isinstance(hook, MetricsHook)
    hook(make_event("start", tags={"project": "docs", "user": "x"}))
    hook(make_event("exit", exit_code=1, duration_s=0.5, tags={}))
    assert collector.calls == [
        ("counter", "cuprum_executions_total", 1.0, {"program": "echo", "project": "docs"}),
        ("counter", "cuprum_failures_total", 1.0, {"program": "echo", "project": "unknown"}),
        ("histogram", "cuprum_duration_seconds", 0.5, {"program": "echo", "project": "unknown"}),
    ]


def test_in_memory_metrics_reset_and_labels_ignored() -> None:
    metrics = InMemoryMetrics()
    metrics.inc_counter("c", 2.0, {"a": "1"})
    metrics.inc_counter("c", 3.0, {"a": "2"})
    metrics.observe_histogram("h", 0.1, {})
    metrics.observe_histogram("h", 0.2, {"b": "x"})
    assert metrics.counters == {"c": 5.0}
    assert metrics.histograms == {"h": [0.1, 0.2]}
    metrics.reset()
    assert metrics.counters == {}
    assert metrics.histograms == {}
    # Constructor takes the two stores, in order, like the original.
    seeded = InMemoryMetrics({"x": 1.0}, {"y": [2.0]})
    assert (seeded.counters, seeded.histograms) == ({"x": 1.0}, {"y": [2.0]})


def test_metrics_collector_protocol_is_structural() -> None:
    collector: MetricsCollector = RecordingCollector()
    MetricsHook(collector)(make_event("start"))
    assert len(typ.cast(RecordingCollector, collector).calls) == 1


def test_in_memory_metrics_is_thread_safe() -> None:
    metrics = InMemoryMetrics()
    hook = MetricsHook(metrics)
    per_thread = 2000

    def worker() -> None:
        for _ in range(per_thread):
            hook(make_event("stdout", line="x"))
            hook(make_event("exit", exit_code=0, duration_s=0.001))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert metrics.counters["cuprum_stdout_lines_total"] == 8 * per_thread
    assert len(metrics.histograms["cuprum_duration_seconds"]) == 8 * per_thread


# ------------------------------------------------------------------ tracing


def test_tracing_hook_span_lifecycle() -> None:
    tracer = InMemoryTracer()
    hook: cabc.Callable[[typ.Any], object] = TracingHook(tracer)
    exec_id = uuid.uuid4()
    for event in lifecycle(exec_id=exec_id):
        assert hook(event) is None
    (span,) = tracer.spans
    assert span.name == "cuprum.exec echo"
    assert span.attributes == {
        "cuprum.program": "echo",
        "cuprum.argv": ["echo", "hi"],
        "cuprum.pid": 4242,
        "cuprum.exec_id": str(exec_id),
        "cuprum.project": "core-ops",
        "cuprum.exit_code": 0,
        "cuprum.duration_s": 0.25,
    }
    assert span.events == [("cuprum.stdout", {"line": "hi"}), ("cuprum.stderr", {"line": "warn"})]
    assert span.status_ok is True
    assert span.ended is True


def test_tracing_hook_failure_status_and_unknown_exit_code() -> None:
    tracer = InMemoryTracer()
    hook = tracing_hook(tracer)
    assert isinstance(hook, TracingHook)
    hook(make_event("start", pid=1))
    hook(make_event("exit", pid=1, exit_code=2))
    hook(make_event("start", pid=2))
    hook(make_event("exit", pid=2))
    failed, unknown = tracer.spans
    assert (failed.status_ok, failed.attributes["cuprum.exit_code"]) == (False, 2)
    assert unknown.status_ok is True
    assert "cuprum.exit_code" not in unknown.attributes
    assert "cuprum.duration_s" not in unknown.attributes
    assert failed.ended and unknown.ended


def test_tracing_hook_record_output_false() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer, record_output=False)
    for event in lifecycle():
        hook(event)
    assert tracer.spans[0].events == []
    assert tracer.spans[0].ended


def test_tracing_hook_output_line_none_has_empty_attributes() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    hook(make_event("start"))
    hook(make_event("stdout"))
    assert tracer.spans[0].events == [("cuprum.stdout", {})]


def test_tracing_hook_correlates_by_exec_id_when_pids_repeat() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    first, second = uuid.uuid4(), uuid.uuid4()
    # Two executions that (after pid reuse) report the same pid, interleaved.
    hook(make_event("start", pid=7, exec_id=first))
    hook(make_event("start", pid=7, exec_id=second))
    hook(make_event("stdout", pid=7, exec_id=second, line="two"))
    hook(make_event("stdout", pid=7, exec_id=first, line="one"))
    hook(make_event("exit", pid=7, exec_id=first, exit_code=0))
    hook(make_event("exit", pid=7, exec_id=second, exit_code=1))
    one, two = tracer.spans
    assert one.events == [("cuprum.stdout", {"line": "one"})]
    assert two.events == [("cuprum.stdout", {"line": "two"})]
    assert (one.status_ok, two.status_ok) == (True, False)


def test_tracing_hook_falls_back_to_pid() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    for event in lifecycle(exec_id=None, pid=99):
        hook(event)
    (span,) = tracer.spans
    assert "cuprum.exec_id" not in span.attributes
    assert span.ended and len(span.events) == 2


def test_tracing_hook_ignores_uncorrelatable_and_orphan_events() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    hook(make_event("start", pid=None))  # neither exec_id nor pid
    hook(make_event("stdout", pid=5, line="orphan"))  # no open span
    hook(make_event("exit", pid=5, exit_code=0))  # no open span
    hook(make_event("stdout", pid=None, line="x"))
    hook(make_event("exit", pid=None))
    assert tracer.spans == []


@pytest.mark.parametrize("phase", ["plan", "stdin", "stdin_error", "mystery"])
def test_tracing_hook_ignores_phases_without_span_meaning(phase: str) -> None:
    tracer = InMemoryTracer()
    TracingHook(tracer)(make_event(phase, byte_count=3))
    assert tracer.spans == []


def test_tracing_hook_copies_pipeline_tags_and_cwd() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    hook(
        make_event(
            "start",
            cwd=pathlib.Path("/srv"),
            tags={"project": "core-ops", "pipeline_stage_index": 1, "pipeline_stages": 3, "x": 1},
        )
    )
    attributes = tracer.spans[0].attributes
    assert attributes["cuprum.cwd"] == "/srv"
    assert attributes["cuprum.pipeline_stage_index"] == 1
    assert attributes["cuprum.pipeline_stages"] == 3
    assert "cuprum.x" not in attributes


def test_tracing_hook_without_project_tag() -> None:
    tracer = InMemoryTracer()
    TracingHook(tracer)(make_event("start", tags={}))
    assert "cuprum.project" not in tracer.spans[0].attributes


def test_tracing_hook_record_output_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        TracingHook(InMemoryTracer(), False)  # type: ignore[misc]
    with pytest.raises(TypeError):
        tracing_hook(InMemoryTracer(), False)  # type: ignore[misc]


def test_in_memory_span_and_tracer() -> None:
    tracer = InMemoryTracer()
    attributes = {"a": 1}
    span = tracer.start_span("s", attributes)
    attributes["a"] = 2  # the span keeps its own copy
    assert isinstance(span, InMemorySpan)
    assert span.attributes == {"a": 1}
    span.set_attribute("b", "x")
    event_attributes: dict[str, object] = {"k": "v"}
    span.add_event("e1", event_attributes)
    event_attributes["k"] = "changed"
    span.add_event("e2")
    span.set_status(ok=False)
    span.end()
    assert span == InMemorySpan(
        name="s",
        attributes={"a": 1, "b": "x"},
        events=[("e1", {"k": "v"}), ("e2", {})],
        status_ok=False,
        ended=True,
    )
    assert tracer.start_span("bare").attributes == {}
    assert len(tracer.spans) == 2
    tracer.reset()
    assert tracer.spans == []


def test_tracing_protocols_are_structural() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.log: list[str] = []

        def set_attribute(self, key: str, value: object) -> None:
            self.log.append(f"attr {key}")

        def add_event(self, name: str, attributes: cabc.Mapping[str, object] | None = None) -> None:
            self.log.append(f"event {name}")

        def set_status(self, *, ok: bool) -> None:
            self.log.append(f"ok {ok}")

        def end(self) -> None:
            self.log.append("end")

    class RecorderTracer:
        def __init__(self) -> None:
            self.span = Recorder()

        def start_span(self, name: str, attributes: cabc.Mapping[str, object] | None = None) -> Span:
            self.span.log.append(f"start {name} {sorted(attributes or {})}")
            return self.span

    backend: Tracer = RecorderTracer()
    hook = TracingHook(backend)
    for event in lifecycle():
        hook(event)
    assert typ.cast(RecorderTracer, backend).span.log == [
        "start cuprum.exec echo ['cuprum.argv', 'cuprum.pid', 'cuprum.program', 'cuprum.project']",
        "event cuprum.stdout",
        "event cuprum.stderr",
        "attr cuprum.exit_code",
        "attr cuprum.duration_s",
        "ok True",
        "end",
    ]


def test_tracing_hook_is_thread_safe() -> None:
    tracer = InMemoryTracer()
    hook = TracingHook(tracer)
    per_thread = 300

    def worker(worker_index: int) -> None:
        for n in range(per_thread):
            for event in lifecycle(exec_id=uuid.uuid4(), pid=worker_index * 10_000 + n):
                hook(event)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tracer.spans) == 8 * per_thread
    assert all(span.ended and len(span.events) == 2 for span in tracer.spans)


def test_hooks_under_concurrent_asyncio_tasks(caplog: pytest.LogCaptureFixture) -> None:
    """Interleaved executions in one event loop keep their spans apart."""
    caplog.set_level(logging.INFO, logger="cuprum.exec")
    tracer = InMemoryTracer()
    metrics = InMemoryMetrics()
    hooks: list[cabc.Callable[[typ.Any], object]] = [
        TracingHook(tracer),
        MetricsHook(metrics),
        structured_logging_hook(),
    ]

    async def execution(index: int) -> None:
        for event in lifecycle(exec_id=uuid.uuid4(), pid=1000 + index, exit_code=index % 2):
            for hook in hooks:
                assert hook(event) is None
            await asyncio.sleep(0)  # let the other executions interleave

    async def main() -> None:
        await asyncio.gather(*(execution(i) for i in range(50)))

    asyncio.run(main())
    assert len(tracer.spans) == 50
    for span in tracer.spans:
        assert span.ended
        assert span.events == [("cuprum.stdout", {"line": "hi"}), ("cuprum.stderr", {"line": "warn"})]
        expected_ok = span.attributes["cuprum.pid"] % 2 == 0  # type: ignore[operator]
        assert span.status_ok is expected_ok
    assert metrics.counters["cuprum_executions_total"] == 50
    assert metrics.counters["cuprum_failures_total"] == 25
    assert len([r for r in caplog.records if _field(r, "cuprum_phase") == "start"]) == 50
