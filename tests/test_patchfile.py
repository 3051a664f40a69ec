"""patchfile: golden samples, git as the oracle, and properties on arbitrary bytes.

Three oracles, all real git on the same bytes:
- ``git mailsplit -b`` + ``git mailinfo -b`` (what ``git am --keep-non-patch``
  reads: subject, author, date, message),
- ``git apply --numstat`` (which files, how many lines, binary or not),
- ``git am`` itself on a real upstream, and ``git apply`` of the diff the parser
  extracted, which must rebuild the original commit's tree.
"""

from __future__ import annotations

import dataclasses
import email.header
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tests.builders import Upstream, git
from verda_patch.errors import PatchError
from verda_patch.patchfile import (
    Patch,
    clean_subject,
    is_patch_break,
    parse_bytes,
    parse_file,
    subject_from_filename,
    trailer_change_ids,
)

SAMPLES = Path(__file__).parent / "samples"
ALL_SAMPLES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".patch", ".diff"))
GOOD = [p for p in ALL_SAMPLES if not p.name.startswith("bad-")]
BAD = [p for p in ALL_SAMPLES if p.name.startswith("bad-")]
DEP3 = [p for p in GOOD if p.name.startswith("dep3-")]
DIFF = (
    b"---\n f | 2 +-\n\ndiff --git a/f b/f\nindex 422c2b7..0f7bc76 100644\n"
    b"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
)
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- git as the oracle ---------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    return env


def run_git(
    cwd: Path, *args: str, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=_env(), check=False
    )


def stored_text(raw: bytes) -> str:
    """What ``git commit`` stores for raw bytes (commit.c ``verify_utf8``): UTF-8,
    every byte that is not valid UTF-8 taken as latin-1. Written out here, not
    borrowed from the parser, so the oracle stays independent."""
    out, pos = [], 0
    while pos < len(raw):
        try:
            out.append(raw[pos:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            out.append(raw[pos : pos + exc.start].decode("utf-8"))
            out.append(chr(raw[pos + exc.start]))
            pos += exc.start + 1
    return "".join(out)


@dataclasses.dataclass
class MailInfo:
    ok: bool
    info: dict[str, str]
    message: str
    patch: bytes


def mailinfo(data: bytes, scratch: Path) -> MailInfo:
    """``git am``'s own reading: mailsplit (mbox line, CRLF) then ``mailinfo -b``."""
    scratch.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=scratch))  # fresh per call: hypothesis reuses tmp_path
    (scratch / "in").write_bytes(data)
    split = scratch / "split"
    split.mkdir(exist_ok=True)
    run_git(scratch, "mailsplit", "-b", f"-o{split}", str(scratch / "in"))
    mail = (split / "0001").read_bytes() if (split / "0001").exists() else data
    proc = run_git(scratch, "mailinfo", "-b", "msg", "patch", input=mail)
    info = {}
    for line in proc.stdout.split(b"\n"):
        key, sep, value = line.partition(b": ")
        if sep:
            info[key.decode()] = stored_text(value)
    raw_msg = (scratch / "msg").read_bytes() if (scratch / "msg").exists() else b""
    message = run_git(scratch, "stripspace", input=raw_msg).stdout
    patch = (scratch / "patch").read_bytes() if (scratch / "patch").exists() else b""
    return MailInfo(proc.returncode == 0, info, stored_text(message).rstrip("\n"), patch)


def numstat(diff: bytes, cwd: Path) -> list[tuple[str, str, str]] | None:
    """``git apply --numstat -z``: (added, removed, path) per file, None if git refuses."""
    proc = run_git(cwd, "apply", "--numstat", "-z", "-", input=diff)
    if proc.returncode:
        return None
    items = proc.stdout.split(b"\0")
    out, i = [], 0
    while i < len(items) and items[i]:
        added, removed, path = items[i].split(b"\t", 2)
        if not path:  # a rename: "A\tR\t\0old\0new\0"
            path, i = items[i + 2], i + 3
        else:
            i += 1
        out.append((added.decode(), removed.decode(), path.decode("utf-8", "surrogateescape")))
    return out


