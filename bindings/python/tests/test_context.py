# SPDX-License-Identifier: ISC
"""Scopes, registrations, hooks, env overlays and execution events."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import child, cmd

from cuprum import (
    AllowRegistration,
    CommandResult,
    CuprumContext,
    EnvRegistration,
    ExecEvent,
    ExecutionContext,
    ForbiddenProgramError,
    HookRegistration,
    LoggingHookRegistration,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    ScopeConfig,
    SafeCmd,
    StdinInput,
    after,
    allow,
    before,
    current_context,
    env,
    get_context,
    logging_hook,
    merge_env_overlays,
    observe,
    resolve_env,
    run_concurrent_sync,
    scoped,
    sh,
)


def test_default_context_permits_everything() -> None:
    ctx = current_context()
    assert ctx is get_context() and isinstance(ctx, CuprumContext)
    assert ctx.allowlist == frozenset() and ctx.timeout is None and ctx.env_overlay is None
    ctx.check_allowed("anything")  # type: ignore[arg-type]


def test_nested_scopes_intersect() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({"cat", "true"}))) as outer:  # type: ignore[arg-type]
        assert outer.is_allowed("cat")  # type: ignore[arg-type]
        with scoped(ScopeConfig(allowlist=frozenset({"true", "yes"}))) as inner:  # type: ignore[arg-type]
            assert inner.allowlist == {"true"}
            with pytest.raises(ForbiddenProgramError):
                cmd("yes").run_sync()
        with scoped(ScopeConfig(allowlist=frozenset({"yes"}))) as empty:  # type: ignore[arg-type]
            assert empty.allowlist == frozenset()
            with pytest.raises(ForbiddenProgramError):
                inner.check_allowed("cat")  # type: ignore[arg-type]
                empty.check_allowed("cat")  # type: ignore[arg-type]
            with pytest.raises(ForbiddenProgramError):
                cmd("true").run_sync()
    assert current_context().allowlist == frozenset()


def test_a_scope_made_ahead_narrows_where_it_is_entered() -> None:
    """A scope object made outside any scope (a module-level policy) and
    entered inside another still only takes programs away."""
    only_yes = scoped(ScopeConfig(allowlist=frozenset({"yes"})))  # type: ignore[arg-type]
    with scoped(ScopeConfig(allowlist=frozenset({"true"}))):  # type: ignore[arg-type]
        with only_yes as ctx:
            assert ctx.allowlist == frozenset()
            with pytest.raises(ForbiddenProgramError):
                cmd("yes").run_sync()
            with pytest.raises(ForbiddenProgramError):
                cmd("true").run_sync()
        assert cmd("true").run_sync().ok
    with only_yes as ctx:
        assert ctx.allowlist == {"yes"}
    assert current_context().allowlist == frozenset()


def test_a_scope_entered_twice_restores_each_time() -> None:
    """The same scope object entered twice, nested or in turn: each exit
    restores what its entry found, and nothing stays narrowed."""
    only_true = scoped(ScopeConfig(allowlist=frozenset({"true"})))  # type: ignore[arg-type]
    with only_true:
        with only_true as inner:
            assert inner.allowlist == {"true"}
        assert current_context().allowlist == {"true"}
    assert current_context().allowlist == frozenset()
    assert cmd("cat").run_sync(stdin=StdinInput(data=b"x")).stdout == "x"  # not in the scope: allowed again
    with only_true:
        pass
    assert current_context().allowlist == frozenset()


def test_one_scope_object_entered_in_two_tasks() -> None:
    """A shared policy object entered by two tasks at once: each exit
    restores its own task's context, whichever leaves first."""
    policy = scoped(ScopeConfig(allowlist=frozenset({"true"})))  # type: ignore[arg-type]
    seen: list[tuple[str, frozenset[object]]] = []

    async def user(name: str, entered: asyncio.Event, leave: asyncio.Event) -> None:
        with policy:
            entered.set()
            await leave.wait()
        seen.append((name, current_context().allowlist))

    async def main() -> None:
        a_in, b_in, a_out, b_out = (asyncio.Event() for _ in range(4))
        a = asyncio.create_task(user("a", a_in, a_out))
        await a_in.wait()
        b = asyncio.create_task(user("b", b_in, b_out))
        await b_in.wait()
        a_out.set()
        await a
        b_out.set()
        await b

    asyncio.run(main())
    assert seen == [("a", frozenset()), ("b", frozenset())]


def test_a_string_is_not_a_collection_of_programs() -> None:
    """``"echo"`` where a collection of programs is wanted would be the set
    of its letters (or own every substring): refused, saying what to write."""
    with pytest.raises(TypeError, match=r"ScopeConfig.allowlist must be a collection.*frozenset\(\{'echo'\}\)"):
        ScopeConfig(allowlist="echo")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"ProjectSettings.programs must be a tuple.*\('echo',\)"):
        ProjectSettings("p", "echo", (), ())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ProjectSettings.noise_rules"):
        ProjectSettings("p", (), (), "x+")  # type: ignore[arg-type]


