# SPDX-License-Identifier: ISC
"""The execution core shared by ``run_sync`` and ``run``.

A :class:`Run` spawns one command or a pipeline and reacts to readiness of
the descriptors the parent owns: the capture pipes (last stage's stdout,
every stage's stderr), the stdin pipe, and one pidfd per child. It does not
wait on anything itself; a *driver* tells it when a descriptor is ready or
time has passed. :mod:`cuprum._drivers` has two: a blocking ``poll`` loop for
``run_sync`` (no event loop) and one that registers the same descriptors
with the running asyncio loop for ``run``.

Pipeline stages are connected by kernel pipes directly, so data between
stages never passes through Python. The parent closes its copies of those
pipes at once, which lets an early-exiting consumer deliver SIGPIPE/EPIPE
to its producer exactly as in a shell pipeline. Children are spawned with
``subprocess.Popen`` (vfork/posix_spawn, default signal dispositions).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
import typing as typ

from cuprum._observer import StageEvents
from cuprum._options import ExecutionContext
from cuprum._pipes import make_pipe
from cuprum._results import CommandResult, PipelineResult, TimeoutExpired
from cuprum._env import merge_env_overlays, resolve_env
from cuprum._scope import ACTIVE
from cuprum._validate import check_env, check_timeout
from cuprum.events import ExecEvent

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._engine import StreamEngine
    from cuprum._exec.command import Command
    from cuprum._options import RunOutputOptions

_DEFAULT_CONTEXT = ExecutionContext()
_MAX_READ = 1024 * 1024
_FIRST_READ = 64 * 1024
_STDIN_CHUNK = 1024 * 1024
#: After every child has exited in a stopped run, how long to wait for a
#: grandchild that still holds an output pipe before closing it.
_DRAIN_GRACE = 0.25
#: Poll intervals used only when pidfds are unavailable (kernels before
#: 5.3): start short so quick children are noticed quickly, back off to spare
#: the CPU while a child runs long.
_POLL_MIN = 0.001
_POLL_MAX = 0.05
_HAVE_PIDFD = hasattr(os, "pidfd_open")
_SIGPIPE = -int(signal.SIGPIPE)


def _observer_errors(errors: str) -> str:
    """Line events and echo must never end a run, so never decode strictly."""
    return "replace" if errors == "strict" else errors


class Driver(typ.Protocol):
    """What a :class:`Run` needs from the loop that drives it."""

    def add_reader(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is readable (or hung up)."""

    def add_writer(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is writable (or broken)."""

    def remove(self, fd: int) -> None:
        """Stop watching ``fd``; called before it is closed."""


class _Channel:
    """One output pipe the parent reads, with the sinks its chunks feed."""

    __slots__ = ("capture", "closers", "fd", "feeds", "size", "stage")

    def __init__(self, fd: int, stage: _Stage) -> None:
        self.fd = fd
        self.stage = stage
        self.feeds: list[cabc.Callable[[bytes], object]] = []
        self.closers: list[cabc.Callable[[], object]] = []
        self.capture: typ.Any = None
        self.size = _FIRST_READ


class _Stage:
    """Book-keeping for one child process."""

    __slots__ = (
        "argv",
        "channels",
        "cmd",
        "end",
        "events",
        "finalised",
        "index",
        "pid",
        "pidfd",
        "proc",
        "returncode",
        "start",
        "stderr_capture",
        "stdout_capture",
    )

    def __init__(self, index: int, cmd: Command) -> None:
        self.index = index
        self.cmd = cmd
        self.argv = (cmd.program, *cmd.argv)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = -1
        self.pidfd = -1
        self.returncode: int | None = None
        self.channels = 0
        self.start = 0.0
        self.end = 0.0
        self.finalised = False
        self.stdout_capture: typ.Any = None
        self.stderr_capture: typ.Any = None
        self.events: StageEvents | None = None


class Run:
    """One execution of a command or pipeline, driven by a :class:`Driver`.

    Everything that can be checked is checked in ``__init__``, before any
    process exists: allowlist, timeout, working directory, environment.
    """

    def __init__(
        self,
        cmds: tuple[Command, ...],
        *,
        output: RunOutputOptions,
        timeout: float | None,
        context: ExecutionContext | None,
        stdin_data: bytes | None,
        engine: StreamEngine,
        pipeline: bool,
    ) -> None:
        """Validate the request and prepare (but do not start) the run."""
        scope = ACTIVE.get(None)
        if scope is not None:
            for cmd in cmds:
                scope.check_allowed(cmd.program)
        ctx = _DEFAULT_CONTEXT if context is None else context
        if context is not None and not isinstance(context, ExecutionContext):
            msg = f"context must be an ExecutionContext, got {type(context).__name__}"
            raise TypeError(msg)
        timeout = check_timeout(timeout, "timeout")
        if timeout is None:
            timeout = ctx.timeout if ctx.timeout is not None or scope is None else scope.timeout
        self.timeout = timeout
        self.cwd: str | None = None
        if ctx.cwd is not None:
            cwd = os.fspath(ctx.cwd)
            if not os.path.isdir(cwd):
                kind = "is not a directory" if os.path.exists(cwd) else "does not exist"
                msg = f"working directory {cwd!r} {kind}"
                raise (NotADirectoryError if os.path.exists(cwd) else FileNotFoundError)(msg)
            self.cwd = cwd
        call_env = check_env(ctx.env, "ExecutionContext.env") if ctx.env else None
        overlay = None if scope is None else scope.env_overlay
        self.env = resolve_env(overlay, call_env)
        self.ctx = ctx
        self.engine = engine
        self.pipeline = pipeline
        self.capture = output.capture
        self.echo = output.echo
        self.stdin_data = stdin_data
        self.before_hooks = () if scope is None else scope.before_hooks
        self.after_hooks = () if scope is None else scope.after_hooks
        self.hooks = () if scope is None else scope.observe_hooks
        self.env_overlay = merge_env_overlays(overlay, call_env) if self.hooks else None
        self.pending: list[typ.Any] = []
        self.stages = [_Stage(i, cmd) for i, cmd in enumerate(cmds)]
        self.channels: dict[int, _Channel] = {}
        self.stdin_fd = -1
        self.stdin_view: memoryview | None = None
        self.stdin_sent = 0
        self.unreaped = len(cmds)
        self.failure_index: int | None = None
        self.timed_out = False
        self.terminating = False
        self.kill_at: float | None = None
        self.drain_until: float | None = None
        self.deadline: float | None = None
        self.driver: Driver | None = None
        self.use_pidfd = _HAVE_PIDFD
        self.poll_interval = _POLL_MIN

    # -- start --------------------------------------------------------------

    def start(self, driver: Driver) -> None:
        """Run before hooks, spawn every stage and register descriptors."""
        self.driver = driver
        observed = bool(self.hooks)
        count = len(self.stages)
        for stage in self.stages:
            if observed:
                tags: dict[str, object] = {
                    "project": stage.cmd.project.name,
                    "capture": self.capture,
                    "echo": self.echo,
                }
                if self.pipeline:
                    tags["pipeline_stage_index"] = stage.index
                    tags["pipeline_stages"] = count
                if self.ctx.tags:
                    tags.update(self.ctx.tags)
                stage.events = StageEvents(
                    stage.cmd,
                    hooks=self.hooks,
                    pending=self.pending,
                    cwd=self.cwd,
                    env=self.env_overlay,
                    tags=tags,
                )
                stage.events.emit("plan")
            for hook in self.before_hooks:
                hook(stage.cmd)
        # A timeout of zero or less has already expired: the first tick
        # after spawning stops the run. Infinity is no deadline at all.
        if self.timeout is not None and self.timeout != math.inf:
            self.deadline = time.monotonic() + max(self.timeout, 0.0)
        self._spawn_all()

    def _spawn_all(self) -> None:
        ctx = self.ctx
        encoding = ctx.encoding
        errors = ctx.errors
        soft_errors = _observer_errors(errors)
        engine = self.engine
        observed = bool(self.hooks)
        need_out = self.capture or self.echo or observed
        last = len(self.stages) - 1
        stdout_sink = stderr_sink = None
        if self.echo:
            import sys

            stdout_sink = ctx.stdout_sink if ctx.stdout_sink is not None else sys.stdout
            stderr_sink = ctx.stderr_sink if ctx.stderr_sink is not None else sys.stderr
        to_close: list[int] = []
        next_stdin: int | None = None
        try:
            if self.stdin_data is not None:
                next_stdin, self.stdin_fd = make_pipe(enlarge=False)
                to_close.append(next_stdin)
            for stage in self.stages:
                stdin_arg = next_stdin
                next_stdin = None
                out_fd = err_fd = -1
                if stage.index < last:
                    next_stdin, stdout_arg = make_pipe(enlarge=True)
                    to_close += (next_stdin, stdout_arg)
                elif need_out:
                    out_fd, stdout_arg = make_pipe(enlarge=True)
                    to_close += (out_fd, stdout_arg)
                else:
                    stdout_arg = subprocess.DEVNULL
                if need_out:
                    err_fd, stderr_arg = make_pipe(enlarge=False)
                    to_close += (err_fd, stderr_arg)
                else:
                    stderr_arg = subprocess.DEVNULL
                try:
                    proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
                        stage.argv,
                        stdin=stdin_arg,
                        stdout=stdout_arg,
                        stderr=stderr_arg,
                        cwd=self.cwd,
                        env=self.env,
                        close_fds=True,
                        restore_signals=True,
                    )
                except OSError as exc:
                    what = exc.strerror or str(exc)
                    msg = f"cannot execute program '{stage.cmd.program}': {what}"
                    raise OSError(exc.errno, msg, exc.filename) from exc
                stage.proc = proc
                stage.pid = proc.pid
                stage.start = time.monotonic()
                if stage.events is not None:
                    stage.events.pid = proc.pid
                # Close the child's ends now: an early-exiting consumer must
                # leave its producer with no reader, so it gets SIGPIPE.
                for fd in (stdin_arg, stdout_arg, stderr_arg):
                    if isinstance(fd, int) and fd >= 0:
                        to_close.remove(fd)
                        os.close(fd)
                if self.use_pidfd:
                    try:
                        stage.pidfd = os.pidfd_open(proc.pid)
                    except OSError:
                        self.use_pidfd = False
                for fd, phase, sink in ((out_fd, "stdout", stdout_sink), (err_fd, "stderr", stderr_sink)):
                    if fd >= 0:
                        self._add_channel(
                            fd,
                            stage,
                            phase,
                            capture=self.capture,
                            sink=sink,
                            encoding=encoding,
                            errors=errors,
                            soft_errors=soft_errors,
                            engine=engine,
                        )
                        to_close.remove(fd)
                if stage.events is not None:
                    stage.events.emit("start")
        except BaseException:
            for fd in to_close:
                os.close(fd)
            if self.stdin_fd >= 0:
                os.close(self.stdin_fd)
                self.stdin_fd = -1
            self.abort_blocking(grace=False)
            raise
        driver = self.driver
        assert driver is not None  # noqa: S101
        for stage in self.stages:
            if stage.pidfd >= 0:
                if self.use_pidfd:
                    driver.add_reader(stage.pidfd, self._make_reaper(stage))
                else:
                    os.close(stage.pidfd)
                    stage.pidfd = -1
        for channel in list(self.channels.values()):
            os.set_blocking(channel.fd, False)
            driver.add_reader(channel.fd, self._make_reader(channel))
        if self.stdin_fd >= 0:
            assert self.stdin_data is not None  # noqa: S101
            if self.stdin_data:
                os.set_blocking(self.stdin_fd, False)
                self.stdin_view = memoryview(self.stdin_data)
                driver.add_writer(self.stdin_fd, self._on_writable)
            else:
                self._close_stdin(error=None)

    def _add_channel(
        self,
        fd: int,
        stage: _Stage,
        phase: str,
        *,
        capture: bool,
        sink: typ.Any,
        encoding: str,
        errors: str,
        soft_errors: str,
        engine: StreamEngine,
    ) -> None:
        channel = _Channel(fd, stage)
        if capture:
            cap = engine.Capture(encoding, errors)
            channel.capture = cap
            channel.feeds.append(cap.feed)
            if phase == "stdout":
                stage.stdout_capture = cap
            else:
                stage.stderr_capture = cap
        if sink is not None:
            tee = engine.TextTee(sink, encoding, soft_errors)
            channel.feeds.append(tee.feed)
            channel.closers.append(tee.finish)
        if stage.events is not None:
            splitter = self._line_sink(engine, stage.events, phase, encoding, soft_errors)
            channel.feeds.append(splitter.feed)
            channel.closers.append(splitter.finish)
        self.channels[fd] = channel
        stage.channels += 1

    @staticmethod
    def _line_sink(
        engine: StreamEngine, events: StageEvents, phase: str, encoding: str, errors: str
    ) -> typ.Any:
        """A splitter delivering ``phase`` line events to the hooks.

        The engine builds the events itself (``LineEvents``), so a line costs
        no Python call of cuprum's own.
        """
        return engine.LineEvents(
            encoding, errors, ExecEvent, events.line_template(phase), events.hooks, events.pending
        )

    # -- readiness callbacks -------------------------------------------------

    def _make_reader(self, channel: _Channel) -> cabc.Callable[[], None]:
        fd = channel.fd
        feeds = channel.feeds
        read_from = getattr(channel.capture, "read_from", None)
        if len(feeds) == 1 and read_from is not None:
            # The capture is the only sink and can read for itself: the bytes
            # go straight from the pipe into its buffer, with no bytes object
            # or copy per chunk.
            fill: cabc.Callable[[int, int], int] = read_from

            def read_chunk(size: int) -> int:
                return fill(fd, size)
        else:

            def read_chunk(size: int) -> int:
                data = os.read(fd, size)
                if data:
                    for feed in feeds:
                        feed(data)
                return len(data)

        def on_readable() -> None:
            # Per chunk (up to _MAX_READ bytes), never per line: one reader
            # serves every combination of sinks.
            size = channel.size
            try:
                got = read_chunk(size)
            except BlockingIOError:
                return
            except OSError:
                got = 0
            if not got:
                self._close_channel(channel)
                return
            if got == size and size < _MAX_READ:
                channel.size = size * 2

        return on_readable

    def _close_channel(self, channel: _Channel) -> None:
        if self.channels.pop(channel.fd, None) is None:
            return
        assert self.driver is not None  # noqa: S101
        self.driver.remove(channel.fd)
        os.close(channel.fd)
        stage = channel.stage
        stage.channels -= 1
        try:
            for closer in channel.closers:
                closer()
        finally:
            self._maybe_finalise(stage)

    def _on_writable(self) -> None:
        view = self.stdin_view
        assert view is not None  # noqa: S101
        try:
            written = os.write(self.stdin_fd, view[self.stdin_sent : self.stdin_sent + _STDIN_CHUNK])
        except BlockingIOError:
            return
        except OSError as exc:
            self._close_stdin(error=exc)
            return
        self.stdin_sent += written
        if self.stdin_sent >= len(view):
            self._close_stdin(error=None)

    def _close_stdin(self, *, error: OSError | None) -> None:
        fd = self.stdin_fd
        if fd < 0:
            return
        self.stdin_fd = -1
        if self.stdin_view is not None:
            assert self.driver is not None  # noqa: S101
            self.driver.remove(fd)
            self.stdin_view.release()
            self.stdin_view = None
        os.close(fd)
        events = self.stages[0].events
        if events is not None:
            if error is None:
                events.emit("stdin", byte_count=self.stdin_sent)
            else:
                events.emit(
                    "stdin_error",
                    byte_count=self.stdin_sent,
                    note=str(error),
                    operation="write",
                    error_type=type(error).__name__,
                )

    def _make_reaper(self, stage: _Stage) -> cabc.Callable[[], None]:
        def on_exit() -> None:
            self._reap(stage)

        return on_exit

    def _reap(self, stage: _Stage) -> None:
        proc = stage.proc
        if proc is None or stage.returncode is not None:
            return
        returncode = proc.poll()
        if returncode is None:
            return
        stage.returncode = returncode
        stage.end = time.monotonic()
        self.unreaped -= 1
        if stage.pidfd >= 0:
            assert self.driver is not None  # noqa: S101
            self.driver.remove(stage.pidfd)
            os.close(stage.pidfd)
            stage.pidfd = -1
        if (
            returncode != 0
            and self.pipeline
            and self.failure_index is None
            and not self.timed_out
            and not (returncode == _SIGPIPE and stage.index < len(self.stages) - 1)
        ):
            # Fail fast whichever stage failed: stop every other stage.
            self.failure_index = stage.index
            self.terminate()
        if self.unreaped == 0 and self.terminating and self.channels:
            self.drain_until = time.monotonic() + _DRAIN_GRACE
        self._maybe_finalise(stage)

    def _maybe_finalise(self, stage: _Stage) -> None:
        if stage.finalised or stage.returncode is None or stage.channels:
            pass
        else:
            stage.finalised = True
            if stage.events is not None:
                stage.events.emit(
                    "exit",
                    exit_code=stage.returncode,
                    duration_s=stage.end - stage.start,
                )

    @property
    def done(self) -> bool:
        """True once every child is reaped and every descriptor closed."""
        return self.unreaped == 0 and not self.channels and self.stdin_fd < 0

    # -- time -------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """Return the monotonic time of the next timed action, or ``None``."""
        times = [t for t in (self.deadline, self.kill_at, self.drain_until) if t is not None]
        if not self.use_pidfd and self.unreaped:
            times.append(time.monotonic() + self.poll_interval)
        return min(times) if times else None

    def tick(self) -> None:
        """Act on whatever time-based event is due."""
        now = time.monotonic()
        if not self.use_pidfd and self.unreaped:
            before = self.unreaped
            for stage in self.stages:
                if stage.returncode is None:
                    self._reap(stage)
            if self.unreaped == before:
                self.poll_interval = min(self.poll_interval * 2, _POLL_MAX)
            else:
                self.poll_interval = _POLL_MIN
        if self.deadline is not None and now >= self.deadline and not self.timed_out:
            self.timed_out = True
            self.deadline = None
            self.terminate()
        if self.kill_at is not None and now >= self.kill_at:
            self.kill_at = None
            self._kill_all(signal.SIGKILL)
        if self.drain_until is not None and now >= self.drain_until:
            self.drain_until = None
            for channel in list(self.channels.values()):
                self._close_channel(channel)

    # -- stopping -----------------------------------------------------------

    def _kill_all(self, signum: int) -> None:
        for stage in self.stages:
            proc = stage.proc
            if proc is not None and stage.returncode is None and proc.returncode is None:
                try:
                    proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def terminate(self) -> None:
        """Stop every running stage: SIGTERM now, SIGKILL after the grace."""
        if self.terminating:
            return
        self.terminating = True
        if self.stdin_fd >= 0:
            self._close_stdin(error=BrokenPipeError("run stopped before all stdin was written"))
        grace = self.ctx.cancel_grace
        if grace <= 0:
            self._kill_all(signal.SIGKILL)
        else:
            self._kill_all(signal.SIGTERM)
            if grace != math.inf:
                self.kill_at = time.monotonic() + grace
        if self.unreaped == 0 and self.channels:
            self.drain_until = time.monotonic() + _DRAIN_GRACE

    def _release_all(self) -> None:
        """Unregister and close every descriptor still owned (exactly once)."""
        driver = self.driver
        for channel in list(self.channels.values()):
            self.channels.pop(channel.fd, None)
            if driver is not None:
                driver.remove(channel.fd)
            os.close(channel.fd)
        if self.stdin_fd >= 0:
            if driver is not None and self.stdin_view is not None:
                driver.remove(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1
        for stage in self.stages:
            if stage.pidfd >= 0:
                if driver is not None:
                    driver.remove(stage.pidfd)
                os.close(stage.pidfd)
                stage.pidfd = -1

    def abort_blocking(self, *, grace: bool = True) -> None:
        """Stop and reap every child and close every descriptor, blocking.

        Used when the run is abandoned (an exception, a hook error,
        KeyboardInterrupt): SIGTERM, up to ``cancel_grace`` seconds, SIGKILL.
        """
        try:
            self._release_all()
        finally:
            procs = [s.proc for s in self.stages if s.proc is not None and s.returncode is None]
            live = [p for p in procs if p.poll() is None]
            if live:
                limit = time.monotonic() + (self.ctx.cancel_grace if grace else 0.0)
                for proc in live:
                    try:
                        proc.send_signal(signal.SIGTERM if grace else signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                for proc in live:
                    remaining = limit - time.monotonic()
                    try:
                        proc.wait(timeout=max(remaining, 0))
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()

    # -- results ------------------------------------------------------------

    def finish(self) -> CommandResult | PipelineResult:
        """Build the result (or raise ``TimeoutExpired``) once ``done``."""
        results = []
        for stage in self.stages:
            out = stage.stdout_capture.finish() if stage.stdout_capture is not None else None
            err = stage.stderr_capture.finish() if stage.stderr_capture is not None else None
            assert stage.returncode is not None  # noqa: S101
            results.append(
                CommandResult(
                    program=stage.cmd.program,
                    argv=stage.cmd.argv,
                    exit_code=stage.returncode,
                    pid=stage.pid,
                    stdout=out,
                    stderr=err,
                )
            )
        if self.timed_out:
            assert self.timeout is not None  # noqa: S101
            if self.pipeline:
                cmd: object = tuple(stage.argv for stage in self.stages)
                errs = [r.stderr for r in results if r.stderr is not None]
                stderr = "".join(errs) if self.capture else None
            else:
                cmd = self.stages[0].argv
                stderr = results[0].stderr
            raise TimeoutExpired(
                cmd=cmd, timeout=self.timeout, output=results[-1].stdout, stderr=stderr
            )
        for stage, result in zip(self.stages, results, strict=True):
            for hook in self.after_hooks:
                hook(stage.cmd, result)
        if self.pipeline:
            return PipelineResult(stages=tuple(results), failure_index=self.failure_index)
        return results[0]


def poll_timeout_ms(wakeup: float | None) -> int | None:
    """Convert a monotonic wake-up time into a ``poll`` timeout."""
    if wakeup is None:
        return None
    return max(0, math.ceil((wakeup - time.monotonic()) * 1000))


__all__ = ["Driver", "Run", "poll_timeout_ms"]
