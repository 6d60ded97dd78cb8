# SPDX-License-Identifier: ISC
"""Tests for the path and ref validators in ``cuprum.builders.args``.

These need nothing from the execution layer: validation is pure.
"""

from __future__ import annotations

import os
import re
import pathlib

import pytest

from cuprum.builders import GitRef, SafePath, git_ref, safe_path
from cuprum.builders import args as args_module
from cuprum.builders.args import (
    GitRefRejection,
    PathRejection,
    classify_git_ref,
    classify_path_string,
)


class _PathLike(os.PathLike):
    """A minimal non-pathlib ``os.PathLike[str]``."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __fspath__(self) -> str:
        return self._text


# ---------------------------------------------------------------- safe_path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/srv/data", "/srv/data"),
        ("/srv//data/./x/", "/srv/data/x"),
        (pathlib.Path("/srv/data"), "/srv/data"),
        (pathlib.PurePosixPath("/a/b"), "/a/b"),
        (_PathLike("/from/pathlike"), "/from/pathlike"),
        ("/", "/"),
        ("/with space/and-dash", "/with space/and-dash"),
        ("/a/-b", "/a/-b"),
    ],
)
def test_safe_path_accepts_and_normalises_absolute_paths(value: object, expected: str) -> None:
    result = safe_path(value)  # type: ignore[arg-type]
    assert result == expected
    assert type(result) is str


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("relative/file", "relative/file"),
        ("./x", "x"),
        (".", "."),
        (pathlib.Path("a/b"), "a/b"),
        ("C:\\tools", "C:\\tools"),
    ],
)
def test_safe_path_allow_relative(value: object, expected: str) -> None:
    assert safe_path(value, allow_relative=True) == expected  # type: ignore[arg-type]


def test_safe_path_treats_windows_drive_paths_as_absolute() -> None:
    assert safe_path("C:/tools") == "C:/tools"
    assert safe_path("d:\\x") == "d:\\x"


@pytest.mark.parametrize(
    ("value", "allow_relative", "message"),
    [
        ("", False, "SafePath cannot be empty"),
        ("", True, "SafePath cannot be empty"),
        ("/tmp/a\x00b", False, "SafePath cannot contain NUL characters"),
        ("-rf", True, "SafePath cannot start with '-'"),
        ("--delete", True, "SafePath cannot start with '-'"),
        ("./-rf", True, "SafePath cannot start with '-'"),
        (".//--x", True, "SafePath cannot start with '-'"),
        ("-x", False, "SafePath cannot start with '-'"),
        ("/srv/../etc/passwd", False, "SafePath cannot contain '..' segments"),
        ("..", True, "SafePath cannot contain '..' segments"),
        ("a/..", True, "SafePath cannot contain '..' segments"),
        (pathlib.Path("/a/../b"), False, "SafePath cannot contain '..' segments"),
        ("relative/file", False, "SafePath requires an absolute path by default"),
        (pathlib.Path("rel"), False, "SafePath requires an absolute path by default"),
    ],
)
def test_safe_path_rejections_name_the_problem(
    value: object, allow_relative: bool, message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        safe_path(value, allow_relative=allow_relative)  # type: ignore[arg-type]


def test_safe_path_dots_inside_names_are_not_traversal() -> None:
    assert safe_path("/srv/a..b/..c/d..") == "/srv/a..b/..c/d.."


@pytest.mark.parametrize("value", [b"/bytes/path", 42, None, ["/a"], object()])
def test_safe_path_rejects_non_text(value: object) -> None:
    with pytest.raises(TypeError, match=f"SafePath expects str or Path, got {type(value).__name__}"):
        safe_path(value)  # type: ignore[arg-type]


def test_safe_path_rejects_bytes_pathlike() -> None:
    class BytesPathLike(os.PathLike):
        def __fspath__(self) -> bytes:  # type: ignore[override]
            return b"/x"

    with pytest.raises(TypeError, match="SafePath expects str or Path"):
        safe_path(BytesPathLike())  # type: ignore[arg-type]


def test_safe_path_allow_relative_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        safe_path("rel", True)  # type: ignore[misc]


def test_classify_path_string_order_and_success() -> None:
    assert classify_path_string("", allow_relative=False) is PathRejection.EMPTY
    # NUL is reported before the relative-path problem it also has.
    assert classify_path_string("a\x00", allow_relative=False) is PathRejection.NUL
    assert classify_path_string("-a/..", allow_relative=True) is PathRejection.LEADING_DASH
    assert classify_path_string("a/..", allow_relative=False) is PathRejection.PARENT_SEGMENT
    assert classify_path_string("a", allow_relative=False) is PathRejection.NOT_ABSOLUTE
    assert classify_path_string("a", allow_relative=True) is None
    assert classify_path_string("/a", allow_relative=False) is None


def test_path_rejection_values_are_the_messages() -> None:
    for member in PathRejection:
        assert member.value.startswith("SafePath ")


# ------------------------------------------------------------------ git_ref


@pytest.mark.parametrize(
    "value",
    [
        "main",
        "feature/login-form",
        "v1.2.3",
        "refs/heads/release_2",
        "origin/main",
        "HEAD",
        "0123456789abcdef0123456789abcdef01234567",
        "a.b",
    ],
)
def test_git_ref_accepts_valid_refs(value: str) -> None:
    result = git_ref(value)
    assert result == value
    assert type(result) is str


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", GitRefRejection.EMPTY),
        ("-b", GitRefRejection.LEADING_DASH),
        ("--upload-pack=evil", GitRefRejection.LEADING_DASH),
        ("my branch", GitRefRejection.WHITESPACE),
        ("tab\there", GitRefRejection.WHITESPACE),
        ("new\nline", GitRefRejection.WHITESPACE),
        ("/main", GitRefRejection.SLASH_BOUNDARY),
        ("main/", GitRefRejection.SLASH_BOUNDARY),
        ("topic.lock", GitRefRejection.LOCK_SUFFIX),
        ("topic.", GitRefRejection.DOT_SUFFIX),
        ("main..evil", GitRefRejection.PARENT_SEQUENCE),
        ("a//b", GitRefRejection.DOUBLE_SLASH),
        ("main@{1}", GitRefRejection.AT_BRACE),
        (".hidden", GitRefRejection.COMPONENT_LEADING_DOT),
        ("a/.b", GitRefRejection.COMPONENT_LEADING_DOT),
        ("a.lock/b", GitRefRejection.COMPONENT_LOCK_SUFFIX),
        ("HEAD~1", GitRefRejection.UNSUPPORTED_CHARS),
        ("HEAD^", GitRefRejection.UNSUPPORTED_CHARS),
        ("a:b", GitRefRejection.UNSUPPORTED_CHARS),
        ("a*b", GitRefRejection.UNSUPPORTED_CHARS),
        ("a\x00b", GitRefRejection.UNSUPPORTED_CHARS),
        ("caf\u00e9", GitRefRejection.UNSUPPORTED_CHARS),
        ("$(reboot)", GitRefRejection.UNSUPPORTED_CHARS),
    ],
)
def test_git_ref_rejections_name_the_problem(value: str, reason: GitRefRejection) -> None:
    assert classify_git_ref(value) is reason
    with pytest.raises(ValueError) as excinfo:
        git_ref(value)
    assert str(excinfo.value) == reason.value


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (GitRefRejection.EMPTY, "GitRef cannot be empty"),
        (GitRefRejection.LEADING_DASH, "GitRef cannot start with '-'"),
        (GitRefRejection.WHITESPACE, "GitRef cannot contain whitespace"),
        (GitRefRejection.SLASH_BOUNDARY, "GitRef cannot start or end with '/'"),
        (GitRefRejection.LOCK_SUFFIX, "GitRef cannot end with '.lock'"),
        (GitRefRejection.DOT_SUFFIX, "GitRef cannot end with '.'"),
        (GitRefRejection.PARENT_SEQUENCE, "GitRef cannot contain '..'"),
        (GitRefRejection.DOUBLE_SLASH, "GitRef cannot contain '//' sequences"),
        (GitRefRejection.AT_BRACE, "GitRef cannot contain '@{' sequences"),
        (GitRefRejection.UNSUPPORTED_CHARS, "GitRef contains unsupported characters"),
    ],
)
def test_git_ref_messages_match_the_original(reason: GitRefRejection, message: str) -> None:
    assert reason.value == message


@pytest.mark.parametrize("value", [None, 1, b"main", pathlib.Path("main")])
def test_git_ref_rejects_non_str(value: object) -> None:
    with pytest.raises(TypeError, match=f"GitRef expects str, got {type(value).__name__}"):
        git_ref(value)  # type: ignore[arg-type]


def test_newtypes_are_str_at_runtime() -> None:
    assert SafePath("/x") == "/x"
    assert GitRef("main") == "main"
    assert SafePath.__supertype__ is str  # type: ignore[attr-defined]
    assert GitRef.__supertype__ is str  # type: ignore[attr-defined]


def test_args_public_names() -> None:
    assert sorted(args_module.__all__) == ["GitRef", "SafePath", "git_ref", "safe_path"]
