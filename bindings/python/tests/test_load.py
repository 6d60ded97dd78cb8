# SPDX-License-Identifier: ISC
"""Load: many concurrent 4-stage pipelines, every byte checked, no growth.

Each round runs ``CUPRUM_LOAD_PIPELINES`` (64) pipelines ``head -c N file |
cat | cat | cat`` at once, ``N`` = ``CUPRUM_LOAD_MIB`` (1) MiB, each file
distinct random bytes; the last stage's output is captured as latin-1 (one
character per byte) and its SHA-256 compared with the file's. Three routes:
``Pipeline.run`` gathered on one loop, threads calling ``run_sync``, and
``run_concurrent`` given the pipelines. Over
``CUPRUM_LOAD_ROUNDS`` (2) rounds, or for ``CUPRUM_SOAK_SECONDS`` when set
(``make soak``), the open descriptors after each round equal those after
the first and the resident memory does not grow past a generous bound.

Small by default so ``make check`` stays quick; ``make soak`` raises the
sizes to 16 MiB and runs for as long as asked.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import hashlib
import os
import random
import threading
import time
import typing as typ
from pathlib import Path

import pytest
from conftest import cmd

from cuprum import (
    ConcurrentConfig,
    ExecutionContext,
    Pipeline,
    PipelineResult,
    RunOutputOptions,
    run_concurrent_sync,
)

_MIB = 1 << 20
SIZE = int(float(os.environ.get("CUPRUM_LOAD_MIB", "1")) * _MIB)
PIPELINES = int(os.environ.get("CUPRUM_LOAD_PIPELINES", "64"))
ROUNDS = max(2, int(os.environ.get("CUPRUM_LOAD_ROUNDS", "2")))
SOAK_SECONDS = float(os.environ.get("CUPRUM_SOAK_SECONDS", "0"))
#: Distinct input files (pipelines share them round-robin).
FILES = 8
#: Resident-memory growth allowed between the first and the last round:
#: allocator slack, not the rounds' data (a leak of one round's captures
#: alone would be PIPELINES * SIZE bytes).
GROWTH_LIMIT = max(48 * _MIB, PIPELINES * SIZE // 2)

LATIN1 = ExecutionContext(encoding="latin-1", errors="strict")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    """``FILES`` files of ``SIZE`` random bytes and their digests."""
    root = tmp_path_factory.mktemp("load")
    made = []
    for i in range(FILES):
        data = random.Random(i).randbytes(SIZE)  # noqa: S311 - test data
        path = root / f"in{i}"
        path.write_bytes(data)
        made.append((path, hashlib.sha256(data).hexdigest()))
    return made


def _pipeline(path: Path) -> Pipeline:
    return cmd("head", "-c", SIZE, str(path)) | cmd("cat") | cmd("cat") | cmd("cat")


def _check(result: PipelineResult, digest: str) -> None:
    assert result.ok, [s.exit_code for s in result.stages]
    out = result.stdout
    assert out is not None and len(out) == SIZE
    assert hashlib.sha256(out.encode("latin-1")).hexdigest() == digest


def _round_gather(inputs: list[tuple[Path, str]]) -> None:
    async def main() -> list[PipelineResult]:
        runs = [_pipeline(inputs[i % FILES][0]).run(context=LATIN1) for i in range(PIPELINES)]
        return await asyncio.gather(*runs)

    for i, result in enumerate(asyncio.run(main())):
        _check(result, inputs[i % FILES][1])


def _round_threads(inputs: list[tuple[Path, str]]) -> None:
    results: list[PipelineResult | BaseException | None] = [None] * PIPELINES
    start = threading.Barrier(PIPELINES)

    def work(i: int) -> None:
        try:
            start.wait()
            results[i] = _pipeline(inputs[i % FILES][0]).run_sync(context=LATIN1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(PIPELINES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i, result in enumerate(results):
        assert isinstance(result, PipelineResult), result
        _check(result, inputs[i % FILES][1])


def _round_concurrent(inputs: list[tuple[Path, str]]) -> None:
    pipelines = [_pipeline(inputs[i % FILES][0]) for i in range(PIPELINES)]
    config = ConcurrentConfig(context=LATIN1)
    result = run_concurrent_sync(*pipelines, config=config)
    assert result.ok and result.submission_indices == tuple(range(PIPELINES))
    for i, one in enumerate(result.results):
        _check(one, inputs[i % FILES][1])


def _trim() -> None:
    """Hand the C allocator's free memory back to the system (glibc's
    ``malloc_trim``), so that what the rounds freed but the allocator kept
    is not counted as growth; a no-op where there is no such function."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _rss() -> int:
    gc.collect()
    _trim()
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _fds() -> dict[str, str]:
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the listing's own descriptor
    return found


ROUTES: dict[str, typ.Callable[[list[tuple[Path, str]]], None]] = {
    "gather": _round_gather,
    "threads": _round_threads,
    "run_concurrent": _round_concurrent,
}


@pytest.mark.parametrize("route", list(ROUTES))
def test_load_every_byte_no_growth(inputs: list[tuple[Path, str]], route: str) -> None:
    one_round = ROUTES[route]
    one_round(inputs)  # the first round settles the allocator and caches
    fds, rss = _fds(), _rss()
    rounds = 1
    deadline = time.monotonic() + SOAK_SECONDS
    while rounds < ROUNDS or time.monotonic() < deadline:
        one_round(inputs)
        rounds += 1
        assert _fds() == fds, f"descriptors changed after round {rounds}"
    growth = _rss() - rss
    assert growth < GROWTH_LIMIT, (
        f"resident memory grew by {growth // 1024} KiB over {rounds - 1} rounds"
    )
    if SOAK_SECONDS:
        print(f"{route}: {rounds} rounds of {PIPELINES} x {SIZE // _MIB} MiB, "
              f"RSS growth {growth // 1024} KiB")


def test_output_options_apply_under_load(inputs: list[tuple[Path, str]]) -> None:
    # Capture off under load: nothing kept, every pipeline still completes.
    async def main() -> list[PipelineResult]:
        out = RunOutputOptions(capture=False)
        runs = [_pipeline(inputs[i % FILES][0]).run(output=out) for i in range(PIPELINES)]
        return await asyncio.gather(*runs)

    results = asyncio.run(main())
    assert all(r.ok and r.stdout is None for r in results)
