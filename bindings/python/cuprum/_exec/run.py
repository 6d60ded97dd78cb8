# SPDX-License-Identifier: ISC
"""One execution of a command or pipeline, reacting to readiness.

A :class:`Run` follows a :class:`~cuprum._exec.plan.RunPlan`: it runs the
before hooks, starts the stages (:mod:`~cuprum._exec.spawn`), wires the
parent's pipe ends (:mod:`~cuprum._exec.channels`), reaps the children and
stops them when the run must end early (:mod:`~cuprum._exec.lifecycle`), and
builds the result. It never waits itself: a *driver*
(:mod:`~cuprum._exec.drivers`) calls it back when a descriptor is ready or
the time of :meth:`Run.next_wakeup` has come.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
import typing as typ

from cuprum._exec import stdin as _stdin
from cuprum._exec.channels import Channel, pending_bytes
from cuprum._exec.lifecycle import Lifecycle
from cuprum._exec.limits import raise_output_limit
from cuprum._exec.observe import StageEvents
from cuprum._exec.spawn import start_stage
from cuprum._exec.stdio import open_stdio
from cuprum._results import CommandResult, PipelineResult, TimeoutExpired

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.lifecycle import Child
    from cuprum._exec.plan import RunPlan
    from cuprum._exec.stdio import Stdio

#: After every child has exited in a stopped run, how long to wait for a
#: grandchild that still holds an output pipe before closing it.
_DRAIN_GRACE = 0.25
#: Once the grace has passed, how often to look again at a pipe that has
#: not yet been read up to what it held when the drain began.
_DRAIN_RECHECK = 0.01
_SIGPIPE = -int(signal.SIGPIPE)


class Driver(typ.Protocol):
    """What a :class:`Run` needs from the loop that drives it."""

    def add_reader(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is readable (or hung up)."""

    def add_writer(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        """Call ``callback`` whenever ``fd`` is writable (or broken)."""

    def remove(self, fd: int) -> None:
        """Stop watching ``fd``; called before it is closed."""

    # Drivers on an asyncio loop also offer ``start_task`` (see
    # ``stdin.TaskStarter``): an async ``StdinInput.chunks`` needs it.


class Run:
    """One execution of a plan, driven by a :class:`Driver`."""

    def __init__(self, plan: RunPlan) -> None:
        """Prepare (but do not start) the run of ``plan``."""
        count = len(plan.commands)
        self.plan = plan
        self.lifecycle = Lifecycle(plan.cancel_grace, group=plan.context.process_group)
        self.pending: list[typ.Any] = []
        self.events: list[StageEvents | None] = [None] * count
        self.open_channels = [0] * count
        self.captures: list[list[typ.Any]] = [[None, None] for _ in range(count)]
        self.finalised = [False] * count
        self.channels: dict[int, Channel] = {}
        self.stdin: _stdin.ChunkFeed | None = None
        self.stdin_watched = False
        #: The stdin feed once closed: an async one may still be closing
        #: its source (:attr:`~cuprum._exec.stdin.ChunkFeed.busy`).
        self.closed_stdin: _stdin.ChunkFeed | None = None
        self.stdio: Stdio | None = None
        self.held_fd = -1
        self.failure_index: int | None = None
        self.timed_out = False
        self.limit_exceeded = False
        self.abandoned = False
        self.deadline: float | None = None
        self.drain_until: float | None = None
        self.driver: Driver | None = None

    # -- start --------------------------------------------------------------

    def start(self, driver: Driver) -> None:
        """Run before hooks, start every stage and watch its descriptors."""
        self.driver = driver
        plan = self.plan
        _stdin.check_source(plan, driver)
        if plan.observe_hooks:
            count = len(plan.commands)
            for index, cmd in enumerate(plan.commands):
                tags: dict[str, object] = {
                    "project": cmd.project.name,
                    "capture": plan.capture,
                    "echo": plan.echo,
                }
                if plan.pipeline:
                    tags["pipeline_stage_index"] = index
                    tags["pipeline_stages"] = count
                if plan.context.tags:
                    tags.update(plan.context.tags)
                events = StageEvents(
                    cmd,
                    hooks=plan.observe_hooks,
                    pending=self.pending,
                    cwd=plan.cwd,
                    env=plan.event_env,
                    tags=tags,
                    batches=plan.line_batches,
                )
                self.events[index] = events
                events.emit("plan")
                for hook in plan.before_hooks:
                    hook(cmd)
        elif plan.before_hooks:
            for cmd in plan.commands:
                for hook in plan.before_hooks:
                    hook(cmd)
        if plan.timeout is not None:
            # Zero or less has already expired: the first tick stops the run.
            self.deadline = time.monotonic() + max(plan.timeout, 0.0)
        try:
            self._start_stages(driver)
        except BaseException:
            self.abort(grace=False)
            raise

    def _start_stages(self, driver: Driver) -> None:
        plan = self.plan
        read_output = plan.capture or plan.echo or bool(plan.observe_hooks)
        out_sink = err_sink = None
        if plan.echo:
            ctx = plan.context
            out_sink = ctx.stdout_sink if ctx.stdout_sink is not None else sys.stdout
            err_sink = ctx.stderr_sink if ctx.stderr_sink is not None else sys.stderr
        lifecycle = self.lifecycle
        # Every file a stage reads or writes instead of a pipe is opened
        # before the first stage starts, so a bad path starts nothing.
        stdio = self.stdio = open_stdio(plan)
        if stdio.stdin >= 0:
            self.held_fd = stdio.take_stdin()
        else:
            opened = _stdin.open_feed(plan, driver, self._resume_stdin)
            if opened is not None:
                self.held_fd, self.stdin = opened
        for index in range(len(plan.commands)):
            stdin, self.held_fd = (None if self.held_fd < 0 else self.held_fd), -1
            started = start_stage(
                plan,
                index,
                stdin,
                read_output=read_output,
                stdout_to=stdio.stdout[index],
                stderr_to=stdio.stderr[index],
                process_group=lifecycle.spawn_group(),
            )
            self.held_fd = started.next_stdin
            child = lifecycle.add(index, started.proc, started.pidfd)
            events = self.events[index]
            if events is not None:
                events.pid = child.pid
            if child.pidfd >= 0:
                driver.add_reader(child.pidfd, self._reaper(child))
            elif not lifecycle.use_pidfd:
                for other in lifecycle.children:
                    self._unwatch_pidfd(other)
            try:
                self._add_channels(driver, started.out_fd, started.err_fd, index, out_sink, err_sink)
            except BaseException:
                # A bad sink: abort() closes only the channels made.
                for unowned in (started.out_fd, started.err_fd):
                    if unowned >= 0 and unowned not in self.channels:
                        os.close(unowned)
                raise
            if events is not None:
                events.emit("start")
        stdio.close()
        if self.stdin is not None:
            if self.stdin.empty:
                self._close_stdin(error=None)
            else:
                # Written from a callback, so an exception from a chunks
                # source stops the run like one from a hook.
                self._watch_stdin(on=True)

    def _add_channels(
        self, driver: Driver, out_fd: int, err_fd: int, index: int, out_sink: typ.Any, err_sink: typ.Any
    ) -> None:
        """Read stage ``index``'s stdout and stderr pipes (-1: none)."""
        plan = self.plan
        events = self.events[index]
        kill = plan.output.on_overflow == "kill" and plan.output.max_bytes is not None
        for fd, phase, sink in ((out_fd, "stdout", out_sink), (err_fd, "stderr", err_sink)):
            if fd >= 0:
                channel = Channel(fd, index, plan, phase=phase, sink=sink, events=events)
                self.channels[fd] = channel
                self.open_channels[index] += 1
                self.captures[index][phase == "stderr"] = channel.capture
                if kill and channel.capture is not None:
                    channel.capture.on_exceeded = self._output_limit
                os.set_blocking(fd, False)
                driver.add_reader(fd, channel.reader(self._close_channel))

    # -- readiness callbacks -------------------------------------------------

    def _close_channel(self, channel: Channel) -> None:
        if self.channels.pop(channel.fd, None) is None:
            return
        assert self.driver is not None  # noqa: S101
        self.driver.remove(channel.fd)
        index = channel.index
        self.open_channels[index] -= 1
        try:
            channel.close()
        finally:
            self._maybe_finalise(index)

    def _on_writable(self) -> None:
        feed = self.stdin
        assert feed is not None  # noqa: S101
        state = feed.write()  # raises what a chunks source raises
        if state == _stdin.DONE:
            self._close_stdin(error=feed.error)
        else:
            self._watch_stdin(on=state == _stdin.MORE)

    def _watch_stdin(self, *, on: bool) -> None:
        feed = self.stdin
        if feed is None or on == self.stdin_watched:
            return
        assert self.driver is not None  # noqa: S101
        if on:
            self.driver.add_writer(feed.fd, self._on_writable)
        else:
            self.driver.remove(feed.fd)
        self.stdin_watched = on

    def _resume_stdin(self) -> None:
        """An async feed has finished: close it, or raise what its source raised."""
        if self.stdin is not None:
            self._on_writable()

    def _close_stdin(self, *, error: OSError | None) -> None:
        feed = self.stdin
        if feed is None:
            return
        self.stdin = None
        self.closed_stdin = feed
        if self.stdin_watched:
            assert self.driver is not None  # noqa: S101
            self.driver.remove(feed.fd)
            self.stdin_watched = False
        feed.close()  # raises what closing the caller's source raises
        events = self.events[0]
        if events is None or self.abandoned:
            return
        if error is None:
            events.emit("stdin", byte_count=feed.sent)
        else:
            events.emit(
                "stdin_error",
                byte_count=feed.sent,
                note=str(error),
                operation="write",
                error_type=type(error).__name__,
            )
        # The first stage's exit waits for its stdin event (see
        # ``_maybe_finalise``).
        self._maybe_finalise(0)

    def _reaper(self, child: Child) -> cabc.Callable[[], None]:
        def on_exit() -> None:
            if self.lifecycle.reap(child):
                self._unwatch_pidfd(child)
                self._exited(child)

        return on_exit

    def _unwatch_pidfd(self, child: Child) -> None:
        if child.pidfd >= 0:
            assert self.driver is not None  # noqa: S101
            self.driver.remove(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = -1

    def _exited(self, child: Child) -> None:
        returncode = child.returncode
        plan = self.plan
        if (
            returncode != 0
            and plan.pipeline
            and not self.abandoned
            and self.failure_index is None
            and not self.timed_out
            and not self.limit_exceeded
            and not (returncode == _SIGPIPE and child.index < len(plan.commands) - 1)
        ):
            # Fail fast whichever stage failed: stop every other stage.
            # The run ends for the failure: a deadline passing while the
            # others stop is no timeout (as for an output cap).
            self.failure_index = child.index
            self.deadline = None
            self.stop()
        if self.lifecycle.unreaped == 0 and self.lifecycle.stopping and self.channels:
            self._start_drain()
        if child.index == 0 and self.stdin is not None and self.stdin.orphaned():
            # Nobody reads the stdin pipe any more, and the feed awaits its
            # source: end it as a write to the broken pipe would.
            self._close_stdin(error=BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE)))
        self._maybe_finalise(child.index)

    def _maybe_finalise(self, index: int) -> None:
        """Emit stage ``index``'s ``exit``, its last event, once it is
        reaped, its output pipes are closed and, for the first stage, its
        stdin feed has ended (its ``stdin``/``stdin_error`` event emitted).
        The run is not done before the feed has ended either, so this
        delays no run: a child that exits without reading its stdin breaks
        the pipe, which ends the feed."""
        if self.finalised[index] or self.open_channels[index]:
            return
        if index == 0 and self.stdin is not None:
            return
        children = self.lifecycle.children
        if index >= len(children) or children[index].returncode is None:
            return
        self.finalised[index] = True
        events = self.events[index]
        if events is not None and not self.abandoned:
            child = children[index]
            events.emit("exit", exit_code=child.returncode, duration_s=child.end - child.start)

    @property
    def ended(self) -> bool:
        """True once every child is reaped and every descriptor closed."""
        return (
            self.lifecycle.unreaped == 0
            and not self.channels
            and self.stdin is None
            and not self.lifecycle.lingering()
        )

    @property
    def done(self) -> bool:
        """True once the run has :attr:`ended` and its stdin source is
        closed (an async one closes in a task of its own)."""
        feed = self.closed_stdin
        return self.ended and (feed is None or not feed.busy)

    # -- time -------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """Return the monotonic time of the next timed action, or ``None``."""
        wakeup = self.lifecycle.next_wakeup()
        for when in (self.deadline, self.drain_until):
            if when is not None and (wakeup is None or when < wakeup):
                wakeup = when
        return wakeup

    def tick(self) -> None:
        """Act on whatever time-based event is due."""
        now = time.monotonic()
        for child in self.lifecycle.tick(now):
            self._exited(child)
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            self.timed_out = True
            self.stop()
        if self.drain_until is not None and now >= self.drain_until:
            self.drain_until = None
            for channel in list(self.channels.values()):
                if channel.nread >= channel.drain_mark:
                    self._close_channel(channel)
            if self.channels:
                # Still to be read: what the children wrote (a stream's
                # consumer holds the events, the pipe is not read meanwhile).
                self.drain_until = now + _DRAIN_RECHECK

    # -- stopping -----------------------------------------------------------

    def _output_limit(self) -> None:
        """A capture passed ``max_bytes`` with ``on_overflow="kill"``."""
        if not self.limit_exceeded and not self.timed_out:
            self.limit_exceeded = True
            self.deadline = None  # the run ends for the cap, not a timeout
            self.stop()

    def stop(self, *, grace: float | None = None) -> None:
        """End the run early: stdin closed, then the lifecycle's stop
        sequence (SIGTERM, ``cancel_grace``, SIGKILL); output is still read
        until the children are gone."""
        first = not self.lifecycle.stopping
        if self.stdin is not None:
            self._close_stdin(error=BrokenPipeError("run stopped before all stdin was written"))
        self.lifecycle.stop(grace=grace)
        if first and self.lifecycle.unreaped == 0 and self.channels:
            self._start_drain()

    def _start_drain(self) -> None:
        """Every child is gone: read on for ``_DRAIN_GRACE`` seconds (a
        grandchild may hold the pipes open, and write, for ever), and until
        each pipe has been read up to what it held now, all the children
        wrote (however slowly a stream's consumer takes the events); then
        close them."""
        self.drain_until = time.monotonic() + _DRAIN_GRACE
        for channel in self.channels.values():
            channel.drain_mark = channel.nread + pending_bytes(channel.fd)

    def abort(self, *, grace: bool = True) -> None:
        """Abandon the run (an exception, a cancelled task, a failed spawn):
        stop reading, close every pipe, and stop the children with the same
        sequence as :meth:`stop` (without ``grace``: SIGKILL at once). The
        driver keeps calling back until :attr:`done`. A run already done
        signals nothing: its children are reaped, and whatever is left in
        its group (a daemon it started) outlives it as after a normal end.
        Raises what closing the caller's stdin source raised, once the
        children have been signalled."""
        finished = self.ended
        try:
            if not self.abandoned:
                self.abandoned = True
                driver = self.driver
                for channel in list(self.channels.values()):
                    if driver is not None:
                        driver.remove(channel.fd)
                    channel.abandon()
                self.channels.clear()
                if self.held_fd >= 0:
                    os.close(self.held_fd)
                    self.held_fd = -1
                if self.stdio is not None:
                    self.stdio.close()
                feed = self.stdin
                if feed is not None:
                    self.stdin = None
                    self.closed_stdin = feed
                    if self.stdin_watched and driver is not None:
                        driver.remove(feed.fd)
                    self.stdin_watched = False
                    feed.close()
        finally:
            if not finished:
                self.lifecycle.stop(grace=None if grace else 0.0)

    def kill_now(self) -> None:
        """Last resort when stopping was itself interrupted: abandon, SIGKILL
        and reap every child (blocking), close every descriptor; a no-op
        for a run already done."""
        finished = self.ended
        try:
            self.abort(grace=False)
        finally:
            if not finished:
                self.lifecycle.kill_now()
            for child in self.lifecycle.children:
                self._unwatch_pidfd(child)

    # -- results ------------------------------------------------------------

    def _decoded(
        self, capture: typ.Any, phase: str, index: int, undecodable: list[str], failed: list[BaseException]
    ) -> str | None:
        """The text of ``capture`` (``None`` without one, or when it does
        not decode). A decoding error (``errors="strict"``, or an
        encode-only handler) gets a note naming the stream and goes to
        ``failed``, to be raised once every stream is decoded; a later one,
        or any after a timeout or a ``kill`` cap (which are raised
        instead), is described in ``undecodable`` for the notes of what is
        raised."""
        if capture is None:
            return None
        try:
            return typ.cast("str", capture.finish())
        except (UnicodeError, TypeError) as exc:
            # TypeError: an encode-only handler (namereplace) met bad bytes;
            # UnicodeError: some codecs (idna, punycode) raise the base class.
            program = self.plan.commands[index].program
            what = f"the {phase} of stage {index} ({program})"
            if failed or self.timed_out or self.limit_exceeded:
                undecodable.append(f"cuprum: also raised while decoding {what}: {exc!r}")
            else:
                exc.add_note(f"cuprum: decoding {what} failed")
                failed.append(exc)
            return None

    def finish(self) -> CommandResult | PipelineResult:
        """Build the result (or raise ``TimeoutExpired``) once ``done``."""
        plan = self.plan
        results = []
        undecodable: list[str] = []
        failed: list[BaseException] = []
        for child, (out, err) in zip(self.lifecycle.children, self.captures, strict=True):
            cmd = plan.commands[child.index]
            assert child.returncode is not None  # noqa: S101
            results.append(
                CommandResult(
                    program=cmd.program,
                    argv=cmd.argv,
                    exit_code=child.returncode,
                    pid=child.pid,
                    stdout=self._decoded(out, "stdout", child.index, undecodable, failed),
                    stderr=self._decoded(err, "stderr", child.index, undecodable, failed),
                    truncated=getattr(out, "truncated", False) or getattr(err, "truncated", False),
                )
            )
        try:
            if failed:
                raise failed[0]
            self._raise_stop(results)
        except Exception as exc:
            for note in undecodable:
                exc.add_note(note)
            raise
        for cmd, result in zip(plan.commands, results, strict=True):
            for hook in plan.after_hooks:
                hook(cmd, result)
        if plan.pipeline:
            return PipelineResult(stages=tuple(results), failure_index=self.failure_index)
        return results[0]

    def _raise_stop(self, results: list[CommandResult]) -> None:
        """Raise ``TimeoutExpired`` after a timeout, the output limit's
        error after a ``kill`` cap; else nothing."""
        plan = self.plan
        if self.timed_out:
            assert plan.timeout is not None  # noqa: S101
            if plan.pipeline:
                what: object = tuple((c.program, *c.argv) for c in plan.commands)
                errs = [r.stderr for r in results if r.stderr is not None]
                stderr = "".join(errs) if plan.capture else None
            else:
                what = (plan.commands[0].program, *plan.commands[0].argv)
                stderr = results[0].stderr
            raise TimeoutExpired(
                cmd=what, timeout=plan.timeout, output=results[-1].stdout, stderr=stderr
            )
        if self.limit_exceeded:
            raise_output_limit(plan, results, self.failure_index)


__all__ = ["Driver", "Run"]