def test_project_settings_store_tuples(caplog: pytest.LogCaptureFixture) -> None:
    """Lists (any iterable) are stored as tuples: the settings, and so the
    commands made from them, stay hashable (logging_hook keys on the
    command), and changing the list later changes nothing."""
    programs = [Program("echo")]
    project = ProjectSettings("t", programs, [], iter(["^x"]))  # type: ignore[arg-type]
    assert (project.programs, project.documentation_locations, project.noise_rules) == (
        ("echo",),
        (),
        ("^x",),
    )
    programs.append(Program("id"))
    assert not project.owns(Program("id"))
    echo = sh.make(Program("echo"), catalogue=ProgramCatalogue(projects=(project,)))
    caplog.set_level(logging.INFO, logger="cuprum")
    with logging_hook():
        assert echo("x").run_sync().stdout == "x\n"
    assert any("cuprum.exit program=echo" in r.getMessage() for r in caplog.records)
    assert hash(project) == hash(ProjectSettings("t", (Program("echo"),), (), ("^x",)))
    with pytest.raises(TypeError, match="ProjectSettings.programs must be a tuple of str, got int"):
        ProjectSettings("t", 1, (), ())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ProjectSettings.noise_rules items must be str, got list"):
        ProjectSettings("t", (), (), [["x"]])  # type: ignore[arg-type]


