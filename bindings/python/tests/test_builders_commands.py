# SPDX-License-Identifier: ISC
"""The builders' ``SafeCmd`` results, and real runs of what they build.

Needs the execution layer (``cuprum.sh``, ``cuprum.catalogue``,
``cuprum.context``); skipped with a reason when it cannot be imported. Real
runs are skipped when the program itself is not installed.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import typing as typ

import pytest

sh = pytest.importorskip("cuprum.sh", reason="cuprum.sh (the core execution layer) is not importable")
catalogue = pytest.importorskip("cuprum.catalogue", reason="cuprum.catalogue is not importable")
context = pytest.importorskip("cuprum.context", reason="cuprum.context is not importable")

from cuprum.builders import (  # noqa: E402
    Compression,
    RsyncOptions,
    TarCreateOptions,
    git_checkout,
    git_rev_parse,
    git_status,
    rsync_sync,
    tar_create,
    tar_extract,
)

if typ.TYPE_CHECKING:
    import collections.abc as cabc


def _assert_cmd(cmd: object, program: str, argv: tuple[str, ...]) -> None:
    assert isinstance(cmd, sh.SafeCmd)
    assert cmd.program == program
    assert tuple(cmd.argv) == argv
    assert cmd.project.name == catalogue.CORE_OPS_PROJECT


def test_git_builders_make_safe_cmds() -> None:
    _assert_cmd(git_status(), catalogue.GIT, ("status",))
    _assert_cmd(git_status(short=True, branch=True), catalogue.GIT, ("status", "--short", "--branch"))
    _assert_cmd(git_checkout("main"), catalogue.GIT, ("checkout", "main", "--"))
    _assert_cmd(
        git_checkout("topic", create_branch=True, force=True),
        catalogue.GIT,
        ("checkout", "-B", "topic", "--"),
    )
    _assert_cmd(git_checkout("v1.0", detach=True), catalogue.GIT, ("checkout", "--detach", "v1.0", "--"))
    _assert_cmd(git_rev_parse("HEAD"), catalogue.GIT, ("rev-parse", "--verify", "HEAD"))


def test_rsync_builder_makes_safe_cmd() -> None:
    cmd = rsync_sync("/src/", "/dst", options=RsyncOptions(archive=True, delete=True))
    _assert_cmd(cmd, catalogue.RSYNC, ("--archive", "--delete", "/src", "/dst"))
    _assert_cmd(rsync_sync("/a", "/b"), catalogue.RSYNC, ("/a", "/b"))


def test_tar_builders_make_safe_cmds() -> None:
    cmd = tar_create("/o.tgz", ["/a", "/b"], options=TarCreateOptions(Compression.GZIP))
    _assert_cmd(cmd, catalogue.TAR, ("-c", "-z", "-f", "/o.tgz", "/a", "/b"))
    _assert_cmd(tar_extract("/o.tgz", destination="/d"), catalogue.TAR, ("-x", "-f", "/o.tgz", "-C", "/d"))


def test_paths_tar_and_rsync_would_read_as_remote() -> None:
    """A ':' before the first '/' makes tar's archive and rsync's paths a
    remote HOST:PATH: a relative one is passed as ./PATH (the same file), a
    Windows drive path, which is not absolute here, is refused."""
    with pytest.raises(ValueError, match="rsync would read 'C:/etc' as the remote HOST:PATH 'C'"):
        rsync_sync("C:/etc", "/dst")
    with pytest.raises(ValueError, match="tar would read 'C:/x.tar' as the remote HOST:PATH"):
        tar_create("C:/x.tar", ["/a"])
    with pytest.raises(ValueError, match="tar would read"):
        tar_extract("C:/x.tar")
    relative = RsyncOptions(allow_relative=True)
    _assert_cmd(rsync_sync("host:/etc", "d:b", options=relative), catalogue.RSYNC, ("./host:/etc", "./d:b"))
    # Members and -C are not remote specs: passed as they are.
    cmd = tar_create("at:10.tar", ["x:y"], options=TarCreateOptions(allow_relative=True))
    _assert_cmd(cmd, catalogue.TAR, ("-c", "-f", "./at:10.tar", "x:y"))


def test_builders_compose_into_pipelines() -> None:
    pipeline = git_status() | tar_extract("/a.tar")
    assert [part.program for part in pipeline.parts] == [catalogue.GIT, catalogue.TAR]


def _run(cmd: object, allow: cabc.Iterable[str], cwd: pathlib.Path | None = None) -> typ.Any:
    """Run ``cmd`` synchronously under a scope allowing exactly ``allow``."""
    config = context.ScopeConfig(allowlist=frozenset(allow))
    run_context = sh.ExecutionContext(cwd=cwd) if cwd is not None else None
    with context.scoped(config):
        return cmd.run_sync(context=run_context)  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("tar") is None, reason="tar is not installed")
@pytest.mark.parametrize("compression", [Compression.NONE, Compression.GZIP])
def test_tar_round_trip(tmp_path: pathlib.Path, compression: Compression) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "hello.txt").write_text("hello from cuprum\n", encoding="utf-8")
    archive = tmp_path / "out.tar"
    dest = tmp_path / "dest"
    dest.mkdir()

    created = _run(
        tar_create(archive, [source], options=TarCreateOptions(compression=compression)),
        [catalogue.TAR],
    )
    assert created.ok, created.stderr
    assert archive.stat().st_size > 0

    extracted = _run(tar_extract(archive, destination=dest), [catalogue.TAR])
    assert extracted.ok, extracted.stderr
    # tar strips the leading "/" so the tree lands under dest.
    restored = dest / source.relative_to("/") / "hello.txt"
    assert restored.read_text(encoding="utf-8") == "hello from cuprum\n"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_status_and_rev_parse_run(tmp_path: pathlib.Path) -> None:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(tmp_path)], check=True, env=env)

    status = _run(git_status(short=True, branch=True), [catalogue.GIT], cwd=tmp_path)
    assert status.ok, status.stderr
    assert "trunk" in status.stdout

    # No commit yet, so the ref cannot resolve: a clean non-zero exit.
    missing = _run(git_rev_parse("trunk"), [catalogue.GIT], cwd=tmp_path)
    assert not missing.ok
    assert missing.exit_code != 0


def _git_repo(tmp_path: pathlib.Path) -> pathlib.Path:
    """A repository on branch trunk, one commit of ``src/a.py`` and
    ``notes``, and a branch ``topic``; ``src/a.py`` then edited, uncommitted."""
    repo = tmp_path / "repo"
    env = {
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "GIT_AUTHOR_NAME": "a",
        "GIT_AUTHOR_EMAIL": "a@example.invalid",
        "GIT_COMMITTER_NAME": "a",
        "GIT_COMMITTER_EMAIL": "a@example.invalid",
    }
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("v1\n", encoding="utf-8")
    (repo / "notes").write_text("n\n", encoding="utf-8")
    for argv in (["init", "-q", "-b", "trunk"], ["add", "."], ["commit", "-qm", "c"], ["branch", "topic"]):
        subprocess.run(["git", "-C", str(repo), *argv], check=True, env=env)
    (repo / "src" / "a.py").write_text("uncommitted\n", encoding="utf-8")
    return repo


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("flags", [{}, {"force": True}, {"detach": True}])
def test_git_checkout_never_takes_the_ref_for_a_path(
    tmp_path: pathlib.Path, flags: dict[str, bool]
) -> None:
    """A ref naming no branch but a directory fails; the directory's
    uncommitted changes are not discarded (git would read it as a
    pathspec and check the committed files out over them)."""
    repo = _git_repo(tmp_path)
    result = _run(git_checkout("src", **flags), [catalogue.GIT], cwd=repo)
    assert result.exit_code != 0
    assert "invalid reference: src" in result.stderr
    assert (repo / "src" / "a.py").read_text(encoding="utf-8") == "uncommitted\n"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_checkout_still_switches_branches(tmp_path: pathlib.Path) -> None:
    repo = _git_repo(tmp_path)
    assert _run(git_checkout("topic"), [catalogue.GIT], cwd=repo).ok
    created = _run(git_checkout("new", create_branch=True), [catalogue.GIT], cwd=repo)
    assert created.ok, created.stderr
    status = _run(git_status(branch=True, short=True), [catalogue.GIT], cwd=repo)
    assert status.stdout.startswith("## new\n")
    assert (repo / "src" / "a.py").read_text(encoding="utf-8") == "uncommitted\n"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_rev_parse_resolves_only_revisions(tmp_path: pathlib.Path) -> None:
    """A ref naming a file is not echoed back as if it were an object id."""
    repo = _git_repo(tmp_path)
    head = _run(git_rev_parse("trunk"), [catalogue.GIT], cwd=repo)
    assert head.ok, head.stderr
    assert len(head.stdout.strip()) == 40
    assert int(head.stdout, 16) >= 0
    for ref in ("notes", "nosuch"):
        result = _run(git_rev_parse(ref), [catalogue.GIT], cwd=repo)
        assert result.exit_code != 0
        assert result.stdout == ""


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_rsync_dry_run(tmp_path: pathlib.Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x", encoding="utf-8")
    cmd = rsync_sync(
        f"{tmp_path}/src/",
        tmp_path / "dst",
        options=RsyncOptions(archive=True, dry_run=True),
    )
    result = _run(cmd, [catalogue.RSYNC])
    assert result.ok, result.stderr
    assert not (tmp_path / "dst").exists()
