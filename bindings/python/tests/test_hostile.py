# SPDX-License-Identifier: ISC
"""Hostile input, under the stream backend ``make check`` selected.

NUL characters, shell metacharacters, programs outside the allowlist,
encodings that are not text encodings, unknown error policies: each is
refused before anything is spawned with a message naming what was wrong,
or passed through literally. A 1 GiB line is handled in bounded memory with
capture off and under a cap (measured in a fresh interpreter).
"""

from __future__ import annotations

import asyncio
import json
import typing as typ
from pathlib import Path

import pytest
from conftest import PYTHON, child, cmd, measures_rss, run_script

from cuprum import (
    DEFAULT_PROJECTS,
    ConcurrentConfig,
    ExecEvent,
    ExecutionContext,
    ForbiddenProgramError,
    Pipeline,
    Program,
    RunOutputOptions,
    SafeCmd,
    ScopeConfig,
    env,
    observe,
    run_concurrent,
    run_concurrent_sync,
    scoped,
    sh,
)


class Events:
    """An observe hook keeping every event's phase."""

    def __init__(self) -> None:
        self.phases: list[str] = []

    def __call__(self, event: ExecEvent) -> None:
        self.phases.append(event.phase)


def _refused(run: typ.Callable[[], object], exc: type[BaseException], match: str) -> None:
    """``run()`` raises ``exc`` matching ``match`` and starts nothing."""
    events = Events()
    with observe(events), pytest.raises(exc, match=match):
        run()
    assert "start" not in events.phases, events.phases


# -- NUL characters ---------------------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 2])
def test_nul_in_argv_refused(position: int) -> None:
    argv = ["a", "b", "c"]
    argv[position] = "x\0y"
    with pytest.raises(ValueError, match=r"argv element 'x\\x00y' contains a NUL"):
        SafeCmd(Program("echo"), tuple(argv), DEFAULT_PROJECTS[0])


def test_nul_in_program_refused() -> None:
    with pytest.raises(ValueError, match="program 'ca\\\\x00t' contains a NUL"):
        SafeCmd(Program("ca\0t"), (), DEFAULT_PROJECTS[0])


def test_nul_in_builder_argument_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        cmd("cat", "x\0y")


@pytest.mark.parametrize(("args", "kwargs"), [(("x\0y",), {}), ((), {"k": "x\0y"}), ((), {"a\0b": "1"})])
def test_build_argv_refuses_nul_as_safecmd_does(args: tuple[str, ...], kwargs: dict[str, str]) -> None:
    """sh.build_argv applies SafeCmd's rules: a NUL in a keyword's name is
    refused too, not returned inside an argument."""
    with pytest.raises(ValueError, match=r"argv element '.*x00.*' contains a NUL character"):
        sh.build_argv(*args, **kwargs)


@pytest.mark.parametrize("where", ["key", "value"])
def test_nul_in_environment_refused(where: str) -> None:
    overlay = {"K\0EY": "v"} if where == "key" else {"KEY": "v\0w"}
    _refused(
        lambda: (child("exit", "0") | cmd("cat")).run_sync(context=ExecutionContext(env=overlay)),
        ValueError,
        "ExecutionContext.env has an invalid variable name or value",
    )

    def with_env() -> object:
        with env(overlay):
            return (child("exit", "0") | cmd("cat")).run_sync()

    _refused(with_env, ValueError, "env\\(\\) has an invalid variable name or value")


def test_nul_in_cwd_refused() -> None:
    _refused(lambda: cmd("true").run_sync(context=ExecutionContext(cwd="/tmp\0x")), ValueError, "contains a NUL")


# -- shell metacharacters are passed literally ------------------------------

_HOSTILE_ARGS = (
    "$(touch pwned1)",
    "`touch pwned2`",
    "; touch pwned3",
    "| touch pwned4",
    "&& touch pwned5",
    "> pwned6",
    "*",
    "~",
    "$HOME",
    "${PATH}",
    "'\"\\",
    "a\nb",
    "-",
    "--",
    "",
    " ",
    "\x1b[31m",
)


def test_shell_metacharacters_are_literal(tmp_path: Path) -> None:
    show = "import sys\nsys.stdout.write('\\0'.join(sys.argv[1:]))"
    command = cmd(PYTHON, "-I", "-c", show, *_HOSTILE_ARGS)
    ctx = ExecutionContext(cwd=tmp_path)
    result = (command | cmd("cat")).run_sync(context=ctx)
    assert result.ok
    assert result.stdout == "\0".join(_HOSTILE_ARGS)
    assert list(tmp_path.iterdir()) == []  # nothing was interpreted


# -- programs outside the allowlist -----------------------------------------

_TOUCH = "import sys\nopen(sys.argv[1], 'w').close()"


def _touch(path: Path) -> SafeCmd:
    return cmd(PYTHON, "-I", "-c", _TOUCH, str(path))


@pytest.mark.parametrize("position", [0, 1, 2])
def test_forbidden_stage_in_pipeline_starts_nothing(tmp_path: Path, position: int) -> None:
    marker = tmp_path / "ran"
    stages = [_touch(marker), _touch(marker), _touch(marker)]
    stages[position] = cmd("cat")  # the one program not allowed
    pipeline = Pipeline(tuple(stages))
    with scoped(ScopeConfig(allowlist=frozenset({PYTHON}))):
        _refused(pipeline.run_sync, ForbiddenProgramError, "cat")
        _refused(lambda: asyncio.run(pipeline.run()), ForbiddenProgramError, "cat")
        _refused(lambda: pipeline.stream(), ForbiddenProgramError, "cat")
    assert not marker.exists()


