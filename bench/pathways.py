# SPDX-License-Identifier: ISC
"""One function per (pathway, scenario): each builds a trial to be timed.

A *factory* takes the payload path and returns a *trial*: a callable that
runs the scenario once and returns the figure a correct run must produce
(characters captured, line events seen, or successful spawns), so every
pathway's result is checked, not only timed. Factories import their peer
lazily; a missing peer raises :class:`Missing`, and a cuprum without the
API a scenario measures raises :class:`Skipped` (both from
:mod:`bench.support`). Scenarios a peer cannot do are simply absent from
its table and reported as ``n/a``; the concurrent scenarios live in
:mod:`bench.fanout`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import typing as typ

from bench import cdrivers, fanout
from bench.support import Cuprum as _Cuprum
from bench.support import Factory, Missing, Skipped, Trial
from bench.support import which as _which

SPAWNS = 200


# --- the shell floor -------------------------------------------------------


def _shell(script: str, *args: str) -> Trial:
    argv = ["sh", "-c", script, "sh", *args]

    def trial() -> int:
        out = subprocess.run(argv, capture_output=True, check=True).stdout
        return int(out.split()[0])

    return trial


def floor_capture(path: str) -> Trial:
    """``cat F | wc -c``."""
    return _shell('cat "$1" | wc -c', path)


def floor_pipeline(path: str) -> Trial:
    """``cat F | cat | cat | cat | wc -c``."""
    return _shell('cat "$1" | cat | cat | cat | wc -c', path)


def floor_lines(path: str) -> Trial:
    """``cat F | wc -l`` (a final line without an ending is added untimed)."""
    with open(path, "rb") as fh:
        fh.seek(-1, 2)
        partial = int(fh.read(1) != b"\n")
    count = _shell('cat "$1" | wc -l', path)
    return lambda: count() + partial


def floor_spawn(_path: str) -> Trial:
    """A shell loop running ``true`` (the binary, not the builtin) 200 times."""
    true = _which("true")
    script = f'i=0; while [ $i -lt {SPAWNS} ]; do "$1" || exit 1; i=$((i+1)); done; echo $i'
    return _shell(script, true)


# --- cuprum (native and pure share these; the worker picks the backend) -----


def cuprum_capture(path: str) -> Trial:
    """``sh.make(CAT)(F).run_sync()``, stdout captured as text."""
    cmd = _Cuprum().cat(path)

    def trial() -> int:
        result = cmd.run_sync()
        return len(result.stdout) if result.ok and result.stdout is not None else -1

    return trial


def cuprum_pipeline(path: str) -> Trial:
    """``(cat F | cat | cat | cat).run_sync()``, last stdout captured."""
    cp = _Cuprum()
    pipe = cp.cat(path) | cp.cat() | cp.cat() | cp.cat()

    def trial() -> int:
        result = pipe.run_sync()
        return len(result.stdout) if result.ok and result.stdout is not None else -1

    return trial


def _line_counter(cp: _Cuprum) -> tuple[list[int], typ.Any]:
    """A one-element counter and a scope whose observe hook counts stdout lines."""
    count = [0]

    def hook(event: typ.Any) -> None:
        if event.phase == "stdout":
            count[0] += 1

    return count, cp.mod.ScopeConfig(observe_hooks=(hook,))


def cuprum_lines(path: str) -> Trial:
    """Line events (phase ``stdout``) counted by an observe hook in a scope.

    Stdout is not captured (``capture=False``): the hook is the consumer,
    as in the subprocess column that iterates ``proc.stdout``.
    """
    cp = _Cuprum()
    cmd = cp.cat(path)
    options = cp.mod.RunOutputOptions(capture=False)
    count, config = _line_counter(cp)

    def trial() -> int:
        count[0] = 0
        with cp.mod.scoped(config):
            result = cmd.run_sync(output=options)
        return count[0] if result.ok else -1

    return trial


def cuprum_lines_capture(path: str) -> Trial:
    """The ``lines`` hook with stdout captured too (``run_sync()``'s default).

    What a user who adds an observe hook gets without asking for less: every
    line event and the whole stdout as text. A trial counts only when the
    captured text is the whole payload (ASCII: one character a byte).
    """
    cp = _Cuprum()
    cmd = cp.cat(path)
    chars = os.path.getsize(path)
    count, config = _line_counter(cp)

    def trial() -> int:
        count[0] = 0
        with cp.mod.scoped(config):
            result = cmd.run_sync()
        whole = result.stdout is not None and len(result.stdout) == chars
        return count[0] if result.ok and whole else -1

    return trial


def cuprum_stream_lines(path: str) -> Trial:
    """``with cmd.stream(output=...) as s: for ev in s`` counting stdout lines.

    Issue 10's pull-based streaming, with the ``lines`` scenario's options
    (``capture=False``), so it compares with the observe hook like for like.
    Skipped, with the reason, while ``SafeCmd`` has no ``stream``.
    """
    cp = _Cuprum()
    cmd: typ.Any = cp.cat(path)  # Any: stream() may not exist in the cuprum measured
    if not callable(getattr(cmd, "stream", None)):
        raise Skipped("cuprum.sh.SafeCmd has no stream() method (issue 10's pull-based streaming)")
    options = cp.mod.RunOutputOptions(capture=False)

    def trial() -> int:
        n = 0
        with cmd.stream(output=options) as s:
            for event in s:
                if event.phase == "stdout":
                    n += 1
        return n if s.result.ok else -1

    return trial


#: The cap of the capped-memory scenario: 1 MiB, or a quarter of a smaller
#: payload so that the cap is always hit.
CAP_BYTES = 1 << 20


def capped_bytes(size: int) -> int:
    """The ``max_bytes`` a capped capture of a ``size``-byte payload uses."""
    return min(CAP_BYTES, size // 4)


def cuprum_capped_capture(path: str) -> Trial:
    """``run_sync(output=RunOutputOptions(max_bytes=CAP, on_overflow="truncate"))``.

    Issue 10's bounded capture; the worker reports its peak RSS growth. A
    trial counts only when the result says it was truncated. Skipped, with
    the reason, while ``RunOutputOptions`` has no ``max_bytes``.
    """
    cp = _Cuprum()
    options = cp.output_options(max_bytes=capped_bytes(os.path.getsize(path)), on_overflow="truncate")
    cmd = cp.cat(path)

    def trial() -> int:
        result: typ.Any = cmd.run_sync(output=options)  # Any: truncated may not exist yet
        if result.truncated is not True or result.stdout is None:
            return -1
        return len(result.stdout)

    return trial


def cuprum_spawn_sync(_path: str) -> Trial:
    """200 sequential ``TRUE().run_sync()``."""
    cmd = _Cuprum().true()

    def trial() -> int:
        return sum(1 for _ in range(SPAWNS) if cmd.run_sync().ok)

    return trial


def cuprum_spawn_async(_path: str) -> Trial:
    """200 sequential ``await TRUE().run()`` in one event loop."""
    cmd = _Cuprum().true()

    async def many() -> int:
        ok = 0
        for _ in range(SPAWNS):
            ok += (await cmd.run()).ok
        return ok

    return lambda: asyncio.run(many())


# --- subprocess --------------------------------------------------------------


def subprocess_capture(path: str) -> Trial:
    """``subprocess.run(["cat", F], capture_output=True, text=True)``."""

    def trial() -> int:
        return len(subprocess.run(["cat", path], capture_output=True, text=True, check=True).stdout)

    return trial


def subprocess_pipeline(path: str) -> Trial:
    """A ``Popen`` chain of four cats, the last one's stdout captured as text."""

    def trial() -> int:
        procs = [subprocess.Popen(["cat", path], stdout=subprocess.PIPE)]
        for _ in range(2):
            prev = procs[-1]
            procs.append(subprocess.Popen(["cat"], stdin=prev.stdout, stdout=subprocess.PIPE))
            assert prev.stdout is not None  # noqa: S101
            prev.stdout.close()
        prev = procs[-1]
        last = subprocess.Popen(["cat"], stdin=prev.stdout, stdout=subprocess.PIPE, text=True)
        assert prev.stdout is not None  # noqa: S101
        prev.stdout.close()
        out, _ = last.communicate()
        codes = [p.wait() for p in procs] + [last.returncode]
        return len(out) if not any(codes) else -1

    return trial


def subprocess_lines(path: str) -> Trial:
    """``for line in proc.stdout`` over ``Popen(["cat", F], text=True)``."""

    def trial() -> int:
        with subprocess.Popen(["cat", path], stdout=subprocess.PIPE, text=True) as proc:
            assert proc.stdout is not None  # noqa: S101
            n = sum(1 for _ in proc.stdout)
        return n if proc.returncode == 0 else -1

    return trial


def subprocess_spawn_sync(_path: str) -> Trial:
    """200 x ``subprocess.run(["true"])``."""
    return lambda: sum(1 for _ in range(SPAWNS) if subprocess.run(["true"]).returncode == 0)


def subprocess_spawn_async(_path: str) -> Trial:
    """200 x ``asyncio.create_subprocess_exec("true")`` in one loop."""

    async def many() -> int:
        ok = 0
        for _ in range(SPAWNS):
            proc = await asyncio.create_subprocess_exec("true")
            ok += await proc.wait() == 0
        return ok

    return lambda: asyncio.run(many())


# --- plumbum -------------------------------------------------------------------


def _plumbum() -> typ.Any:
    try:
        import plumbum
    except ImportError as exc:
        raise Missing(f"plumbum not installed: {exc}") from exc
    return plumbum.local


def plumbum_capture(path: str) -> Trial:
    """``local["cat"][F]()``."""
    cmd = _plumbum()["cat"][path]
    return lambda: len(cmd())


def plumbum_pipeline(path: str) -> Trial:
    """``(cat[F] | cat | cat | cat)()``."""
    local = _plumbum()
    cat = local["cat"]
    pipe = cat[path] | cat | cat | cat
    return lambda: len(pipe())


def plumbum_lines(path: str) -> Trial:
    """``for out, _err in cat[F].popen().iter_lines()``."""
    cmd = _plumbum()["cat"][path]

    def trial() -> int:
        proc = cmd.popen()
        n = 0
        for out, _err in proc.iter_lines():
            if out is not None:
                n += 1
        return n

    return trial


def plumbum_spawn_sync(_path: str) -> Trial:
    """200 x ``local["true"]()``."""
    cmd = _plumbum()["true"]

    def trial() -> int:
        for _ in range(SPAWNS):
            cmd()
        return SPAWNS

    return trial


# --- sh ------------------------------------------------------------------------

# sh gives the child a pseudo-terminal by default (cat's "\n" would reach us
# as "\r\n") and reads line by line into a deque that keeps only the last
# 3 * 1024**2 chunks. The fair configuration: plain pipes and 64 KiB chunks.
SH_OPTIONS: dict[str, object] = {"_tty_out": False, "_out_bufsize": 65536}


def _sh() -> typ.Any:
    try:
        import sh
    except ImportError as exc:
        raise Missing(f"sh not installed: {exc}") from exc
    return sh


def sh_capture(path: str) -> Trial:
    """``str(sh.cat(F, _tty_out=False, _out_bufsize=65536))``."""
    sh = _sh()
    return lambda: len(str(sh.cat(path, **SH_OPTIONS)))


def sh_pipeline(path: str) -> Trial:
    """``sh.cat(sh.cat(sh.cat(sh.cat(F, _piped=True), _piped=True), ...))``."""
    sh = _sh()

    def trial() -> int:
        stage = sh.cat(path, _piped=True, **SH_OPTIONS)
        for _ in range(2):
            stage = sh.cat(stage, _piped=True, **SH_OPTIONS)
        return len(str(sh.cat(stage, **SH_OPTIONS)))

    return trial


def sh_lines(path: str) -> Trial:
    """``for line in sh.cat(F, _iter=True, _tty_out=False)`` (line-buffered)."""
    sh = _sh()
    return lambda: sum(1 for _ in sh.cat(path, _iter=True, _tty_out=False))


def sh_spawn_sync(_path: str) -> Trial:
    """200 x ``sh.true()``."""
    sh = _sh()

    def trial() -> int:
        for _ in range(SPAWNS):
            sh.true()
        return SPAWNS

    return trial


#: The cuprum columns' scenarios: the same code under each stream backend.
_CUPRUM: dict[str, Factory] = {
    "capture": cuprum_capture,
    "pipeline": cuprum_pipeline,
    "lines": cuprum_lines,
    "spawn-sync": cuprum_spawn_sync,
    "spawn-async": cuprum_spawn_async,
    "memory": cuprum_capture,
    "lines-capture": cuprum_lines_capture,
    "spawn-concurrent": fanout.cuprum_spawn_concurrent,
    "pipelines-concurrent": fanout.cuprum_pipelines_concurrent,
    "pipelines-discard": fanout.cuprum_pipelines_discard,
    "stream": cuprum_stream_lines,
    "capped-memory": cuprum_capped_capture,
}

PATHWAYS: dict[str, dict[str, Factory]] = {
    "floor": {
        "capture": floor_capture,
        "pipeline": floor_pipeline,
        "lines": floor_lines,
        "spawn-sync": floor_spawn,
        "spawn-async": floor_spawn,
        "lines-capture": floor_lines,
        "spawn-concurrent": fanout.floor_spawn_concurrent,
        "pipelines-concurrent": fanout.floor_pipelines_concurrent,
        "pipelines-discard": fanout.floor_pipelines_discard,
    },
    # one set of cuprum scenarios, run once per stream backend (BACKENDS)
    "native": _CUPRUM,
    "pure": _CUPRUM,
    "subprocess": {
        "capture": subprocess_capture,
        "pipeline": subprocess_pipeline,
        "lines": subprocess_lines,
        "spawn-sync": subprocess_spawn_sync,
        "spawn-async": subprocess_spawn_async,
        "memory": subprocess_capture,
        "lines-capture": subprocess_lines,
        "spawn-concurrent": fanout.asyncio_spawn_concurrent,
        "pipelines-concurrent": fanout.asyncio_pipelines_concurrent,
        "pipelines-discard": fanout.asyncio_pipelines_discard,
    },
    "plumbum": {
        "capture": plumbum_capture,
        "pipeline": plumbum_pipeline,
        "lines": plumbum_lines,
        "spawn-sync": plumbum_spawn_sync,
        "memory": plumbum_capture,
    },
    "sh": {
        "capture": sh_capture,
        "pipeline": sh_pipeline,
        "lines": sh_lines,
        "spawn-sync": sh_spawn_sync,
        "memory": sh_capture,
    },
    # the C column (bench/cdrivers.py)
    **{pathway: cdrivers.scenarios(driver) for pathway, driver in cdrivers.DRIVERS.items()},
}

#: The stream backend each cuprum column forces.
BACKENDS = {"native": "native", "pure": "python"}
