# SPDX-License-Identifier: ISC
"""Validated argument types shared by the command builders.

The builders never hand a caller's raw string to a curated program. Paths go
through :func:`safe_path` and git references through :func:`git_ref` first, so
an argument can never smuggle in an option (``-rf``), climb out of a tree
(``..``) or truncate a C string (NUL). Each rejection has a reason enum whose
value is the exact ``ValueError`` message, so callers and tests can reason
about *why* a value was refused, not only *that* it was.

Only the validators and their result types are public (``__all__``); the
classifiers and reason enums are importable helpers for in-tree code and tests.
"""

from __future__ import annotations

import enum
import os
import re
import typing as typ
from pathlib import PurePath, PurePosixPath

SafePath = typ.NewType("SafePath", str)
"""A path string that passed :func:`safe_path`."""

GitRef = typ.NewType("GitRef", str)
"""A git ref or object name that passed :func:`git_ref`."""

# git check-ref-format allows more than this; we accept a conservative subset
# that is never special to git, a shell or an option parser.
_GIT_REF_CHARS = re.compile(r"[A-Za-z0-9._/-]+")

# A Windows drive path ("C:\\x" or "C:/x") is absolute even though a POSIX
# PurePath does not say so; treat it as absolute so callers on mixed systems
# get the same answer everywhere.
_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:[\\/]")


class PathRejection(enum.Enum):
    """Why :func:`safe_path` refused a path; the value is the error message.

    Members are listed in the order the checks run, and
    :func:`classify_path_string` reports the first that applies.
    """

    EMPTY = "SafePath cannot be empty"
    NUL = "SafePath cannot contain NUL characters"
    LEADING_DASH = "SafePath cannot start with '-' (it would be read as an option)"
    PARENT_SEGMENT = "SafePath cannot contain '..' segments"
    NOT_ABSOLUTE = "SafePath requires an absolute path by default"


class GitRefRejection(enum.Enum):
    """Why :func:`git_ref` refused a value; the value is the error message.

    Members are listed in the order the checks run, and
    :func:`classify_git_ref` reports the first that applies.
    """

    EMPTY = "GitRef cannot be empty"
    LEADING_DASH = "GitRef cannot start with '-'"
    WHITESPACE = "GitRef cannot contain whitespace"
    SLASH_BOUNDARY = "GitRef cannot start or end with '/'"
    LOCK_SUFFIX = "GitRef cannot end with '.lock'"
    DOT_SUFFIX = "GitRef cannot end with '.'"
    PARENT_SEQUENCE = "GitRef cannot contain '..'"
    DOUBLE_SLASH = "GitRef cannot contain '//' sequences"
    AT_BRACE = "GitRef cannot contain '@{' sequences"
    COMPONENT_LEADING_DOT = "GitRef components cannot start with '.'"
    COMPONENT_LOCK_SUFFIX = "GitRef components cannot end with '.lock'"
    UNSUPPORTED_CHARS = "GitRef contains unsupported characters"


def _path_text(value: object) -> str:
    """Return ``value`` as a path string, or raise ``TypeError``.

    Accepts ``str`` and ``os.PathLike[str]``; bytes paths are refused because
    the curated commands take text argv and a silent decode could change them.
    """
    try:
        text = os.fspath(value)  # type: ignore[call-overload]
    except TypeError:
        text = None
    if not isinstance(text, str):
        msg = f"SafePath expects str or Path, got {type(value).__name__}"
        raise TypeError(msg)
    if isinstance(value, PurePath):
        return value.as_posix()
    return text


def _normalise(raw_value: str) -> str:
    """Collapse redundant separators and ``.`` segments, POSIX style."""
    return PurePosixPath(raw_value).as_posix()


def classify_path_string(
    raw_value: str,
    *,
    allow_relative: bool,
) -> PathRejection | None:
    """Return the first reason ``raw_value`` is not a safe path, or ``None``.

    The leading-dash check looks at the *normalised* form, because
    normalisation turns ``./-x`` into ``-x``, which a program would take as an
    option.

    >>> classify_path_string("", allow_relative=False)
    <PathRejection.EMPTY: 'SafePath cannot be empty'>
    >>> classify_path_string("/etc/hosts", allow_relative=False) is None
    True
    """
    if not raw_value:
        return PathRejection.EMPTY
    if "\x00" in raw_value:
        return PathRejection.NUL
    if raw_value.startswith("-") or _normalise(raw_value).startswith("-"):
        return PathRejection.LEADING_DASH
    if ".." in PurePosixPath(raw_value).parts:
        return PathRejection.PARENT_SEGMENT
    is_absolute = raw_value.startswith("/") or bool(_WINDOWS_ABSOLUTE.match(raw_value))
    if not allow_relative and not is_absolute:
        return PathRejection.NOT_ABSOLUTE
    return None


