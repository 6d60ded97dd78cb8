# SPDX-License-Identifier: ISC
"""Creating pipes and starting the children of a run.

Pipes cuprum creates are close-on-exec. Each one the parent reads (the last
stdout, every stage's stderr) is enlarged with ``F_SETPIPE_SZ`` to
``/proc/sys/fs/pipe-max-size`` once 64 KiB came through it
(:class:`~cuprum._exec.channels.Channel` calls :func:`grow_pipe`), so the
reader of a large output wakes once per megabyte rather than per 64 KiB,
and a short output costs no enlarging. Every other pipe keeps the kernel's
64 KiB. Between stages, where two children copy through the ring, a small
ring's pages stay in cache, and 1 MiB there cost wall and CPU time
(docs/performance.md, "Pipe size between stages in the Python engines";
libcuprum's pipelines do the same); an unprivileged user's enlarged pipes
also count against ``/proc/sys/fs/pipe-user-pages-soft`` (64 MiB by
default), past which each new pipe of that user gets 8 KiB and cannot be
enlarged. Failure to enlarge is ignored, since a smaller pipe is slower,
never wrong.

Pipeline stages are connected by kernel pipes directly, so data between
stages never passes through Python. The parent closes its copies of the
child's ends at once, which lets an early-exiting consumer deliver
SIGPIPE/EPIPE to its producer exactly as in a shell pipeline. Children are
spawned by the engine's ``spawn`` when it has one (the native engine:
libcuprum's ``cuprum_cmd_spawn``, posix_spawn), else by ``subprocess.Popen``
(vfork), both with the default ``SIGPIPE`` and ``SIGXFSZ`` (Python ignores
them) and the parent's signal mask, never a plain fork of a large parent. Either way the child is a
:class:`~cuprum._engine.ChildProcess` and the same Python lifecycle reaps
and stops it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import typing as typ

if typ.TYPE_CHECKING:
    from cuprum._engine import ChildProcess
    from cuprum._exec.plan import RunPlan

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
_max_size: int | None = None


def max_pipe_size() -> int:
    """Return ``/proc/sys/fs/pipe-max-size`` (read once), or 0 when unknown."""
    global _max_size
    if _max_size is None:
        try:
            with open("/proc/sys/fs/pipe-max-size", "rb") as handle:
                _max_size = int(handle.read())
        except (OSError, ValueError):
            _max_size = 0
    return _max_size


def grow_pipe(fd: int) -> None:
    """Enlarge pipe ``fd`` (either end) to ``pipe-max-size``, never shrink
    it; a refusal (the user's quota, an old kernel) leaves it as it was."""
    size = max_pipe_size()
    try:
        if size > fcntl.fcntl(fd, _F_GETPIPE_SZ):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, size)
    except OSError:
        pass


def make_pipe() -> tuple[int, int]:
    """Create a close-on-exec pipe ``(read_fd, write_fd)`` of the kernel's size."""
    return os.pipe2(os.O_CLOEXEC)


class Started(typ.NamedTuple):
    """A started stage and the pipe ends its parent now owns (-1: none)."""

    proc: ChildProcess
    #: The child's pidfd, now the caller's (-1: none), or ``None`` when the
    #: spawner opened none and the caller may (``Popen``).
    pidfd: int | None
    #: Read end of the stage's stdout when the parent reads it.
    out_fd: int
    #: Read end of the stage's stderr when the parent reads it.
    err_fd: int
    #: Read end of the pipe feeding the next stage's stdin.
    next_stdin: int


def start_stage(
    plan: RunPlan,
    index: int,
    stdin: int | None,
    *,
    read_output: bool,
    stdout_to: int = -1,
    stderr_to: int = -1,
    process_group: int | None = None,
) -> Started:
    """Start stage ``index`` of ``plan`` with ``stdin`` (a descriptor, or
    ``None`` to inherit the parent's).

    ``stdout_to`` / ``stderr_to`` are redirect descriptors (-1: none;
    ``subprocess.STDOUT`` for stderr: merged into stdout); no pipe is made
    for a redirected stream, and the caller keeps ownership of them. Takes
    ownership of ``stdin`` (closed here, spawn or not). On failure every
    descriptor created here is closed and ``OSError`` names the program.

    ``process_group`` is passed to the spawner: ``None`` leaves the child in
    the parent's group, 0 makes it the leader of a new group, a pgid joins
    that group (see :meth:`~cuprum._exec.lifecycle.Lifecycle.spawn_group`).
    """
    cmd = plan.commands[index]
    last = index == len(plan.commands) - 1
    created: list[int] = []
    out_fd = err_fd = next_stdin = -1
    stdout: int
    stderr: int
    try:
        if not last:
            # The kernel's 64 KiB between stages, not pipe-max-size: over
            # 64 concurrent 4-stage pipelines of 16 MiB and one of 256 MiB,
            # both backends took 0.78x to 0.98x the wall time and 0.81x to
            # 1.05x the CPU time with it; 0.61x to 0.64x the CPU time of the
            # 64 captured ones when run by an unprivileged user, who passes
            # pipe-user-pages-soft (docs/performance.md, "Pipe size between
            # stages in the Python engines").
            next_stdin, stdout = make_pipe()
            created += (next_stdin, stdout)
        elif stdout_to >= 0:
            stdout = stdout_to
        elif read_output:
            # Grown by its channel once the output proves large.
            out_fd, stdout = make_pipe()
            created += (out_fd, stdout)
        else:
            stdout = subprocess.DEVNULL
        if stderr_to >= 0 or stderr_to == subprocess.STDOUT:
            stderr = stderr_to
        elif read_output:
            err_fd, stderr = make_pipe()
            created += (err_fd, stderr)
        else:
            stderr = subprocess.DEVNULL
        spawn = getattr(plan.engine, "spawn", None)
        pidfd: int | None = None
        try:
            if spawn is not None:
                native = spawn(
                    (cmd.program, *cmd.argv),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=plan.cwd,
                    env=plan.env,
                    process_group=process_group,
                )
                pidfd = native.take_pidfd()
                proc: ChildProcess = native
            else:
                proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
                    (cmd.program, *cmd.argv),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=plan.cwd,
                    env=plan.env,
                    close_fds=True,
                    restore_signals=True,
                    process_group=process_group,
                )
        except OSError as exc:
            what = exc.strerror or str(exc)
            msg = f"cannot execute program '{cmd.program}': {what}"
            raise OSError(exc.errno, msg, exc.filename) from exc
    except BaseException:
        for fd in created:
            os.close(fd)
        raise
    finally:
        # The child's ends: an early-exiting consumer must leave its
        # producer with no reader, so it gets SIGPIPE.
        if stdin is not None:
            os.close(stdin)
    for fd in (stdout, stderr):
        if fd >= 0 and fd not in (stdout_to, stderr_to):
            os.close(fd)
    return Started(proc, pidfd, out_fd, err_fd, next_stdin)


__all__ = ["Started", "grow_pipe", "make_pipe", "max_pipe_size", "start_stage"]
