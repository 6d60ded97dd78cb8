# SPDX-License-Identifier: ISC
"""Drivers that turn readiness into calls on a :class:`~cuprum._runner.Run`.

``run_blocking`` serves ``run_sync``: a plain ``poll`` loop over the run's
pipes and pidfds, like ``subprocess.Popen.communicate``, with no event loop.
``run_in_loop`` serves ``await run()``: the same descriptors are registered
with the running asyncio loop (``add_reader`` / ``add_writer``), so no thread
is used. Awaitables returned by observe hooks are awaited before either
returns; only then does ``run_sync`` need an event loop at all.
"""

from __future__ import annotations

import asyncio
import select
import threading
import time
import typing as typ

from cuprum._runner import Run, poll_timeout_ms

if typ.TYPE_CHECKING:
    import collections.abc as cabc

    from cuprum._results import CommandResult, PipelineResult


class _PollDriver:
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


async def _gather(awaitables: list[typ.Any]) -> None:
    async def wait(awaitable: typ.Any) -> None:
        await awaitable

    await asyncio.gather(*(wait(a) for a in awaitables))


def _close_awaitables(awaitables: list[typ.Any]) -> None:
    """Close never-awaited coroutines so they do not warn."""
    for awaitable in awaitables:
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()
    awaitables.clear()


def await_pending_blocking(pending: list[typ.Any]) -> None:
    """Await hook awaitables from synchronous code.

    Uses ``asyncio.run`` when no loop runs in this thread, else a helper
    thread (``run_sync`` called from inside a coroutine).
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
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(_gather(awaitables))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)

    thread = threading.Thread(target=target, name="cuprum-hooks")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def run_blocking(run: Run) -> CommandResult | PipelineResult:
    """Drive ``run`` to completion with a ``poll`` loop and return its result."""
    driver = _PollDriver()
    try:
        run.start(driver)
        callbacks = driver.callbacks
        poll = driver.poller.poll
        while not run.done:
            wakeup = run.next_wakeup()
            for fd, _events in poll(poll_timeout_ms(wakeup)):
                callback = callbacks.get(fd)
                if callback is not None:
                    callback()
            if wakeup is not None:
                run.tick()
    except BaseException:
        try:
            run.abort_blocking()
        finally:
            _close_awaitables(run.pending)
        raise
    try:
        result = run.finish()
    except BaseException:
        await_pending_blocking(run.pending)
        raise
    await_pending_blocking(run.pending)
    return result


class _LoopDriver:
    """Registers descriptors with the running asyncio loop."""

    __slots__ = ("done", "loop", "readers", "run", "timer", "timer_when", "writers")

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Run) -> None:
        self.loop = loop
        self.run = run
        self.done: asyncio.Future[None] = loop.create_future()
        self.readers: set[int] = set()
        self.writers: set[int] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_when: float | None = None

    def _wrap(self, callback: cabc.Callable[[], None]) -> cabc.Callable[[], None]:
        def ready() -> None:
            try:
                callback()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                if not self.done.done():
                    self.done.set_exception(exc)
                return
            self.settle()

        return ready

    def add_reader(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        self.loop.add_reader(fd, self._wrap(callback))
        self.readers.add(fd)

    def add_writer(self, fd: int, callback: cabc.Callable[[], None]) -> None:
        self.loop.add_writer(fd, self._wrap(callback))
        self.writers.add(fd)

    def remove(self, fd: int) -> None:
        if fd in self.readers:
            self.readers.discard(fd)
            self.loop.remove_reader(fd)
        elif fd in self.writers:
            self.writers.discard(fd)
            self.loop.remove_writer(fd)

    def _on_timer(self) -> None:
        self.timer = None
        self.timer_when = None
        try:
            self.run.tick()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            if not self.done.done():
                self.done.set_exception(exc)
            return
        self.settle()

    def settle(self) -> None:
        """Resolve the future when done, else keep the timer in step."""
        if self.done.done():
            return
        if self.run.done:
            self.cancel_timer()
            self.done.set_result(None)
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


async def _abort_in_loop(run: Run) -> None:
    """SIGTERM, wait up to ``cancel_grace`` without blocking, then SIGKILL."""
    try:
        run._release_all()  # noqa: SLF001 - the driver owns the run's teardown
        live = [s.proc for s in run.stages if s.proc is not None and s.proc.poll() is None]
        for proc in live:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
        limit = time.monotonic() + run.ctx.cancel_grace
        while live and time.monotonic() < limit:
            await asyncio.sleep(0.005)
            live = [p for p in live if p.poll() is None]
    finally:
        run.abort_blocking(grace=False)


async def _await_pending(pending: list[typ.Any]) -> None:
    if pending:
        awaitables = list(pending)
        pending.clear()
        await _gather(awaitables)


async def run_in_loop(run: Run) -> CommandResult | PipelineResult:
    """Drive ``run`` on the running asyncio loop and return its result."""
    loop = asyncio.get_running_loop()
    driver = _LoopDriver(loop, run)
    try:
        run.start(driver)
        driver.settle()
        await driver.done
    except BaseException:
        driver.cancel_timer()
        try:
            await _abort_in_loop(run)
        finally:
            _close_awaitables(run.pending)
        raise
    try:
        result = run.finish()
    except BaseException:
        await _await_pending(run.pending)
        raise
    await _await_pending(run.pending)
    return result


__all__ = ["await_pending_blocking", "run_blocking", "run_in_loop"]
