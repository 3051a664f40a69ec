"""Presence over the whole history, revert-aware (SPEC "Merged upstream").

Each test builds a real upstream history in tmp_path: a change merged and then
reverted (before the base, or inside base..target), a change the base already
holds, and a Change-Id quoted in a message body.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.builders import PatchRepo, Upstream, change_id, git, side_commit
from verda_patch import config, history_index, merged, presence

PROJECT = "svc"


def _module(n: int = 20) -> str:
    return "".join(f"def f{i}():\n    return {i}\n\n" for i in range(n))


def _ret(up: Upstream, i: int, new: str, ref: str = "HEAD") -> dict[str, str]:
    text = up.read(ref, "svc/mod.py").decode()
    return {"svc/mod.py": text.replace(f"    return {i}\n", f"    return {new}\n", 1)}


def _revert(up: Upstream, sha: str) -> str:
    up.tick += 1
    stamp = f"@{1_700_000_000 + up.tick * 60} +0000"
    git(
        up.path,
        "revert",
        "--no-edit",
        sha,
        env={
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
            "GIT_AUTHOR_NAME": "Reverter",
            "GIT_AUTHOR_EMAIL": "reverter@example.org",
        },
    )
    return up.rev("HEAD")


def _upstream(root: Path) -> tuple[Upstream, str]:
    up = Upstream(root / "up")
    up.commit("Initial import", {"svc/mod.py": _module(), "svc/other.py": "X = 1\n"})
    up.tag("1.0.0")
    return up, up.rev("HEAD")


def _repo(root: Path, up: Upstream, base: str, patches: dict[str, bytes]) -> PatchRepo:
    repo = PatchRepo(root / "repo")
    repo.set_base(PROJECT, up, base, branch="master")
    for name, data in patches.items():
        repo.add_patch(PROJECT, "cherry-pick", name, data)
    repo.commit_all()
    return repo


def _backport(up: Upstream, at: str, sha: str) -> bytes:
    """``cherry-pick -x`` of ``sha`` onto ``at``, as a patch file."""
    current = git(up.path, "rev-parse", "--abbrev-ref", "HEAD")
    git(up.path, "checkout", "-q", "--detach", at)
    picked = up.cherry_pick(sha)
    git(up.path, "checkout", "-q", current)
    return up.format_patch(picked)


def test_merged_then_reverted_before_the_base_is_absent_with_the_revert(tmp_path: Path) -> None:
    up, old = _upstream(tmp_path)
    fix = up.commit("Fix f3", _ret(up, 3, "33"))
    revert = _revert(up, fix)
    up.tag("1.1.0")
    repo = _repo(tmp_path, up, up.rev("1.1.0"), {"0001-fix.patch": _backport(up, old, fix)})

    (verdict,) = merged.detect(config.load(repo.path), PROJECT).verdicts
    assert (verdict.status, verdict.to_json()["reverted_by"]) == ("absent", [revert])
    table = repo.run("prune", PROJECT)
    assert table.exit_code == 0 and f"reverted by {revert[:12]}" in table.stdout
    doc = json.loads(repo.run("--json", "prune", PROJECT).stdout)
    assert doc["patches"][0]["reverted_by"] == [revert]

    # a revert of the revert brings it back
    again = _revert(up, revert)
    report = merged.detect(config.load(repo.path), PROJECT, "master")
    assert [(v.status, v.match) for v in report.verdicts] == [("merged", "same-commit")]
    assert [c.sha for c in report.verdicts[0].upstream] == [fix]
    assert again != fix


def test_merged_and_reverted_inside_the_range_is_absent(tmp_path: Path) -> None:
    up, old = _upstream(tmp_path)
    fix = up.commit("Fix f4", _ret(up, 4, "44"))
    up.commit("Unrelated", {"svc/other.py": "X = 2\n"})
    revert = _revert(up, fix)
    repo = _repo(tmp_path, up, old, {"0001-fix.patch": _backport(up, old, fix)})

    report = merged.detect(config.load(repo.path), PROJECT, "master")
    assert report.forecast and report.range_commits == 3
    (verdict,) = report.verdicts
    assert verdict.status == "absent" and verdict.origins[0].reverted_by == (revert,)
    # before the revert, the target holds it
    before = merged.detect(config.load(repo.path), PROJECT, up.rev(revert + "^"))
    assert [v.status for v in before.verdicts] == ["merged"]


def test_a_change_the_base_already_holds_is_merged_there_and_apply_check_warn(
    tmp_path: Path,
) -> None:
    up, old = _upstream(tmp_path)
    helper = "\n\ndef helper():\n    return 42\n"
    fix = up.commit("Add helper", {"svc/mod.py": _module() + helper}, change_id=change_id("helper"))
    up.tag("1.1.0")
    # a downstream copy made long ago, put elsewhere: it still applies, adding it twice
    dup = side_commit(
        up,
        old,
        "Add helper",
        {"svc/other.py": "X = 1\n" + helper},
        change_id=change_id("helper"),
    )
    repo = _repo(tmp_path, up, up.rev("1.1.0"), {"0001-helper.patch": up.format_patch(dup)})
    name = "cherry-pick/0001-helper.patch"

    report = merged.detect(config.load(repo.path), PROJECT)  # against the base itself
    assert not report.forecast and report.range_commits == 0
    (verdict,) = report.verdicts
    assert (verdict.status, verdict.match) == ("merged", "change-id")
    assert [c.sha for c in verdict.upstream] == [fix]

    applied = repo.run("apply", PROJECT)
    assert applied.exit_code == 0, applied.stderr
    err = " ".join(applied.stderr.split())
    assert f"warning: {name}: its change is already in the base ({fix[:12]} Add helper)" in err
    checked = repo.run("--json", "check", PROJECT)
    assert checked.exit_code == 0, checked.stdout
    warned = [r for r in json.loads(checked.stdout)["results"] if r["check"] == "already-in-base"]
    assert [(r["file"], r["ok"]) for r in warned] == [(name, True)]
    assert fix[:12] in warned[0]["message"]

    pruned = repo.run("--json", "prune", PROJECT, "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["summary"]["removed"] == 1


def test_a_body_quoted_change_id_changes_no_verdict_and_every_command_agrees(
    tmp_path: Path,
) -> None:
    up, old = _upstream(tmp_path)
    other = up.commit("Fix f5", _ret(up, 5, "55"), change_id=change_id("other"))
    own = change_id("own")
    body = f"Like the earlier fix, reviewed as\n\n    Change-Id: {change_id('other')}\n"
    patch = side_commit(up, old, "Fix f6", _ret(up, 6, "66", old), body=body, change_id=own)
    repo = _repo(tmp_path, up, old, {"0001-fix.patch": up.format_patch(patch)})
    name = "cherry-pick/0001-fix.patch"

    listed = json.loads(repo.run("--json", "list", PROJECT).stdout)["projects"][0]["patches"]
    assert [(p["file"], p["change_ids"]) for p in listed] == [(name, [own])]
    checked = json.loads(repo.run("--json", "check", PROJECT).stdout)["results"]
    (unique,) = [r for r in checked if r["check"] == "unique-change-id" and r["file"] == name]
    assert unique["message"] == f"Change-Id {own}"
    doc = json.loads(repo.run("--json", "prune", PROJECT, "--against", "master").stdout)
    (record,) = doc["patches"]
    # not 'partial' through the quoted id: its own change is not upstream
    assert record["status"] == "absent"
    assert [o["change_ids"] for o in record["origins"]] == [[own]]
    assert other not in record["upstream"]


def test_index_updates_incrementally_and_never_outlives_the_refs(tmp_path: Path) -> None:
    up, _ = _upstream(tmp_path)
    mirror = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(up.path), str(mirror))
    db = mirror / history_index.FILE
    assert history_index.update(mirror, db) == 1
    assert history_index.update(mirror, db) == 0 and history_index.current(mirror, db)
    fix = up.commit("Fix f7", _ret(up, 7, "77"), change_id=change_id("f7"))
    git(mirror, "fetch", "-q", str(up.path), "+refs/heads/*:refs/heads/*")
    assert not history_index.current(mirror, db)  # refs moved: not trusted
    assert history_index.update(mirror, db) == 1  # only the new commit is read
    with history_index.opened(mirror, db) as index:
        assert index.with_change_ids([change_id("f7")]) == {change_id("f7"): [fix]}
        by_id = presence.Query((), (change_id("f7"),))
        [found] = presence.Lookup(mirror, index, "master").find([by_id])
        assert (found.match, found.upstream) == ("change-id", (fix,))
        by_commit = presence.Query((fix,), ())
        assert not presence.Lookup(mirror, index, "1.0.0").find([by_commit])[0].present
    from verda_patch.mirror import Mirror

    cached = Mirror(str(up.path), mirror)
    with history_index.for_mirror(cached) as index:
        [found] = presence.Lookup(cached.path, index, "master").find([by_commit])
    assert found.match == "same-commit"
    db.write_bytes(b"not a database")  # damaged: rebuilt, not trusted
    assert history_index.update(mirror, db) == 2
