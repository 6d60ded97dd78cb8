# SPDX-License-Identifier: ISC
"""Drivers that turn readiness into calls on a :class:`~cuprum._exec.run.Run`.

``run_blocking`` serves ``run_sync``: a plain ``poll`` loop over the run's
pipes and pidfds, like ``subprocess.Popen.communicate``, with no event loop.
``run_in_loop`` serves ``await run()``: the same descriptors are registered
with the running asyncio loop (``add_reader`` / ``add_writer``), so no thread
is used. When a run is abandoned (an exception, a cancelled task) the driver
asks it to :meth:`~cuprum._exec.run.Run.abort` and keeps driving it until
every child is reaped: the one stop sequence, waiting on pidfds rather than
sleeping. Awaitables returned by observe hooks are awaited before either
returns, or raises an error of the run's (:func:`settles`); only then does
``run_sync`` need an event loop at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import os
import select
import threading
import time
import typing as typ

from cuprum._exec.run import Run

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._exec.plan import RunPlan
    from cuprum._results import CommandResult, PipelineResult


#: The longest single ``poll`` wait, in milliseconds (a day, as asyncio's
#: own cap): ``poll`` takes a C int, and a later wake-up (a huge timeout
#: or ``cancel_grace``) only means waking once more to find it not due.
_MAX_POLL_MS = 86_400_000


def poll_timeout_ms(wakeup: float | None) -> int | None:
    """Convert a monotonic wake-up time into a ``poll`` timeout."""
    if wakeup is None:
        return None
    return math.ceil(min(max(0.0, (wakeup - time.monotonic()) * 1000), _MAX_POLL_MS))


async def _gather(awaitables: list[typ.Any]) -> None:
    """Await every one of ``awaitables``, then raise the first error (in
    their order), if any, the others noted on it: one failing leaves none
    of the others running (or cancelled, under ``asyncio.run``) behind the
    run's return."""

    async def wait(awaitable: typ.Any) -> None:
        await awaitable

    results = await asyncio.gather(*(wait(a) for a in awaitables), return_exceptions=True)
    raise_first([result for result in results if isinstance(result, BaseException)], "by another hook's awaitable")


def raise_first(errors: list[BaseException], when: str) -> None:
    """Raise the first of ``errors``, if any, each other one noted on it
    (raised ``when``)."""
    if errors:
        note_all(errors[0], errors[1:], when)
        raise errors[0]


def note_all(exc: BaseException, others: cabc.Iterable[BaseException], when: str) -> None:
    """:func:`note_also` each of ``others`` on ``exc``."""
    for other in others:
        note_also(exc, other, when)


def note_also(exc: BaseException, other: BaseException, when: str) -> None:
    """Attach ``other``, raised ``when``, to ``exc``, which is raised
    instead of it: nothing is lost silently."""
    if other is not exc:
        exc.add_note(f"cuprum: also raised {when}: {other!r}")


def settles(cause: BaseException | None) -> bool:
    """Whether the hook awaitables of a run abandoned because of ``cause``
    are awaited (after the stop sequence): yes when the run failed with an
    ``Exception`` (a hook or stdin source raised, a spawn failed); no when
    it was abandoned from outside (``None``: a stream closed early; a
    cancellation, ``KeyboardInterrupt``, ``SystemExit``), when they are
    closed unawaited: running more of the caller's code would delay or
    defeat the cancellation or the interruption."""
    return isinstance(cause, Exception)


def close_awaitables(awaitables: list[typ.Any]) -> None:
    """Close never-awaited coroutines so they do not warn."""
    for awaitable in awaitables:
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()
    awaitables.clear()


def await_pending_blocking(pending: list[typ.Any]) -> None:
    """Await hook awaitables from synchronous code.

    Uses ``asyncio.run`` when no loop runs in this thread, else a helper
    thread (``run_sync`` or ``run_concurrent_sync`` called from inside a
    coroutine). The helper runs in a copy of the caller's context, so the
    caller's scope (allowlist, hooks, timeout, environment) holds there as
    it does here. An interruption of the wait (Ctrl-C: ``KeyboardInterrupt``
    in this thread) cancels the helper's work and waits for it to end (every
    run stopped and reaped) before it propagates. Under ``asyncio.run``
    (3.11+) the first Ctrl-C only cancels its main task, which cannot run
    while it waits here; a second one raises ``KeyboardInterrupt`` and
    stops the helper's work as above.
    """
    if not pending:
        return
    awaitables = list(pending)
    pending.clear()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_gather(awaitables))
        return
    _await_on_helper_thread(awaitables)


