# SPDX-License-Identifier: ISC
"""Process-level faults, under the stream backend ``make check`` selected.

A child killed mid-stream, a child that closes stdout and keeps running, a
grandchild holding the pipes, a child ignoring SIGTERM, Ctrl-C during a
pipeline, cancellation at every phase of ``run`` and ``stream``, a failing
hook, a missing executable at every stage position, a parent whose standard
descriptors are closed, and a run after ``os.fork()``.

After each: no zombie and no leaked descriptor (conftest's ``_no_leaks``),
no process left running (every started pid is gone), and the events of each
command complete and in order. Synchronisation goes through the children's
output lines (an observe hook sees ``ready``), never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import threading
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import PYTHON, Late, alive, before_the_deadline, child, cmd, run_script

from cuprum import (
    ExecEvent,
    ExecutionContext,
    Pipeline,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    RunOutputOptions,
    SafeCmd,
    TimeoutExpired,
    after,
    observe,
    run_concurrent_sync,
    sh,
)
from cuprum._exec import channels

FAST = ExecutionContext(cancel_grace=0.2)
GROUP = ExecutionContext(cancel_grace=0.2, process_group=True)

#: Prints ``ready`` then writes to stdout without end, until killed.
_FLOOD = (
    "import os\nos.write(1, b'ready\\n')\nblock = b'x' * 65535 + b'\\n'\n"
    "while True:\n    os.write(1, block)\n"
)
#: Prints ``hi``, closes stdout, says so on stderr, creates the file
#: ``argv[2]`` if given (a marker: it has written), then runs on for
#: ``argv[1]`` seconds.
_CLOSE_STDOUT = (
    "import os, sys, time\nos.write(1, b'hi\\n')\nos.close(1)\n"
    "os.write(2, b'closed\\n')\n"
    "if sys.argv[2:]:\n    open(sys.argv[2], 'x').close()\n"
    "time.sleep(float(sys.argv[1]))\n"
)
#: Starts a grandchild that keeps stdout/stderr and sleeps ``argv[2]``
#: seconds, records its pid in ``argv[1]``, prints ``ready``, creates the
#: file ``argv[3]`` if given (a marker: it has written) and exits.
_ORPHAN = (
    "import os, subprocess, sys\n"
    "g = subprocess.Popen([sys.executable, '-I', '-c', "
    "'import sys, time; time.sleep(float(sys.argv[1]))', sys.argv[2]], "
    "stdin=subprocess.DEVNULL)\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "os.write(1, b'ready\\n')\n"
    "if sys.argv[3:]:\n    open(sys.argv[3], 'x').close()\n"
)


Action = typ.Callable[[ExecEvent], "typ.Awaitable[None] | None"]


class Recorder:
    """An observe hook keeping every event, with checks on them."""

    def __init__(self) -> None:
        self.events: list[ExecEvent] = []
        self.actions: dict[tuple[str, str | None], Action] = {}

    def __call__(self, event: ExecEvent) -> typ.Awaitable[None] | None:
        self.events.append(event)
        action = self.actions.get((event.phase, event.line))
        return None if action is None else action(event)

    def on(self, phase: str, line: str | None, action: Action) -> None:
        """Call ``action(event)`` when an event ``phase`` (and ``line``) arrives."""
        self.actions[(phase, line)] = action

    def pids(self) -> list[int]:
        return [e.pid for e in self.events if e.phase == "start" and e.pid is not None]

    def check(self, *, stages: int | None = None) -> None:
        """Each command's events in order; with ``stages``, that many
        commands, each started and exited (a complete run)."""
        runs: dict[object, list[str]] = {}
        for event in self.events:
            runs.setdefault(event.exec_id, []).append(event.phase)
        for phases in runs.values():
            assert phases[0] == "plan", phases
            assert phases.count("plan") == 1 and phases.count("start") <= 1, phases
            if "start" in phases:
                assert phases.index("start") == 1, phases
            else:
                assert phases == ["plan"], phases
            if "exit" in phases:
                assert phases.count("exit") == 1 and phases[-1] == "exit", phases
                assert "start" in phases, phases
        starts = [e for e in self.events if e.phase == "start"]
        indices = [e.tags.get("pipeline_stage_index") for e in starts]
        if None not in indices:
            assert indices == sorted(indices), indices  # type: ignore[type-var]
        if stages is not None:
            assert len(runs) == stages
            assert all("start" in p and "exit" in p for p in runs.values()), runs
        assert_gone(self.pids())


def assert_gone(pids: typ.Iterable[int]) -> None:
    """Every pid has exited. Our own children are reaped (conftest fails on
    a zombie); a grandchild killed by a group signal may take a moment to
    die, which bounds liveness and times nothing."""
    pending = list(pids)
    limit = time.monotonic() + 10
    while any(alive(p) for p in pending) and time.monotonic() < limit:
        time.sleep(0.01)
    left = [p for p in pending if alive(p)]
    assert not left, f"processes left running: {left}"


def _kill_later(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def flood() -> SafeCmd:
    return cmd(PYTHON, "-I", "-c", _FLOOD)


# -- a child killed mid-stream ---------------------------------------------


def _killing_recorder() -> Recorder:
    """Kills the first command started when ``ready`` is observed."""
    rec = Recorder()
    rec.on("stdout", "ready", lambda _e: os.kill(rec.pids()[0], signal.SIGKILL))
    return rec


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_child_killed_mid_stream(mode: str) -> None:
    rec = _killing_recorder()
    out = RunOutputOptions(capture=False)
    with observe(rec):
        if mode == "sync":
            result = flood().run_sync(output=out)
        elif mode == "async":
            result = asyncio.run(flood().run(output=out))
        else:
            with flood().stream(output=out) as s:
                for _ in s:
                    pass
            result = s.result
    assert result.exit_code == -signal.SIGKILL
    rec.check(stages=1)


def test_pipeline_stage_killed_mid_stream() -> None:
    rec = _killing_recorder()
    # The last stage's stdout lines are observed: kill the first stage when
    # its first line has crossed two pipes.
    pipeline = flood() | cmd("cat") | cmd("cat")
    with observe(rec):
        result = pipeline.run_sync(output=RunOutputOptions(capture=False), context=FAST)
    assert result.stages[0].exit_code == -signal.SIGKILL
    assert result.failure_index == 0
    # Fail-fast stops the later stages still running; those that had
    # already seen end of file exited 0 (a race this test leaves open).
    stop = {0, -signal.SIGTERM, -signal.SIGKILL, -signal.SIGPIPE}
    assert {s.exit_code for s in result.stages[1:]} <= stop
    rec.check(stages=3)


# -- a child that closes stdout and keeps running --------------------------


def test_child_closes_stdout_and_runs_on() -> None:
    rec = Recorder()
    with observe(rec):
        result = cmd(PYTHON, "-I", "-c", _CLOSE_STDOUT, "0.3").run_sync()
    # The run waits for the exit, not only for the end of stdout.
    assert (result.exit_code, result.stdout, result.stderr) == (0, "hi\n", "closed\n")
    rec.check(stages=1)


def test_child_closes_stdout_then_times_out(tmp_path: Path) -> None:
    def attempt(timeout: float) -> None:
        rec = Recorder()
        marker = tmp_path / f"wrote-{timeout:g}"
        command = cmd(PYTHON, "-I", "-c", _CLOSE_STDOUT, "60", str(marker))
        with observe(rec), pytest.raises(TimeoutExpired) as info:
            command.run_sync(timeout=timeout, context=FAST)
        rec.check()
        if not info.value.output and not marker.exists():
            raise Late("it had not written 'hi'")
        assert info.value.output == "hi\n"

    before_the_deadline(attempt)


# -- a grandchild that keeps the pipe open ---------------------------------


def test_grandchild_holding_the_pipe_is_waited_for(tmp_path: Path) -> None:
    rec = Recorder()
    pidfile = tmp_path / "grand"
    with observe(rec):
        result = cmd(PYTHON, "-I", "-c", _ORPHAN, str(pidfile), "0.3").run_sync()
    assert (result.exit_code, result.stdout) == (0, "ready\n")
    rec.check(stages=1)
    assert_gone([int(pidfile.read_text())])


@pytest.mark.parametrize("group", [False, True])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_grandchild_holding_the_pipe_under_timeout(tmp_path: Path, group: bool, mode: str) -> None:
    ctx = GROUP if group else FAST

    def attempt(timeout: float) -> None:
        rec = Recorder()
        pidfile = tmp_path / f"grand-{timeout:g}"
        marker = tmp_path / f"wrote-{timeout:g}"
        command = cmd(PYTHON, "-I", "-c", _ORPHAN, str(pidfile), "60", str(marker))
        try:
            with observe(rec), pytest.raises(TimeoutExpired) as info:
                if mode == "sync":
                    command.run_sync(timeout=timeout, context=ctx)
                else:
                    asyncio.run(command.run(timeout=timeout, context=ctx))
            rec.check()
            if not info.value.output and not marker.exists():
                raise Late("it had not written 'ready'")
            assert info.value.output == "ready\n"
            grand = int(pidfile.read_text())
            if group:
                assert_gone([grand])  # the group's SIGKILL reached it
            else:
                assert alive(grand)  # documented: out of reach without a group
        finally:
            if pidfile.exists() and pidfile.read_text():
                _kill_later(int(pidfile.read_text()))

    before_the_deadline(attempt)


# -- a child that ignores SIGTERM ------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async", "pipeline"])
def test_child_ignoring_sigterm_is_killed_at_timeout(mode: str) -> None:
    rec = Recorder()
    stubborn = child("ignore-term", "text", "ready\n", "sleep", "60")
    with observe(rec), pytest.raises(TimeoutExpired):
        if mode == "sync":
            stubborn.run_sync(timeout=1, context=FAST)
        elif mode == "async":
            asyncio.run(stubborn.run(timeout=1, context=FAST))
        else:
            (stubborn | cmd("cat") | child("ignore-term", "echo-stdin")).run_sync(
                timeout=1, context=FAST
            )
    rec.check()


# -- Ctrl-C during run_sync of a pipeline ----------------------------------


def _three_stages() -> Pipeline:
    return child("sleep", "60") | cmd("cat") | child("text", "ready\n", "echo-stdin")


@pytest.fixture
def default_sigint() -> typ.Iterator[None]:
    """Python's own SIGINT handler for the test, whatever the caller set.

    A shell starts background jobs with SIGINT ignored, and Python keeps an
    inherited SIG_IGN: without this, a suite run with ``&`` never sees the
    KeyboardInterrupt.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("default_sigint")