def ours_numstat(patch: Patch) -> list[tuple[str, str, str]]:
    return [
        ("-", "-", f.path) if f.binary else (str(f.added), str(f.removed), f.path)
        for f in patch.files
    ]


# --- golden samples --------------------------------------------------------------------


def test_every_sample_has_a_verify_file() -> None:
    for sample in ALL_SAMPLES:
        assert (SAMPLES / (sample.stem + ".verify")).is_file(), sample.name
    assert len(GOOD) >= 10 and len(BAD) >= 5


@pytest.mark.parametrize("sample", GOOD, ids=lambda p: p.name)
def test_sample_parses_as_verified(sample: Path) -> None:
    expected = json.loads((SAMPLES / (sample.stem + ".verify")).read_text(encoding="utf-8"))
    patch = parse_file(sample, file=f"general/{sample.name}", category="general")
    lines = patch.diff.decode("utf-8", "surrogateescape").splitlines()
    got = {
        "subject": patch.subject,
        "author_name": patch.author_name,
        "author_email": patch.author_email,
        "date": patch.date,
        "message": patch.message,
        "change_ids": list(patch.change_ids),
        "cherry_picked_from": list(patch.cherry_picked_from),
        "has_header": patch.has_header,
        "files": [dataclasses.asdict(f) for f in patch.files],
        "diff_first_line": lines[0],
        "diff_last_line": lines[-1],
    }
    if patch.dep3:
        got["dep3"] = dict(patch.dep3)
    assert got == expected
    assert patch.file == f"general/{sample.name}" and patch.category == "general"


@pytest.mark.parametrize(
    "sample",
    [p for p in GOOD if p.suffix == ".patch" and not p.name.startswith("dep3-")],
    ids=lambda p: p.name,
)
def test_sample_reads_as_git_mailinfo_reads_it(sample: Path, tmp_path: Path) -> None:
    data = sample.read_bytes()
    patch = parse_bytes(data, source=sample)
    git_says = mailinfo(data, tmp_path)
    assert git_says.ok
    assert patch.subject == git_says.info["Subject"]
    assert patch.author_name == git_says.info["Author"]
    assert patch.author_email == git_says.info["Email"]
    assert patch.date == git_says.info["Date"].strip(" ")
    assert patch.message == git_says.message


@pytest.mark.parametrize("sample", DEP3, ids=lambda p: p.name)
def test_dep3_sample_is_one_git_am_refuses_but_git_apply_reads(
    sample: Path, tmp_path: Path
) -> None:
    """git's verdict beside each DEP-3 sample: ``git am`` has no author to take
    (mailinfo reads no From:), so verda-patch supplies the DEP-3 one; the diff is
    what ``git apply`` reads (the numstat test below)."""
    git_says = mailinfo(sample.read_bytes(), tmp_path)
    assert git_says.ok and not git_says.info.get("Author") and not git_says.info.get("Email")
    patch = parse_file(sample)
    assert patch.dep3 and patch.subject == patch.dep3["Description"].split("\n")[0]


@pytest.mark.parametrize("sample", GOOD, ids=lambda p: p.name)
def test_sample_files_match_git_apply_numstat(sample: Path, tmp_path: Path) -> None:
    data = sample.read_bytes()
    patch = parse_bytes(data, source=sample)
    # git apply calls a last hunk line without its newline "corrupt"; the SPEC has
    # verda-patch accept that file, so git is asked about the completed bytes
    data = data if data.endswith(b"\n") else data + b"\n"
    body = mailinfo(data, tmp_path).patch if patch.has_header else data
    assert ours_numstat(patch) == numstat(body, tmp_path)
    # and the diff the parser kept is all git needs: same files, same counts
    assert numstat(patch.diff, tmp_path) == numstat(body, tmp_path)