def test_scoped_keyword_form_and_errors() -> None:
    with scoped(allowlist=frozenset({"true"})) as ctx:  # type: ignore[arg-type]
        assert ctx.allowlist == {"true"}
    with pytest.raises(TypeError):
        scoped(ScopeConfig(), timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        ScopeConfig(timeout=float("nan"))


def test_allow_registration() -> None:
    with scoped(ScopeConfig(allowlist=frozenset({"true"}))):  # type: ignore[arg-type]
        reg = allow("cat")  # type: ignore[arg-type]
        assert isinstance(reg, AllowRegistration)
        assert current_context().is_allowed("cat")  # type: ignore[arg-type]
        reg.detach()
        reg.detach()
        assert not current_context().is_allowed("cat")  # type: ignore[arg-type]


def test_before_fifo_after_lifo() -> None:
    order: list[str] = []
    results: list[CommandResult] = []
    with before(lambda c: order.append("b1")), before(lambda c: order.append("b2")):
        with after(lambda c, r: order.append("a1")):

            def after_a2(c: SafeCmd, r: CommandResult) -> None:
                order.append("a2")
                results.append(r)

            with after(after_a2):
                cmd("true").run_sync()
    assert order == ["b1", "b2", "a2", "a1"]
    assert results[0].ok


def test_scope_hooks_order() -> None:
    order: list[str] = []
    outer = ScopeConfig(
        before_hooks=(lambda c: order.append("ob"),), after_hooks=(lambda c, r: order.append("oa"),)
    )
    inner = ScopeConfig(
        before_hooks=(lambda c: order.append("ib"),), after_hooks=(lambda c, r: order.append("ia"),)
    )
    with scoped(outer), scoped(inner):
        cmd("true").run_sync()
    assert order == ["ob", "ib", "ia", "oa"]


def test_hook_registration_detach() -> None:
    calls: list[SafeCmd] = []
    reg = before(calls.append)
    assert isinstance(reg, HookRegistration)
    cmd("true").run_sync()
    reg.detach()
    cmd("true").run_sync()
    assert len(calls) == 1
    with pytest.raises(TypeError, match="callable"):
        before(42)  # type: ignore[arg-type]


def test_events_for_command() -> None:
    events: list[ExecEvent] = []
    ctx = ExecutionContext(tags={"job": "t"}, env={"CUPRUM_E": "1"}, cwd=Path("/"))
    with observe(events.append):
        child("text", "a\r\nb\n", "etext", "oops").run_sync(
            context=ctx, stdin=StdinInput(text="in")
        )
    phases = [e.phase for e in events]
    assert phases[0] == "plan" and phases[1] == "start" and phases[-1] == "exit"
    assert sorted(phases[2:-1]) == ["stderr", "stdin", "stdout", "stdout"]
    assert [e.line for e in events if e.phase == "stdout"] == ["a", "b"]
    assert [e.line for e in events if e.phase == "stderr"] == ["oops"]
    assert len({e.exec_id for e in events}) == 1 and isinstance(events[0].exec_id, uuid.UUID)
    plan, start, exit_ = events[0], events[1], events[-1]
    assert plan.pid is None and start.pid is not None and exit_.exit_code == 0
    assert exit_.duration_s is not None and exit_.duration_s >= 0
    assert plan.argv[0] == plan.program and plan.cwd == Path("/")
    assert dict(plan.env or {}) == {"CUPRUM_E": "1"}
    assert isinstance(plan.tags, MappingProxyType)
    assert dict(plan.tags) == {"project": "tests", "capture": True, "echo": False, "job": "t"}
    stdin = next(e for e in events if e.phase == "stdin")
    assert stdin.byte_count == 2


def test_stdin_error_event() -> None:
    events: list[ExecEvent] = []
    with observe(events.append):
        child("close-stdin", "sleep", "0.2").run_sync(stdin=StdinInput(data=b"x" * 10_000_000))
    err = [e for e in events if e.phase == "stdin_error"]
    assert err and err[0].operation == "write" and err[0].error_type == "BrokenPipeError"


def test_pipeline_events_have_stage_ids() -> None:
    events: list[ExecEvent] = []
    with observe(events.append):
        (child("text", "x\n") | cmd("cat")).run_sync()
    ids = {e.exec_id for e in events}
    assert len(ids) == 2
    stages = {e.tags["pipeline_stage_index"] for e in events}
    assert stages == {0, 1} and all(e.tags["pipeline_stages"] == 2 for e in events)
    assert [e.line for e in events if e.phase == "stdout"] == ["x"]
    assert [e.phase for e in events].count("exit") == 2


def test_many_line_events_order() -> None:
    lines: list[str] = []

    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            lines.append(event.line or "")

    with observe(hook), observe(lambda e: None):
        child("lines", "50000").run_sync()
    assert lines == [str(i) for i in range(50000)]


def test_env_registration() -> None:
    reg = env({"A-B": "1"}, C="2")
    assert isinstance(reg, EnvRegistration)
    assert dict(reg.overlay or {}) == {"A-B": "1", "C": "2"}
    with env(C="3"):
        assert dict(current_context().env_overlay or {}) == {"A-B": "1", "C": "3"}
    reg.detach()
    assert current_context().env_overlay is None
    with pytest.raises(TypeError, match="str"):
        env(X=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid"):
        env({"A=B": "1"})


def test_merge_and_resolve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert merge_env_overlays(None, None) is None
    merged = merge_env_overlays({"a": "1", "b": "1"}, {"b": "2"})
    assert dict(merged or {}) == {"a": "1", "b": "2"}
    assert isinstance(merged, MappingProxyType)
    monkeypatch.setenv("CUPRUM_R", "live")
    assert resolve_env(None, {}) is None
    resolved = resolve_env({"X": "1"}, {"X": "2"})
    assert resolved is not None and resolved["X"] == "2" and resolved["CUPRUM_R"] == "live"


def test_logging_hook(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cuprum")
    reg = logging_hook()
    assert isinstance(reg, LoggingHookRegistration)
    with reg:
        cmd("true").run_sync()
    cmd("true").run_sync()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("cuprum.start program=true")
    assert "cuprum.exit program=true" in messages[1] and "exit_code=0" in messages[1]


def test_logging_hook_times_equal_commands(caplog: pytest.LogCaptureFixture) -> None:
    """Equal commands (two equal pipeline stages, one command run twice at
    once) each get a duration: their start times are kept, not replaced."""
    caplog.set_level(logging.INFO, logger="cuprum")
    cat = cmd("cat")
    nap = child("sleep", "0.1")
    with logging_hook():
        (cat | cat).run_sync(stdin=StdinInput(data=b"x"))
        run_concurrent_sync(nap, nap)
    exits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cuprum.exit")]
    assert len(exits) == 4
    assert not [m for m in exits if "duration_s=unknown" in m], exits


def test_logging_hook_ignores_the_start_of_an_abandoned_run(caplog: pytest.LogCaptureFixture) -> None:
    """A run left early logs a start and no exit; a later run of an equal
    command is timed from its own start, not that one."""
    caplog.set_level(logging.INFO, logger="cuprum")
    nap = child("text", "x\n", "sleep", "0.2")
    with logging_hook():
        with nap.stream() as stream:
            next(event for event in stream if event.phase == "stdout")
        time.sleep(0.5)
        began = time.perf_counter()
        nap.run_sync()
        took = time.perf_counter() - began
    exits = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cuprum.exit")]
    assert len(exits) == 1
    duration = float(exits[0].split("duration_s=")[1].split()[0])
    assert duration <= took


def test_exec_event_is_immutable_and_dataclass_compatible() -> None:
    import dataclasses as dc

    event = ExecEvent("plan", "x", ("x",), None, None, None, 0.0, None, None, None, {})  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        event.phase = "exit"  # type: ignore[misc]
    assert dc.replace(event, line="l").line == "l"
    assert [f.name for f in dc.fields(event)][:3] == ["phase", "program", "argv"]
    assert event.note is None and event.exec_id is None


def test_crlf_split_across_pipe_reads_is_one_line() -> None:
    lines: list[str] = []

    def hook(event: ExecEvent) -> None:
        if event.phase == "stdout":
            lines.append(event.line or "")

    with observe(hook):
        child("out", "610d", "sleep", "0.2", "out", "0a62", "sleep", "0.2", "out", "0b0c63").run_sync()
    assert lines == ["a", "b\v\fc"]


def test_allow_in_default_context_creates_an_allowlist() -> None:
    with allow("true"):  # type: ignore[arg-type]
        assert cmd("true").run_sync().ok
        with pytest.raises(ForbiddenProgramError, match="'false'"):
            cmd("false").run_sync()
    assert not cmd("false").run_sync().ok
