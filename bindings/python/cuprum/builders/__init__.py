# SPDX-License-Identifier: ISC
"""Typed, validated builders for the curated ``git``, ``rsync`` and ``tar``.

Each builder takes Python values, validates every path and ref
(:func:`safe_path`, :func:`git_ref`) and returns a ``SafeCmd`` made with
``cuprum.sh.make`` against the default catalogue, so the argv it produces can
contain no option or traversal the caller did not ask for.
"""

from __future__ import annotations

from cuprum.builders.args import GitRef, SafePath, git_ref, safe_path
from cuprum.builders.git import git_checkout, git_rev_parse, git_status
from cuprum.builders.rsync import RsyncOptions, rsync_sync
from cuprum.builders.tar import Compression, TarCreateOptions, tar_create, tar_extract

__all__ = [
    "Compression",
    "GitRef",
    "RsyncOptions",
    "SafePath",
    "TarCreateOptions",
    "git_checkout",
    "git_ref",
    "git_rev_parse",
    "git_status",
    "rsync_sync",
    "safe_path",
    "tar_create",
    "tar_extract",
]
