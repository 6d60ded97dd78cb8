# SPDX-License-Identifier: ISC
"""The public surface: names, defaults, catalogue, command building."""

from __future__ import annotations

import copy
import dataclasses as dc
import pickle
import types
import warnings
from pathlib import Path

import pytest

import cuprum
from cuprum import (
    CORE_OPS_PROJECT,
    DEFAULT_CATALOGUE,
    DEFAULT_PROJECTS,
    DOC_TOOL,
    DOCUMENTATION_PROJECT,
    ECHO,
    GIT,
    LS,
    PACKAGE_NAME,
    RSYNC,
    TAR,
    CommandResult,
    ExecutionContext,
    IOOptions,
    PipelineResult,
    Program,
    ProgramCatalogue,
    ProgramEntry,
    ProjectSettings,
    RunOutputOptions,
    SafeCmd,
    StdinInput,
    TimeoutExpired,
    UnknownProgramError,
    sh,
)
from cuprum.events import ExecEvent, new_exec_id

EXPECTED = set(
    """CORE_OPS_PROJECT DEFAULT_CATALOGUE DEFAULT_PROJECTS DOCUMENTATION_PROJECT DOC_TOOL
    ECHO GIT LS PACKAGE_NAME RSYNC TAR AfterHook AllowRegistration BeforeHook CommandResult
    ConcurrentConfig ConcurrentResult CuprumContext EnvRegistration ExecEvent ExecHook
    ExecutionContext ForbiddenProgramError HookRegistration IOOptions LoggingHookRegistration
    OutputLimitExceeded Pipeline PipelineResult Program ProgramCatalogue ProgramEntry ProjectSettings
    RunOutputOptions SafeCmd SafeCmdBuilder ScopeConfig StdinInput TimeoutExpired
    UnknownProgramError after allow before builders current_context env get_context
    is_rust_available logging_hook merge_env_overlays observe resolve_env run_concurrent
    run_concurrent_sync scoped sh is_native_available get_stream_backend""".split()
)


def test_all_names() -> None:
    assert set(cuprum.__all__) == EXPECTED
    for name in EXPECTED - {"builders"}:
        assert getattr(cuprum, name) is not None


def test_submodules_public_names() -> None:
    import cuprum.catalogue
    import cuprum.concurrent
    import cuprum.context
    import cuprum.events

    for module in (cuprum.catalogue, cuprum.sh, cuprum.context, cuprum.events, cuprum.concurrent):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_constants() -> None:
    assert PACKAGE_NAME == "cuprum"
    assert (CORE_OPS_PROJECT, DOCUMENTATION_PROJECT) == ("core-ops", "docs")
    assert (ECHO, GIT, LS, RSYNC, TAR, DOC_TOOL) == ("echo", "git", "ls", "rsync", "tar", "mdbook")
    assert [p.name for p in DEFAULT_PROJECTS] == ["core-ops", "docs"]
    assert DEFAULT_PROJECTS[0].programs == (ECHO, GIT, LS, RSYNC, TAR)
    assert DEFAULT_CATALOGUE.allowlist == {ECHO, GIT, LS, RSYNC, TAR, DOC_TOOL}
    assert cuprum.__version__ == "0.1.0"


def test_catalogue_lookup() -> None:
    entry = DEFAULT_CATALOGUE.lookup(ECHO)
    assert isinstance(entry, ProgramEntry) and entry.project_name == "core-ops"
    assert DEFAULT_CATALOGUE.project_for("mdbook").name == "docs"
    assert DEFAULT_CATALOGUE.is_allowed(LS) and not DEFAULT_CATALOGUE.is_allowed(Program("rm"))
    assert DEFAULT_PROJECTS[0].owns(GIT)
    settings = DEFAULT_CATALOGUE.visible_settings()
    assert set(settings) == {"core-ops", "docs"}
    with pytest.raises(TypeError):
        settings["x"] = DEFAULT_PROJECTS[0]  # type: ignore[index]
    with pytest.raises(UnknownProgramError, match="'rm' is not in the catalogue"):
        DEFAULT_CATALOGUE.lookup("rm")


def test_catalogue_rejects_duplicates() -> None:
    a = ProjectSettings("a", (Program("x"),), (), ())
    with pytest.raises(ValueError, match="Project 'a' registered more than once"):
        ProgramCatalogue(projects=[a, a])
    b = ProjectSettings("b", (Program("x"),), (), ())
    with pytest.raises(ValueError, match="Program 'x' already owned by 'a'"):
        ProgramCatalogue(projects=[a, b])


def test_make_builds_argv() -> None:
    echo = sh.make(ECHO)
    cmd = echo("hi", 3, Path("/tmp"), True, dry_run=1, long_option_name="v")
    assert isinstance(cmd, SafeCmd)
    assert cmd.program == "echo" and cmd.project.name == "core-ops"
    assert cmd.argv == ("hi", "3", "/tmp", "True", "--dry-run=1", "--long-option-name=v")
    assert cmd.argv_with_program == ("echo", *cmd.argv)
    assert sh.build_argv("a", b_c=2) == ("a", "--b-c=2")


