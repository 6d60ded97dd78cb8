# SPDX-License-Identifier: ISC
"""Builder for ``rsync`` synchronisation commands.

Both paths go through :func:`~cuprum.builders.args.local_path`
(:func:`~cuprum.builders.args.safe_path`, absolute by default, and a ``:``
before the first ``/`` made local with ``./`` or, for a drive letter,
refused), so neither can be read by rsync as an option or a remote spec
built from user input.
"""

from __future__ import annotations

import dataclasses as dc
import typing as typ

from cuprum.builders._command import build_command
from cuprum.builders.args import local_path

if typ.TYPE_CHECKING:
    import os

    from cuprum.sh import SafeCmd


@dc.dataclass(frozen=True, slots=True)
class RsyncOptions:
    """Flags for :func:`rsync_sync`; every one is off by default.

    ``allow_relative`` applies to both the source and the destination.
    """

    archive: bool = False
    delete: bool = False
    dry_run: bool = False
    verbose: bool = False
    compress: bool = False
    allow_relative: bool = False


# The order flags appear in argv is part of the builder's contract.
_FLAGS: tuple[tuple[str, str], ...] = (
    ("archive", "--archive"),
    ("delete", "--delete"),
    ("dry_run", "--dry-run"),
    ("verbose", "--verbose"),
    ("compress", "--compress"),
)


def _rsync_argv(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    options: RsyncOptions,
) -> tuple[str, ...]:
    """Return the argv (after ``rsync``) for :func:`rsync_sync`."""
    flags = tuple(flag for name, flag in _FLAGS if getattr(options, name))
    relative = options.allow_relative
    return (
        *flags,
        local_path(source, allow_relative=relative, tool="rsync"),
        local_path(destination, allow_relative=relative, tool="rsync"),
    )


def rsync_sync(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    options: RsyncOptions | None = None,
) -> SafeCmd:
    """Build ``rsync [flags] SOURCE DESTINATION``.

    Parameters
    ----------
    source, destination:
        Paths to copy from and to.
    options:
        Flags; ``None`` means ``RsyncOptions()`` (no flags, absolute paths).

    Returns
    -------
    SafeCmd
        The assembled ``rsync`` command.

    Raises
    ------
    TypeError
        A path is not a ``str`` or path-like object.
    ValueError
        A path fails :func:`~cuprum.builders.args.safe_path` (for example it
        is relative while ``allow_relative`` is false).
    """
    argv = _rsync_argv(source, destination, options or RsyncOptions())
    return build_command("RSYNC", argv)


__all__ = ["RsyncOptions", "rsync_sync"]