@pytest.mark.parametrize("sample", BAD, ids=lambda p: p.name)
def test_bad_sample_is_a_patch_error_naming_the_file(sample: Path, tmp_path: Path) -> None:
    expected = json.loads((SAMPLES / (sample.stem + ".verify")).read_text(encoding="utf-8"))
    with pytest.raises(PatchError) as info:
        parse_file(sample)
    assert expected["error"] in info.value.message
    assert Path(info.value.file) == sample
    assert info.value.line == expected.get("line")
    assert info.value.exit_code == 2
    assert sample.name in str(info.value)


@pytest.mark.parametrize("sample", BAD, ids=lambda p: p.name)
def test_bad_sample_is_refused_by_git_too(sample: Path, tmp_path: Path) -> None:
    git_says = mailinfo(sample.read_bytes(), tmp_path)
    refused = (
        not git_says.ok
        or not git_says.info.get("Email")  # git am: "does not have a valid e-mail address"
        or numstat(git_says.patch, tmp_path) is None
    )
    assert refused


# --- round trips through real git --------------------------------------------------------


@pytest.fixture
def upstream(make_upstream) -> Upstream:
    up: Upstream = make_upstream()
    return up


def _commit_info(up: Upstream, rev: str) -> tuple[str, str, str, str]:
    raw = git(up.path, "log", "-1", "--format=%s%x00%an%x00%ae%x00%b", rev)
    subject, name, mail, body = raw.split("\x00")
    return subject, name, mail, body.rstrip("\n")