def _concurrent_with_cat(marker: Path, where: str) -> tuple[SafeCmd | Pipeline, ...]:
    """Commands for ``run_concurrent`` with a forbidden ``cat`` among them:
    a command of its own, or a middle stage of the last pipeline."""
    if where == "command":
        return (_touch(marker), _touch(marker), cmd("cat"), _touch(marker))
    return (_touch(marker), _touch(marker) | _touch(marker), _touch(marker) | cmd("cat") | _touch(marker))


@pytest.mark.parametrize("where", ["command", "pipeline stage"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_forbidden_program_in_concurrent_run_starts_nothing(
    tmp_path: Path, mode: str, where: str
) -> None:
    marker = tmp_path / "ran"
    commands = _concurrent_with_cat(marker, where)
    with scoped(ScopeConfig(allowlist=frozenset({PYTHON}))):
        if mode == "sync":
            _refused(lambda: run_concurrent_sync(*commands), ForbiddenProgramError, "cat")
        else:
            _refused(lambda: asyncio.run(run_concurrent(*commands)), ForbiddenProgramError, "cat")
    assert not marker.exists()


@pytest.mark.parametrize("item", ["str", "argv list", "function"])
def test_concurrent_run_refuses_what_is_not_a_command(tmp_path: Path, item: str) -> None:
    marker = tmp_path / "ran"
    other: object = {"str": "cat", "argv list": ["cat"], "function": lambda: "cat"}[item]
    args = typ.cast(tuple[SafeCmd, ...], (_touch(marker), other))
    _refused(
        lambda: run_concurrent_sync(*args, config=ConcurrentConfig()),
        TypeError,
        r"run_concurrent takes SafeCmd commands or Pipelines, got (str|list|function) at index 1",
    )
    assert not marker.exists()


# -- encodings and error policies -------------------------------------------


@pytest.mark.parametrize("encoding", ["no-such-codec", "hex", "rot13", "base64", "zlib"])
def test_encoding_that_is_not_a_text_encoding_refused(encoding: str) -> None:
    with pytest.raises(LookupError, match=rf"{encoding!r}.* in ExecutionContext.encoding"):
        ExecutionContext(encoding=encoding)


@pytest.mark.parametrize("errors", ["no-such-handler", ""])
def test_unknown_error_policy_refused(errors: str) -> None:
    with pytest.raises(LookupError, match="in ExecutionContext.errors"):
        ExecutionContext(errors=errors)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"max_bytes": -1}, ValueError, "non-negative"),
        ({"max_bytes": True}, TypeError, "must be an int"),
        ({"max_bytes": 1.5}, TypeError, "must be an int"),
        ({"max_bytes": 1, "on_overflow": "explode"}, ValueError, "on_overflow must be one of"),
    ],
)
def test_bad_output_options_refused(kwargs: dict[str, object], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        RunOutputOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "ascii", "latin-1"])
def test_invalid_bytes_replaced_or_refused(encoding: str) -> None:
    data = "ff fe 00 d8 c3 28 0a e2 82".replace(" ", "")
    lenient = child("out", data).run_sync(context=ExecutionContext(encoding=encoding))
    assert lenient.stdout == bytes.fromhex(data).decode(encoding, "replace")
    strict = ExecutionContext(encoding=encoding, errors="strict")
    if encoding == "latin-1":
        assert child("out", data).run_sync(context=strict).stdout == bytes.fromhex(data).decode("latin-1")
    else:
        with pytest.raises(UnicodeDecodeError):
            child("out", data).run_sync(context=strict)


# -- a 1 GiB line in bounded memory -----------------------------------------

_GIB = 1 << 30
_MIB = 1 << 20

_MEASURE = r"""
import json, resource, sys
from cuprum import (ExecutionContext, Program, ProgramCatalogue,
                    ProjectSettings, RunOutputOptions, observe, sh)
size, mode = int(sys.argv[1]), sys.argv[2]
head = Program("head")
cat = ProgramCatalogue(projects=(ProjectSettings("t", (head, Program("cat")), (), ()),))
command = sh.make(head, catalogue=cat)("-c", str(size), "/dev/zero")
command = command | sh.make(Program("cat"), catalogue=cat)()
lines = []
def hook(event):
    if event.phase == "stdout":
        lines.append(len(event.line))
if mode == "off":
    output = RunOutputOptions(capture=False)
else:
    output = RunOutputOptions(max_bytes=1 << 20, on_overflow=mode)
ctx = ExecutionContext(errors="strict")
command.run_sync(output=RunOutputOptions(capture=False))  # warm up
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
# Capture off and nothing observed: the bytes are read and dropped. (An
# observe hook without a cap gets whole lines, as documented.)
import contextlib
with observe(hook) if mode != "off" else contextlib.nullcontext():
    result = command.run_sync(output=output, context=ctx)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = result.stdout
print(json.dumps({"growth_kib": after - before, "ok": result.ok,
                  "kept": None if out is None else len(out),
                  "truncated": result.truncated, "lines": lines}))
"""


@measures_rss
@pytest.mark.parametrize("mode", ["off", "truncate", "tail"])
def test_gib_line_in_bounded_memory(mode: str) -> None:
    proc = run_script(_MEASURE, str(_GIB), mode, timeout=300)
    got = json.loads(proc.stdout)
    assert got["ok"] is True
    # Generous: a few MiB are expected; 1 GiB would be kept unbounded.
    assert got["growth_kib"] < 64 * 1024, got
    if mode == "off":
        assert got["kept"] is None
        assert got["lines"] == []
    else:
        assert got["kept"] == _MIB and got["truncated"] is True
        # The one line is delivered cut at the cap, with the marker.
        assert got["lines"] == [_MIB + len(" [cuprum: line cut]")], got["lines"][:3]
