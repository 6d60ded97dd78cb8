# SPDX-License-Identifier: ISC
"""The public surface of ``cuprum.builders``: names, signatures, defaults.

Code written for the original cuprum must run unchanged, so the names,
parameter kinds and defaults are pinned here.
"""

from __future__ import annotations

import inspect

import pytest

import cuprum.builders as builders
from cuprum.builders import git, rsync, tar

_EMPTY = inspect.Parameter.empty
_KW = inspect.Parameter.KEYWORD_ONLY
_POS = inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_package_exports() -> None:
    assert sorted(builders.__all__) == sorted(
        [
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
    )
    for name in builders.__all__:
        assert getattr(builders, name) is not None


def test_module_exports() -> None:
    assert sorted(git.__all__) == ["git_checkout", "git_rev_parse", "git_status"]
    assert sorted(rsync.__all__) == ["RsyncOptions", "rsync_sync"]
    assert sorted(tar.__all__) == ["Compression", "TarCreateOptions", "tar_create", "tar_extract"]


def _shape(func: object) -> list[tuple[str, object, object]]:
    """Return (name, kind, default) for each parameter of ``func``."""
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(func).parameters.values()  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize(
    ("func", "expected"),
    [
        (builders.safe_path, [("value", _POS, _EMPTY), ("allow_relative", _KW, False)]),
        (builders.git_ref, [("value", _POS, _EMPTY)]),
        (builders.git_status, [("short", _KW, False), ("branch", _KW, False)]),
        (
            builders.git_checkout,
            [
                ("ref", _POS, _EMPTY),
                ("create_branch", _KW, False),
                ("detach", _KW, False),
                ("force", _KW, False),
            ],
        ),
        (builders.git_rev_parse, [("ref", _POS, _EMPTY)]),
        (
            builders.rsync_sync,
            [("source", _POS, _EMPTY), ("destination", _POS, _EMPTY), ("options", _KW, None)],
        ),
        (
            builders.tar_create,
            [("archive", _POS, _EMPTY), ("sources", _POS, _EMPTY), ("options", _KW, None)],
        ),
        (
            builders.tar_extract,
            [
                ("archive", _POS, _EMPTY),
                ("destination", _KW, None),
                ("allow_relative", _KW, False),
            ],
        ),
    ],
)
def test_signatures_and_defaults(func: object, expected: list[tuple[str, object, object]]) -> None:
    assert _shape(func) == expected


def test_option_classes_field_order() -> None:
    assert [p for p, *_ in _shape(builders.RsyncOptions)] == [
        "archive",
        "delete",
        "dry_run",
        "verbose",
        "compress",
        "allow_relative",
    ]
    shape = _shape(builders.TarCreateOptions)
    assert shape[:2] == [
        ("compression", _POS, builders.Compression.NONE),
        ("allow_relative", _POS, False),
    ]
    assert shape[2:] == [("gzip", _KW, False), ("bzip2", _KW, False), ("xz", _KW, False)]