KINDS = {
    "non-ascii long subject": dict(
        subject="Ne plus arrondir les quotas des saveurs à vCPU fractionnaires sur les hôtes "
        "nommés Ærøskøbing",
        files={"sample/quota.py": "LIMITS = {'cores': 24, 'ram': 51200}\n"},
        author="Jörg Müller <joerg@example.org>",
    ),
    "doc tag and trailers": dict(
        subject="[doc] Explain the weigher",
        files={"README.rst": "Sample\n======\n\nWeighers weigh.\n"},
        body="Long explanation.\n\n    diff --git a/x b/x\n    --- a/x\n    +++ b/x\n",
        trailers=(
            "(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)",
            "(cherry picked from commit 89abcdef0123456789abcdef0123456789abcdef)",
        ),
    ),
    "rename binary delete": dict(
        subject="Move the API, replace the logo",
        files={
            "sample/api.py": None,
            "sample/api2.py": "".join(f"def api_{i}():\n    return {i}\n\n" for i in range(40)),
            "logo.png": bytes(range(256)) * 3,
            "requirements.txt": None,
        },
    ),
    "quoted file names": dict(
        subject="Add notes with awkward names",
        files={"notes/café.txt": "é\n", "notes/tab\there.txt": "x\n", 'notes/"q".txt': "q\n"},
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_format_patch_reads_back_as_the_commit(
    upstream: Upstream, kind: str, tmp_path: Path
) -> None:
    spec = dict(KINDS[kind])
    rev = upstream.commit(spec.pop("subject"), spec.pop("files"), **spec)  # type: ignore[arg-type]
    data = upstream.format_patch(rev, "-M", "--binary")
    patch = parse_bytes(data, source=Path("0001-x.patch"))
    subject, name, mail, body = _commit_info(upstream, rev)
    assert (patch.subject, patch.author_name, patch.author_email, patch.message) == (
        subject,
        name,
        mail,
        body,
    )
    changed = git(
        upstream.path, "diff-tree", "-r", "-M", "-z", "--name-only", "--no-commit-id", rev
    ).split("\x00")
    assert sorted(f.path for f in patch.files) == sorted(p for p in changed if p)
    _assert_diff_rebuilds_tree(upstream, rev, patch.diff)


def _assert_diff_rebuilds_tree(up: Upstream, rev: str, diff: bytes) -> None:
    """The extracted diff, applied alone on the parent, gives the commit's tree."""
    git(up.path, "read-tree", f"{rev}^")
    proc = run_git(up.path, "apply", "--cached", "-", input=diff)
    assert proc.returncode == 0, proc.stderr
    assert git(up.path, "write-tree") == git(up.path, "rev-parse", f"{rev}^{{tree}}")
    git(up.path, "read-tree", "HEAD")


def _git_am(up: Upstream, rev: str, data: bytes) -> tuple[str, str, str, str]:
    """Apply ``data`` with ``git am --keep-non-patch`` on ``rev^``; the new commit's info."""
    git(up.path, "checkout", "-q", "--detach", f"{rev}^")
    proc = run_git(
        up.path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@e",
        "am",
        "--keep-non-patch",
        "-q",
        input=data,
    )
    assert proc.returncode == 0, proc.stderr
    assert git(up.path, "rev-parse", "HEAD^{tree}") == git(up.path, "rev-parse", f"{rev}^{{tree}}")
    info = _commit_info(up, "HEAD")
    git(up.path, "checkout", "-q", "master")
    return info


def _latin1_header(data: bytes) -> bytes:
    head, sep, rest = data.partition(b"\n\n")
    lines = [
        b"From: Jos\xe9 Mar\xeda <jose@example.org>" if line.startswith(b"From: ") else line
        for line in head.split(b"\n")
        if not line.startswith((b"Content-", b"MIME-", b" "))
    ]
    return b"\n".join(lines) + sep + b"Se\xf1or, latin-1 body.\n\n" + rest


TRANSFORMS = {
    "as written": lambda data: data,
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "no final newline": lambda data: data.rstrip(b"\n"),
    "latin-1 header and body": _latin1_header,
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_git_am_records_what_the_parser_reads(upstream: Upstream, transform: str) -> None:
    rev = upstream.commit(
        "[pci] Pass through the right device",
        {"sample/quota.py": "LIMITS = {'cores': 20, 'ram': 51200, 'pci': 2}\n"},
        author="Zoë Ångström <zoe@example.org>",
        body="Change-Id alone is not enough.",
    )
    data = TRANSFORMS[transform](upstream.format_patch(rev, "--subject-prefix=PATCH v2"))
    patch = parse_bytes(data, source=Path("x.patch"))
    assert _git_am(upstream, rev, data) == (
        patch.subject,
        patch.author_name,
        patch.author_email,
        patch.message,
    )
    assert patch.subject == "[pci] Pass through the right device"
    _assert_diff_rebuilds_tree(upstream, rev, patch.diff)


def test_in_body_from_is_the_author_as_for_git_am(upstream: Upstream) -> None:
    rev = upstream.commit(
        "Keep the author", {"README.rst": "x\n"}, author="Ada Lovelace <ada@example.org>"
    )
    data = upstream.format_patch(rev, "--from=Release Bot <bot@example.org>")
    assert b"\nFrom: Ada Lovelace <ada@example.org>\n" in data
    patch = parse_bytes(data, source=Path("x.patch"))
    assert (patch.author_name, patch.author_email) == ("Ada Lovelace", "ada@example.org")
    assert _git_am(upstream, rev, data)[1:3] == ("Ada Lovelace", "ada@example.org")


def test_numbered_series_subjects_lose_only_the_patch_group(
    upstream: Upstream, tmp_path: Path
) -> None:
    base = upstream.rev("HEAD")
    subjects = ["[doc] One", "Two", "[pci][doc] Three"]
    for i, subject in enumerate(subjects):
        upstream.commit(subject, {f"f{i}.txt": f"{i}\n"})
    out = tmp_path / "series"
    git(upstream.path, "format-patch", "-q", "--numbered", "-o", str(out), f"{base}..HEAD")
    files = sorted(out.iterdir())
    assert b"[PATCH 3/3]" in files[2].read_bytes()
    assert [parse_file(f).subject for f in files] == subjects


def test_trailing_dash_dash_line_of_a_diff_is_kept(upstream: Upstream) -> None:
    # regression: "-- " was taken for the format-patch signature and dropped,
    # which left the last hunk one line short ("Hunk is shorter than expected")
    upstream.commit("List", {"doc.md": "x\n- \n"})
    rev = upstream.commit("Drop the empty item", {"doc.md": "x\n"})
    data = upstream.format_patch(rev, "--no-signature")
    assert data.endswith(b"\n-- \n")
    patch = parse_bytes(data, source=Path("x.patch"))
    assert patch.diff.endswith(b"\n-- \n")
    assert patch.files[0].removed == 1
    _assert_diff_rebuilds_tree(upstream, rev, patch.diff)


def test_signature_is_not_part_of_the_diff(upstream: Upstream) -> None:
    rev = upstream.commit("Edit", {"README.rst": "Sample\n======\n\nmore\n"})
    data = upstream.format_patch(rev, "--signature=my sig")
    patch = parse_bytes(data, source=Path("x.patch"))
    assert b"my sig" not in patch.diff and not patch.diff.endswith(b"-- \n")


# --- targeted cases ---------------------------------------------------------------------


def mail(headers: bytes, body: bytes = b"body\n", diff: bytes = DIFF) -> bytes:
    return headers + b"\n" + body + diff


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        ("[PATCH] Fix it", "Fix it"),
        ("[PATCH 3/7] Fix it", "Fix it"),
        ("[PATCH v2] Fix it", "Fix it"),
        ("[RFC PATCH v3 02/10] Fix it", "Fix it"),
        ("Re: [PATCH] re: Fix it", "Fix it"),
        ("[doc] Fix it", "[doc] Fix it"),
        ("[PATCH] [doc] Fix it", "[doc] Fix it"),
        ("[doc] [PATCH] Fix it", "[doc] Fix it"),  # git keeps stripping after a kept tag
        ("[pci]: Fix it", "[pci]Fix it"),  # ... and drops the ':' and the space, as git does
        ("Fix   it \t twice", "Fix it twice"),
        ("Fix\u00a0it", "Fix\u00a0it"),  # NBSP is not git whitespace
        ("re:", "re:"),
    ],
)
def test_subject_cleanup_matches_git(raw: str, subject: str, tmp_path: Path) -> None:
    assert clean_subject(raw) == subject
    data = mail(b"From: a <a@b>\nSubject: " + raw.encode() + b"\n")
    assert mailinfo(data, tmp_path).info["Subject"] == subject
    assert parse_bytes(data, source=Path("x.patch")).subject == subject


@pytest.mark.parametrize(
    ("raw", "name", "address"),
    [
        (b"Name <a@example.org>", "Name", "a@example.org"),
        (b'"Last, First" <a@example.org>', "Last, First", "a@example.org"),
        (b"a@example.org (Real Name)", "Real Name", "a@example.org"),
        (b"a@example.org", "a@example.org", "a@example.org"),
        (b"<a@example.org>", "a@example.org", "a@example.org"),
        (b"Name <a@example.org> (Team)", "Name (Team)", "a@example.org"),
        (b"x" * 61 + b" <a@example.org>", "a@example.org", "a@example.org"),
        (b"=?UTF-8?B?Wm/DqyDDhW5nc3Ryw7Zt?= <zoe@example.org>", "Zoë Ångström", "zoe@example.org"),
        (b"=?ISO-8859-1?Q?Jos=E9?= <jose@example.org>", "José", "jose@example.org"),
        (b"Jos\xe9 <jose@example.org>", "José", "jose@example.org"),
    ],
)
def test_from_header_reads_as_git_reads_it(
    raw: bytes, name: str, address: str, tmp_path: Path
) -> None:
    data = mail(b"From: " + raw + b"\nSubject: x\n")
    git_says = mailinfo(data, tmp_path)
    assert (git_says.info["Author"], git_says.info["Email"]) == (name, address)
    patch = parse_bytes(data, source=Path("x.patch"))
    assert (patch.author_name, patch.author_email) == (name, address)


def test_author_is_name_and_address_not_rfc2047() -> None:
    patch = parse_bytes(
        mail(b"From: =?UTF-8?q?Zo=C3=AB?= <z@example.org>\nSubject: x\n"), source=Path("x.patch")
    )
    assert patch.author == "Zoë <z@example.org>"


def test_charset_of_the_body_is_converted(tmp_path: Path) -> None:
    data = mail(
        b"From: a <a@b>\nSubject: x\nContent-Type: text/plain; charset=ISO-8859-1\n", b"Se\xf1or\n"
    )
    assert parse_bytes(data, source=Path("x.patch")).message == "Señor"
    assert mailinfo(data, tmp_path).message == "Señor"


def test_body_in_a_charset_git_cannot_convert_is_refused(tmp_path: Path) -> None:
    data = mail(
        b"From: a <a@b>\nSubject: x\nContent-Type: text/plain; charset=us-ascii\n", b"caf\xc3\xa9\n"
    )
    assert not mailinfo(data, tmp_path).ok
    with pytest.raises(PatchError, match="not valid us-ascii"):
        parse_bytes(data, source=Path("x.patch"))


@pytest.mark.parametrize("word", [b"=?bogus-charset?q?a?=", b"=?utf-8?x?a?=", b"a =? b"])
def test_malformed_encoded_words_are_refused_like_git(word: bytes, tmp_path: Path) -> None:
    data = mail(b"From: a <a@b>\nSubject: " + word + b"\n")
    assert not mailinfo(data, tmp_path).ok
    with pytest.raises(PatchError) as info:
        parse_bytes(data, source=Path("bad.patch"))
    assert info.value.file == Path("bad.patch")


def test_change_id_with_extra_spaces_and_the_last_one_wins() -> None:
    body = b"Text.\n\nChange-Id:   I" + b"1" * 40 + b"  \nChange-Id: I" + b"2" * 40 + b"\n"
    patch = parse_bytes(mail(b"From: a <a@b>\nSubject: x\n", body), source=Path("x.patch"))
    assert patch.change_ids == ("I" + "1" * 40, "I" + "2" * 40)
    assert patch.change_id == "I" + "2" * 40


def test_change_ids_come_from_the_trailer_block_only() -> None:
    """A Change-Id quoted in the body (a squashed change's) is not the patch's own."""
    quoted, own = "I" + "1" * 40, "I" + "2" * 40
    body = (
        f"Squash of an earlier change:\n\n    Change-Id: {quoted}\n\nChange-Id: {quoted}\n"
        f"\nMore text.\n\nchange-id:  i{'2' * 40} \n"
        "(cherry picked from commit 1234567)\n\n(cherry picked from commit 89abcde)\n"
    ).encode()
    patch = parse_bytes(mail(b"From: a <a@b>\nSubject: x\n", body), source=Path("x.patch"))
    assert patch.change_ids == (own,)
    assert trailer_change_ids("") == trailer_change_ids("(cherry picked from commit 1234567)")


def test_cherry_picked_from_lines_in_order_without_repeats() -> None:
    body = b"".join(f"(cherry picked from commit {c * 40})\n".encode() for c in "abab")
    patch = parse_bytes(mail(b"From: a <a@b>\nSubject: x\n", body), source=Path("x.patch"))
    assert patch.cherry_picked_from == ("a" * 40, "b" * 40)


def test_unindented_patch_break_in_a_message_ends_it_as_for_git(tmp_path: Path) -> None:
    body = b"See:\nIndex: the reporter's tree\nmore words\n"
    data = mail(b"From: a <a@b>\nSubject: x\n", body)
    patch = parse_bytes(data, source=Path("x.patch"))
    assert patch.message == mailinfo(data, tmp_path).message == "See:"
    assert [f.path for f in patch.files] == ["f"]


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("0003-fix-quota_rounding.patch", "fix quota rounding"),
        ("0012-Add-the-thing.diff", "Add the thing"),
        ("hotfix.diff", "hotfix"),
        ("2024-notes.patch", "notes"),
    ],
)
def test_plain_diff_subject_from_file_name(name: str, subject: str) -> None:
    assert subject_from_filename(name) == subject
    patch = parse_bytes(DIFF.split(b"\n\n", 1)[1], source=Path(name))
    assert (patch.subject, patch.author, patch.date, patch.has_header) == (
        subject,
        None,
        None,
        False,
    )