def safe_path(value: str | os.PathLike[str], *, allow_relative: bool = False) -> SafePath:
    """Validate and normalise a filesystem path for use as one argv item.

    Parameters
    ----------
    value:
        A ``str`` or path-like object (``pathlib.Path`` and friends).
    allow_relative:
        Permit relative paths. Off by default so that a builder never resolves
        a path against whatever the working directory happens to be.

    Returns
    -------
    SafePath
        The POSIX-normalised path (``/a//b/./c`` becomes ``/a/b/c``).

    Raises
    ------
    TypeError
        ``value`` is not a ``str`` or ``os.PathLike[str]``.
    ValueError
        The path is empty, contains NUL, starts with ``-``, has a ``..``
        segment, or is relative while ``allow_relative`` is false. The message
        names which.
    """
    raw_value = _path_text(value)
    rejection = classify_path_string(raw_value, allow_relative=allow_relative)
    if rejection is not None:
        raise ValueError(rejection.value)
    return SafePath(_normalise(raw_value))


def local_path(value: str | os.PathLike[str], *, allow_relative: bool, tool: str) -> str:
    """:func:`safe_path` for a program that reads ``HOST:PATH`` as a remote
    spec (``tar``, ``rsync``): a ``:`` before the first ``/`` would send
    it to a host. A relative path such as ``2024-01-01T10:00.log`` is
    passed as ``./2024-01-01T10:00.log``, the same file; a Windows drive
    path (``C:/x``, which :func:`safe_path` takes for absolute) is refused,
    since on POSIX it is neither absolute nor local to ``tool``."""
    path = safe_path(value, allow_relative=allow_relative)
    if ":" not in path.split("/", 1)[0]:
        return path
    if _WINDOWS_ABSOLUTE.match(path):
        msg = (
            f"{tool} would read {path!r} as the remote HOST:PATH {path.split(':', 1)[0]!r}: "
            f"a drive letter does not make a path absolute here"
        )
        raise ValueError(msg)
    return f"./{path}"


def classify_git_ref(value: str) -> GitRefRejection | None:
    """Return the first reason ``value`` is not an acceptable ref, or ``None``.

    >>> classify_git_ref("main") is None
    True
    >>> classify_git_ref("a..b")
    <GitRefRejection.PARENT_SEQUENCE: "GitRef cannot contain '..'">
    """
    parts = value.split("/")
    ordered_checks: tuple[tuple[bool, GitRefRejection], ...] = (
        (not value, GitRefRejection.EMPTY),
        (value.startswith("-"), GitRefRejection.LEADING_DASH),
        (any(ch.isspace() for ch in value), GitRefRejection.WHITESPACE),
        (value.startswith("/") or value.endswith("/"), GitRefRejection.SLASH_BOUNDARY),
        (value.endswith(".lock"), GitRefRejection.LOCK_SUFFIX),
        (value.endswith("."), GitRefRejection.DOT_SUFFIX),
        (".." in value, GitRefRejection.PARENT_SEQUENCE),
        ("//" in value, GitRefRejection.DOUBLE_SLASH),
        ("@{" in value, GitRefRejection.AT_BRACE),
        # git check-ref-format's rules for each slash-separated component.
        (any(part.startswith(".") for part in parts), GitRefRejection.COMPONENT_LEADING_DOT),
        (any(part.endswith(".lock") for part in parts), GitRefRejection.COMPONENT_LOCK_SUFFIX),
        (_GIT_REF_CHARS.fullmatch(value) is None, GitRefRejection.UNSUPPORTED_CHARS),
    )
    for failed, reason in ordered_checks:
        if failed:
            return reason
    return None


def git_ref(value: str) -> GitRef:
    """Validate a git ref name or object name for use as one argv item.

    Parameters
    ----------
    value:
        A branch, tag, remote-tracking ref or hex object name.

    Returns
    -------
    GitRef
        ``value`` unchanged, typed as validated.

    Raises
    ------
    TypeError
        ``value`` is not a ``str``.
    ValueError
        ``value`` is empty, starts with ``-``, contains whitespace, ``..``,
        ``//`` or ``@{``, starts or ends with ``/``, ends with ``.`` or
        ``.lock``, or uses characters outside ``[A-Za-z0-9._/-]``. The message
        names which.
    """
    if not isinstance(value, str):
        msg = f"GitRef expects str, got {type(value).__name__}"
        raise TypeError(msg)
    rejection = classify_git_ref(value)
    if rejection is not None:
        raise ValueError(rejection.value)
    return GitRef(value)


__all__ = ["GitRef", "SafePath", "git_ref", "safe_path"]