@pytest.mark.parametrize("group", [False, True])
def test_sigint_during_pipeline_run_sync(group: bool) -> None:
    rec = Recorder()
    ready = threading.Event()

    def interrupt() -> None:
        ready.wait()
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, asynchronously

    rec.on("stdout", "ready", lambda _e: ready.set())
    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        with observe(rec), pytest.raises(KeyboardInterrupt):
            _three_stages().run_sync(context=GROUP if group else FAST)
            # Not reached unless the signal arrived only after the run:
            # then the run must have been stopped by nothing, which fails.
            ready.set()
            thread.join()
            pytest.fail("SIGINT was not raised during the run")
    finally:
        ready.set()
        thread.join()
    assert len(rec.pids()) == 3
    rec.check()


@pytest.mark.usefixtures("default_sigint")
def test_sigint_stops_run_concurrent_sync_on_its_helper_thread() -> None:
    """run_concurrent_sync called from a coroutine runs on a helper thread
    while the caller's thread waits for it (as in a notebook). A Ctrl-C
    there stops every run, each child gone, before KeyboardInterrupt
    propagates, and leaves no helper thread running the runs."""
    rec = Recorder()
    ready = threading.Event()
    waiter = threading.get_ident()

    def interrupt() -> None:
        ready.wait()
        signal.pthread_kill(waiter, signal.SIGINT)  # a Ctrl-C, to the thread that waits

    rec.on("stdout", "ready", lambda _e: ready.set())

    async def caller() -> None:
        run_concurrent_sync(child("text", "ready\n", "sleep", "60"), child("sleep", "60"))
        pytest.fail("SIGINT was not raised during the runs")

    thread = threading.Thread(target=interrupt)
    thread.start()
    # Not asyncio.run: its own SIGINT handler would only cancel its task.
    loop = asyncio.new_event_loop()
    try:
        with observe(rec), pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(caller())
    finally:
        ready.set()
        thread.join()
        loop.close()
    assert [t.name for t in threading.enumerate() if t.name == "cuprum-hooks"] == []
    assert len(rec.pids()) == 2
    rec.check()


