# SPDX-License-Identifier: ISC
"""Many commands at once: the concurrent spawn and pipeline scenarios.

``spawn-concurrent`` runs ``FANOUT`` x ``true`` with at most ``LIMIT`` at a
time; ``pipelines-concurrent`` runs ``PIPELINES`` four-stage pipelines
(``cat F | cat | cat | cat``, the last stdout captured as text, as in the
``pipeline`` scenario) all at once; ``pipelines-discard`` runs the same
with the last stdout going to ``/dev/null``, which separates running many
processes from holding all their output in memory. The worker sets
``FANOUT`` and ``PIPELINES`` from its spec before calling a factory, like
``pathways.SPAWNS``. The stdlib column (``subprocess``) is asyncio here:
``asyncio.gather`` of ``create_subprocess_exec``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess

from bench.support import Cuprum, Trial, which

FANOUT = 1000
LIMIT = 32
PIPELINES = 64


# --- the shell floor -------------------------------------------------------


def floor_spawn_concurrent(_path: str) -> Trial:
    """``seq N | xargs -P 32 -n 1 true`` (the binary), then ``echo N``.

    Each ``true`` gets one ignored argument; xargs exits non-zero when any
    run failed, and then prints nothing (the trial raises).
    """
    argv = ["sh", "-c", 'seq "$1" | xargs -P "$2" -n 1 "$3" && echo "$1"', "sh", str(FANOUT), str(LIMIT), which("true")]
    return lambda: int(subprocess.run(argv, capture_output=True, check=True).stdout.split()[0])


def floor_pipelines_concurrent(path: str) -> Trial:
    """``cat F | cat | cat | cat | wc -c &`` N times, then ``wait``; the counts summed."""
    script = 'i=0; while [ $i -lt "$2" ]; do cat "$1" | cat | cat | cat | wc -c & i=$((i+1)); done; wait'
    argv = ["sh", "-c", script, "sh", path, str(PIPELINES)]

    def trial() -> int:
        counts = subprocess.run(argv, capture_output=True, check=True).stdout.split()
        return sum(int(c) for c in counts) if len(counts) == PIPELINES else -1

    return trial


def floor_pipelines_discard(path: str) -> Trial:
    """``cat F | cat | cat | cat > /dev/null &`` N times, then ``wait`` for each.

    ``wait PID`` gives each pipeline's status (its last stage's); a trial
    counts the pipelines that succeeded.
    """
    script = (
        'i=0; pids=; while [ $i -lt "$2" ]; do cat "$1" | cat | cat | cat > /dev/null & '
        'pids="$pids $!"; i=$((i+1)); done; for p in $pids; do wait "$p" && echo ok; done'
    )
    argv = ["sh", "-c", script, "sh", path, str(PIPELINES)]
    return lambda: len(subprocess.run(argv, capture_output=True, check=True).stdout.split())


# --- cuprum (native and pure) ----------------------------------------------


def cuprum_spawn_concurrent(_path: str) -> Trial:
    """``run_concurrent(*[TRUE()] * N, config=ConcurrentConfig(concurrency=32))``.

    The default configuration otherwise: stdout and stderr captured.
    """
    cp = Cuprum()
    from cuprum.concurrent import ConcurrentConfig, run_concurrent

    commands = [cp.true()] * FANOUT
    config = ConcurrentConfig(concurrency=LIMIT)

    async def many() -> int:
        done = await run_concurrent(*commands, config=config)
        return sum(1 for r in done.results if r.ok)

    return lambda: asyncio.run(many())


def cuprum_pipelines_concurrent(path: str) -> Trial:
    """``asyncio.gather`` of N ``(cat F | cat | cat | cat).run()``.

    ``run_concurrent`` takes commands, not pipelines; each result is
    dropped as soon as its length is counted.
    """
    cp = Cuprum()
    pipe = cp.cat(path) | cp.cat() | cp.cat() | cp.cat()

    async def one() -> int | None:
        result = await pipe.run()
        return len(result.stdout) if result.ok and result.stdout is not None else None

    async def many() -> int:
        got = await asyncio.gather(*(one() for _ in range(PIPELINES)))
        return -1 if None in got else sum(n for n in got if n is not None)

    return lambda: asyncio.run(many())


def cuprum_pipelines_discard(path: str) -> Trial:
    """``asyncio.gather`` of N ``pipe.run(output=RunOutputOptions(capture=False))``.

    With nothing captured, echoed or observed, cuprum gives the last stage
    ``/dev/null``; a trial counts the pipelines that succeeded.
    """
    cp = Cuprum()
    pipe = cp.cat(path) | cp.cat() | cp.cat() | cp.cat()
    options = cp.mod.RunOutputOptions(capture=False)

    async def many() -> int:
        got = await asyncio.gather(*(pipe.run(output=options) for _ in range(PIPELINES)))
        return sum(1 for r in got if r.ok)

    return lambda: asyncio.run(many())


# --- the stdlib: asyncio -------------------------------------------------------


def asyncio_spawn_concurrent(_path: str) -> Trial:
    """``asyncio.gather`` of N ``create_subprocess_exec("true")`` under ``Semaphore(32)``."""

    async def many() -> int:
        limit = asyncio.Semaphore(LIMIT)

        async def one() -> bool:
            async with limit:
                proc = await asyncio.create_subprocess_exec("true")
                return await proc.wait() == 0

        return sum(await asyncio.gather(*(one() for _ in range(FANOUT))))

    return lambda: asyncio.run(many())


async def _asyncio_pipeline(path: str, *, discard: bool = False) -> int | None:
    """``cat F | cat | cat | cat`` by ``create_subprocess_exec`` over ``os.pipe``.

    The last stdout is read by ``communicate()`` and decoded (text, as the
    other columns capture it), or with ``discard`` goes to ``/dev/null``
    (the result is then 1 for success).
    """
    procs = []
    read_end, write_end = os.pipe()
    procs.append(await asyncio.create_subprocess_exec("cat", path, stdout=write_end))
    os.close(write_end)
    for _ in range(2):
        next_read, write_end = os.pipe()
        procs.append(await asyncio.create_subprocess_exec("cat", stdin=read_end, stdout=write_end))
        os.close(read_end)
        os.close(write_end)
        read_end = next_read
    target = asyncio.subprocess.DEVNULL if discard else asyncio.subprocess.PIPE
    last = await asyncio.create_subprocess_exec("cat", stdin=read_end, stdout=target)
    os.close(read_end)
    out, _ = await last.communicate()
    codes = [await p.wait() for p in procs] + [last.returncode]
    if any(codes):
        return None
    return 1 if discard else len(out.decode())


def asyncio_pipelines_concurrent(path: str) -> Trial:
    """``asyncio.gather`` of N four-stage ``create_subprocess_exec`` chains."""

    async def many() -> int:
        got = await asyncio.gather(*(_asyncio_pipeline(path) for _ in range(PIPELINES)))
        return -1 if None in got else sum(n for n in got if n is not None)

    return lambda: asyncio.run(many())


def asyncio_pipelines_discard(path: str) -> Trial:
    """``asyncio.gather`` of N four-stage chains, the last stdout ``DEVNULL``."""

    async def many() -> int:
        got = await asyncio.gather(*(_asyncio_pipeline(path, discard=True) for _ in range(PIPELINES)))
        return sum(1 for n in got if n == 1)

    return lambda: asyncio.run(many())


__all__ = [
    "FANOUT",
    "LIMIT",
    "PIPELINES",
    "asyncio_pipelines_concurrent",
    "asyncio_pipelines_discard",
    "asyncio_spawn_concurrent",
    "cuprum_pipelines_concurrent",
    "cuprum_pipelines_discard",
    "cuprum_spawn_concurrent",
    "floor_pipelines_concurrent",
    "floor_pipelines_discard",
    "floor_spawn_concurrent",
]
