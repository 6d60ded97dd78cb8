# SPDX-License-Identifier: ISC
"""Pull-based streaming of a run's events: ``cmd.stream()``.

An :class:`EventStream` observes its own run: the plan gets one more
observer, after the scope's observe hooks (:func:`~cuprum._exec.plan.with_observer`),
that appends to the stream's queue each event but the line events, and the
line events of each read as one :class:`~cuprum._engine.EventBatch`: the
lines, whose events the engine builds only when the consumer pulls them (a
queued line costs a list slot, not an event tuple that lives until it is
pulled, and the engine can refill the event the consumer has just let go).
So the stream yields exactly what an observe hook receives, in order. The
run is driven by the consumer's pulls, and only reads the child's pipes
while the queue is (nearly) empty; otherwise the pipes are not watched,
they fill, and the child blocks in ``write``:

- **sync** (``with``/``for``): no thread and no event loop. When the queue
  is empty, ``next()`` turns the run's ``poll`` loop once
  (:meth:`~cuprum._exec.drivers.PollDriver.step`) in the caller's thread;
  between pulls nothing reads. The events of a batch reach the consumer
  through C iterators (``itertools.chain`` over the queued batches), with
  no bytecode of cuprum's per event.
- **async** (``async with``/``async for``): the run's descriptors are
  registered with the running loop, which reads while the consumer works
  until the queue holds :data:`QUEUE_BOUND` events (batches count their
  lines), then pauses the output pipes until the consumer has taken them.
  An engine's ``AsyncEvents`` (native) hands over an event already queued
  with an awaitable that completes at once; an async generator step (a
  ``StopIteration`` per event) is taken only to wait for the next batch.

Either way at most one read per pipe (:data:`READ_SIZE`) of events is held
beyond that. Leaving early (``close``/``aclose``, the end of a ``with`` block, the
stream being garbage-collected) abandons the run through the drivers'
``abandon``: :meth:`~cuprum._exec.run.Run.abort`, the lifecycle's one stop
sequence, every child reaped, every descriptor closed; the batch being
consumed is cleared, so a later pull ends the iteration.

A sync stream may be closed from another thread than the one iterating
it. The thread that drives the run (a pull stepping it, or a close) holds
the session's lock; a close sets ``closing``, wakes the run's ``poll``
through a :class:`~cuprum._exec.drivers.Waker` pipe and waits for the lock.
A pull that sees ``closing`` stops the run itself, in the iterating thread
(which also closes a stdin generator there); a close that gets the lock
first, the consumer holding an event, stops it in the closing thread. The
consumer's iteration then ends as after any close.

The iterator objects never refer to the :class:`EventStream`, and the run's
state lives in a :class:`_Session` that refers to neither, so dropping the
last reference to a stream (or to the iterator taken from it) stops the run
at once on CPython, without waiting for the cycle collector.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import typing as typ

from cuprum._exec.drivers import LoopDriver, PollDriver, Waker, finish_blocking, finish_in_loop
from cuprum._exec.plan import with_observer
from cuprum._exec.run import Run
from cuprum._results import CommandResult, PipelineResult

if typ.TYPE_CHECKING:
    import collections.abc as cabc
    import types

    from cuprum._engine import EventBatch
    from cuprum._exec.plan import RunPlan
    from cuprum.events import ExecEvent

#: Events an async stream queues (the lines of its batches included) before
#: it stops reading the output pipes.
QUEUE_BOUND = 1024
#: The largest read from an output pipe: it bounds the events one read
#: makes, which a stream holds until they are pulled (and keeps them in
#: the CPU's caches, which makes a stream as fast as an observe hook).
READ_SIZE = 64 * 1024

R = typ.TypeVar("R", CommandResult, PipelineResult)

_NEW, _RUNNING, _DONE, _FAILED, _CLOSED = range(5)
#: Abandon tasks of async streams collected while running: the loop keeps
#: only weak references to tasks.
_ABANDONING: set[asyncio.Task[None]] = set()


class _Queue:
    """What a run hands its stream, in order: each event but the line
    events alone (a one-item list), each read's line events as one batch.
    It refers to no session or stream, so the run's plan (which holds its
    methods) keeps neither alive."""

    __slots__ = ("count", "items")

    def __init__(self) -> None:
        self.items: list[EventBatch] = []
        #: The events ``items`` hold.
        self.count = 0

    def event(self, event: ExecEvent) -> None:
        """Queue one event (the observer's hook)."""
        self.items.append([event])
        self.count += 1

    def batch(self, batch: EventBatch) -> None:
        """Queue the line events of one read (the observer's ``batches``)."""
        self.items.append(batch)
        self.count += len(batch)

    def take(self) -> list[EventBatch]:
        """Return everything queued and empty the queue."""
        items = self.items
        self.items = []
        self.count = 0
        return items


class _StreamLoopDriver(LoopDriver):
    """The asyncio driver of a stream: wakes the consumer when events are
    queued and pauses the output pipes while the queue is full."""

    __slots__ = ("before", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Run, queue: _Queue) -> None:
        super().__init__(loop, run)
        self.queue = queue
        #: The events queued before the first callback error, taken out of
        #: the queue when it was raised (what the queue holds after it came
        #: later, and is dropped).
        self.before: list[EventBatch] = []

    def fail(self, exc: BaseException) -> None:
        """Keep ``exc`` and the events queued before it (:attr:`before`),
        and stop reading the output pipes: the consumer takes those events,
        then its next drive raises it (a consumer that awaits in its loop
        body would otherwise find events read meanwhile before every pull,
        for ever)."""
        if self.error is None and not self.run.abandoned:
            self.before = self.queue.take()
        super().fail(exc)
        self.pause_reading(self.run.channels)

    def settle(self) -> None:
        queue = self.queue
        if queue.items and not self.run.abandoned:
            if queue.count >= QUEUE_BOUND:
                self.pause_reading(self.run.channels)
            self.wake()
        super().settle()


class _Session:
    """One stream's run, its driver and its queue, from start to end."""

    __slots__ = (
        "asynchronous",
        "closing",
        "current",
        "driver",
        "error",
        "left",
        "lock",
        "owner",
        "pending",
        "queue",
        "result",
        "run",
        "state",
        "waker",
    )

    def __init__(self, plan: RunPlan) -> None:
        self.queue = _Queue()
        self.run = Run(with_observer(plan, self.queue.event, self.queue.batch, max_read=READ_SIZE))
        #: The queued item being consumed, cleared when the stream closes.
        self.current: EventBatch | None = None
        self.state = _NEW
        self.asynchronous: bool | None = None
        self.driver: PollDriver | _StreamLoopDriver | None = None
        self.result: CommandResult | PipelineResult | None = None
        self.error: BaseException | None = None
        #: The events queued before the error that stopped the run, still
        #: to be handed over; :attr:`pending` is raised after them.
        self.left: list[EventBatch] = []
        #: The error that stopped the run, not yet raised to the consumer:
        #: the pull after :attr:`left` raises it, or a close.
        self.pending: BaseException | None = None
        #: Held by the thread driving a sync run: a pull stepping it, a close.
        self.lock = threading.Lock()
        #: The ident of the thread holding :attr:`lock`, else ``None``.
        self.owner: int | None = None
        #: A sync close was asked for (maybe from another thread).
        self.closing = False
        #: Wakes the ``poll`` of a sync run for a close from another thread.
        self.waker: Waker | None = None

    def use(self, *, asynchronous: bool) -> None:
        """Fix whether the stream is used with ``for`` or ``async for``."""
        if self.asynchronous is None:
            self.asynchronous = asynchronous
        elif self.asynchronous != asynchronous:
            sync, asyn = "synchronously ('with', 'for')", "asynchronously ('async with', 'async for')"
            used, wrong = (asyn, sync) if self.asynchronous else (sync, asyn)
            msg = f"this stream is used {used}; it cannot also be used {wrong}"
            raise RuntimeError(msg)

    def ended(self, result: CommandResult | PipelineResult) -> None:
        self.state = _DONE
        self.result = result

    def failed(self, exc: BaseException) -> None:
        self.state = _FAILED
        self.error = exc

    def keep(self, exc: BaseException, left: list[EventBatch]) -> bool:
        """The run, stopped by ``exc`` (abandoned already), had queued
        ``left`` before it: keep both for the consumer, who takes the
        events, then gets ``exc`` (:attr:`pending`), and return True; False
        (the caller raises ``exc`` at once) when there are no such events
        or ``exc`` is no ``Exception`` (``KeyboardInterrupt``...). Drop
        what the stop sequence queued after the error."""
        self.queue.take()
        if not left or not isinstance(exc, Exception):
            return False
        self.left = left
        self.pending = exc
        return True

    def raise_pending(self) -> None:
        """Raise the error kept for the consumer, if any (once)."""
        exc, self.pending = self.pending, None
        if exc is not None:
            self.left = []
            raise exc

    # -- leaving early ------------------------------------------------------

    def cut(self) -> None:
        """Drop the events queued and those of the item being consumed: a
        later pull of an iterator that still holds it ends at once."""
        self.queue.take()
        self.left = []
        current, self.current = self.current, None
        if current is not None:
            current.clear()

    def hold(self) -> None:
        """Take the lock of a sync run (blocking while another thread
        drives it)."""
        self.lock.acquire()
        self.owner = threading.get_ident()

    def release(self) -> None:
        self.owner = None
        self.lock.release()

    def close(self) -> None:
        """Abandon the run, blocking until every child is reaped; from any
        thread but one driving the run (a hook, a stdin source)."""
        if self.state == _RUNNING and not isinstance(self.driver, PollDriver):
            msg = "an async stream is closed with 'await stream.aclose()', not close()"
            raise RuntimeError(msg)
        if self.owner == threading.get_ident():
            msg = (
                "a sync stream cannot be closed from inside its own run (an observe hook or "
                "a stdin source called while the stream's thread steps the run): raise an "
                "exception there, or close the stream after the event"
            )
            raise RuntimeError(msg)
        self.closing = True
        waker = self.waker
        if waker is not None:
            waker.wake()
        self.hold()
        try:
            self.stop()
            # An error that stopped the run, not raised yet: nothing is lost.
            self.raise_pending()
        finally:
            self.release()

    def stop(self) -> None:
        """Close a sync stream, the lock held: its run abandoned if running."""
        self.cut()
        if self.state == _RUNNING:
            self.state = _CLOSED
            self.abandon()
        elif self.state == _NEW:
            self.state = _CLOSED

    def abandon(self, cause: BaseException | None = None) -> None:
        """Stop a sync run (the lock held) until every child is reaped,
        ``cause`` the error that stopped it, if any (see
        :meth:`PollDriver.abandon <cuprum._exec.drivers.PollDriver.abandon>`)."""
        driver = self.driver
        assert isinstance(driver, PollDriver)  # noqa: S101
        try:
            driver.abandon(self.run, cause)
        finally:
            self.drop_waker()

    def drop_waker(self) -> None:
        waker, self.waker = self.waker, None
        if waker is not None:
            assert self.driver is not None  # noqa: S101
            self.driver.remove(waker.read_fd)
            waker.close()

    def start(self) -> bool:
        """Start a sync run (the lock held); False when closed before."""
        if self.state != _NEW or self.closing:
            return False
        waker = Waker()  # first: nothing to undo if the pipe cannot be made
        driver = self.driver = PollDriver()
        driver.add_reader(waker.read_fd, waker.drain)
        self.waker = waker
        self.state = _RUNNING
        try:
            self.run.start(driver)
        except BaseException as exc:
            if not self.stopped_by(exc):
                raise
        return True

    def stopped_by(self, exc: BaseException) -> bool:
        """Stop a sync run that raised ``exc`` (the lock held), keeping the
        events queued before it for the consumer (see :meth:`keep`)."""
        self.failed(exc)
        left = self.queue.take()
        self.abandon(exc)
        return self.keep(exc, left)

    def advance(self) -> list[EventBatch] | None:
        """Step a sync run (the lock held) until events are queued and
        return them; ``None`` once it has ended, failed or been closed (a
        close asked for from another thread is carried out here)."""
        queue = self.queue
        run = self.run
        driver = self.driver
        assert isinstance(driver, PollDriver)  # noqa: S101
        if self.pending is not None:
            # The run was stopped by an error: the events queued before it,
            # then the error.
            left, self.left = self.left, []
            if left:
                return left
            self.raise_pending()
        while self.state == _RUNNING:
            if self.closing:
                self.stop()
                break
            if queue.items:
                # Nothing is read while the consumer holds the events.
                return queue.take()
            if run.done:
                self.drop_waker()
                try:
                    result = finish_blocking(run)
                except BaseException as exc:
                    self.failed(exc)
                    raise
                self.ended(result)
                break
            try:
                driver.step(run)
            except BaseException as exc:
                if not self.stopped_by(exc):
                    raise
                return self.advance()
        return None

    async def aclose(self) -> None:
        """Abandon the run on the loop until every child is reaped."""
        self.cut()
        if self.state == _RUNNING:
            self.state = _CLOSED
            driver = self.driver
            assert isinstance(driver, _StreamLoopDriver)  # noqa: S101
            await driver.abandon()
        elif self.state == _NEW:
            self.state = _CLOSED
        self.raise_pending()

    def __del__(self) -> None:
        if self.state != _RUNNING:
            # Dropped before its error was raised: reported as an
            # exception ignored in __del__ (sys.unraisablehook), not lost.
            self.raise_pending()
            return
        if isinstance(self.driver, PollDriver):
            self.close()
            return
        self.dropped()

    def dropped(self) -> None:
        """Stop a running async stream nobody can drive any more (its
        session or its native events collected), on its loop if it runs."""
        driver = self.driver
        if self.state == _RUNNING and isinstance(driver, _StreamLoopDriver):
            self.state = _CLOSED
            _abandon_later(driver)


def _abandon_later(driver: _StreamLoopDriver) -> None:
    """Stop the run of a collected async stream on its loop; SIGKILL and
    reap at once when that loop is closed."""
    loop = driver.loop

    def start() -> None:
        task = loop.create_task(driver.abandon())
        _ABANDONING.add(task)
        task.add_done_callback(finished)

    def finished(task: asyncio.Task[None]) -> None:
        _ABANDONING.discard(task)
        if task.cancelled():
            # Cancelled before it could stop the run - as asyncio.run, from
            # 3.12, cancels the tasks a closing loop still has before they
            # ran, so abandon()'s own clean-up never started: stop it here.
            driver.run.kill_now()

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        start()
        return
    if not loop.is_closed() and loop.is_running():
        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:
            pass  # closed meanwhile
        else:
            return
    driver.run.kill_now()


def _pull(session: _Session) -> cabc.Generator[EventBatch, None, None]:
    """The sync iteration, a queued item at a time (the caller chains
    them): step the run, holding the session's lock, whenever the queue is
    empty; never hold it while the consumer holds the events."""
    session.hold()
    try:
        started = session.start()
    finally:
        session.release()
    if not started:
        return  # closed before the first pull
    while True:
        session.hold()
        try:
            items = session.advance()
        finally:
            session.release()
        if items is None:
            return
        for item in items:
            # Set before the test: a close from another thread either is
            # seen here or clears this item (``cut``).
            session.current = item
            if session.closing:
                break
            yield item
        session.current = None


async def _apull(session: _Session) -> cabc.AsyncGenerator[EventBatch, None]:
    """The async iteration, a queued item at a time (see
    :func:`_async_events` for the events): the loop reads while the queue
    has room."""
    queue = session.queue
    run = session.run
    driver = _StreamLoopDriver(asyncio.get_running_loop(), run, queue)
    session.driver = driver
    session.state = _RUNNING
    try:
        run.start(driver)
    except BaseException as exc:
        session.failed(exc)
        left = queue.take()
        await driver.abandon(exc)
        if not session.keep(exc, left):
            raise
    while session.pending is None:
        if queue.items and driver.error is None:
            items = queue.take()
            if driver.paused and driver.error is None:
                driver.resume_reading()
            for item in items:
                session.current = item
                try:
                    yield item
                except GeneratorExit:
                    # Closed at a yield: by aclose(), or by the end of the
                    # loop (asyncio.run closes unfinished async generators),
                    # after which nothing could drive the run any more.
                    await session.aclose()
                    raise
            session.current = None
        elif run.done and driver.error is None:
            break
        else:
            try:
                await driver.drive()  # raises what a callback raised
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    session.state = _CLOSED  # left early, like a cancelled body
                    await driver.abandon(exc)
                    raise
                session.failed(exc)
                left, driver.before = driver.before, []
                await driver.abandon(exc)
                if not session.keep(exc, left):
                    raise
    if session.pending is not None:
        # The run was stopped by an error: the events queued before it,
        # then the error.
        left, session.left = session.left, []
        for item in left:
            session.current = item
            try:
                yield item
            except GeneratorExit:
                # The run is stopped; the error is raised by the stream's
                # aclose (not here: raised in the frame of the code that
                # closes the stream, it has that code's exception as its
                # context), or reported when the stream is collected.
                session.cut()
                raise
        session.current = None
        session.raise_pending()
        return
    if session.state != _RUNNING:
        return
    try:
        result = await finish_in_loop(run)
    except BaseException as exc:
        session.failed(exc)
        raise
    session.ended(result)


class _Refill:
    """The slow step of the native ``AsyncEvents``: wait for the next
    queued item, hand it over, return its first event. Refers to the items'
    generator and the session only (``AsyncEvents`` passes itself in), so
    no cycle keeps a dropped stream's run alive."""

    __slots__ = ("items", "session")

    def __init__(self, items: cabc.AsyncGenerator[EventBatch, None], session: _Session) -> None:
        self.items = items
        self.session = session

    def __del__(self) -> None:
        # The AsyncEvents went away (an "async for" left without "async
        # with"): stop the run now, while its loop runs, rather than when
        # the items' generator is finalised - asyncio.run cancels the task
        # that would close it before it runs (3.12+), and the run would
        # live on until the session is collected.
        self.session.dropped()

    async def __call__(self, events: typ.Any) -> ExecEvent:
        step = self.items.__anext__
        while True:
            batch = iter(await step())  # StopAsyncIteration ends the iteration
            for event in batch:
                events.feed(batch)
                return event


async def _each_event(
    items: cabc.AsyncGenerator[EventBatch, None], session: _Session
) -> cabc.AsyncIterator[ExecEvent]:
    """The events of ``items``, one ``async for`` step each. Closing it
    stops the run in the same step: left to the finaliser of ``items``, it
    would be stopped a round later, one that ``asyncio.run`` no longer
    runs, leaving the children unreaped. (Not by closing ``items``, which
    asyncio's shutdown may be closing at the same time.)"""
    try:
        async for item in items:
            for event in item:
                yield event
    finally:
        if session.state == _RUNNING:  # left early
            await session.aclose()


def _async_events(session: _Session, items: cabc.AsyncGenerator[EventBatch, None]) -> cabc.AsyncIterator[ExecEvent]:
    """The async iterator of the events of ``items``: the engine's
    ``AsyncEvents`` when it has one (an event already queued then costs no
    async generator step, see :mod:`cuprum._engine`), else an async
    generator."""
    make = getattr(session.run.plan.engine, "AsyncEvents", None)
    if make is None:
        return _each_event(items, session)
    return typ.cast("cabc.AsyncIterator[ExecEvent]", make(_Refill(items, session)))


class EventStream(typ.Generic[R]):
    """The events of one run, pulled by the caller; see :meth:`SafeCmd.stream
    <cuprum.sh.SafeCmd.stream>`.

    A context manager and iterator (``with``/``for``) or an async context
    manager and async iterator (``async with``/``async for``), whichever is
    used first. The run starts at the first pull and yields every
    :class:`~cuprum.events.ExecEvent` an observe hook would receive, in
    order; :attr:`result` holds its result once the iteration has ended.
    """

    __slots__ = ("_agen", "_items", "_it", "_session")

    def __init__(self, plan: RunPlan) -> None:
        """Prepare (but do not start) a streamed run of ``plan``."""
        self._session = _Session(plan)
        self._it: cabc.Iterator[ExecEvent] | None = None
        self._agen: cabc.AsyncIterator[ExecEvent] | None = None
        self._items: cabc.AsyncGenerator[EventBatch, None] | None = None

    @property
    def result(self) -> R:
        """The run's ``CommandResult`` or ``PipelineResult``, once the
        iteration has ended; ``RuntimeError`` before that, or when the run
        raised or the stream was closed early."""
        session = self._session
        if session.state == _DONE:
            return typ.cast(R, session.result)
        if session.state == _FAILED:
            error = session.error
            msg = f"the streamed run raised {type(error).__name__}: there is no result"
            raise RuntimeError(msg) from error
        if session.state == _CLOSED:
            msg = "the stream was closed before its end (its run was stopped): there is no result"
            raise RuntimeError(msg)
        msg = "the stream has not ended yet: iterate it to the end before reading its result"
        raise RuntimeError(msg)

    # -- sync ---------------------------------------------------------------

    def __iter__(self) -> cabc.Iterator[ExecEvent]:
        """Return the iterator of the events (the same one on every call)."""
        it = self._it
        if it is None:
            session = self._session
            session.use(asynchronous=False)
            if session.state != _NEW:
                return iter(())  # closed before the first pull
            it = self._it = itertools.chain.from_iterable(_pull(session))
        return it

    def __next__(self) -> ExecEvent:
        """Return the next event; raise ``StopIteration`` at the end."""
        return next(self._it or self.__iter__())

    def __enter__(self) -> typ.Self:
        self._session.use(asynchronous=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the run if it has not ended (SIGTERM, ``cancel_grace``,
        SIGKILL), blocking until every child is reaped; a no-op after the
        end. Later pulls end the iteration at once. May be called from
        another thread while one iterates (which is woken, and whose
        iteration then ends), not from a hook or stdin source of the run
        itself (``RuntimeError``). An error that stopped the run and was
        not raised yet (events queued before it were still to be pulled)
        is raised."""
        session = self._session
        try:
            session.close()
        finally:
            if session.state != _RUNNING:
                self._it = None

    # -- async --------------------------------------------------------------

    def __aiter__(self) -> cabc.AsyncIterator[ExecEvent]:
        """Return the async iterator of the events (the same one on every call)."""
        agen = self._agen
        if agen is None:
            session = self._session
            session.use(asynchronous=True)
            if session.state == _NEW:
                items = self._items = _apull(session)
                agen = self._agen = _async_events(session, items)
            else:
                agen = self._agen = _nothing()
        return agen

    async def __anext__(self) -> ExecEvent:
        """Return the next event; raise ``StopAsyncIteration`` at the end."""
        return await (self._agen or self.__aiter__()).__anext__()

    async def __aenter__(self) -> typ.Self:
        self._session.use(asynchronous=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the run if it has not ended (SIGTERM, ``cancel_grace``,
        SIGKILL) and wait until every child is reaped; a no-op after the
        end. Later pulls end the iteration at once. An error that stopped
        the run and was not raised yet (events queued before it were still
        to be pulled) is raised."""
        self._session.use(asynchronous=True)
        agen, self._agen = self._agen, _nothing()
        items, self._items = self._items, None
        # A generator another task is running (a consumer waiting for
        # events) cannot be closed: the abandoned run wakes that consumer,
        # whose iteration then ends.
        close = getattr(agen, "aclose", None)  # the native AsyncEvents has none
        if close is not None and not getattr(agen, "ag_running", False):
            await close()
        if items is not None and not items.ag_running:
            await items.aclose()
        await self._session.aclose()


async def _nothing() -> cabc.AsyncIterator[ExecEvent]:
    return
    yield  # an async generator with no items


__all__ = ["QUEUE_BOUND", "READ_SIZE", "EventStream"]
