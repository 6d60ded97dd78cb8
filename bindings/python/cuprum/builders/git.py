# SPDX-License-Identifier: ISC
"""Builders for common ``git`` commands.

Refs go through :func:`~cuprum.builders.args.git_ref` so a caller-supplied ref
can never become an option (``--upload-pack=...``) or a revision expression,
and each builder tells git the ref is a revision (``checkout REF --``,
``rev-parse --verify REF``) so it can never be read as a path either: a ref
that names no branch but a file must fail, not check the file out.
Each builder has a pure ``_*_argv`` twin that returns the argv tuple without
touching the catalogue, which is what the public function hands to
``sh.make(GIT)``.
"""

from __future__ import annotations

import typing as typ

from cuprum.builders._command import build_command
from cuprum.builders.args import git_ref

if typ.TYPE_CHECKING:
    from cuprum.sh import SafeCmd


def _git_status_argv(*, short: bool, branch: bool) -> tuple[str, ...]:
    """Return the argv (after ``git``) for :func:`git_status`."""
    argv = ["status"]
    if short:
        argv.append("--short")
    if branch:
        argv.append("--branch")
    return tuple(argv)


def git_status(*, short: bool = False, branch: bool = False) -> SafeCmd:
    """Build ``git status``.

    Parameters
    ----------
    short:
        Add ``--short`` for the compact format.
    branch:
        Add ``--branch`` to report the branch and its tracking state.

    Returns
    -------
    SafeCmd
        ``git status [--short] [--branch]``.
    """
    return build_command("GIT", _git_status_argv(short=short, branch=branch))


def _git_checkout_argv(
    ref: str,
    *,
    create_branch: bool,
    detach: bool,
    force: bool,
) -> tuple[str, ...]:
    """Return the argv (after ``git``) for :func:`git_checkout`."""
    if create_branch and detach:
        msg = "create_branch and detach cannot both be True"
        raise ValueError(msg)
    argv = ["checkout"]
    if create_branch:
        # -B resets an existing branch, which is what "force" means here.
        argv.append("-B" if force else "-b")
    else:
        if detach:
            argv.append("--detach")
        if force:
            argv.append("--force")
    # "--" ends the revision: without it git takes a REF that names no branch
    # but a path as a pathspec and silently discards the path's changes.
    argv += [git_ref(ref), "--"]
    return tuple(argv)


def git_checkout(
    ref: str,
    *,
    create_branch: bool = False,
    detach: bool = False,
    force: bool = False,
) -> SafeCmd:
    """Build ``git checkout [-b|-B|--detach|--force] REF --`` for a validated ref.

    The ``--`` makes git take ``ref`` only as a branch or commit: a ref that
    resolves to none is an error (``invalid reference``) even when a file of
    that name exists, whose uncommitted changes are left alone.

    Parameters
    ----------
    ref:
        Branch, tag or commit to check out (or the new branch's name when
        ``create_branch`` is true).
    create_branch:
        Create the branch: ``-b``, or ``-B`` when ``force`` is also true.
    detach:
        Check out in detached-HEAD state (``--detach``).
    force:
        Discard local changes (``--force``), or reset an existing branch when
        combined with ``create_branch``.

    Returns
    -------
    SafeCmd
        The assembled ``git checkout`` command.

    Raises
    ------
    TypeError
        ``ref`` is not a ``str``.
    ValueError
        ``create_branch`` and ``detach`` are both true, or ``ref`` is not a
        valid ref (see :func:`~cuprum.builders.args.git_ref`).
    """
    argv = _git_checkout_argv(
        ref,
        create_branch=create_branch,
        detach=detach,
        force=force,
    )
    return build_command("GIT", argv)


def _git_rev_parse_argv(ref: str) -> tuple[str, ...]:
    """Return the argv (after ``git``) for :func:`git_rev_parse`."""
    # --verify: exactly one revision, printed as its object id; a ref that
    # names no object (a file, say) is an error rather than echoed back.
    return ("rev-parse", "--verify", git_ref(ref))


def git_rev_parse(ref: str) -> SafeCmd:
    """Build ``git rev-parse --verify REF`` for a validated ref.

    Prints the object id ``ref`` names; a ref that names no object is a
    non-zero exit with nothing on stdout, even when a file of that name
    exists.

    Raises
    ------
    TypeError
        ``ref`` is not a ``str``.
    ValueError
        ``ref`` is not a valid ref (see :func:`~cuprum.builders.args.git_ref`).
    """
    return build_command("GIT", _git_rev_parse_argv(ref))


__all__ = ["git_checkout", "git_rev_parse", "git_status"]