def test_quilt_style_description_is_read_as_dep3() -> None:
    # issue 15: Description:/Author: used to be ignored (subject from the file name)
    data = b"Description: fix it\nAuthor: Zoe\n\nIndex: f\n====\n" + DIFF.split(b"\n\n", 1)[1]
    patch = parse_bytes(data, source=Path("0001-fix.patch"))
    assert (patch.subject, patch.author_name, patch.author_email) == ("fix it", "Zoe", None)
    assert patch.message == ""
    assert dict(patch.dep3) == {"Description": "fix it", "Author": "Zoe"}
    assert [f.path for f in patch.files] == ["f"]


def test_lone_carriage_return_inside_a_line_is_data() -> None:
    diff = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\rb\n+a\rc\n"
    patch = parse_bytes(diff, source=Path("x.diff"))
    assert (patch.files[0].added, patch.files[0].removed) == (1, 1)
    assert patch.diff == diff


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no diff found"),
        (b"just some words\n", "no diff found"),
        (b"From: a <a@b>\nSubject: x\n\nonly a message\n", "no diff found"),
        (b"From: Name Only\nSubject: x\n\nb\n" + DIFF, "no e-mail address"),
        (b"diff --git a/f b/f\n", "no diff found"),
        (b"diff --git a/f b/f\n@@ -1 +1 @@\n-a\n+b\n", "no diff found"),  # git skips it too
        (b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n", "ends early"),
        (b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n-b\n", "more lines than"),
        (b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ bogus @@\n", "malformed hunk header"),
        (b"diff --git a/f b/f\nindex 1..2\nGIT binary patch\nnope\n", "unrecognized binary"),
        (b"\x89PNG\r\n\x1a\n\0\0\0", "NUL bytes"),
    ],
)
def test_not_a_patch_is_a_patch_error(data: bytes, message: str) -> None:
    with pytest.raises(PatchError, match=message) as info:
        parse_bytes(data, source=Path("patches/nova/general/0001-x.patch"))
    assert "0001-x.patch" in str(info.value)
    assert info.value.exit_code == 2


def test_parse_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PatchError, match="cannot read") as info:
        parse_file(tmp_path / "missing.patch")
    assert info.value.file == tmp_path / "missing.patch"