def _await_on_helper_thread(awaitables: list[typ.Any]) -> None:
    """:func:`await_pending_blocking` while a loop runs in this thread."""
    context = contextvars.copy_context()
    failure: list[BaseException] = []
    stop = threading.Event()
    running: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[None]]] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - asyncio.run runs main as a task
        running.append((asyncio.get_running_loop(), task))
        if stop.is_set():  # interrupted before the helper began
            close_awaitables(awaitables)
            return
        await _gather(awaitables)

    def run_main() -> None:
        asyncio.run(main())

    def target() -> None:
        try:
            context.run(run_main)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)
        finally:
            finished.set()

    # The wait is on an Event, not Thread.join: on CPython 3.11 a join
    # interrupted by KeyboardInterrupt marks the thread stopped while it
    # runs (bpo-45274's fix), and every later join returns at once.
    finished = threading.Event()
    thread = threading.Thread(target=target, name="cuprum-hooks")
    thread.start()
    try:
        finished.wait()
    except BaseException as exc:
        # ``stop`` is set before ``running`` is read and ``main`` appends to
        # ``running`` before it reads ``stop``: one of them sees the other.
        stop.set()
        for loop, task in running:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(task.cancel)
        finished.wait()
        thread.join()
        stopped = (error for error in failure if not isinstance(error, asyncio.CancelledError))
        note_all(exc, stopped, "while the interrupted awaitables stopped")
        raise
    thread.join()
    if failure:
        raise failure[0]


