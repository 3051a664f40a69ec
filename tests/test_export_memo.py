"""check's export step remembers, per prefix, which patches export leaves byte for byte."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests import test_prefix
from tests.builders import git
from verda_patch import apply as engine
from verda_patch import check as gate
from verda_patch import export_memo
from verda_patch.config import load
from verda_patch.mirror import Mirror

small = test_prefix.small  # upstream 1.0.0 and four patches, as the prefix tests use


def _check(repo_path: Path, caplog: pytest.LogCaptureFixture) -> tuple[gate.Report, list[str]]:
    """A check of ``sample``, and the range each git format-patch of it rendered."""
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="verda_patch.git")
    report = gate.run(load(repo_path), ["sample"])
    calls = [r.getMessage().split(" (")[0] for r in caplog.records]
    return report, [c.split()[-1] for c in calls if c.startswith("git format-patch")]


def _export(report: gate.Report) -> list[tuple[str | None, str, str]]:
    return [(r.file, r.status, r.message) for r in report.results if r.check == "export"]


def _file(repo_path: Path, i: int, name: str) -> Path:
    return repo_path / "patches" / "sample" / "customs" / f"{i:04d}-{name}.patch"


def _memo(repo_path: Path) -> Path:
    config = load(repo_path)
    return Mirror.for_project(config, config.project("sample")).path / export_memo.FILE


def test_check_after_apply_compares_nothing_again(small, caplog):
    _up, repo = small
    engine.apply_project(load(repo.path), "sample")
    first, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and {s for _, s, _ in _export(first)} == {"pass"}
    again, rendered = _check(repo.path, caplog)
    assert rendered == []  # neither a format-patch nor a comparison
    assert _export(again) == _export(first) and len(_export(again)) == 5  # 4 patches, project
    assert again.ok


def test_a_form_only_edit_is_compared_again_from_that_patch(small, caplog):
    _up, repo = small
    applied = engine.apply_project(load(repo.path), "sample")
    head, second = applied.head, git(applied.work_tree, "rev-parse", "HEAD~2")
    before, _ = _check(repo.path, caplog)
    # a signature format-patch would not write: the same meaning in other bytes
    path = _file(repo.path, 3, "f2")
    path.write_bytes(path.read_bytes() + b"-- \n2.30.0\n\n")
    report, rendered = _check(repo.path, caplog)
    # the first two patches are known: only f2 and f3 are rendered and compared
    assert rendered == [f"{second}..{head}"]
    assert _export(report) == _export(before)
    again, rendered = _check(repo.path, caplog)
    assert rendered == [] and _export(again) == _export(before)


def test_a_change_of_meaning_gives_the_verdict_of_an_empty_memo(small, caplog):
    _up, repo = small
    _check(repo.path, caplog)
    _file(repo.path, 2, "f1").write_text(
        test_prefix._patch("f1", "one 1", subject="Add f1, reworded")
    )
    report, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and rendered[0].count("..") == 1
    since, _ = rendered[0].split("..")
    assert since != load(repo.path).project("sample").commit  # f0 was not rendered again
    _memo(repo.path).unlink()
    cold, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and _export(cold) == _export(report)
    assert any(r.message.startswith("export of the applied tree") for r in report.results)


def test_a_new_stamp_or_a_poisoned_memo_only_compares_again(small, caplog, monkeypatch):
    _up, repo = small
    first, _ = _check(repo.path, caplog)
    memo = _memo(repo.path)
    keys = memo.read_text().split()
    assert len(keys) == 4  # each position of a short series is a checkpoint
    # another verda-patch or git version: nothing it remembered counts
    with monkeypatch.context() as m:
        m.setattr(export_memo, "stamp", lambda: "another version")
        report, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and _export(report) == _export(first)
    assert len(memo.read_text().split()) == 8
    # lines that are no key, a key of nothing, bytes that are no text: compared again
    poison = [b"garbage", b"0" * 64, keys[-1].upper().encode(), b" " + keys[-1].encode()]
    memo.write_bytes(b"\n".join(poison) + b"\n")
    report, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and _export(report) == _export(first)
    memo.write_bytes(keys[-1].encode() + b"\n\xff\xfe\n")  # no text: ignored whole
    report, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and _export(report) == _export(first)
    memo.write_bytes(b"x" * (export_memo.LIMIT * 65 + 2))  # longer than we ever write
    report, rendered = _check(repo.path, caplog)
    assert len(rendered) == 1 and _export(report) == _export(first)
    assert memo.read_text().split() == keys


def test_the_memo_keeps_checkpoints_and_the_newest_keys_only(tmp_path):
    memo = export_memo.ExportMemo(tmp_path)
    keys = [f"{i:064x}" for i in range(export_memo.LIMIT + 3)]
    memo.remember(keys, 0, len(keys))  # a stride of 64: the 64 checkpoints and the last
    held = memo.path.read_text().split()
    assert held == [*keys[63 : len(keys) - 3 : 64], keys[-1]]
    assert memo.known(keys[:200]) == 192 and memo.known(keys) == len(keys)
    memo.remember(keys, len(keys), len(keys))  # nothing new
    assert memo.path.read_text().split() == held
    for i in range(export_memo.LIMIT + 3):
        memo.remember([f"{i:064x}"], 0, 1)
    assert memo.path.read_text().split() == keys[3:]
    memo.remember(["not a key"], 0, 1)
    assert memo.path.read_text().split() == keys[3:]
