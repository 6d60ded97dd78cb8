# SPDX-License-Identifier: ISC
"""Run several commands or pipelines at once: ``run_concurrent`` and its sync twin.

Each one runs through :meth:`SafeCmd.run` or :meth:`Pipeline.run` on one
event loop, so many children are multiplexed without a thread each. Results
come back in submission order.
"""

from __future__ import annotations

import asyncio
import dataclasses as dc
import typing as typ

from cuprum._exec.drivers import await_pending_blocking, note_all, raise_first
from cuprum._exec.plan import check_allowed
from cuprum._options import ExecutionContext, RunOutputOptions
from cuprum._results import PipelineResult
from cuprum.sh import Pipeline, SafeCmd

if typ.TYPE_CHECKING:
    from cuprum._results import CommandResult

#: What :func:`run_concurrent` runs, and what it gives back for each.
Runnable: typ.TypeAlias = "SafeCmd | Pipeline"
RunResult: typ.TypeAlias = "CommandResult | PipelineResult"
#: The result type of :class:`ConcurrentResult`: ``CommandResult`` when
#: only commands ran, ``PipelineResult`` when only pipelines did.
R = typ.TypeVar("R", bound="CommandResult | PipelineResult", covariant=True)


@dc.dataclass(frozen=True, slots=True)
class ConcurrentConfig:
    """How :func:`run_concurrent` runs its commands.

    Attributes
    ----------
    concurrency:
        Most commands (or pipelines, each counting as one) running at once;
        ``None`` for no limit. At least 1.
    capture / echo:
        As in :class:`~cuprum.sh.RunOutputOptions`.
    context:
        Execution context shared by every command.
    fail_fast:
        Cancel the remaining commands after the first failure (a non-zero
        exit, or a failed pipeline stage: one with a ``failure_index``, so
        not a producer's SIGPIPE death after an early close downstream) or
        error. When False (the
        default), every command runs to completion whatever the others do;
        an error (a missing program, a hook that raised) is raised once
        all have ended, the first in submission order, the others noted.
    """

    concurrency: int | None = None
    capture: bool = True
    echo: bool = False
    context: ExecutionContext | None = None
    fail_fast: bool = False

    def __post_init__(self) -> None:
        """Reject a concurrency below 1."""
        if self.concurrency is not None:
            if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
                msg = f"concurrency must be an int or None, got {type(self.concurrency).__name__}"
                raise TypeError(msg)
            if self.concurrency < 1:
                msg = f"concurrency must be >= 1, got {self.concurrency}"
                raise ValueError(msg)


@dc.dataclass(frozen=True, slots=True)
class ConcurrentResult(typ.Generic[R]):
    """Results of :func:`run_concurrent`.

    Attributes
    ----------
    results:
        Completed results in submission order: a ``CommandResult`` for a
        command, a ``PipelineResult`` for a pipeline; with ``fail_fast``
        the cancelled ones are left out.
    failures:
        Positions in ``results`` of failed runs, ascending: a command that
        is not ``ok``, a pipeline with a ``failure_index`` (a pipeline
        whose producer died of SIGPIPE after an early close downstream is
        not ``ok`` but has none: it did not fail).
    submission_indices:
        Submission position of each entry in ``results``.
    """

    results: tuple[R, ...]
    failures: tuple[int, ...] = ()
    submission_indices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        """Default ``submission_indices`` to 0..n-1."""
        if not self.submission_indices and self.results:
            object.__setattr__(self, "submission_indices", tuple(range(len(self.results))))

    @property
    def ok(self) -> bool:
        """True when no command failed."""
        return not self.failures

    @property
    def first_failure(self) -> R | None:
        """The first failed result, or ``None``."""
        return self.results[self.failures[0]] if self.failures else None

    @property
    def failure_submission_indices(self) -> tuple[int, ...]:
        """Submission positions of the failed commands."""
        return tuple(self.submission_indices[i] for i in self.failures)


def _failed(result: RunResult) -> bool:
    """Whether ``result`` is a failure: a command that exited non-zero, a
    pipeline with a failed stage. A pipeline's ``ok`` also counts a
    producer's SIGPIPE death after an early close downstream (``yes | head``),
    which the pipeline itself does not take for a failure
    (``failure_index`` stays ``None``): neither does ``run_concurrent``."""
    if isinstance(result, PipelineResult):
        return result.failure_index is not None
    return not result.ok


def _compact(slots: list[RunResult | None]) -> ConcurrentResult[RunResult]:
    results: list[RunResult] = []
    indices: list[int] = []
    failures: list[int] = []
    for index, result in enumerate(slots):
        if result is None:
            continue
        if _failed(result):
            failures.append(len(results))
        results.append(result)
        indices.append(index)
    return ConcurrentResult(tuple(results), tuple(failures), tuple(indices))


_ALSO = "by another run of run_concurrent"


