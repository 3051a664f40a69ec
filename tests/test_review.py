"""`review/<project>`: regenerated from the patch files, never from a stale work tree."""

from __future__ import annotations

import os

import pytest

from tests.builders import git, side_commit, write_series
from tests.test_check import CUSTOM, GENERAL, Scenario, build
from verda_patch.apply import apply_project
from verda_patch.config import load
from verda_patch.errors import UserError
from verda_patch.review import review


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


def _tree(scenario: Scenario) -> dict[str, bytes]:
    root = scenario.repo.path / "review" / "sample"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_review_writes_the_patched_version_of_every_touched_file(scenario):
    result = review(load(scenario.repo.path), "sample")
    assert result.written
    files = _tree(scenario)
    assert sorted(files) == ["sample/api.py", "sample/gpu.py", "sample/quota.py"]
    up = scenario.up
    head = scenario.shas[-1]  # the chain of side commits is the patched tree
    for path, data in files.items():
        assert data == up.read(head, path)
    assert result.added == tuple(sorted(files)) and not result.changed and not result.removed


def test_review_needs_no_apply_and_ignores_a_stale_work_tree(scenario):
    config = load(scenario.repo.path)
    tree = apply_project(config, "sample").work_tree
    (tree / "sample" / "quota.py").write_text("uncommitted edit\n")
    git(
        tree,
        "commit",
        "-qam",
        "unsaved commit",
        env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org"},
    )
    review(config, "sample")
    assert b"uncommitted edit" not in _tree(scenario)["sample/quota.py"]


def test_second_run_changes_nothing_and_check_passes(scenario):
    config = load(scenario.repo.path)
    review(config, "sample")
    target = scenario.repo.path / "review" / "sample" / "sample" / "api.py"
    before = target.stat().st_mtime_ns
    again = review(config, "sample")
    assert again.in_sync and again.unchanged == 3
    assert target.stat().st_mtime_ns == before  # untouched files are not rewritten
    assert review(config, "sample", check=True).in_sync


def test_removed_patch_removes_its_files_and_empty_folders(scenario):
    config = load(scenario.repo.path)
    review(config, "sample")
    (scenario.patches / CUSTOM).unlink()
    scenario.repo.series("sample", "customs", [])
    stale = review(config, "sample", check=True)
    assert stale.removed == ("sample/gpu.py",) and not stale.written
    assert (scenario.repo.path / "review/sample/sample/gpu.py").exists()  # --check writes nothing
    review(config, "sample")
    assert "sample/gpu.py" not in _tree(scenario)


def test_check_lists_added_changed_and_removed(scenario):
    config = load(scenario.repo.path)
    review(config, "sample")
    root = scenario.repo.path / "review" / "sample"
    (root / "sample" / "api.py").unlink()
    (root / "sample" / "quota.py").write_text("hand edit\n")
    (root / "extra" / "deep").mkdir(parents=True)
    (root / "extra" / "deep" / "file.py").write_text("x\n")
    result = review(config, "sample", check=True)
    assert result.added == ("sample/api.py",)
    assert result.changed == ("sample/quota.py",)
    assert result.removed == ("extra/deep/file.py",)
    assert result.stale == ("extra/deep/file.py", "sample/api.py", "sample/quota.py")
    review(config, "sample")
    assert not (root / "extra").exists()
    assert review(config, "sample", check=True).in_sync


def test_deleted_and_executable_files(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("1.0.0")
    a = side_commit(
        up,
        base,
        "Drop the readme, add a tool",
        {"README.rst": None, "tools/run.sh": "#!/bin/sh\necho run\n"},
    )
    git(up.path, "checkout", "-q", "--detach", a)
    os.chmod(up.path / "tools" / "run.sh", 0o755)
    git(up.path, "add", "tools/run.sh")
    up.commit("Make the tool executable")
    b = up.rev("HEAD")
    git(up.path, "checkout", "-q", "master")
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    write_series(repo, up, "sample", "general", [a, b])
    config = load(repo.path)
    review(config, "sample")
    root = repo.path / "review" / "sample"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "tools/run.sh"
    ]  # a deleted file has no patched version
    assert os.access(root / "tools" / "run.sh", os.X_OK)
    (root / "tools" / "run.sh").chmod(0o644)
    assert review(config, "sample", check=True).changed == ("tools/run.sh",)


def test_symlinks_in_review_are_replaced_never_followed(scenario, tmp_path):
    config = load(scenario.repo.path)
    outside = tmp_path / "outside"
    outside.mkdir()
    root = scenario.repo.path / "review" / "sample"
    root.mkdir(parents=True)
    (root / "sample").symlink_to(outside)  # a hostile PR links a folder out of the repo
    result = review(config, "sample")
    assert result.written
    assert list(outside.iterdir()) == []
    assert (root / "sample").is_dir() and not (root / "sample").is_symlink()
    assert review(config, "sample", check=True).in_sync


def test_symlinked_review_folder_is_refused(scenario, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (scenario.repo.path / "review").symlink_to(elsewhere)
    with pytest.raises(UserError, match="symlink"):
        review(load(scenario.repo.path), "sample")
    assert list(elsewhere.iterdir()) == []


def test_dropping_a_patch_drops_only_its_files(scenario):
    config = load(scenario.repo.path)
    review(config, "sample")
    (scenario.patches / GENERAL).unlink()
    review(config, "sample")
    assert sorted(_tree(scenario)) == ["sample/api.py", "sample/gpu.py"]
