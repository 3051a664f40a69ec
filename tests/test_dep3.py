"""dep3: DEP-3 headers and quilt diffs, read as Debian writes them, applied as git applies them.

Shapes come from real Debian packaging of OpenStack projects (see
tests/samples/README.md); git stays the oracle for what the diff changes, and
the commit ``apply`` makes is read back with git itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, git
from verda_patch.dep3 import Fields, canonical, parse
from verda_patch.patchfile import parse_bytes

QUILT_DIFF = (
    b"Index: sample-1.0/sample/quota.py\n"
    b"===================================================================\n"
    b"--- sample-1.0.orig/sample/quota.py\t2016-06-07 10:00:00.000000000 +0200\n"
    b"+++ sample-1.0/sample/quota.py\t2016-06-07 10:01:00.000000000 +0200\n"
    b"@@ -1 +1 @@\n"
    b"-LIMITS = {'cores': 20, 'ram': 51200}\n"
    b"+LIMITS = {'cores': 24, 'ram': 51200}\n"
)


def test_description_first_line_is_the_subject_continuations_the_message() -> None:
    header = parse(
        "Description: Fix requirements.txt\n"
        " The current requirements.txt is producing a non-working list.\n"
        " .\n"
        " Just get the broken lines out.\n"
        "Author: Thomas Goirand <zigo@debian.org>\n"
        "Forwarded: not-needed\n"
        "Last-Update: 2016-06-07\n"
    )
    assert header is not None
    assert header.subject == "Fix requirements.txt"
    assert header.author == "Thomas Goirand <zigo@debian.org>"
    assert header.message == (
        "The current requirements.txt is producing a non-working list.\n\n"
        "Just get the broken lines out.\n\n"
        "Forwarded: not-needed\nLast-Update: 2016-06-07"
    )
    assert header.fields["forwarded"] == "not-needed"


def test_subject_and_from_are_aliases_and_free_text_follows_the_description() -> None:
    header = parse(
        "Subject: Missing configuration opts\n From: the sample config.\n"
        "Author: Kendall Nelson <kjnelson@example.com>\n"
        "Origin: upstream, https://review.openstack.org/#/c/225974/\n\n"
        "Free-form words after the header.\n"
    )
    assert header is not None
    assert header.subject == "Missing configuration opts"
    assert header.message == (
        "From: the sample config.\n\nFree-form words after the header.\n\n"
        "Origin: upstream, https://review.openstack.org/#/c/225974/"
    )
    assert header.fields["Origin"].startswith("upstream")


def test_real_world_slips_are_tolerated() -> None:
    header = parse(
        "zigo@host:~/sources/cinder$ cat ../remove-zfssa.patch\n"
        "Descripton: Remove zfssa from opts.py\n"
        "Author: Ghe Rivero\n"
        "Forwared no\n"
        "Change-Id: I30422ec6547ca5d1f6200e0ab3ef8d9af22daaea\n"
        "Co-Authored By: Nathan Kinder <nkinder@example.com>\n"
        "Change-Id: I8d333d7529d40f3a3b3651ca3a52c0048d96b99a\n\n"
        "From c73b54e50b62c489f04432bdbc5bee678b18226e Mon Sep 17 00:00:00 2001\n"
        "From: Darragh O'Reilly <dara@example.com>\n"
        "Date: Tue, 8 Oct 2013 10:36:05 +0000\n"
        "Subject: [PATCH] Remove zfssa from opts.py\n\n"
        "Closes-Bug: 1236783\n"
    )
    assert header is not None
    assert header.subject == "Remove zfssa from opts.py"
    assert header.author == "Ghe Rivero"
    assert header.date == "Tue, 8 Oct 2013 10:36:05 +0000"
    assert header.fields.all("Change-Id") == (
        "I30422ec6547ca5d1f6200e0ab3ef8d9af22daaea",
        "I8d333d7529d40f3a3b3651ca3a52c0048d96b99a",
    )
    assert header.fields["Forwarded"] == "no"
    assert "From c73b54e" not in header.message and "[PATCH]" not in header.message
    assert header.message.startswith("zigo@host:~/sources/cinder$ cat ../remove-zfssa.patch\n\n")
    # an unknown field alone is free text; the kept fields are the last paragraph
    assert header.message.endswith(
        "Closes-Bug: 1236783\n\nForwared no\n"
        "Change-Id: I30422ec6547ca5d1f6200e0ab3ef8d9af22daaea\n"
        "Co-Authored By: Nathan Kinder <nkinder@example.com>\n"
        "Change-Id: I8d333d7529d40f3a3b3651ca3a52c0048d96b99a"
    )


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("description", "Description"),
        ("Forwared", "Forwarded"),
        ("Last-Updated", "Last-Update"),
        ("Bug-Debian", "Bug-Debian"),
        ("Debian-Bug", "Bug-Debian"),
        ("Bug-Fedora", "Bug-Fedora"),
        ("Applied-Upstream", "Applied-Upstream"),
        ("Closes-Bug", None),
        ("X-Git-Url", None),
    ],
)
def test_field_names_are_read_leniently(name: str, known: str | None) -> None:
    assert canonical(name) == known


def test_fields_mapping_ignores_case_and_hashes() -> None:
    fields = Fields((("Origin", "vendor"), ("Bug-Debian", "1"), ("Bug-Debian", "2")))
    assert fields["origin"] == "vendor" and fields.get("Forwarded") is None
    assert list(fields) == ["Origin", "Bug-Debian"] and len(fields) == 2
    assert fields.all("bug-debian") == ("1", "2")
    assert hash(fields) == hash(Fields(fields.items_in_order))


def test_text_without_a_known_field_is_no_header() -> None:
    assert parse("This fixes the build.\nNote: see the bug.\n") is None


def test_quilt_patch_reads_subject_author_and_p1_paths() -> None:
    data = (
        b"Description: Raise the cores quota\n Operators asked for 24.\n"
        b"Author: Ond\xc5\x99ej Nov\xc3\xbd <ondrej@example.org>\n"
        b"Bug-Debian: https://bugs.debian.org/846729\n"
        b"Date: Mon, 21 Nov 2016 22:49:53 +0000 (+0100)\n\n" + QUILT_DIFF
    )
    patch = parse_bytes(data, source=Path("raise-cores.patch"))
    assert (patch.subject, patch.author_name, patch.author_email) == (
        "Raise the cores quota",
        "Ondřej Nový",
        "ondrej@example.org",
    )
    assert patch.date == "Mon, 21 Nov 2016 22:49:53 +0000 (+0100)"
    assert patch.message == "Operators asked for 24.\n\nBug-Debian: https://bugs.debian.org/846729"
    assert [(f.path, f.status, f.added, f.removed) for f in patch.files] == [
        ("sample/quota.py", "modified", 1, 1)
    ]
    assert patch.diff == QUILT_DIFF
    assert patch.dep3["Bug-Debian"] == "https://bugs.debian.org/846729"


def test_a_description_line_git_am_would_cut_at_stays_indented() -> None:
    data = b"Description: Fix it\n ---\n Index: the words\nAuthor: A <a@example.org>\n\n"
    patch = parse_bytes(data + QUILT_DIFF, source=Path("x.patch"))
    assert patch.message == " ---\n Index: the words"


@pytest.mark.parametrize(
    ("data", "subject"),
    [
        (b"Date: Mon, 21 Nov 2016 22:49:53 +0000\n\n", "raise cores"),
        (b"From: A <a@example.org>\nDate: Mon, 21 Nov 2016 22:49:53 +0000\n\n", "raise cores"),
        (b"From: A <a@example.org>\nSubject: \n\n", "raise cores"),
        (b"From: A <a@example.org>\nDescription: From the header\n\n", "From the header"),
    ],
)
def test_no_subject_means_the_file_name_never_an_empty_message(data: bytes, subject: str) -> None:
    patch = parse_bytes(data + QUILT_DIFF, source=Path("0003-raise-cores.diff"))
    assert patch.subject == subject


# --- apply and export, through real git ------------------------------------------------

DEP3_FILES = {
    "quilt-bare-author.patch": (
        b"Description: Raise the cores quota\n Operators asked for 24.\n"
        b"Author: Gabe Westmaas (Rackspace)\nForwarded: not-needed\n"
        # gitweb's date: UTC, the author's offset as a comment (git alone reads +0100)
        b"Date: Mon, 21 Nov 2016 22:49:53 +0000 (+0100)\n"
        b"Change-Id: I30422ec6547ca5d1f6200e0ab3ef8d9af22daaea\n\n" + QUILT_DIFF
    ),
    "no-author.patch": (
        b"Description: Document the weigher\nOrigin: vendor\n\n"
        b"--- a/README.rst\n+++ b/README.rst\n@@ -1,2 +1,3 @@\n Sample\n ======\n+Weighs.\n"
    ),
    "mail-no-subject.patch": (
        b"From: Zo\xc3\xab <zoe@example.org>\nDate: Tue, 14 Nov 2023 23:24:20 +0100\n\n"
        b"diff --git a/setup.cfg b/setup.cfg\n--- a/setup.cfg\n+++ b/setup.cfg\n"
        b"@@ -1,2 +1,3 @@\n [metadata]\n name = sample\n+version = 1\n"
    ),
}


@pytest.fixture
def dep3_repo(make_upstream, make_patch_repo) -> tuple[Upstream, PatchRepo]:
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("HEAD"), ref="1.0.0")
    for name, data in DEP3_FILES.items():
        repo.add_patch("sample", "customs", name, data)
    repo.series("sample", "customs", list(DEP3_FILES))
    repo.commit_all()
    return up, repo


def test_dep3_files_apply_one_commit_each_and_export_leaves_them_untouched(
    dep3_repo: tuple[Upstream, PatchRepo],
) -> None:
    up, repo = dep3_repo
    listed = repo.run("--json", "list", "sample")
    assert listed.exit_code == 0, listed.output
    records = json.loads(listed.stdout)["projects"][0]["patches"]
    assert [(r["subject"], r["author"]) for r in records] == [
        ("Raise the cores quota", "Gabe Westmaas (Rackspace)"),
        ("Document the weigher", None),
        ("mail no subject", "Zoë <zoe@example.org>"),
    ]
    assert records[0]["change_id"] == "I30422ec6547ca5d1f6200e0ab3ef8d9af22daaea"
    result = repo.run("apply", "sample")
    assert result.exit_code == 0, result.output
    work = repo.path / ".verda" / "work" / "sample"
    log = git(work, "log", "--reverse", "--format=%s|%an|%ae|%ad%x00%b%x00", "--date=raw", "-3")
    entries = [e.strip("\n") for e in log.split("\x00") if e.strip("\n")]
    heads, bodies = entries[0::2], entries[1::2]
    assert heads == [
        "Raise the cores quota|Gabe Westmaas (Rackspace)||1479768593 +0000",
        "Document the weigher|verda-patch|verda-patch@localhost|946684800 +0000",
        "mail no subject|Zoë|zoe@example.org|1700000660 +0100",
    ]
    assert bodies[0].startswith("Operators asked for 24.\n\nForwarded: not-needed\nChange-Id: I30")
    assert "Origin: vendor" in bodies[1]
    # the tree is what git apply makes of the same files, in series order
    git(up.path, "checkout", "-q", "--detach", "HEAD")
    for data in DEP3_FILES.values():
        git(up.path, "apply", "-p1", "-", input=data)
    assert git(up.path, "status", "--porcelain") != ""
    git(up.path, "add", "-A")
    assert git(up.path, "write-tree") == git(work, "rev-parse", "HEAD^{tree}")
    before = {p.name: p.read_bytes() for p in (repo.path / "patches/sample/customs").iterdir()}
    exported = repo.run("export", "sample")
    assert exported.exit_code == 0, exported.output
    assert "0 written, 3 unchanged" in exported.stdout
    after = {p.name: p.read_bytes() for p in (repo.path / "patches/sample/customs").iterdir()}
    assert after == before


def test_a_message_that_starts_like_an_in_body_header_is_kept_whole(
    make_upstream, make_patch_repo
) -> None:
    # git am reads "From: ..." at the top of a body as the author (here: no
    # address, "empty ident name"); apply must commit the DEP-3 author and text
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("HEAD"))
    repo.add_patch(
        "sample",
        "customs",
        "0001-cores.patch",
        b"Description: Raise the cores quota\n From: the sample config.\n"
        b"Author: Ada Lovelace <ada@example.org>\n\n" + QUILT_DIFF,
    )
    repo.commit_all()
    result = repo.run("apply", "sample")
    assert result.exit_code == 0, result.output
    work = repo.path / ".verda" / "work" / "sample"
    assert git(work, "log", "-1", "--format=%an <%ae>") == "Ada Lovelace <ada@example.org>"
    assert git(work, "log", "-1", "--format=%b").startswith("From: the sample config.\n")
    exported = repo.run("export", "sample")
    assert exported.exit_code == 0, exported.output
    assert "0 written, 1 unchanged" in exported.stdout
