# SPDX-License-Identifier: ISC
"""Where a command's stdout and stderr go when they are not piped to cuprum.

``SafeCmd.redirect`` builds a :class:`Redirects` value here; the execution
core opens its targets just before the first stage is spawned
(``cuprum._exec.stdio``). Checks that need no file system (types, empty
paths, a stdout redirect in the middle of a pipeline) are made when the
command or pipeline is built. It imports only ``cuprum._validate``.
"""

from __future__ import annotations

import dataclasses as dc
import os
import typing as typ

from cuprum._validate import check_fd, check_path

if typ.TYPE_CHECKING:
    import collections.abc as cabc

#: ``SafeCmd.redirect(stderr=MERGE)``: stderr goes wherever stdout goes.
MERGE = "stdout"

@dc.dataclass(frozen=True, slots=True)
class Target:
    """One redirected stream: a path to open, a lent descriptor, or a merge.

    ``path`` is the ``os.fspath`` of what the caller gave; ``append`` opens
    it with ``O_APPEND`` instead of ``O_TRUNC``. ``fd`` is the caller's
    descriptor, dup'd for the child and never closed by cuprum. ``merge``
    (stderr only) sends stderr to the child's stdout, as ``2>&1`` does.
    """

    path: str | bytes | None = None
    fd: int | None = None
    append: bool = False
    merge: bool = False

    def describe(self) -> str:
        """How the target reads in an error message."""
        if self.merge:
            return "stdout"
        if self.fd is not None:
            return f"descriptor {self.fd}"
        return repr(self.path)


@dc.dataclass(frozen=True, slots=True)
class Redirects:
    """The redirected streams of one command (``None``: not redirected)."""

    stdout: Target | None = None
    stderr: Target | None = None


def _target(value: object, stream: str, append: bool) -> Target:
    what = f"redirect {stream}="
    if isinstance(value, int) and not isinstance(value, bool):
        return Target(fd=check_fd(value, what))
    if stream == "stderr" and isinstance(value, str) and value == MERGE:
        return Target(merge=True)
    if stream == "stdout" and isinstance(value, str) and value == "stderr":
        msg = (
            "redirect(stdout='stderr') is not supported (only stderr='stdout' merges); "
            "for a file of that name pass pathlib.Path('stderr')"
        )
        raise ValueError(msg)
    if isinstance(value, bool) or not isinstance(value, (str, bytes, os.PathLike)):
        merge = " or 'stdout'" if stream == "stderr" else ""
        msg = (
            f"{what} must be a path (str or os.PathLike), a file descriptor (int)"
            f"{merge}, got {type(value).__name__}"
        )
        raise TypeError(msg)
    return Target(path=check_path(value, what), append=append)


def redirected(
    current: Redirects | None,
    stdout: object,
    stderr: object,
    append: object,
) -> Redirects:
    """Return ``current`` with the streams given (not ``None``) replaced.

    ``append`` applies to the paths given in this call; it is a
    ``ValueError`` when this call gives no path, since it would mean nothing.
    """
    if not isinstance(append, bool):
        msg = f"redirect append= must be a bool, got {type(append).__name__}"
        raise TypeError(msg)
    if stdout is None and stderr is None:
        msg = "redirect() needs stdout= or stderr="
        raise ValueError(msg)
    out = None if stdout is None else _target(stdout, "stdout", append)
    err = None if stderr is None else _target(stderr, "stderr", append)
    if append and all(t is None or t.path is None for t in (out, err)):
        msg = "redirect(append=True) needs a path to append to (stdout= or stderr=)"
        raise ValueError(msg)
    base = current if current is not None else Redirects()
    return Redirects(
        stdout=base.stdout if out is None else out,
        stderr=base.stderr if err is None else err,
    )


class _Stage(typ.Protocol):
    @property
    def program(self) -> str: ...

    @property
    def redirects(self) -> Redirects | None: ...


def check_positions(stages: cabc.Sequence[_Stage]) -> None:
    """Raise ``ValueError`` naming a stage whose stdout is redirected but
    feeds the next stage (every stage but the last)."""
    for index, stage in enumerate(stages[:-1]):
        redirects = stage.redirects
        if redirects is not None and redirects.stdout is not None:
            msg = (
                f"pipeline stage {index} ({stage.program}) redirects its stdout to "
                f"{redirects.stdout.describe()}, but its stdout feeds stage "
                f"{index + 1}: only the last stage's stdout can be redirected"
            )
            raise ValueError(msg)


__all__ = ["MERGE", "Redirects", "Target", "check_positions", "redirected"]