def test_iso_date_and_unparsable_date() -> None:
    patch = parse_bytes(
        mail(b"From: a <a@b>\nDate: Tue, 14 Nov 2023 23:20:20 +0100\nSubject: x\n"),
        source=Path("x.patch"),
    )
    assert patch.iso_date == "2023-11-14T23:20:20+01:00"
    odd = parse_bytes(mail(b"From: a <a@b>\nDate: someday\nSubject: x\n"), source=Path("x"))
    assert odd.iso_date == "someday"


def test_patch_break_lines() -> None:
    assert is_patch_break(b"---\n") and is_patch_break(b"--- \t\n")
    assert is_patch_break(b"--- a/f\n") and is_patch_break(b"diff -u a b\n")
    assert is_patch_break(b"Index: f\n")
    assert not is_patch_break(b"----\n".replace(b"----", b"---x")) and not is_patch_break(b"-- \n")
    assert not is_patch_break(b"---  two spaces\n")


# --- properties -------------------------------------------------------------------------


@PROPERTY
@given(st.binary(max_size=2000))
@example(b"From: =?\n\n")
@example(b'diff --git "a/\\')
@example(b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1,99999999999999999999 +1 @@\n")
@example(b"Subject: x\nContent-Transfer-Encoding: base64\n\n!!!=\n")
@example(b"From: a <a@b>\nSubject: =?utf-32?b?AAAA?=\n\n" + DIFF)
def test_arbitrary_bytes_raise_only_patch_error(data: bytes) -> None:
    try:
        patch = parse_bytes(data, source=Path("fuzz.patch"))
    except PatchError as exc:
        assert exc.file == Path("fuzz.patch")
    else:
        assert patch.subject and patch.files


def _mutate(data: bytes, ops: list[tuple[int, int, bytes]]) -> bytes:
    lines = data.split(b"\n")
    for kind, at, blob in ops:
        at %= max(len(lines), 1)
        if kind == 0:
            del lines[at : at + 1]
        elif kind == 1:
            lines.insert(at, lines[at] if lines else blob)
        elif kind == 2:
            lines[at : at + 1] = [blob]
        else:
            line = lines[at] if lines else b""
            cut = len(blob) % (len(line) + 1)
            lines[at : at + 1] = [line[:cut] + blob + line[cut:]]
    return b"\n".join(lines)


@PROPERTY
@given(
    st.sampled_from(GOOD),
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 400),
            st.sampled_from(
                [
                    b"",
                    b"---",
                    b"-- ",
                    b"@@ -1 +1 @@",
                    b"diff --git a/x b/x",
                    b"+",
                    b"-",
                    b" ",
                    b"\\ No newline",
                    b"=?utf-8?q?",
                    b"\xff\xfe",
                    b"From: x",
                    b"GIT binary patch",
                    b"literal 3",
                    b"rename from x",
                    b'"a/\\303',
                ]
            ),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_real_patches_raise_only_patch_error(sample: Path, ops: list) -> None:
    data = _mutate(sample.read_bytes(), ops)
    try:
        parse_bytes(data, source=sample)
    except PatchError as exc:
        assert exc.file == sample


SUBJECT_TEXT = st.text(
    st.sampled_from(list("ab [ ] : rRe PATCH v2 1/3 \t é Ø 中 \u00a0 - = ? _")), max_size=40
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=SUBJECT_TEXT, encode=st.booleans())
@example(text="[doc] [PATCH] Re: [x] y", encode=False)
@example(text="=?utf-8?q?a?= b", encode=False)
def test_subject_matches_git_mailinfo(tmp_path: Path, text: str, encode: bool) -> None:
    if not text.strip(" \t") or "\n" in text:
        return
    header = email.header.Header(text, "utf-8").encode().encode() if encode else text.encode()
    data = mail(b"From: a <a@example.org>\nSubject: " + header + b"\n")
    git_says = mailinfo(data, tmp_path)
    try:
        patch = parse_bytes(data, source=Path("x.patch"))
    except PatchError:
        assert not git_says.ok or not git_says.info.get("Subject")
        return
    assert git_says.ok
    if git_says.info.get("Subject"):
        assert patch.subject == git_says.info["Subject"]


NAME_TEXT = st.text(st.sampled_from(list('ab "(),.<>@\\ é Ø -\t')), max_size=24)


def _closed(value: str) -> bool:
    """Every "quote" and (comment) of a From: value ends before the value does.

    git 2.39's unquote_quoted_pair() reads past the end of the string when one
    does not (an out-of-bounds read later git releases fixed), so its answer is
    heap garbage there and no oracle at all.
    """
    depth, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif depth:
            depth += {"(": 1, ")": -1}.get(ch, 0)
        elif ch in '"(':
            quoted, depth = ch == '"', int(ch == "(")
    return not (quoted or depth or escaped)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=NAME_TEXT,
    address=st.sampled_from(["<z@example.org>", "z@example.org", "(z@example.org)", ""]),
)
@example(name='"a\\"b" (c (d))', address="<z@example.org>")
def test_from_matches_git_mailinfo(tmp_path: Path, name: str, address: str) -> None:
    value = f"{name} {address}".strip(" \t")
    assume(value and _closed(value))
    data = mail(b"From: " + value.encode() + b"\nSubject: x\n")
    git_says = mailinfo(data, tmp_path)
    try:
        patch = parse_bytes(data, source=Path("x.patch"))
    except PatchError:
        assert not git_says.info.get("Email")
        return
    assert (patch.author_name, patch.author_email) == (
        git_says.info["Author"],
        git_says.info["Email"],
    )
