"""Incremental apply: the longest unchanged prefix is reused, the result is a cold build's."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import Upstream, git
from verda_patch import apply as engine
from verda_patch import prefix
from verda_patch.config import load
from verda_patch.errors import DirtyWorkTree, OperationFailed, PatchConflict
from verda_patch.mirror import Mirror


def _patch(name: str, body: str, subject: str | None = None) -> str:
    """A format-patch style file adding ``<name>.txt`` with ``body`` (one line)."""
    return (
        f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        f"From: Dev <dev@example.org>\n"
        f"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        f"Subject: [PATCH] {subject or 'Add ' + name}\n\n"
        f"---\n"
        f"diff --git a/{name}.txt b/{name}.txt\n"
        f"new file mode 100644\n"
        f"--- /dev/null\n"
        f"+++ b/{name}.txt\n"
        f"@@ -0,0 +1 @@\n"
        f"+{body}\n"
    )


def _write(repo_path: Path, specs: list[tuple[str, str]]) -> None:
    """The customs folder holds exactly ``specs`` (name, body), in this order."""
    folder = repo_path / "patches" / "sample" / "customs"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i, (name, body) in enumerate(specs, 1):
        (folder / f"{i:04d}-{name}.patch").write_text(_patch(name, body))


@pytest.fixture
def small(make_upstream, make_patch_repo):
    up: Upstream = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    _write(repo.path, [(f"f{i}", f"one {i}") for i in range(4)])
    return up, repo


def _am_calls(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("git am")]


def _cold(repo_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str) -> str:
    """Head of a cold build of a copy of the repo in an empty cache."""
    copy = tmp_path / f"cold-{tag}"
    shutil.copytree(repo_path, copy, ignore=shutil.ignore_patterns(".verda"))
    with monkeypatch.context() as m:
        m.setenv("VERDA_PATCH_CACHE", str(tmp_path / f"cold-cache-{tag}"))
        return engine.apply_project(load(copy), "sample").head


def test_reapply_with_nothing_changed_runs_no_am(small, caplog):
    _up, repo = small
    first = engine.apply_project(load(repo.path), "sample")
    assert first.reused == 0 and not first.up_to_date
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    again = engine.apply_project(load(repo.path), "sample")
    calls = [r.getMessage() for r in caplog.records]
    assert _am_calls(caplog) == []
    assert not [c for c in calls if c.startswith(("git checkout", "git clean"))]
    assert again.head == first.head and again.reused == 4 and again.up_to_date
    assert again.to_json()["up_to_date"] is True
    # unsaved work is still refused on the fast path
    (again.work_tree / "f0.txt").write_text("mine\n")
    with pytest.raises(DirtyWorkTree):
        engine.apply_project(load(repo.path), "sample")


def test_edit_of_the_last_patch_applies_only_that_one(small, caplog, tmp_path, monkeypatch):
    _up, repo = small
    engine.apply_project(load(repo.path), "sample")
    _write(repo.path, [(f"f{i}", f"one {i}") for i in range(3)] + [("f3", "edited")])
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    result = engine.apply_project(load(repo.path), "sample")
    assert result.reused == 3 and not result.up_to_date
    assert len(_am_calls(caplog)) == 1
    assert result.head == _cold(repo.path, tmp_path, monkeypatch, "last")
    assert (result.work_tree / "f3.txt").read_text() == "edited\n"


def test_other_trees_of_the_same_cache_reuse_it(small, caplog, make_patch_repo):
    # a second patch repo with the same series, and check's scratch tree, build nothing
    _up, repo = small
    first = engine.apply_project(load(repo.path), "sample")
    other = make_patch_repo()
    shutil.copytree(repo.path / "patches", other.path / "patches")
    shutil.copy(repo.path / "base-commit", other.path / "base-commit")
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    second = engine.apply_project(load(other.path), "sample")
    assert second.head == first.head and second.reused == 4
    with engine.scratch_tree(load(repo.path), "sample") as (_tree, head):
        assert head == first.head
    assert _am_calls(caplog) == []


def test_a_tampered_prefix_ref_is_detected_and_rebuilt(small, tmp_path, monkeypatch):
    _up, repo = small
    config = load(repo.path)
    first = engine.apply_project(config, "sample")
    mirror = Mirror.for_project(config, config.project("sample")).path
    # the same message and parent as the last patch's commit, but another tree
    parent = git(first.work_tree, "rev-parse", "HEAD^")
    other_tree = git(first.work_tree, "rev-parse", "HEAD~2^{tree}")
    message = git(first.work_tree, "log", "-1", "--format=%B", "HEAD")
    forged = git(
        mirror,
        "commit-tree",
        other_tree,
        "-p",
        parent,
        "-m",
        message,
        env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org"},
    )
    refs = git(mirror, "for-each-ref", "--format=%(refname)", "--points-at", first.head)
    assert refs.startswith(prefix.REF_PREFIX)
    git(mirror, "update-ref", refs, forged)

    said: list[str] = []
    shutil.rmtree(first.work_tree)
    again = engine.apply_project(config, "sample", hooks=engine.Hooks(notify=said.append))
    assert any("warning" in s and "0004-f3.patch" in s for s in said), said
    assert again.head == first.head == _cold(repo.path, tmp_path, monkeypatch, "tamper")
    assert again.reused == 3
    assert git(mirror, "rev-parse", refs) == first.head  # the rebuild put the right one back


def test_conflict_after_a_reused_prefix_names_the_patch_and_continues(small):
    _up, repo = small
    engine.apply_project(load(repo.path), "sample")
    specs = [(f"f{i}", f"one {i}") for i in range(4)]
    # f2 again: a new file that already exists, so the 5th patch stops
    _write(repo.path, [*specs, ("f2", "clash")])
    with pytest.raises(PatchConflict) as stop:
        engine.apply_project(load(repo.path), "sample")
    assert stop.value.patch == "customs/0005-f2.patch"
    work = repo.path / ".verda" / "work" / "sample"
    git(work, "am", "--skip")  # the user drops the clashing change by hand
    with pytest.raises(PatchConflict, match=r"0005-f2\.patch made no commit"):
        engine.continue_apply(load(repo.path), "sample")
    assert engine.abort_apply(load(repo.path), "sample")


def test_keys_chain_every_position():
    a = prefix.chain("b" * 40, ["1", "2"], "stamp")
    assert len(a) == 3
    assert prefix.chain("b" * 40, ["1", "2", "3"], "stamp")[:3] == a
    assert prefix.chain("b" * 40, ["1", "x"], "stamp")[:2] == a[:2]
    assert prefix.chain("b" * 40, ["1", "x"], "stamp")[2] != a[2]
    assert prefix.chain("c" * 40, ["1", "2"], "stamp")[1] != a[1]
    assert prefix.chain("b" * 40, ["1", "2"], "other code")[0] != a[0]


# --- the property: incremental apply == cold build -----------------------------------

_edit = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 20), st.text("abc", min_size=1, max_size=3)),
    st.tuples(st.just("insert"), st.integers(0, 20), st.text("abc", min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, 20), st.just("")),
)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_edit, min_size=1, max_size=2))
def test_incremental_apply_equals_a_cold_build(small, tmp_path, monkeypatch, steps):
    _up, repo = small
    run = len(list(tmp_path.glob("cold-*")))  # hypothesis reuses the fixture's tmp_path
    specs = [(f"f{i}", f"one {i}") for i in range(4)]
    _write(repo.path, specs)
    engine.apply_project(load(repo.path), "sample", force=True)
    fresh = iter(range(100, 1000))
    for n, (op, at, text) in enumerate(steps):
        i = at % (len(specs) + (op == "insert")) if specs or op == "insert" else 0
        if op == "edit" and specs:
            specs[i] = (specs[i][0], specs[i][1] + text)
        elif op == "insert":
            specs.insert(i, (f"n{next(fresh)}", text))
        elif op == "delete" and specs:
            del specs[i]
        elif op == "swap" and len(specs) > 1:
            j = (i + 1) % len(specs)
            specs[i], specs[j] = specs[j], specs[i]
        _write(repo.path, specs)
        result = engine.apply_project(load(repo.path), "sample", force=True)
        cold = _cold(repo.path, tmp_path, monkeypatch, f"{run}-{n}")
        assert result.head == cold
        tree = result.work_tree
        built = sorted(p.name for p in tree.glob("[fn][0-9]*.txt"))
        assert built == sorted(f"{s[0]}.txt" for s in specs)


# --- prefix-remote --------------------------------------------------------------------


def _with_remote(repo_path: Path, remote: Path) -> None:
    (repo_path / "verda-patch.yaml").write_text(f"prefix-remote: {remote}\n")


def test_a_second_cache_fed_by_the_prefix_remote_runs_no_am(small, tmp_path, monkeypatch, caplog):
    _up, repo = small
    remote = tmp_path / "prefixes.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    first = engine.apply_project(load(repo.path), "sample")  # before there is a remote
    _with_remote(repo.path, remote)
    said: list[str] = []
    again = engine.apply_project(load(repo.path), "sample", hooks=engine.Hooks(notify=said.append))
    assert again.up_to_date and "pushed 4 prefixes" in " ".join(said)
    assert len(git(remote, "for-each-ref", prefix.REF_PREFIX).splitlines()) == 4

    second = tmp_path / "second-machine"
    shutil.copytree(repo.path, second, ignore=shutil.ignore_patterns(".verda"))
    monkeypatch.setenv("VERDA_PATCH_CACHE", str(tmp_path / "second-cache"))
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    again = engine.apply_project(load(second), "sample")
    assert _am_calls(caplog) == []
    assert again.head == first.head and again.reused == 4


def test_a_poisoned_prefix_remote_does_not_change_the_build(small, tmp_path, monkeypatch):
    _up, repo = small
    remote = tmp_path / "prefixes.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    _with_remote(repo.path, remote)
    first = engine.apply_project(load(repo.path), "sample")
    # the remote's ref for the whole series now names a commit with another tree
    work = first.work_tree
    forged = git(
        work,
        "commit-tree",
        git(work, "rev-parse", "HEAD~3^{tree}"),
        "-p",
        git(work, "rev-parse", "HEAD^"),
        "-m",
        git(work, "log", "-1", "--format=%B", "HEAD"),
        env={"GIT_AUTHOR_NAME": "Mallory", "GIT_AUTHOR_EMAIL": "m@example.org"},
    )
    name = git(remote, "for-each-ref", "--format=%(refname)", "--points-at", first.head)
    git(work, "push", "-q", "-f", str(remote), f"{forged}:{name}")

    second = tmp_path / "second-machine"
    shutil.copytree(repo.path, second, ignore=shutil.ignore_patterns(".verda"))
    monkeypatch.setenv("VERDA_PATCH_CACHE", str(tmp_path / "second-cache"))
    said: list[str] = []
    again = engine.apply_project(load(second), "sample", hooks=engine.Hooks(notify=said.append))
    assert any("wrong prefix" in s and "0004-f3.patch" in s for s in said), said
    assert again.head == first.head and again.reused == 3  # up to the forged commit
    assert git(remote, "rev-parse", name) == forged  # never overwritten by us


def test_untrusted_mode_never_pushes(small, tmp_path):
    from verda_patch.policy import Policy
    from verda_patch.prefix_remote import Remote

    _up, repo = small
    first = engine.apply_project(load(repo.path), "sample")
    remote = tmp_path / "prefixes.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    config = load(repo.path)
    mirror = Mirror.for_project(config, config.project("sample"))
    Remote(str(remote), mirror, Policy(untrusted=True)).push([("k" * 64, first.head)])
    assert git(remote, "for-each-ref") == ""
    Remote(str(remote), mirror, Policy()).push([("k" * 64, first.head)])
    assert git(remote, "for-each-ref", "--format=%(objectname)") == first.head


def test_prefix_remote_setting_refuses_a_command_transport(small):
    _up, repo = small
    (repo.path / "verda-patch.yaml").write_text("prefix-remote: ext::sh -c evil\n")
    from verda_patch.errors import ConfigError

    with pytest.raises(ConfigError, match="prefix-remote") as err:
        load(repo.path)
    assert err.value.line == 1


def test_progress_counts_on_from_the_reused_prefix_and_names_the_file(small):
    _up, repo = small
    engine.apply_project(load(repo.path), "sample")
    _write(repo.path, [(f"f{i}", f"one {i}") for i in range(3)] + [("f3", "edited")])
    seen: list[tuple[int, int]] = []
    names: list[str] = []
    hooks = engine.Hooks(progress=lambda d, t: seen.append((d, t)), current=names.append)
    engine.apply_project(load(repo.path), "sample", hooks=hooks)
    assert seen[0] == (3, 4) and seen[-1] == (4, 4)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # never backwards
    assert names[0] == "customs/0004-f3.patch"


def test_a_work_tree_whose_mirror_was_removed_is_refused_then_rebuilt_with_force(small):
    _up, repo = small
    config = load(repo.path)
    first = engine.apply_project(config, "sample")
    shutil.rmtree(Mirror.for_project(config, config.project("sample")).path)
    with pytest.raises(OperationFailed, match="mirror was removed"):
        engine.apply_project(load(repo.path), "sample")
    again = engine.apply_project(load(repo.path), "sample", force=True)
    assert again.head == first.head


def test_cache_list_and_prune_show_and_drop_the_prefix_refs(small):
    from verda_patch import cache as cache_lib

    _up, repo = small
    config = load(repo.path)
    first = engine.apply_project(config, "sample")
    mirror = Mirror.for_project(config, config.project("sample")).path
    entries = {e.kind: e for e in cache_lib.list_entries()}
    assert set(entries) == {"mirror", "prefixes"}
    name = entries["prefixes"].name
    assert name == entries["mirror"].name + "/prefixes"
    dry = cache_lib.prune(names=[name])
    assert dry.dry_run and [e.kind for e in dry.entries] == ["prefixes"]
    assert git(mirror, "for-each-ref", prefix.REF_PREFIX) != ""
    cache_lib.prune(names=[name], dry_run=False)
    assert git(mirror, "for-each-ref", prefix.REF_PREFIX) == ""
    # the work tree still reads its commits; the next apply builds the prefixes again
    again = engine.apply_project(load(repo.path), "sample")
    assert again.head == first.head and again.reused == 0
    assert len(git(mirror, "for-each-ref", prefix.REF_PREFIX).splitlines()) == 4


def test_check_after_apply_checks_out_nothing_and_agrees(small, caplog):
    _up, repo = small
    custom = repo.path / "custom-source" / "sample" / "etc" / "site.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[site]\nname = verda\n")
    first = engine.apply_project(load(repo.path), "sample")
    assert first.custom_source
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    with engine.scratch_tree(load(repo.path), "sample") as (_tree, head):
        assert head == first.head  # the same custom-source commit on the same prefix
    result = repo.run("check", "sample")
    assert result.exit_code == 0, result.output
    calls = [r.getMessage() for r in caplog.records]
    assert not [c for c in calls if c.startswith(("git am", "git checkout"))]
