# SPDX-License-Identifier: ISC
"""Opening what a run's children read and write instead of cuprum's pipes.

A ``StdinInput(path=...)`` or ``(fd=...)`` for the first stage and every
stage's ``redirect`` targets are opened (or, for a lent descriptor, checked
and duplicated) here, all of them before the first stage is spawned: a path
that cannot be opened is an ``OSError`` naming it while no process exists
yet, and whatever was already opened is closed. Every descriptor made here
is close-on-exec in the parent; the child gets it through ``Popen``'s
``stdin``/``stdout``/``stderr`` (a ``dup2``), so the data never passes
through Python. Relative paths are relative to the run's working directory,
as they would be for a shell running the command there.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import typing as typ

if typ.TYPE_CHECKING:
    from cuprum._exec.command import Command
    from cuprum._exec.plan import RunPlan
    from cuprum._redirects import Target

#: ``Stdio.stderr[i]`` when stage ``i`` sends stderr to its stdout.
MERGE = subprocess.STDOUT
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC


class Stdio:
    """The descriptors opened for one run (-1: none), owned until closed."""

    __slots__ = ("stderr", "stdin", "stdout")

    def __init__(self, count: int) -> None:
        self.stdin = -1
        self.stdout = [-1] * count
        #: A descriptor, -1, or :data:`MERGE`.
        self.stderr = [-1] * count

    def take_stdin(self) -> int:
        """Hand the first stage's stdin descriptor over to the caller."""
        fd, self.stdin = self.stdin, -1
        return fd

    def close(self) -> None:
        """Close every descriptor still held (the children have their own)."""
        fds = [self.take_stdin(), *self.stdout, *self.stderr]
        self.stdout = [-1] * len(self.stdout)
        self.stderr = [-1] * len(self.stderr)
        for fd in fds:
            if fd >= 0:
                os.close(fd)


def _where(path: str | bytes, cwd: str | None) -> str | bytes:
    if cwd is None or os.path.isabs(path):
        return path
    if isinstance(path, bytes):
        return os.path.join(os.fsencode(cwd), path)
    return os.path.join(cwd, path)


def _who(plan: RunPlan, index: int, cmd: Command) -> str:
    return f"stage {index} ({cmd.program})" if plan.pipeline else f"'{cmd.program}'"


def _open_failed(exc: OSError, what: str, path: str | bytes) -> OSError:
    return OSError(exc.errno, f"cannot open {what}: {exc.strerror or exc}", path)


def lend(fd: int, what: str, *, write: bool) -> int:
    """Return a close-on-exec duplicate of the caller's ``fd``.

    ``OSError`` naming ``what`` when ``fd`` is not open, or not open for
    the direction the child needs. The caller's descriptor is left alone.
    """
    try:
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError as exc:
        msg = f"{what} {fd} is not an open descriptor: {exc.strerror or exc}"
        raise OSError(exc.errno, msg) from None
    if mode == (os.O_RDONLY if write else os.O_WRONLY):
        direction = "writing" if write else "reading"
        msg = f"{what} {fd} is not open for {direction}"
        raise OSError(errno.EBADF, msg)
    return os.dup(fd)  # non-inheritable: close-on-exec in the parent


def _open_input(path: str | bytes, cwd: str | None) -> int:
    where = _where(path, cwd)
    what = "the stdin file (StdinInput.path)"
    try:
        fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _open_failed(exc, what, where) from None
    try:
        is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
    except BaseException:
        os.close(fd)
        raise
    if is_dir:
        os.close(fd)
        raise IsADirectoryError(errno.EISDIR, f"cannot read {what}: Is a directory", where)
    return fd


def _open_output(target: Target, stream: str, who: str, cwd: str | None) -> int:
    if target.fd is not None:
        return lend(target.fd, f"the {stream} redirect of {who}: descriptor", write=True)
    assert target.path is not None  # noqa: S101
    where = _where(target.path, cwd)
    flags = _WRITE_FLAGS | (os.O_APPEND if target.append else os.O_TRUNC)
    try:
        # 0o666 less the umask, as a shell creates a redirect's file.
        return os.open(where, flags, 0o666)
    except OSError as exc:
        raise _open_failed(exc, f"the {stream} redirect of {who}", where) from None


def open_stdio(plan: RunPlan) -> Stdio:
    """Open the stdin source and every redirect target of ``plan``.

    Raises ``OSError`` (naming the path or descriptor and the stage) with
    nothing left open when one of them fails.
    """
    stdio = Stdio(len(plan.commands))
    try:
        source = plan.stdin
        if source is not None:
            if source.path is not None:
                stdio.stdin = _open_input(os.fspath(source.path), plan.cwd)
            elif source.fd is not None:
                stdio.stdin = lend(source.fd, "StdinInput.fd", write=False)
        for index, cmd in enumerate(plan.commands):
            redirects = cmd.redirects
            if redirects is None:
                continue
            who = _who(plan, index, cmd)
            if redirects.stdout is not None:
                stdio.stdout[index] = _open_output(redirects.stdout, "stdout", who, plan.cwd)
            if redirects.stderr is not None:
                if redirects.stderr.merge:
                    stdio.stderr[index] = MERGE
                else:
                    stdio.stderr[index] = _open_output(redirects.stderr, "stderr", who, plan.cwd)
    except BaseException:
        stdio.close()
        raise
    return stdio


__all__ = ["MERGE", "Stdio", "lend", "open_stdio"]