def _raise_first(done: list[asyncio.Future[None]]) -> None:
    """Raise the first error of the ``done`` tasks (in their order), once
    every one's has been retrieved (asyncio would report the others as
    never retrieved), the others noted on it."""
    errors = [task.exception() for task in done if not task.cancelled()]
    raise_first([error for error in errors if error is not None], _ALSO)


def _note_others(exc: BaseException, results: list[object]) -> None:
    """Note on ``exc`` the errors of the other runs (``results`` of a
    ``gather`` with ``return_exceptions``), their cancellations left out."""
    others = (r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError))
    note_all(exc, others, _ALSO)


def _programs(runnable: Runnable) -> tuple[SafeCmd, ...]:
    return runnable.parts if isinstance(runnable, Pipeline) else (runnable,)


@typ.overload
async def run_concurrent(
    *commands: SafeCmd, config: ConcurrentConfig | None = None
) -> ConcurrentResult[CommandResult]: ...


@typ.overload
async def run_concurrent(
    *commands: Pipeline, config: ConcurrentConfig | None = None
) -> ConcurrentResult[PipelineResult]: ...


@typ.overload
async def run_concurrent(
    *commands: Runnable, config: ConcurrentConfig | None = None
) -> ConcurrentResult[RunResult]: ...


async def run_concurrent(
    *commands: Runnable, config: ConcurrentConfig | None = None
) -> ConcurrentResult[typ.Any]:
    """Run ``commands`` (``SafeCmd`` or ``Pipeline``) concurrently.

    Every program of every command and pipeline stage is checked against
    the allowlist before any starts (``ForbiddenProgramError``).
    ``ValueError`` when nothing is given, ``TypeError`` naming the position
    of anything else.
    """
    cfg = config if config is not None else ConcurrentConfig()
    if not commands:
        msg = "run_concurrent needs at least one command"
        raise ValueError(msg)
    for index, cmd in enumerate(commands):
        if not isinstance(cmd, (SafeCmd, Pipeline)):
            msg = (
                f"run_concurrent takes SafeCmd commands or Pipelines, "
                f"got {type(cmd).__name__} at index {index}"
            )
            raise TypeError(msg)
    check_allowed(stage for cmd in commands for stage in _programs(cmd))
    output = RunOutputOptions(capture=cfg.capture, echo=cfg.echo)
    limit = asyncio.Semaphore(cfg.concurrency) if cfg.concurrency is not None else None
    slots: list[RunResult | None] = [None] * len(commands)
    failed = asyncio.Event()

    async def one(index: int, cmd: Runnable) -> None:
        if limit is not None:
            async with limit:
                if cfg.fail_fast and failed.is_set():
                    return
                result = await cmd.run(output=output, context=cfg.context)
        else:
            result = await cmd.run(output=output, context=cfg.context)
        slots[index] = result
        if _failed(result):
            failed.set()

    tasks: list[asyncio.Future[None]] = [
        asyncio.ensure_future(one(i, cmd)) for i, cmd in enumerate(commands)
    ]
    if not cfg.fail_fast:
        # Every run goes on to its end whatever the others do, as in the
        # original cuprum; then the first error (in submission order) is
        # raised, the others noted on it. Only a cancellation or an
        # interruption of this call stops them early.
        try:
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        except BaseException as exc:
            for task in tasks:
                task.cancel()
            _note_others(exc, await asyncio.gather(*tasks, return_exceptions=True))
            raise
        raise_first([o for o in outcomes if isinstance(o, BaseException)], _ALSO)
        return _compact(slots)
    pending: set[asyncio.Future[None]] = set(tasks)
    order = {task: index for index, task in enumerate(tasks)}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            _raise_first(sorted(done, key=order.__getitem__))
            if failed.is_set():
                break
    except BaseException as exc:
        for task in pending:
            task.cancel()
        if pending:
            _note_others(exc, await asyncio.gather(*pending, return_exceptions=True))
        pending = set()
        raise
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return _compact(slots)


@typ.overload
def run_concurrent_sync(
    *commands: SafeCmd, config: ConcurrentConfig | None = None
) -> ConcurrentResult[CommandResult]: ...


@typ.overload
def run_concurrent_sync(
    *commands: Pipeline, config: ConcurrentConfig | None = None
) -> ConcurrentResult[PipelineResult]: ...


@typ.overload
def run_concurrent_sync(
    *commands: Runnable, config: ConcurrentConfig | None = None
) -> ConcurrentResult[RunResult]: ...


def run_concurrent_sync(
    *commands: Runnable, config: ConcurrentConfig | None = None
) -> ConcurrentResult[typ.Any]:
    """Blocking twin of :func:`run_concurrent`."""
    holder: list[ConcurrentResult[typ.Any]] = []

    async def main() -> None:
        holder.append(await run_concurrent(*commands, config=config))

    await_pending_blocking([main()])
    return holder[0]


__all__ = ["ConcurrentConfig", "ConcurrentResult", "run_concurrent", "run_concurrent_sync"]