def test_make_rejects_unknown_program() -> None:
    with pytest.raises(UnknownProgramError, match="rm"):
        sh.make(Program("rm"))


def test_safecmd_refuses_a_program_its_project_does_not_list() -> None:
    """Building a SafeCmd by hand, or replacing its program, cannot run a
    program no catalogue project lists; allow() does not change that."""
    core, docs = DEFAULT_PROJECTS
    refused = r"Program 'id' is not listed by project 'core-ops'"
    with pytest.raises(UnknownProgramError, match=refused):
        SafeCmd(Program("id"), ("-u",), core)
    with cuprum.allow(Program("id")), pytest.raises(UnknownProgramError, match=refused):
        SafeCmd(Program("id"), ("-u",), core)
    with pytest.raises(UnknownProgramError, match="'uname' is not listed by project 'core-ops'"):
        dc.replace(sh.make(ECHO)("x"), program=Program("uname"))
    with pytest.raises(UnknownProgramError, match="'echo' is not listed by project 'docs'"):
        SafeCmd(ECHO, (), docs)
    with pytest.raises(TypeError, match="SafeCmd.project must be a ProjectSettings, got str"):
        SafeCmd(ECHO, (), "core-ops")  # type: ignore[arg-type]
    own = ProjectSettings("mine", (Program("id"),), (), ())
    assert SafeCmd(Program("id"), ("-u",), own).argv_with_program == ("id", "-u")
    assert dc.replace(sh.make(ECHO)("x"), argv=("y",)).argv == ("y",)


def test_none_and_non_string_argv() -> None:
    with pytest.raises(TypeError, match="None is not a valid argv element"):
        sh.make(ECHO)(None)
    with pytest.raises(TypeError, match="None"):
        sh.make(ECHO)(flag=None)
    with pytest.raises(TypeError, match="must be str, got int"):
        SafeCmd(ECHO, ("a", 1), DEFAULT_PROJECTS[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be str, got NoneType"):
        SafeCmd(ECHO, (None,), DEFAULT_PROJECTS[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tuple of str"):
        SafeCmd(ECHO, "abc", DEFAULT_PROJECTS[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        sh.make(ECHO)("a\0b")
    assert SafeCmd(ECHO, ["a"], DEFAULT_PROJECTS[0]).argv == ("a",)  # type: ignore[arg-type]


def test_option_defaults() -> None:
    assert RunOutputOptions() == RunOutputOptions(capture=True, echo=False)
    ctx = ExecutionContext()
    assert (ctx.env, ctx.cwd, ctx.cancel_grace, ctx.timeout) == (None, None, 0.5, None)
    assert (ctx.stdout_sink, ctx.stderr_sink, ctx.encoding, ctx.errors, ctx.tags) == (
        None,
        None,
        "utf-8",
        "replace",
        None,
    )
    assert StdinInput() == StdinInput(text=None, data=None)
    with pytest.raises(ValueError, match="text and data"):
        StdinInput(text="a", data=b"a")
    with pytest.raises(TypeError, match="bytes"):
        StdinInput(data="a")  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning, match="IOOptions"):
        opts = IOOptions(echo=True)
    assert isinstance(opts, RunOutputOptions) and opts.capture


def test_results() -> None:
    ok = CommandResult(Program("a"), (), 0, 1, "o", "")
    bad = CommandResult(Program("b"), (), 2, 2, None, None)
    assert ok.ok and not bad.ok
    pr = PipelineResult((ok, bad), failure_index=1)
    assert pr.final is bad and pr.failure is bad and not pr.ok and pr.stdout is None
    assert PipelineResult((ok, ok)).failure is None
    with pytest.raises(dc.FrozenInstanceError):
        ok.exit_code = 3  # type: ignore[misc]
    err = TimeoutExpired(cmd=("a",), timeout=1.0, output="x", stderr="y")
    assert isinstance(err, TimeoutError) and err.stdout == "x" and "timed out after 1.0" in str(err)



def test_exec_event_pickles_and_copies() -> None:
    """An event survives pickle and deepcopy (multiprocessing logging, copies
    kept by a hook), its env and tags read-only again."""
    event = ExecEvent(
        "exit",
        ECHO,
        ("echo", "x"),
        Path("/tmp"),
        types.MappingProxyType({"A": "1"}),
        42,
        1.5,
        None,
        0,
        0.25,
        types.MappingProxyType({"project": "core-ops"}),
        exec_id=new_exec_id(),
    )
    for copied in (pickle.loads(pickle.dumps(event)), copy.deepcopy(event), copy.copy(event)):
        assert copied == event
        assert isinstance(copied.tags, types.MappingProxyType)
        assert isinstance(copied.env, types.MappingProxyType)
    bare = event._replace(env=None)
    assert pickle.loads(pickle.dumps(bare)) == bare
    assert dc.replace(event, pid=7).pid == 7

def test_builders_is_lazy_submodule() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = cuprum.builders
        except ImportError:
            pytest.skip("cuprum.builders not present yet")
    assert module.__name__ == "cuprum.builders"
    with pytest.raises(AttributeError):
        cuprum.no_such_name  # noqa: B018