def test_keyboard_interrupt_from_a_hook_during_pipeline() -> None:
    rec = Recorder()

    def boom(_event: ExecEvent) -> None:
        raise KeyboardInterrupt

    rec.on("stdout", "ready", boom)
    with observe(rec), pytest.raises(KeyboardInterrupt):
        _three_stages().run_sync(context=FAST)
    assert len(rec.pids()) == 3
    rec.check()


# -- cancellation at every phase of run ------------------------------------


def _cancel_current(_event: ExecEvent) -> None:
    task = asyncio.current_task()
    assert task is not None
    task.cancel()


async def _expect_cancel(coro: typ.Awaitable[object], rec: Recorder, phase: str, line: str | None) -> None:
    task = asyncio.ensure_future(coro)
    hit = asyncio.Event()

    def cancel(_event: ExecEvent) -> None:
        hit.set()
        task.cancel()

    rec.on(phase, line, cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hit.is_set()


def test_cancel_before_spawn() -> None:
    rec = Recorder()

    async def main() -> None:
        task = asyncio.ensure_future(_three_stages().run(context=FAST))
        task.cancel()  # before the task ever ran
        with pytest.raises(asyncio.CancelledError):
            await task

    with observe(rec):
        asyncio.run(main())
    assert rec.events == []


@pytest.mark.parametrize("phase", ["plan", "start"])
def test_cancel_between_spawns(phase: str) -> None:
    rec = Recorder()
    with observe(rec):
        asyncio.run(_expect_cancel(_three_stages().run(context=FAST), rec, phase, None))
    rec.check()


@pytest.mark.parametrize("group", [False, True])
def test_cancel_while_running(group: bool) -> None:
    rec = Recorder()
    ctx = GROUP if group else FAST
    with observe(rec):
        asyncio.run(_expect_cancel(_three_stages().run(context=ctx), rec, "stdout", "ready"))
    assert len(rec.pids()) == 3
    rec.check()


def _wait_exited(pid: int) -> None:
    """Until ``pid`` is a zombie (exited, not yet reaped by cuprum)."""
    limit = time.monotonic() + 30
    while alive(pid) and time.monotonic() < limit:
        time.sleep(0.005)


@pytest.mark.parametrize("group", [False, True])
def test_cancel_while_draining(tmp_path: Path, group: bool) -> None:
    # The child has exited; a grandchild holds its pipes: the run is
    # draining output when it is cancelled.
    rec = Recorder()
    pidfile = tmp_path / "grand"
    command = cmd(PYTHON, "-I", "-c", _ORPHAN, str(pidfile), "60")
    ctx = GROUP if group else FAST

    async def main() -> None:
        task = asyncio.ensure_future(command.run(context=ctx))
        ready = asyncio.Event()
        rec.on("stdout", "ready", lambda _e: ready.set())
        await ready.wait()
        await asyncio.get_running_loop().run_in_executor(None, _wait_exited, rec.pids()[0])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        with observe(rec):
            asyncio.run(main())
        rec.check()
        grand = int(pidfile.read_text())
        if group:
            assert_gone([grand])
        else:
            assert alive(grand)  # documented: out of reach without a group
    finally:
        if pidfile.exists():
            _kill_later(int(pidfile.read_text()))


def test_cancel_during_after_hook() -> None:
    rec = Recorder()
    seen: list[int] = []

    def hook(_cmd: SafeCmd, result: object) -> None:
        seen.append(1)
        _cancel_current(typ.cast(ExecEvent, None))

    with observe(rec), after(hook):
        with pytest.raises(asyncio.CancelledError):
            asyncio.run(_three_stages_quick().run(context=FAST))
    assert seen
    rec.check(stages=3)


def test_cancel_while_awaiting_an_observe_hook() -> None:
    rec = Recorder()

    async def main() -> None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(_three_stages_quick().run(context=FAST))

        def hang(_event: ExecEvent) -> typ.Awaitable[None]:
            asyncio.get_running_loop().call_soon(task.cancel)
            return never

        rec.on("exit", None, hang)
        with pytest.raises(asyncio.CancelledError):
            await task

    with observe(rec):
        asyncio.run(main())
    rec.check()


def _three_stages_quick() -> Pipeline:
    return child("text", "a\n") | cmd("cat") | cmd("cat")


# -- cancellation and failures of stream -----------------------------------


def test_cancel_async_stream_while_pulling() -> None:
    rec = Recorder()

    async def consume() -> None:
        async with _three_stages().stream(context=FAST) as s:
            async for _event in s:
                pass

    with observe(rec):
        asyncio.run(_expect_cancel(consume(), rec, "stdout", "ready"))
    assert len(rec.pids()) == 3
    rec.check()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failing_hook_mid_stream(mode: str) -> None:
    rec = Recorder()

    def fail(_event: ExecEvent) -> None:
        raise RuntimeError("hook failed")

    rec.on("stdout", "ready", fail)
    pulled: list[str] = []
    with observe(rec), pytest.raises(RuntimeError, match="hook failed"):
        if mode == "sync":
            with _three_stages().stream(context=FAST) as s:
                pulled.extend(e.phase for e in s)
        else:

            async def consume() -> None:
                async with _three_stages().stream(context=FAST) as s:
                    async for e in s:
                        pulled.append(e.phase)

            asyncio.run(consume())
    assert pulled.count("start") == 3
    assert len(rec.pids()) == 3
    rec.check()


# -- a failing read of an output pipe --------------------------------------


class _FailingOs:
    """``os`` for the channels module, whose second read of a pipe fails."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, fd: int, size: int) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise OSError(errno.EIO, "injected read error")
        return os.read(fd, size)

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)


class _FailingCapture:
    """A capture whose second ``read_from`` fails, the rest its own."""

    def __init__(self, inner: typ.Any) -> None:
        self.inner = inner
        self.reads = 0

    def read_from(self, fd: int, size: int) -> int:
        self.reads += 1
        if self.reads > 1:
            raise OSError(errno.EIO, "injected read error")
        return int(self.inner.read_from(fd, size))

    def feed(self, data: bytes) -> None:
        self.inner.feed(data)

    def finish(self) -> str:
        return str(self.inner.finish())


#: Writes its pid to the file ``argv[1]``, then floods stdout as ``_FLOOD``.
_FLOOD_PID = "import os, sys\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n" + _FLOOD


@pytest.mark.parametrize(
    ("how", "mode"),
    # A stream's line events are a second sink: its capture never reads itself.
    [("read", "sync"), ("read", "async"), ("read", "stream"), ("read_from", "sync"), ("read_from", "async")],
)
def test_a_failing_read_stops_the_run_and_propagates(
    how: str, mode: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A read of the child's stdout fails mid-run: the error propagates,
    # naming the pipe, and the child is stopped and reaped. It used to be
    # taken for the end of the output: the run "succeeded" with the rest
    # of the output silently lost.
    failing_os = _FailingOs()
    made: list[_FailingCapture] = []
    if how == "read":
        monkeypatch.setattr(channels, "os", failing_os)
        out = RunOutputOptions(capture=False)  # the line events read with os.read
    else:
        make_capture = channels.make_capture

        def failing_capture(*args: typ.Any) -> _FailingCapture:
            made.append(_FailingCapture(make_capture(*args)))
            return made[-1]

        monkeypatch.setattr(channels, "make_capture", failing_capture)
        out = RunOutputOptions()  # the capture, the only sink, reads itself
    # Should the fault not be reached, the timeout ends the flood.
    context = ExecutionContext(cancel_grace=0.2, timeout=5)
    rec = Recorder()
    pid_file = tmp_path / "pid"
    flooding = cmd(PYTHON, "-I", "-c", _FLOOD_PID, str(pid_file))
    with contextlib.ExitStack() as stack, pytest.raises(OSError) as caught:
        if how == "read":
            # Its line events are a second sink: only without it does the
            # capture read for itself.
            stack.enter_context(observe(rec))
        if mode == "sync":
            flooding.run_sync(output=out, context=context)
        elif mode == "async":
            asyncio.run(flooding.run(output=out, context=context))
        else:
            with flooding.stream(output=out, context=context) as s:
                for _ in s:
                    pass
    assert caught.value.errno == errno.EIO
    assert failing_os.reads > 1 or any(capture.reads > 1 for capture in made)
    assert "cuprum: reading the stdout of stage 0" in "".join(getattr(caught.value, "__notes__", []))
    assert_gone([int(pid_file.read_text())])
    if how == "read":
        rec.check()


# -- missing executables at every stage position ---------------------------

_MISSING = Program("/nonexistent/cuprum-no-such-program")
_MISSING_CAT = ProgramCatalogue(
    projects=(ProjectSettings(name="missing", programs=(_MISSING,), documentation_locations=(), noise_rules=()),)
)


@pytest.mark.parametrize("position", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_missing_executable_at_each_stage(position: int, mode: str) -> None:
    rec = Recorder()
    stages: list[SafeCmd] = [child("sleep", "60"), cmd("cat"), cmd("cat"), cmd("cat")]
    stages[position] = sh.make(_MISSING, catalogue=_MISSING_CAT)()
    pipeline = Pipeline(tuple(stages))
    with observe(rec), pytest.raises(FileNotFoundError) as info:
        if mode == "sync":
            pipeline.run_sync(context=FAST)
        else:
            asyncio.run(pipeline.run(context=FAST))
    assert "cuprum-no-such-program" in str(info.value)
    # Stages before the missing one may have started; all are gone now.
    assert len(rec.pids()) <= position
    rec.check()


# -- a parent with its standard descriptors closed -------------------------

_CLOSED_STDIO = r"""
import json, os, sys
from cuprum import (Program, ProgramCatalogue, ProjectSettings, StdinInput,
                    sh)
out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.set_inheritable(out, False)
py = Program(sys.executable)
cat = ProgramCatalogue(projects=(ProjectSettings("t", (py, Program("cat")), (), ()),))
def run(code, **kw):
    return sh.make(py, catalogue=cat)("-I", "-c", code)
show = "import os, sys; sys.stdout.write(sys.stdin.read()); os.write(2, b'e')"
for fd in (0, 1, 2):
    os.close(fd)
before = sorted(os.listdir("/proc/self/fd"))
report = {}
r = run(show).run_sync(stdin=StdinInput(data=b"one"))
report["cmd"] = [r.exit_code, r.stdout, r.stderr]
p = (run(show) | sh.make(Program("cat"), catalogue=cat)() | run(show)).run_sync(
    stdin=StdinInput(text="two"))
report["pipe"] = [[s.exit_code, s.stdout, s.stderr] for s in p.stages]
kinds = ("import os, stat\ndef k(f):\n    try:\n        m = os.fstat(f).st_mode\n"
         "    except OSError:\n        return '-'\n    return 'p' if stat.S_ISFIFO(m) else 'o'\n"
         "os.write(1, ''.join(k(f) for f in range(8)).encode())")
r = run(kinds).run_sync()
report["child_fds"] = r.stdout
report["leak"] = sorted(os.listdir("/proc/self/fd")) != before
os.write(out, json.dumps(report).encode())
"""


def test_parent_with_standard_descriptors_closed(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    run_script(_CLOSED_STDIO, str(report), timeout=120)
    got = json.loads(report.read_text())
    assert got["cmd"] == [0, "one", "e"]
    assert got["pipe"] == [[0, None, "e"], [0, None, ""], [0, "two", "e"]]
    # Without stdin= the child inherits the parent's stdin, here closed; its
    # stdout and stderr are cuprum's pipes and nothing else leaked into it.
    assert got["child_fds"] == "-pp-----"
    assert got["leak"] is False


# -- a run after os.fork() -------------------------------------------------


def test_run_in_a_forked_child() -> None:
    assert cmd("true").run_sync().ok  # initialise the backend in the parent
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the forked child
        code = 1
        try:
            os.close(read_end)
            r1 = (child("text", "x\n") | cmd("cat")).run_sync()
            r2 = asyncio.run(child("text", "y\n").run())
            os.write(write_end, (r1.stdout or "").encode() + (r2.stdout or "").encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert data == b"x\ny\n"
    rec = Recorder()
    with observe(rec):
        assert cmd("true").run_sync().ok  # and the parent still runs
    rec.check(stages=1)
