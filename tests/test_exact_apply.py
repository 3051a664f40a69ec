"""Exact apply (SPEC "The work tree"): a patch applies as written or the run stops.

A 3-way merge only leaves conflict markers (or a staged merge) for the user;
it is never taken in the patch's place, and never lands on another file than
the one the patch names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, git, side_commit, write_series


def _api(up: Upstream, ref: str = "HEAD") -> str:
    return up.read(ref, "sample/api.py").decode()


@pytest.fixture
def moved(make_upstream, make_patch_repo) -> tuple[Upstream, PatchRepo, str]:
    """A patch to sample/quota.py written on 1.0.0; the base renamed that file."""
    up = make_upstream()
    old = up.rev("1.0.0")
    fix = side_commit(
        up, old, "Raise core quota", {"sample/quota.py": "LIMITS = {'cores': 40, 'ram': 51200}\n"}
    )
    git(up.path, "mv", "sample/quota.py", "sample/limits.py")
    base = up.commit("Rename quota to limits")
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    write_series(repo, up, "sample", "customs", [fix])
    repo.commit_all()
    return up, repo, base


def test_a_patch_on_a_path_the_base_lacks_stops_apply_and_fails_check(moved) -> None:
    up, repo, base = moved
    name = "customs/0001-Raise-core-quota.patch"
    result = repo.run("apply", "sample")
    assert result.exit_code == 1
    assert name in result.stderr and "the base has no sample/quota.py" in result.stderr
    tree = repo.path / ".verda/work/sample"
    # never merged onto the renamed file, as git am --3way would
    assert "40" not in (tree / "sample/limits.py").read_text()
    assert git(tree, "diff", "--cached", "--name-only") == ""
    assert repo.run("apply", "--abort", "sample").exit_code == 0

    checked = repo.run("--json", "check", "sample")
    assert checked.exit_code == 1
    assert "does not apply" in checked.stdout and name in checked.stdout
    assert repo.run("review", "sample").exit_code == 1
    assert repo.run("archive", "sample").exit_code == 1


@pytest.fixture
def shifted(make_upstream, make_patch_repo) -> tuple[Upstream, PatchRepo, str]:
    """A patch to api_3 written on 1.0.0; the base changed the line right after it."""
    up = make_upstream()
    old = up.rev("1.0.0")
    fix = side_commit(
        up, old, "Fix api 3", {"sample/api.py": _api(up).replace("return 3\n", "return 33\n")}
    )
    base = up.commit(
        "Document api_4",
        {"sample/api.py": _api(up).replace("def api_4():\n", "def api_4():  # four\n")},
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    write_series(repo, up, "sample", "general", [fix])
    repo.commit_all()
    return up, repo, base


def test_a_clean_3way_merge_stops_the_run_until_continued(shifted) -> None:
    up, repo, base = shifted
    name = "general/0001-Fix-api-3.patch"
    before = (repo.path / "patches/sample" / name).read_bytes()
    result = repo.run("apply", "sample")
    assert result.exit_code == 1
    assert name in result.stderr and "staged for review" in result.stderr
    assert "apply --continue sample" in result.stderr and "export sample" in result.stderr
    tree = repo.path / ".verda/work/sample"
    assert git(tree, "rev-parse", "HEAD") == base  # nothing committed for it
    assert git(tree, "diff", "--cached", "--name-only") == "sample/api.py"
    # check, on its own scratch tree, never takes the merge either
    assert repo.run("check", "sample").exit_code == 1

    assert repo.run("apply", "--continue", "sample").exit_code == 0
    assert "return 33\n" in (tree / "sample/api.py").read_text()
    assert repo.run("export", "sample").exit_code == 0
    after = (repo.path / "patches/sample" / name).read_bytes()
    assert after != before and b"# four" in after
    assert repo.run("check", "sample").exit_code == 0


def test_a_conflict_leaves_markers_and_names_the_patch(shifted) -> None:
    up, repo, base = shifted
    clash = side_commit(
        up, base, "Clash", {"sample/api.py": _api(up, base).replace("return 3\n", "return 9\n")}
    )
    repo.add_patch("sample", "general", "0002-clash.patch", up.format_patch(clash))
    (repo.path / "patches/sample/general/0001-Fix-api-3.patch").unlink()
    repo.set_base("sample", up, up.rev("1.0.0"))  # where 'return 3' still is
    src = side_commit(
        up,
        up.rev("1.0.0"),
        "Fix api 3",
        {"sample/api.py": _api(up, "1.0.0").replace("return 3\n", "return 33\n")},
    )
    repo.add_patch("sample", "general", "0001-Fix-api-3.patch", up.format_patch(src))
    result = repo.run("apply", "sample")
    assert result.exit_code == 1
    assert "general/0002-clash.patch" in result.stderr
    assert "conflict markers left in sample/api.py" in result.stderr
    assert "<<<<<<<" in (repo.path / ".verda/work/sample/sample/api.py").read_text()


def test_no_3way_possible_names_the_hunk_and_how_to_refresh(shifted) -> None:
    up, repo, base = shifted
    path = repo.path / "patches/sample/general/0001-Fix-api-3.patch"
    text = path.read_text()
    # blobs this repository never had: no 3-way merge can be made
    lines = [
        "index 1111111..2222222 100644" if line.startswith("index ") else line
        for line in text.splitlines()
    ]
    path.write_text("\n".join(lines).replace("return 2\n", "return 22\n") + "\n")
    Path(path).write_text(path.read_text().replace(" def api_3():", " def api_3( ):"))
    result = repo.run("apply", "sample")
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "general/0001-Fix-api-3.patch" in err
    assert "the hunk at sample/api.py:" in err and "no longer matches the base" in err
    assert "export sample" in err and "conflict" not in err
