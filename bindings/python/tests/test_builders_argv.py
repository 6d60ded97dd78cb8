# SPDX-License-Identifier: ISC
"""Tests for the argv each builder produces, and for its input checks.

The ``_*_argv`` helpers are the pure half of every builder, so these tests
need nothing from the execution layer. Validation errors are also checked
through the public builders: they are raised before any command is made.
"""

from __future__ import annotations

import dataclasses
import pathlib
import typing as typ

import pytest

from cuprum.builders import (
    Compression,
    RsyncOptions,
    TarCreateOptions,
    git_checkout,
    git_rev_parse,
    rsync_sync,
    tar_create,
    tar_extract,
)
from cuprum.builders.git import _git_checkout_argv, _git_rev_parse_argv, _git_status_argv
from cuprum.builders.rsync import _rsync_argv
from cuprum.builders.tar import _tar_create_argv, _tar_extract_argv

# --------------------------------------------------------------------- git


@pytest.mark.parametrize(
    ("short", "branch", "expected"),
    [
        (False, False, ("status",)),
        (True, False, ("status", "--short")),
        (False, True, ("status", "--branch")),
        (True, True, ("status", "--short", "--branch")),
    ],
)
def test_git_status_argv(short: bool, branch: bool, expected: tuple[str, ...]) -> None:
    assert _git_status_argv(short=short, branch=branch) == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, ("checkout", "main", "--")),
        ({"detach": True}, ("checkout", "--detach", "main", "--")),
        ({"force": True}, ("checkout", "--force", "main", "--")),
        ({"detach": True, "force": True}, ("checkout", "--detach", "--force", "main", "--")),
        ({"create_branch": True}, ("checkout", "-b", "main", "--")),
        ({"create_branch": True, "force": True}, ("checkout", "-B", "main", "--")),
    ],
)
def test_git_checkout_argv(flags: dict[str, bool], expected: tuple[str, ...]) -> None:
    options = {"create_branch": False, "detach": False, "force": False, **flags}
    assert _git_checkout_argv("main", **options) == expected