class Waker:
    """A pipe that another thread writes to so as to end the ``poll`` of
    the thread that drives a run (a sync stream closed from elsewhere).
    :meth:`wake` and :meth:`close` may be called from any thread: a lock
    keeps a write from reaching a descriptor number closed (and reused)
    meanwhile."""

    __slots__ = ("lock", "read_fd", "write_fd")

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.lock = threading.Lock()

    def wake(self) -> None:
        """Make :attr:`read_fd` readable (a no-op once closed)."""
        with self.lock:
            if self.write_fd >= 0:
                try:
                    os.write(self.write_fd, b"\0")
                except BlockingIOError:
                    pass  # full: readable already

    def drain(self) -> None:
        """Empty the pipe (the poll callback of :attr:`read_fd`)."""
        try:
            while os.read(self.read_fd, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Close both ends (the reader unwatched first); idempotent."""
        with self.lock:
            if self.write_fd >= 0:
                os.close(self.write_fd)
                os.close(self.read_fd)
                self.write_fd = self.read_fd = -1


class PollDriver:
    """Registers descriptors with one ``select.poll`` object."""

    __slots__ = ("callbacks", "poller")

    def __init__(self) -> None:
        self.poller = select.poll()
        self.callbacks: dict[int, cabc.Callable[[], None]] = {}

    def add_reader(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        self.callbacks[fd] = callback
        self.poller.register(fd, select.POLLIN)

    def add_writer(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        self.callbacks[fd] = callback
        self.poller.register(fd, select.POLLOUT)

    def remove(self, fd: int) -> None:
        if self.callbacks.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def drive(self, run: Run) -> None:
        """Call ``run`` back on readiness and on time until it is done."""
        callbacks = self.callbacks
        poll = self.poller.poll
        while not run.done:
            wakeup = run.next_wakeup()
            for fd, _events in poll(poll_timeout_ms(wakeup)):
                callback = callbacks.get(fd)
                if callback is not None:
                    callback()
            if wakeup is not None:
                run.tick()

    def step(self, run: Run) -> None:
        """Wait once for readiness or the run's next timed action (as one
        turn of :meth:`drive`) and call ``run`` back; the caller checks
        :attr:`Run.done <cuprum._exec.run.Run.done>` first."""
        wakeup = run.next_wakeup()
        for fd, _events in self.poller.poll(poll_timeout_ms(wakeup)):
            callback = self.callbacks.get(fd)
            if callback is not None:
                callback()
        if wakeup is not None:
            run.tick()

    def abandon(self, run: Run, cause: BaseException | None = None) -> None:
        """Stop an abandoned ``run`` (:meth:`Run.abort`, the one stop
        sequence) and drive it until every child is reaped; then await its
        hook awaitables if ``cause`` is an error of the run's, else close
        them (:func:`settles`). The errors raised meanwhile (closing the
        caller's stdin source) are noted on ``cause``, which the caller
        raises, as is an awaitable's error; without a cause the first is
        raised once the run is stopped, the others noted on it."""
        errors: list[BaseException] = []
        stopped = False
        try:
            try:
                run.abort()
            except Exception as exc:  # noqa: BLE001 - raised once the run is stopped
                errors.append(exc)
            while not run.done:
                try:
                    self.drive(run)
                except Exception as exc:  # noqa: BLE001 - as above
                    errors.append(exc)
            stopped = True
        finally:
            run.kill_now()
            if not (stopped and settles(cause)):
                close_awaitables(run.pending)
        if run.pending:
            assert cause is not None  # noqa: S101 - settles(cause)
            try:
                await_pending_blocking(run.pending)
            except Exception as exc:  # noqa: BLE001 - noted on cause
                note_also(cause, exc, "by a hook's awaitable")
        stopping(cause, errors)


def stopping(cause: BaseException | None, errors: list[BaseException]) -> None:
    """End an ``abandon``: note ``errors``, raised while stopping the run,
    on ``cause`` (which the caller raises), or raise the first of them
    without one (the others noted on it)."""
    when = "while stopping the run"
    if cause is None:
        raise_first(errors, when)
        return
    note_all(cause, errors, when)


def finish_blocking(run: Run) -> CommandResult | PipelineResult:
    """Build the result of a done ``run`` (after hooks included, or raise
    ``TimeoutExpired``), then await the hooks' awaitables (an error of
    theirs noted on the run's, if it raised)."""
    try:
        result = run.finish()
    except BaseException as exc:
        try:
            await_pending_blocking(run.pending)
        except Exception as other:  # noqa: BLE001 - noted on exc
            note_also(exc, other, "by a hook's awaitable")
        raise
    await_pending_blocking(run.pending)
    return result


def run_blocking(plan: RunPlan) -> CommandResult | PipelineResult:
    """Run ``plan`` to completion with a ``poll`` loop and return its result."""
    run = Run(plan)
    driver = PollDriver()
    try:
        run.start(driver)
        driver.drive(run)
    except BaseException as exc:
        driver.abandon(run, exc)
        raise
    return finish_blocking(run)


class LoopDriver:
    """Registers descriptors with the running asyncio loop.

    :meth:`drive` waits until the run is done, a callback raised, or
    :meth:`wake` was called (a stream with events to hand over). Readers may
    be paused (:meth:`pause_reading`), which is how a stream applies
    backpressure: unwatched pipes fill and their writers block.
    """

    __slots__ = (
        "done",
        "error",
        "loop",
        "paused",
        "readers",
        "run",
        "timer",
        "timer_when",
        "writers",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Run) -> None:
        self.loop = loop
        self.run = run
        self.done: asyncio.Future[None] = loop.create_future()
        #: What a callback raised, until a :meth:`drive` raises it: kept
        #: here, not in :attr:`done`, so that it also reaches a drive that
        #: starts after it was raised (a stream's consumer was busy).
        self.error: BaseException | None = None
        self.readers: dict[int, cabc.Callable[[], None]] = {}
        self.paused: set[int] = set()
        self.writers: set[int] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when: float | None = None

    def _wrap(self, callback: cabc.Callable[[], None]) -> cabc.Callable[[], None]:
        def ready() -> None:
            try:
                callback()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                self.fail(exc)
                return
            self.settle()

        return ready

    def add_reader(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        ready = self._wrap(callback)
        self.loop.add_reader(fd, ready)
        self.readers[fd] = ready

    def add_writer(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        self.loop.add_writer(fd, self._wrap(callback))
        self.writers.add(fd)

    def start_task(
        self,
        coro: cabc.Coroutine[typ.Any, typ.Any, typ.Any],
        on_done: cabc.Callable[[asyncio.Future[typ.Any]], None],
    ) -> asyncio.Future[typ.Any]:
        """Run ``coro`` on the loop (an async stdin source's next chunk);
        ``on_done(task)`` is then called like a readiness callback."""
        task = self.loop.create_task(coro)

        def done(finished: asyncio.Future[typ.Any]) -> None:
            self._wrap(lambda: on_done(finished))()

        task.add_done_callback(done)
        return task

    def remove(self, fd: int) -> None:
        if self.readers.pop(fd, None) is not None:
            if fd in self.paused:
                self.paused.discard(fd)
            else:
                self.loop.remove_reader(fd)
        elif fd in self.writers:
            self.writers.discard(fd)
            self.loop.remove_writer(fd)

    def pause_reading(self, fds: cabc.Iterable[int]) -> None:
        """Stop watching the readers ``fds`` until :meth:`resume_reading`."""
        for fd in fds:
            if fd in self.readers and fd not in self.paused:
                self.loop.remove_reader(fd)
                self.paused.add(fd)

    def resume_reading(self) -> None:
        """Watch every paused reader again."""
        for fd in self.paused:
            self.loop.add_reader(fd, self.readers[fd])
        self.paused.clear()

    def _on_timer(self) -> None:
        self.timer = None
        self.timer_when = None
        try:
            self.run.tick()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            self.fail(exc)
            return
        self.settle()

    def fail(self, exc: BaseException) -> None:
        """Keep ``exc`` (the first one; a later one is noted on it) for the
        awaiting or the next :meth:`drive` to raise, and wake it."""
        if self.error is None:
            self.error = exc
        else:
            note_also(self.error, exc, "by another callback of the run")
        self.wake()

    def wake(self) -> None:
        """Let the awaiting :meth:`drive` return."""
        if not self.done.done():
            self.done.set_result(None)

    def settle(self) -> None:
        """Wake the awaiting task once the run is done, else keep the timer
        in step (even while nobody awaits: a stream's consumer may be busy)."""
        if self.run.done:
            self.cancel_timer()
            self.wake()
            return
        wakeup = self.run.next_wakeup()
        if wakeup != self.timer_when:
            self.cancel_timer()
            if wakeup is not None:
                self.timer_when = wakeup
                self.timer = self.loop.call_at(wakeup, self._on_timer)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
            self.timer_when = None

    async def drive(self) -> None:
        """Wait until the run is done, a callback raised, or :meth:`wake`."""
        if self.done.done():
            # A fresh future for another drive (after an abort, or a wake).
            self.done = self.loop.create_future()
        if self.error is None:
            self.settle()
            await self.done
        error, self.error = self.error, None
        if error is not None:
            raise error

    async def abandon(self, cause: BaseException | None = None) -> None:
        """Stop an abandoned run (:meth:`Run.abort`, the one stop sequence)
        and drive it until every child is reaped and its stdin source
        closed; then await its hook awaitables if ``cause`` is an error of
        the run's, else close them (:func:`settles`). The first error
        raised meanwhile (closing the caller's stdin source), or one a
        callback raised before and no drive has raised yet, is raised
        then, or noted on ``cause`` (which the caller raises), as is an
        awaitable's error; the others are noted on the first."""
        self.cancel_timer()
        run = self.run
        errors: list[BaseException] = []
        kept, self.error = self.error, None
        if kept is not None and kept is not cause:
            errors.append(kept)
        stopped = False
        try:
            try:
                run.abort()
            except Exception as exc:  # noqa: BLE001 - raised once the run is stopped
                errors.append(exc)
            while not run.done:
                try:
                    await self.drive()
                except Exception as exc:  # noqa: BLE001 - as above
                    errors.append(exc)
            stopped = True
        finally:
            self.cancel_timer()
            run.kill_now()
            if not (stopped and settles(cause)):
                close_awaitables(run.pending)
        if run.pending:
            assert cause is not None  # noqa: S101 - settles(cause)
            try:
                await await_pending(run.pending)
            except Exception as exc:  # noqa: BLE001 - noted on cause
                note_also(cause, exc, "by a hook's awaitable")
        if self.error is not None:
            errors.append(self.error)
            self.error = None
        stopping(cause, errors)


async def await_pending(pending: list[typ.Any]) -> None:
    """Await the hook awaitables collected in ``pending``."""
    if pending:
        awaitables = list(pending)
        pending.clear()
        await _gather(awaitables)


async def finish_in_loop(run: Run) -> CommandResult | PipelineResult:
    """Build the result of a done ``run`` (after hooks included, or raise
    ``TimeoutExpired``), then await the hooks' awaitables (an error of
    theirs noted on the run's, if it raised)."""
    try:
        result = run.finish()
    except BaseException as exc:
        try:
            await await_pending(run.pending)
        except Exception as other:  # noqa: BLE001 - noted on exc
            note_also(exc, other, "by a hook's awaitable")
        raise
    await await_pending(run.pending)
    return result


async def run_in_loop(plan: RunPlan) -> CommandResult | PipelineResult:
    """Run ``plan`` on the running asyncio loop and return its result."""
    loop = asyncio.get_running_loop()
    run = Run(plan)
    driver = LoopDriver(loop, run)
    try:
        run.start(driver)
        await driver.drive()
    except BaseException as exc:
        await driver.abandon(exc)
        raise
    return await finish_in_loop(run)


__all__ = [
    "LoopDriver",
    "PollDriver",
    "Waker",
    "await_pending",
    "await_pending_blocking",
    "close_awaitables",
    "finish_blocking",
    "finish_in_loop",
    "note_all",
    "note_also",
    "poll_timeout_ms",
    "raise_first",
    "run_blocking",
    "run_in_loop",
]
