# SPDX-License-Identifier: ISC
"""Builders for ``tar`` create and extract commands.

Archive, source and destination paths all go through
:func:`~cuprum.builders.args.safe_path`; the archive, which tar would read
as a remote ``HOST:PATH`` when a ``:`` comes before the first ``/``, through
:func:`~cuprum.builders.args.local_path`. Compression is one
:class:`Compression` value, so "two algorithms at once" cannot be expressed;
the older per-algorithm booleans are still accepted for code written against
them, and a request naming two different algorithms is refused.
"""

from __future__ import annotations

import dataclasses as dc
import enum
import typing as typ
from pathlib import PurePath

from cuprum.builders._command import build_command
from cuprum.builders.args import local_path, safe_path

if typ.TYPE_CHECKING:
    import collections.abc as cabc
    import os

    from cuprum.sh import SafeCmd


class Compression(enum.Enum):
    """Compression algorithm for :func:`tar_create`.

    Members: ``NONE`` (no flag, the default), ``GZIP`` (``-z``),
    ``BZIP2`` (``-j``) and ``XZ`` (``-J``).
    """

    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"


_COMPRESSION_FLAG: dict[Compression, str | None] = {
    Compression.NONE: None,
    Compression.GZIP: "-z",
    Compression.BZIP2: "-j",
    Compression.XZ: "-J",
}


@dc.dataclass(frozen=True, slots=True)
class TarCreateOptions:
    """Settings for :func:`tar_create`.

    Attributes
    ----------
    compression:
        The algorithm; a :class:`Compression` member or its value
        (``"gzip"``...). Default ``Compression.NONE``.
    allow_relative:
        Permit relative archive and source paths. Default false.
    gzip, bzip2, xz:
        Keyword-only legacy switches, equivalent to the matching
        ``compression``; naming two different algorithms is an error.
    """

    compression: Compression = Compression.NONE
    allow_relative: bool = False
    gzip: bool = dc.field(default=False, kw_only=True)
    bzip2: bool = dc.field(default=False, kw_only=True)
    xz: bool = dc.field(default=False, kw_only=True)


def _resolve_compression(options: TarCreateOptions) -> Compression:
    """Return the single algorithm ``options`` asks for.

    Raises
    ------
    ValueError
        ``compression`` is not a known algorithm, or two different algorithms
        were requested.
    """
    try:
        chosen = Compression(options.compression)
    except ValueError:
        known = ", ".join(member.value for member in Compression)
        msg = f"Unknown tar compression {options.compression!r}; expected one of {known}"
        raise ValueError(msg) from None
    requested = {chosen} - {Compression.NONE}
    for flag, algorithm in (
        (options.gzip, Compression.GZIP),
        (options.bzip2, Compression.BZIP2),
        (options.xz, Compression.XZ),
    ):
        if flag:
            requested.add(algorithm)
    if len(requested) > 1:
        msg = "Select only one compression option for tar_create"
        raise ValueError(msg)
    return requested.pop() if requested else Compression.NONE


def _source_list(sources: object) -> tuple[object, ...]:
    """Return ``sources`` as a tuple, refusing a lone path and an empty list.

    A bare ``str`` is iterable, so without this check ``"/srv"`` would become
    four one-character sources.
    """
    if isinstance(sources, (str, PurePath)):
        if sources == "":
            msg = "tar_create requires at least one source path"
            raise ValueError(msg)
        msg = "tar_create requires a sequence of source paths, not a single path"
        raise TypeError(msg)
    items = tuple(typ.cast("cabc.Iterable[object]", sources))
    if not items:
        msg = "tar_create requires at least one source path"
        raise ValueError(msg)
    return items


def _tar_create_argv(
    archive: str | os.PathLike[str],
    sources: cabc.Sequence[str | os.PathLike[str]],
    options: TarCreateOptions,
) -> tuple[str, ...]:
    """Return the argv (after ``tar``) for :func:`tar_create`."""
    items = _source_list(sources)
    flag = _COMPRESSION_FLAG[_resolve_compression(options)]
    relative = options.allow_relative
    argv: list[str] = ["-c"]
    if flag is not None:
        argv.append(flag)
    argv += ["-f", local_path(archive, allow_relative=relative, tool="tar")]
    argv += [safe_path(item, allow_relative=relative) for item in items]  # type: ignore[arg-type]
    return tuple(argv)


def tar_create(
    archive: str | os.PathLike[str],
    sources: cabc.Sequence[str | os.PathLike[str]],
    *,
    options: TarCreateOptions | None = None,
) -> SafeCmd:
    """Build ``tar -c [-z|-j|-J] -f ARCHIVE SOURCE...``.

    Parameters
    ----------
    archive:
        The archive file to write.
    sources:
        One or more paths to add, in order (a sequence, not a single path).
    options:
        Settings; ``None`` means ``TarCreateOptions()``.

    Returns
    -------
    SafeCmd
        The assembled ``tar`` command.

    Raises
    ------
    TypeError
        ``sources`` is a single ``str``/``Path``, or a path has the wrong type.
    ValueError
        ``sources`` is empty, the compression request is invalid, or a path
        fails :func:`~cuprum.builders.args.safe_path`.
    """
    argv = _tar_create_argv(archive, sources, options or TarCreateOptions())
    return build_command("TAR", argv)


def _tar_extract_argv(
    archive: str | os.PathLike[str],
    destination: str | os.PathLike[str] | None,
    *,
    allow_relative: bool,
) -> tuple[str, ...]:
    """Return the argv (after ``tar``) for :func:`tar_extract`."""
    argv = ["-x", "-f", local_path(archive, allow_relative=allow_relative, tool="tar")]
    if destination is not None:
        argv += ["-C", safe_path(destination, allow_relative=allow_relative)]
    return tuple(argv)


def tar_extract(
    archive: str | os.PathLike[str],
    *,
    destination: str | os.PathLike[str] | None = None,
    allow_relative: bool = False,
) -> SafeCmd:
    """Build ``tar -x -f ARCHIVE [-C DESTINATION]``.

    Parameters
    ----------
    archive:
        The archive to read.
    destination:
        Directory to extract into; ``None`` extracts into the working
        directory of the run.
    allow_relative:
        Permit relative archive and destination paths. Default false.

    Returns
    -------
    SafeCmd
        The assembled ``tar`` command.

    Raises
    ------
    TypeError, ValueError
        A path fails :func:`~cuprum.builders.args.safe_path`.
    """
    argv = _tar_extract_argv(archive, destination, allow_relative=allow_relative)
    return build_command("TAR", argv)


__all__ = ["Compression", "TarCreateOptions", "tar_create", "tar_extract"]