def test_git_checkout_rejects_create_branch_with_detach() -> None:
    with pytest.raises(ValueError, match="create_branch and detach cannot both be True"):
        git_checkout("main", create_branch=True, detach=True)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("--orphan", "GitRef cannot start with '-'"),
        ("a b", "GitRef cannot contain whitespace"),
        ("main..x", "GitRef cannot contain '..'"),
        ("", "GitRef cannot be empty"),
    ],
)
def test_git_builders_validate_refs(ref: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        git_checkout(ref)
    with pytest.raises(ValueError, match=message):
        git_rev_parse(ref)


def test_git_builders_reject_non_str_refs() -> None:
    with pytest.raises(TypeError, match="GitRef expects str, got int"):
        git_checkout(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="GitRef expects str, got NoneType"):
        git_rev_parse(None)  # type: ignore[arg-type]


def test_git_rev_parse_argv() -> None:
    assert _git_rev_parse_argv("HEAD") == ("rev-parse", "--verify", "HEAD")
    assert _git_rev_parse_argv("origin/main") == ("rev-parse", "--verify", "origin/main")


def test_git_builders_keyword_only_flags() -> None:
    with pytest.raises(TypeError):
        git_checkout("main", True)  # type: ignore[misc]


# ------------------------------------------------------------------- rsync


def test_rsync_options_defaults_and_immutability() -> None:
    options = RsyncOptions()
    assert dataclasses.asdict(options) == {
        "archive": False,
        "delete": False,
        "dry_run": False,
        "verbose": False,
        "compress": False,
        "allow_relative": False,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.archive = True  # type: ignore[misc]


def test_rsync_argv_without_flags() -> None:
    assert _rsync_argv("/src", "/dst", RsyncOptions()) == ("/src", "/dst")


def test_rsync_argv_flag_order_is_fixed() -> None:
    options = RsyncOptions(
        compress=True, verbose=True, dry_run=True, delete=True, archive=True
    )
    assert _rsync_argv(pathlib.Path("/src/"), "/dst", options) == (
        "--archive",
        "--delete",
        "--dry-run",
        "--verbose",
        "--compress",
        "/src",
        "/dst",
    )


@pytest.mark.parametrize(
    ("field", "flag"),
    [
        ("archive", "--archive"),
        ("delete", "--delete"),
        ("dry_run", "--dry-run"),
        ("verbose", "--verbose"),
        ("compress", "--compress"),
    ],
)
def test_rsync_each_flag(field: str, flag: str) -> None:
    assert _rsync_argv("/a", "/b", RsyncOptions(**{field: True})) == (flag, "/a", "/b")


def test_rsync_relative_paths_need_allow_relative() -> None:
    with pytest.raises(ValueError, match="SafePath requires an absolute path by default"):
        rsync_sync("src", "/dst")
    with pytest.raises(ValueError, match="SafePath requires an absolute path by default"):
        rsync_sync("/src", "dst")
    argv = _rsync_argv("src/", "./dst", RsyncOptions(allow_relative=True))
    assert argv == ("src", "dst")


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("/src/../etc", "/dst", "'..' segments"),
        ("/src", "/dst\x00", "NUL characters"),
        ("/src", "", "cannot be empty"),
    ],
)
def test_rsync_validates_both_paths(source: str, destination: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rsync_sync(source, destination)


def test_rsync_refuses_option_like_relative_paths() -> None:
    with pytest.raises(ValueError, match="cannot start with '-'"):
        rsync_sync("-e", "dst", options=RsyncOptions(allow_relative=True))


def test_rsync_options_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        rsync_sync("/a", "/b", RsyncOptions())  # type: ignore[misc]


# --------------------------------------------------------------------- tar


def test_compression_members() -> None:
    assert [(m.name, m.value) for m in Compression] == [
        ("NONE", "none"),
        ("GZIP", "gzip"),
        ("BZIP2", "bzip2"),
        ("XZ", "xz"),
    ]


def test_tar_create_options_defaults() -> None:
    options = TarCreateOptions()
    assert options.compression is Compression.NONE
    assert options.allow_relative is False
    assert (options.gzip, options.bzip2, options.xz) == (False, False, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.allow_relative = True  # type: ignore[misc]


def test_tar_create_argv_plain() -> None:
    argv = _tar_create_argv("/out.tar", ["/a", pathlib.Path("/b")], TarCreateOptions())
    assert argv == ("-c", "-f", "/out.tar", "/a", "/b")


@pytest.mark.parametrize(
    ("compression", "flag"),
    [(Compression.GZIP, "-z"), (Compression.BZIP2, "-j"), (Compression.XZ, "-J")],
)
def test_tar_create_argv_compression(compression: Compression, flag: str) -> None:
    argv = _tar_create_argv("/out", ["/a"], TarCreateOptions(compression=compression))
    assert argv == ("-c", flag, "-f", "/out", "/a")
    # The enum's value is accepted too.
    by_value = TarCreateOptions(compression=compression.value)  # type: ignore[arg-type]
    assert _tar_create_argv("/out", ["/a"], by_value) == argv


class _LegacyFlags(typ.TypedDict, total=False):
    """The legacy boolean compression flags of ``TarCreateOptions``."""

    gzip: bool
    bzip2: bool
    xz: bool


@pytest.mark.parametrize(
    ("legacy", "flag"),
    [({"gzip": True}, "-z"), ({"bzip2": True}, "-j"), ({"xz": True}, "-J")],
)
def test_tar_create_argv_legacy_booleans(legacy: _LegacyFlags, flag: str) -> None:
    argv = _tar_create_argv("/out", ["/a"], TarCreateOptions(**legacy))
    assert argv == ("-c", flag, "-f", "/out", "/a")


def test_tar_create_same_algorithm_twice_is_fine() -> None:
    options = TarCreateOptions(compression=Compression.GZIP, gzip=True)
    assert _tar_create_argv("/o", ["/a"], options)[1] == "-z"


@pytest.mark.parametrize(
    "options",
    [
        TarCreateOptions(gzip=True, xz=True),
        TarCreateOptions(gzip=True, bzip2=True, xz=True),
        TarCreateOptions(compression=Compression.XZ, gzip=True),
    ],
)
def test_tar_create_rejects_two_algorithms(options: TarCreateOptions) -> None:
    with pytest.raises(ValueError, match="Select only one compression option for tar_create"):
        tar_create("/o.tar", ["/a"], options=options)


def test_tar_create_rejects_unknown_compression() -> None:
    options = TarCreateOptions(compression="zstd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown tar compression 'zstd'"):
        tar_create("/o.tar", ["/a"], options=options)


def test_tar_create_needs_sources() -> None:
    with pytest.raises(ValueError, match="tar_create requires at least one source path"):
        tar_create("/o.tar", [])
    with pytest.raises(ValueError, match="tar_create requires at least one source path"):
        tar_create("/o.tar", ())
    with pytest.raises(ValueError, match="tar_create requires at least one source path"):
        tar_create("/o.tar", "")  # type: ignore[arg-type]


@pytest.mark.parametrize("single", ["/a", pathlib.Path("/a"), pathlib.PurePosixPath("/a")])
def test_tar_create_rejects_a_single_path(single: object) -> None:
    with pytest.raises(TypeError, match="requires a sequence of source paths, not a single path"):
        tar_create("/o.tar", single)  # type: ignore[arg-type]


def test_tar_create_accepts_any_iterable_of_sources() -> None:
    argv = _tar_create_argv("/o", (p for p in ["/a", "/b"]), TarCreateOptions())  # type: ignore[arg-type]
    assert argv[-2:] == ("/a", "/b")


def test_tar_create_validates_archive_and_every_source() -> None:
    with pytest.raises(ValueError, match="absolute path by default"):
        tar_create("out.tar", ["/a"])
    with pytest.raises(ValueError, match="'..' segments"):
        tar_create("/out.tar", ["/a", "/b/../../etc"])
    with pytest.raises(ValueError, match="cannot start with '-'"):
        tar_create(
            "out.tar",
            ["--checkpoint-action=exec=sh"],
            options=TarCreateOptions(allow_relative=True),
        )
    argv = _tar_create_argv("out.tar", ["a", "./b"], TarCreateOptions(allow_relative=True))
    assert argv == ("-c", "-f", "out.tar", "a", "b")


def test_tar_extract_argv() -> None:
    assert _tar_extract_argv("/a.tar", None, allow_relative=False) == ("-x", "-f", "/a.tar")
    assert _tar_extract_argv("/a.tar", pathlib.Path("/dest/"), allow_relative=False) == (
        "-x",
        "-f",
        "/a.tar",
        "-C",
        "/dest",
    )
    assert _tar_extract_argv("a.tar", "d", allow_relative=True) == ("-x", "-f", "a.tar", "-C", "d")


def test_tar_extract_validation() -> None:
    with pytest.raises(ValueError, match="absolute path by default"):
        tar_extract("a.tar")
    with pytest.raises(ValueError, match="absolute path by default"):
        tar_extract("/a.tar", destination="d")
    with pytest.raises(ValueError, match="'..' segments"):
        tar_extract("/a.tar", destination="/x/../y")
    with pytest.raises(ValueError, match="cannot start with '-'"):
        tar_extract("-a.tar", allow_relative=True)
    with pytest.raises(TypeError, match="SafePath expects str or Path"):
        tar_extract(b"/a.tar")  # type: ignore[arg-type]


def test_tar_keyword_only_parameters() -> None:
    with pytest.raises(TypeError):
        tar_extract("/a.tar", "/dest")  # type: ignore[misc]
    with pytest.raises(TypeError):
        tar_create("/a.tar", ["/b"], TarCreateOptions())  # type: ignore[misc]
