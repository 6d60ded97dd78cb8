# SPDX-License-Identifier: ISC
"""Shared fixtures: a test catalogue, the child helper, leak checks, engines,
and ``run``, which runs a command through either driver.

Tests never write into the source tree and do not depend on the caller's
locale, umask or inherited descriptors: children are the programs in
``TEST_CATALOGUE`` (coreutils and this interpreter running ``child.py``),
and every test is checked for leaked descriptors and unreaped children.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import typing as typ
from pathlib import Path

import hypothesis.configuration
import pytest
from hypothesis import settings

sys.dont_write_bytecode = True
# Hypothesis keeps its example database and caches under the working
# directory, which may be the (read-only) source tree: use no database and
# a private scratch directory instead.
settings.register_profile("cuprum", database=None)
settings.load_profile("cuprum")
_SCRATCH = tempfile.mkdtemp(prefix="cuprum-tests-")
atexit.register(shutil.rmtree, _SCRATCH, True)
hypothesis.configuration.set_hypothesis_home_dir(_SCRATCH)
_HERE = Path(__file__).resolve().parent
_SRC = _HERE.parent
# Test the package found on sys.path (the build tree's, with the native
# extension, under `make check`); fall back to the source tree beside us.
if importlib.util.find_spec("cuprum") is None and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from cuprum import (  # noqa: E402
    ExecEvent,
    Pipeline,
    Program,
    ProgramCatalogue,
    ProjectSettings,
    RunOutputOptions,
    sh,
)

PYTHON = Program(sys.executable)
CHILD = str(_HERE / "child.py")
TOOLS = ("cat", "true", "false", "yes", "head", "sleep", "printf", "seq")
TEST_PROJECT = ProjectSettings(
    name="tests",
    programs=(PYTHON, *(Program(name) for name in TOOLS)),
    documentation_locations=(),
    noise_rules=(),
)
TEST_CATALOGUE = ProgramCatalogue(projects=(TEST_PROJECT,))


class CloseFailed(Exception):
    """What closing a :func:`failing_to_close` source raises."""


def failing_to_close(chunk: bytes) -> typ.Iterator[bytes]:
    """An endless generator of ``chunk`` whose closing (its ``finally``)
    raises ``CloseFailed("closing")``."""
    try:
        while True:
            yield chunk
    finally:
        raise CloseFailed("closing")


async def afailing_to_close(chunk: bytes, begun: list[bool] | None = None) -> typ.AsyncIterator[bytes]:
    """:func:`failing_to_close` as an async generator; it appends to
    ``begun``, when given, once it is first read."""
    if begun is not None:
        begun.append(True)
    try:
        while True:
            yield chunk
    finally:
        raise CloseFailed("closing")


def cmd(program: str, *args: object, **kwargs: object) -> sh.SafeCmd:
    """Build a command from the test catalogue."""
    return sh.make(Program(program), catalogue=TEST_CATALOGUE)(*args, **kwargs)


def child(*actions: object) -> sh.SafeCmd:
    """A command running ``child.py`` with the given actions."""
    return cmd(PYTHON, "-I", CHILD, *actions)


_PRODUCER = """
import os, sys
counter = os.open(sys.argv[1], os.O_WRONLY)
line = b"x" * (int(sys.argv[2]) - 1) + b"\\n"
chunk = line * (65536 // len(line))
total = int(sys.argv[3])
written = 0
while written < total:
    view = memoryview(chunk)
    while view:
        view = view[os.write(1, view):]
    written += len(chunk)
    os.pwrite(counter, b"%20d" % written, 0)
"""


class Producer:
    """A child writing lines of ``line_length`` bytes (newline included),
    64 KiB a write, up to :attr:`TOTAL` bytes, and recording in a file how
    many it has written: a test of backpressure reads where it stopped."""

    #: What the producer writes unless stopped by backpressure.
    TOTAL = 64 * 1024 * 1024

    def __init__(self, tmp_path: Path, line_length: int) -> None:
        self.counter = tmp_path / "written"
        self.counter.write_bytes(b"")
        self.command = cmd(
            PYTHON, "-I", "-c", _PRODUCER, str(self.counter), str(line_length), str(self.TOTAL)
        )

    def written(self) -> int:
        """Bytes written so far."""
        text = self.counter.read_bytes().strip()
        return int(text) if text else 0

    def settled(self) -> int:
        """Wait until the producer has stopped writing (blocked), return its count."""
        last, still = -1, 0
        for _ in range(200):
            now = self.written()
            still = still + 1 if now == last else 0
            if still >= 5 or now >= self.TOTAL:
                return now
            last = now
            time.sleep(0.05)
        return self.written()

    def held_count(self, mode: str) -> int:
        """Stream :attr:`command` without capture (``mode`` ``sync`` or
        ``async``), pull up to its first stdout line and, while holding it,
        return :meth:`settled`. The async stream reads on the loop while its
        consumer awaits, so the loop is left free until the count stops
        moving."""
        stream = self.command.stream(output=RunOutputOptions(capture=False))
        if mode == "sync":
            with stream as s:
                for event in s:
                    if event.phase == "stdout":
                        return self.settled()
            pytest.fail("the producer's stream ended without a stdout line")

        async def main() -> int:
            async with stream as s:
                async for event in s:
                    if event.phase == "stdout":
                        last = -1
                        for _ in range(200):
                            await asyncio.sleep(0.05)
                            now = self.written()
                            if now == last:
                                break
                            last = now
                        return self.settled()
            pytest.fail("the producer's stream ended without a stdout line")

        return asyncio.run(main())


class Endless:
    """An endless stdin source: ``chunks()`` yields ``chunk`` for ever and
    ``taken`` counts the chunks pulled from it."""

    def __init__(self, chunk: bytes) -> None:
        self.chunk = chunk
        self.taken = 0

    def chunks(self) -> typ.Iterator[bytes]:
        """The source, a generator (as a caller's would be)."""
        while True:
            self.taken += 1
            yield self.chunk


class AsyncPhases:
    """An async observe hook: it yields to the event loop, then records the
    event's phase in ``seen`` (so it shows whether it was awaited)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, event: ExecEvent) -> None:
        await asyncio.sleep(0)
        self.seen.append(event.phase)


def out_err_child(tmp_path: Path) -> tuple[sh.SafeCmd, Path]:
    """A child that writes "out" to stdout, then "err" to stderr, then
    wakes the reader of a FIFO and sleeps."""
    fifo = tmp_path / "written"
    os.mkfifo(fifo)
    return child("text", "out\n", "etext", "err\n", "fifo", str(fifo), "sleep", "30"), fifo


class Recorded:
    """An async observe hook whose awaitables record the phase of their
    event once awaited (after a loop turn), or ``closed`` when closed
    unawaited."""

    def __init__(self) -> None:
        self.finished: list[str] = []
        self.closed: list[str] = []

    def __call__(self, event: ExecEvent) -> typ.Any:
        return _Awaitable(self, event.phase)


class _Awaitable:
    """One awaitable of :class:`Recorded`."""

    def __init__(self, owner: Recorded, phase: str) -> None:
        self.owner = owner
        self.phase = phase

    def __await__(self) -> typ.Generator[typ.Any, None, None]:
        yield from asyncio.sleep(0).__await__()
        self.owner.finished.append(self.phase)

    def close(self) -> None:
        self.owner.closed.append(self.phase)


async def cancel_after(awaitable: typ.Awaitable[object], delay: float) -> None:
    """Run ``awaitable`` as a task, cancel it after ``delay`` seconds, and
    check that the cancellation reaches its awaiter (``CancelledError``)."""
    task = asyncio.ensure_future(awaitable)
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class Late(Exception):
    """Raised by an attempt of :func:`before_the_deadline` whose child was
    not ready when its run's deadline passed: the machine started it late."""


#: The deadlines :func:`before_the_deadline` gives its attempt, in turn.
DEADLINES = (2.0, 8.0, 30.0)

_T = typ.TypeVar("_T")


def before_the_deadline(
    attempt: typ.Callable[[float], _T], deadlines: typ.Sequence[float] = DEADLINES
) -> _T:
    """Return ``attempt(timeout)`` for the first of ``deadlines`` at which
    it does not raise :class:`Late`; fail the test if it still does at the
    last.

    For a test whose child must be ready (have written its output, started
    its grandchild, failed) before its run's deadline: no handshake can hold
    a deadline back, and a loaded machine may take seconds to start an
    interpreter. The attempt raises ``Late`` where its child's own evidence
    (a marker it leaves once ready) or the events say it was not ready in
    time, or, where nothing else can tell, where the output it expects is
    missing altogether (a run that loses it then fails at the last
    deadline). Whatever it asserts about the run holds at every deadline,
    so a short one keeps the test quick and a later one only spares a slow
    machine a false failure."""
    for timeout in deadlines[:-1]:
        try:
            return attempt(timeout)
        except Late:
            pass
    try:
        return attempt(deadlines[-1])
    except Late as exc:
        pytest.fail(f"the child was not ready before a {deadlines[-1]:g} s deadline: {exc}")


#: What the ``run`` fixture gives: call it as ``run_sync`` is called.
Runner = typ.Callable[..., typ.Any]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    """Run a command or pipeline through ``run_sync`` or ``await run()``."""

    def runner(target: sh.SafeCmd | Pipeline, **kwargs: typ.Any) -> typ.Any:
        if request.param == "sync":
            return target.run_sync(**kwargs)
        return asyncio.run(target.run(**kwargs))

    return runner


#: Variables an interpreter started by a test must inherit: a sanitized
#: libcuprum (CI's ASan run) needs the runtimes this one was started with.
_SANITIZER_VARS = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def interpreter_env(**extra: str) -> dict[str, str]:
    """A small, fixed environment for a Python interpreter a test starts:
    PATH, this interpreter's ``sys.path`` and the library path (so it finds
    the package under test), C locale, the sanitizer variables if set, and
    ``extra``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C.UTF-8",
    }
    for name in ("LD_LIBRARY_PATH", *_SANITIZER_VARS):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


def run_script(
    script: str, *args: str, timeout: float | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """Run ``script`` in a fresh interpreter (``python -c script args``)
    with :func:`interpreter_env` plus ``env``, no stdin and its output
    captured; fail the test, showing the child's stderr, unless it exits 0."""
    done = subprocess.run(  # noqa: S603 - this interpreter, an argv list
        [sys.executable, "-c", script, *args],
        env=interpreter_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done


#: Skips a test that measures peak RSS under ASan, where it means nothing.
measures_rss = pytest.mark.skipif(
    "asan" in os.environ.get("LD_PRELOAD", ""),
    reason="peak RSS means nothing under ASan (shadow memory, quarantine)",
)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists and is not a zombie (which a
    child of another process, such as a grandchild, may stay for a while)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        # Gone, or reaped while its stat file was being read (ESRCH).
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _zombie_pid() -> int | None:
    try:
        info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    return None if info is None else info.si_pid


@pytest.fixture(autouse=True)
def _no_leaks() -> typ.Iterator[None]:
    """Fail a test that leaks a descriptor or leaves a zombie child."""
    before = _open_fds()
    yield
    after = _open_fds()
    leaked = {fd: _describe(fd) for fd in after - before}
    leaked = {fd: what for fd, what in leaked.items() if what is not None}
    assert not leaked, f"descriptors leaked: {leaked}"
    zombie = _zombie_pid()
    if zombie is not None:
        os.waitpid(zombie, 0)
        pytest.fail(f"child {zombie} was left unreaped")


def _describe(fd: str) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None  # closed meanwhile: the listing's own descriptor


def _import_native() -> typ.Any:
    """``cuprum._native``, or None where it is not built. Only a missing
    module means "not built": one that exists but fails to load (or misses
    a module of its own) is an error, never a quiet skip."""
    try:
        return importlib.import_module("cuprum._native")
    except ModuleNotFoundError as exc:
        if exc.name != "cuprum._native":
            raise
        return None


#: The native extension, or None where it is not built.
NATIVE: typ.Any = _import_native()
#: Skips a test (or a module, as its ``pytestmark``) without the extension.
needs_native = pytest.mark.skipif(NATIVE is None, reason="cuprum._native is not built")


def _engines() -> list[str]:
    return ["python"] if NATIVE is None else ["python", "native"]


def load_engine(name: str) -> typ.Any:
    """Return the stream engine called ``name`` (``python`` or ``native``)."""
    if name == "python":
        from cuprum import _streams_pure

        return _streams_pure
    return importlib.import_module("cuprum._native")


#: Names of the stream engines available here, for explicit parametrisation
#: (hypothesis tests cannot use function-scoped fixtures).
ENGINE_NAMES = _engines()


@pytest.fixture(params=ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> typ.Any:
    """Each available stream engine in turn (pure, then native if built)."""
    return load_engine(request.param)


#: The backend ``make check`` selected (it runs the suite once per backend),
#: else every available one.
_SELECTED = os.environ.get("CUPRUM_STREAM_BACKEND", "")
BACKENDS = [_SELECTED] if _SELECTED in ENGINE_NAMES else ENGINE_NAMES


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test under the selected stream backend, or each available
    (a module takes it for every test with ``pytestmark``)."""
    monkeypatch.setenv("CUPRUM_STREAM_BACKEND", str(request.param))
    return str(request.param)


@pytest.fixture(autouse=True)
def _clean_backend_env(monkeypatch: pytest.MonkeyPatch) -> typ.Iterator[None]:
    """Re-select the backend for every test (tests may change the setting)."""
    from cuprum import _backend

    _backend._reset_for_testing()
    yield
    _backend._reset_for_testing()


@pytest.fixture(autouse=True)
def _exit_is_last(monkeypatch: pytest.MonkeyPatch) -> typ.Iterator[None]:
    """Fail a test in which a stage emitted an event after its ``exit``
    (``plan``, ``start``, ``stdin``, ``stdin_error`` or a second ``exit``;
    line events cannot follow it: ``exit`` waits for the output pipes)."""
    from cuprum._exec.observe import StageEvents

    emit = StageEvents.emit
    exited: set[object] = set()
    late: list[str] = []

    def checked(self: StageEvents, phase: str, **fields: typ.Any) -> None:
        if self.exec_id in exited:
            late.append(f"{phase} of {self.argv!r} after its exit")
        elif phase == "exit":
            exited.add(self.exec_id)
        emit(self, phase, **fields)

    monkeypatch.setattr(StageEvents, "emit", checked)
    yield
    assert not late, "events after a stage's exit: " + "; ".join(late)
