"""store: patches/<project>/<category>/, apply order, series files, safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.builders import PatchRepo
from verda_patch import config
from verda_patch.errors import PatchError, UserError
from verda_patch.store import Store, slugify, write_atomic

C = "6042300453411133652dd8d3b789f5057a084075"


def mail(subject: str, path: str = "f.txt") -> bytes:
    """A small patch file (no git needed to write it; parse-valid)."""
    return (
        f"From: Zoë Ångström <zoe@example.org>\nSubject: [PATCH] {subject}\n\nWhy.\n---\n"
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
    ).encode()


@pytest.fixture
def repo(make_patch_repo) -> PatchRepo:
    r: PatchRepo = make_patch_repo()
    r.set_base("nova", "/srv/nova", C)
    return r


def store(repo: PatchRepo) -> Store:
    return Store(config.load(repo.path))


def files(repo: PatchRepo, project: str = "nova") -> list[str]:
    return [e.file for e in store(repo).entries(project)]


def folder(repo: PatchRepo, category: str, project: str = "nova") -> Path:
    return repo.path / "patches" / project / category


# --- order ---------------------------------------------------------------------------


def test_default_order_is_categories_then_sorted_names(repo: PatchRepo) -> None:
    for category, name in [
        ("customs", "0001-a.patch"),
        ("general", "0002-b.patch"),
        ("general", "0001-c.diff"),
        ("cherry-pick", "0010-d.patch"),
        ("cherry-pick", "0002-e.patch"),
    ]:
        repo.add_patch("nova", category, name, mail(name))
    assert files(repo) == [
        "cherry-pick/0002-e.patch",
        "cherry-pick/0010-d.patch",
        "general/0001-c.diff",
        "general/0002-b.patch",
        "customs/0001-a.patch",
    ]


def test_other_files_in_a_category_are_ignored(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    for name in ("README.md", ".0002-hidden.patch", "notes.txt", "0003-b.patch.orig", "x.rej"):
        repo.add_patch("nova", "general", name, b"not a patch\n")
    (folder(repo, "general") / "subdir").mkdir()
    assert files(repo) == ["general/0001-a.patch"]


def test_categories_setting_sets_the_order(repo: PatchRepo) -> None:
    (repo.path / "verda-patch.yaml").write_text("categories: [customs, backports]\n")
    repo.add_patch("nova", "backports", "0001-a.patch", mail("a"))
    repo.add_patch("nova", "customs", "0001-b.patch", mail("b"))
    assert files(repo) == ["customs/0001-b.patch", "backports/0001-a.patch"]


def test_project_without_patches_is_empty(repo: PatchRepo) -> None:
    assert store(repo).entries("nova") == []
    (repo.path / "patches" / "nova").mkdir(parents=True)
    assert store(repo).entries("nova") == []


def test_series_sets_the_order_with_comments_blanks_and_options(repo: PatchRepo) -> None:
    for name in ("0001-a.patch", "0002-b.patch", "0003-c.diff"):
        repo.add_patch("nova", "general", name, mail(name))
    repo.series(
        "nova",
        "general",
        [
            "# apply c before a: c moves the code a edits",
            "",
            "0003-c.diff   # trailing comment",
            "   ",
            "0001-a.patch -p1",  # quilt options after the name are ignored
            "\t0002-b.patch\t",
        ],
    )
    assert files(repo) == ["general/0003-c.diff", "general/0001-a.patch", "general/0002-b.patch"]


def test_series_with_crlf_line_ends(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    (folder(repo, "general") / "series").write_bytes(b"# x\r\n0001-a.patch\r\n")
    assert files(repo) == ["general/0001-a.patch"]


def test_series_may_name_a_file_without_patch_suffix(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "fix-quota", mail("q"))
    repo.series("nova", "general", ["fix-quota"])
    assert files(repo) == ["general/fix-quota"]
    assert store(repo).load("nova")[0].subject == "q"


# --- series errors ----------------------------------------------------------------------


def _error(repo: PatchRepo) -> PatchError:
    with pytest.raises(PatchError) as info:
        store(repo).entries("nova")
    assert info.value.exit_code == 2
    return info.value


def test_series_naming_a_missing_file(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    series = repo.series("nova", "general", ["# order", "0001-a.patch", "0002-gone.patch"])
    err = _error(repo)
    assert (err.file, err.line) == (series, 3)
    assert "series names '0002-gone.patch' but general/0002-gone.patch does not exist" in str(err)
    assert "remove the line or restore the file" in str(err)


def test_patch_file_not_in_series_names_both(repo: PatchRepo) -> None:
    for name in ("0001-a.patch", "0002-b.patch", "0003-c.patch", "0004-d.diff"):
        repo.add_patch("nova", "general", name, mail(name))
    series = repo.series("nova", "general", ["0001-a.patch"])
    err = _error(repo)
    assert err.file == series
    assert "general/0002-b.patch is not listed in general/series (nor 2 more)" in err.message
    assert err.hint == "add '0002-b.patch' to the series file or remove the file"


def test_duplicate_series_entry(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    series = repo.series("nova", "general", ["0001-a.patch", "", "0001-a.patch"])
    err = _error(repo)
    assert (err.file, err.line) == (series, 3)
    assert "'0001-a.patch' is listed twice (first on line 1)" in err.message


@pytest.mark.parametrize(
    "entry",
    ["../../etc/passwd", "/etc/passwd", "..", ".", "../customs/0001-a.patch", "sub\\x.patch"],
)
def test_series_entry_outside_the_category_is_refused(repo: PatchRepo, entry: str) -> None:
    repo.add_patch("nova", "customs", "0001-a.patch", mail("a"))
    series = repo.series("nova", "general", [entry])
    err = _error(repo)
    assert (err.file, err.line) == (series, 1)
    assert "must be a file name in general/" in err.message


def test_unknown_category_folder(repo: PatchRepo) -> None:
    repo.add_patch("nova", "fixes", "0001-a.patch", mail("a"))
    err = _error(repo)
    assert err.file == repo.path / "patches" / "nova" / "fixes"
    assert "folder 'fixes' is not a category (known: cherry-pick, general, customs)" in err.message
    assert "verda-patch.yaml" in (err.hint or "")


def test_patch_file_outside_any_category_is_refused(repo: PatchRepo) -> None:
    # regression: it used to be skipped without a word and never applied
    stray = repo.path / "patches" / "nova" / "0001-stray.patch"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(mail("stray"))
    err = _error(repo)
    assert err.file == stray
    assert "outside a category folder" in err.message


def test_symlinked_patch_file_is_refused(repo: PatchRepo, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.patch"
    outside.write_bytes(mail("x"))
    link = folder(repo, "general") / "0001-link.patch"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    err = _error(repo)
    assert err.file == link and "not a regular file" in err.message


def test_symlink_named_by_series_is_refused(repo: PatchRepo, tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("root:x:0:0\n")
    link = folder(repo, "general") / "innocent"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    repo.series("nova", "general", ["innocent"])
    err = _error(repo)
    assert err.file == link and "not a regular file" in err.message


def test_symlinked_category_and_series_are_refused(repo: PatchRepo, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "0001-a.patch").write_bytes(mail("a"))
    (repo.path / "patches" / "nova").mkdir(parents=True)
    (repo.path / "patches" / "nova" / "general").symlink_to(real)
    assert "symlink" in _error(repo).message
    (repo.path / "patches" / "nova" / "general").unlink()
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    (tmp_path / "series").write_text("0001-a.patch\n")
    (folder(repo, "general") / "series").symlink_to(tmp_path / "series")
    assert "not a regular file" in _error(repo).message


def test_directory_named_like_a_patch_is_refused(repo: PatchRepo) -> None:
    (folder(repo, "general") / "0001-a.patch").mkdir(parents=True)
    assert "not a regular file" in _error(repo).message


# --- parsing through the store -----------------------------------------------------------


def test_load_parses_in_order_with_progress(repo: PatchRepo) -> None:
    repo.add_patch("nova", "customs", "0001-later.patch", mail("Later"))
    repo.add_patch("nova", "cherry-pick", "0001-first.patch", mail("First"))
    seen: list[tuple[int, int]] = []
    patches = store(repo).load("nova", on_patch=lambda done, total: seen.append((done, total)))
    assert [(p.file, p.category, p.subject) for p in patches] == [
        ("cherry-pick/0001-first.patch", "cherry-pick", "First"),
        ("customs/0001-later.patch", "customs", "Later"),
    ]
    assert seen == [(1, 2), (2, 2)]


def test_load_names_the_broken_patch_file(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    bad = repo.add_patch("nova", "general", "0002-b.patch", b"just words\n")
    with pytest.raises(PatchError) as info:
        store(repo).load("nova")
    assert info.value.file == bad


def test_projects_with_patches(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    repo.add_patch("glance", "customs", "0001-a.patch", mail("a"))
    assert store(repo).projects_with_patches() == ["glance", "nova"]


# --- writing ------------------------------------------------------------------------------


def test_add_numbers_after_the_highest_and_appends_to_series(repo: PatchRepo) -> None:
    repo.add_patch("nova", "general", "0001-a.patch", mail("a"))
    repo.add_patch("nova", "general", "0007-b.patch", mail("b"))
    series = folder(repo, "general") / "series"
    series.write_text("0007-b.patch\n0001-a.patch")  # no final newline
    entry = store(repo).add("nova", "general", "Fix the quota: rounding!", mail("c"))
    assert entry.file == "general/0008-Fix-the-quota-rounding.patch"
    assert entry.path.read_bytes() == mail("c")
    assert series.read_text() == "0007-b.patch\n0001-a.patch\n0008-Fix-the-quota-rounding.patch\n"
    assert files(repo)[-1] == entry.file


def test_add_without_series_does_not_create_one(repo: PatchRepo) -> None:
    entry = store(repo).add("nova", "customs", "first", mail("first"))
    assert entry.name == "0001-first.patch"
    assert not (folder(repo, "customs") / "series").exists()


def test_add_never_overwrites(repo: PatchRepo) -> None:
    # a file that appears between numbering and writing is kept (O_EXCL)
    s = store(repo)
    target = folder(repo, "general") / "0001-x.patch"
    target.parent.mkdir(parents=True)
    s.next_number = lambda project, category: 1  # type: ignore[method-assign]
    target.write_bytes(b"precious\n")
    with pytest.raises(PatchError, match="already exists; not overwriting it"):
        s.add("nova", "general", "x", mail("x"))
    assert target.read_bytes() == b"precious\n"


def test_add_to_unknown_category_is_a_user_error(repo: PatchRepo) -> None:
    with pytest.raises(UserError, match=r"unknown category 'fixes' \(known: cherry-pick"):
        store(repo).add("nova", "fixes", "x", mail("x"))


def test_remove_deletes_files_and_their_series_lines(repo: PatchRepo) -> None:
    for name in ("0001-a.patch", "0002-b.patch", "0003-c.patch"):
        repo.add_patch("nova", "general", name, mail(name))
    series = repo.series(
        "nova", "general", ["# keep this", "0001-a.patch", "0002-b.patch -p1", "0003-c.patch"]
    )
    removed = store(repo).remove("nova", ["general/0002-b.patch", "general/0003-c.patch"])
    assert [p.name for p in removed] == ["0002-b.patch", "0003-c.patch"]
    assert series.read_text() == "# keep this\n0001-a.patch\n"
    assert files(repo) == ["general/0001-a.patch"]


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Fix the quota: rounding!", "Fix-the-quota-rounding"),
        ("..hidden..", "hidden"),
        ("a/b\\c", "a-b-c"),
        ("", "patch"),
        ("é", "patch"),
        ("x" * 80, "x" * 52),
        ("v1.2..3", "v1.2.3"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "series"
    write_atomic(target, b"one\n")
    write_atomic(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert os.listdir(target.parent) == ["series"]
