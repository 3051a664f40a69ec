"""One patch file → :class:`Patch` (header, message, trailers, files, diff).

The split follows ``git mailinfo``: headers up to the first blank line, the
message up to the first *patch break* (a line that is ``---`` plus blanks, starts
a ``diff -`` header, ``Index:`` or ``--- file``), then the diff. An indented
``diff --git`` quoted inside a message is therefore part of the message, as git
sees it. Plain unified diffs (no mail header) take their subject from the file
name. Anything git could not use raises :class:`PatchError` naming the file.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.utils
import quopri
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from verda_patch.errors import PatchError

MAX_PATCH_BYTES = 256 << 20

CHANGE_ID_RE = re.compile(r"^Change-Id:[ \t]*(I[0-9a-fA-F]{40})[ \t]*$", re.MULTILINE)
CHERRY_RE = re.compile(r"\(cherry picked from commit ([0-9a-f]{7,40})\)")
TRAILER_KEY = "Verda-Patch"
_MBOX_FROM_RE = re.compile(rb"^From [^\s]+ .*\d\d:\d\d:\d\d")
_HEADER_RE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]?(.*)$")
_MAIL_HEADERS = {b"from", b"subject", b"date"}
_PATCH_GROUP_RE = re.compile(r"^\[[^\]]*PATCH[^\]]*\]")
_RE_PREFIX = re.compile(r"^re:", re.IGNORECASE)
_NUMBER_PREFIX_RE = re.compile(r"^\d+-")


@dataclass(frozen=True)
class FileChange:
    """One file a patch touches."""

    path: str
    status: str  # added | deleted | modified | renamed | copied
    old_path: str | None = None
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    added: int = 0
    removed: int = 0


@dataclass(frozen=True)
class Patch:
    """A parsed patch file. ``file`` is its path under ``patches/<project>/``."""

    file: str
    category: str
    path: Path
    subject: str
    author_name: str | None
    author_email: str | None
    date: str | None
    message: str  # the body after the subject, trailers included
    change_ids: tuple[str, ...]
    cherry_picked_from: tuple[str, ...]
    files: tuple[FileChange, ...]
    diff: bytes
    has_header: bool

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def change_id(self) -> str | None:
        return self.change_ids[-1] if self.change_ids else None

    @property
    def author(self) -> str | None:
        if self.author_name is None and self.author_email is None:
            return None
        return email.utils.formataddr((self.author_name or "", self.author_email or ""))

    @property
    def iso_date(self) -> str | None:
        """The ``Date:`` header as ISO 8601, or as written when it does not parse."""
        if not self.date:
            return None
        try:
            parsed: datetime = email.utils.parsedate_to_datetime(self.date)
        except (TypeError, ValueError, IndexError):
            return self.date
        return parsed.isoformat()

    @property
    def full_message(self) -> str:
        return self.subject + ("\n\n" + self.message if self.message else "")


def _decode_text(raw: bytes, charset: str | None = None) -> str:
    """Bytes → str as ``git mailinfo`` does: declared charset, else UTF-8, else latin-1."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return raw.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("latin-1")


def _decode_header(raw: bytes) -> str:
    text = _decode_text(raw)
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
        return str(email.header.make_header(parts))
    except (email.errors.HeaderParseError, LookupError, UnicodeDecodeError, binascii.Error):
        return text


def clean_subject(subject: str) -> str:
    """Strip ``Re:`` and ``[...PATCH...]`` prefixes, as ``git am --keep-non-patch``."""
    subject = " ".join(subject.split())
    while True:
        stripped = subject.lstrip(" \t:")
        if _RE_PREFIX.match(stripped):
            stripped = stripped[3:]
        elif match := _PATCH_GROUP_RE.match(stripped):
            stripped = stripped[match.end() :]
        if stripped == subject:
            return subject
        subject = stripped


def is_patch_break(line: bytes) -> bool:
    """``mailinfo.c:patchbreak`` — where the message ends and the patch begins."""
    if line.startswith((b"diff -", b"Index: ")):
        return True
    if len(line) < 4 or not line.startswith(b"---"):
        return False
    if line[3:4] == b" " and len(line) > 4 and not line[4:5].isspace():
        return True
    return line[3:].strip() == b""


def _is_diff_start(lines: list[bytes], i: int) -> bool:
    line = lines[i]
    if line.startswith((b"diff --git ", b"diff -", b"Index: ")):
        return True
    return (
        line.startswith(b"--- ")
        and i + 1 < len(lines)
        and lines[i + 1].startswith(b"+++ ")
    )


def subject_from_filename(name: str) -> str:
    stem = name[: -len(".patch")] if name.endswith(".patch") else name
    stem = stem[: -len(".diff")] if stem.endswith(".diff") else stem
    return _NUMBER_PREFIX_RE.sub("", stem).replace("-", " ").replace("_", " ").strip() or stem


def _split_headers(lines: list[bytes], source: Path) -> tuple[dict[bytes, bytes], int]:
    headers: dict[bytes, bytes] = {}
    current: bytes | None = None
    i = 0
    while i < len(lines):
        line = lines[i].rstrip(b"\n")
        i += 1
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") and current is not None:
            headers[current] += b" " + line.strip()
            continue
        match = _HEADER_RE.match(line)
        if not match:
            # mailinfo ends the header block at the first line that is not a header
            i -= 1
            break
        current = match.group(1).lower()
        headers[current] = match.group(2).strip()
    return headers, i


def _strip_signature(diff: list[bytes]) -> list[bytes]:
    """Drop format-patch's ``-- \\n<version>`` signature at the end of the diff."""
    tail = len(diff)
    while tail and not diff[tail - 1].strip():
        tail -= 1
    for k in range(tail - 1, max(tail - 4, -1), -1):
        if diff[k] == b"-- \n" and all(
            re.match(rb"^[\w.\-+ ()]*$", extra.strip()) for extra in diff[k + 1 : tail]
        ):
            return diff[:k]
    return diff


def parse_bytes(data: bytes, *, source: Path, file: str = "", category: str = "") -> Patch:
    """Parse the bytes of one patch file."""
    if b"\0" in data:
        raise PatchError("binary data (NUL bytes), not a patch", file=source)
    if len(data) > MAX_PATCH_BYTES:
        raise PatchError(f"{len(data)} bytes is more than a patch may have", file=source)
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    lines = data.splitlines(keepends=True)

    start = 0
    if lines and _MBOX_FROM_RE.match(lines[0]):
        start = 1
    first = _HEADER_RE.match(lines[start].rstrip(b"\n")) if start < len(lines) else None
    has_header = start == 1 or bool(first and first.group(1).lower() in _MAIL_HEADERS)

    headers: dict[bytes, bytes] = {}
    body_start = start
    if has_header:
        headers, body_start = _split_headers(lines[start:], source)
        body_start += start
        if b"from" not in headers and b"subject" not in headers:
            raise PatchError(
                "mail header has neither From: nor Subject:",
                file=source,
                line=start + 1,
                hint="write it with 'git format-patch' or as a plain diff",
            )
        encoding = headers.get(b"content-transfer-encoding", b"").strip().lower()
        rest = b"".join(lines[body_start:])
        try:
            if encoding == b"quoted-printable":
                rest = quopri.decodestring(rest)
            elif encoding == b"base64":
                rest = base64.b64decode(rest)
        except (binascii.Error, ValueError) as exc:
            raise PatchError(f"undecodable {encoding.decode()} body: {exc}", file=source) from None
        if encoding in (b"quoted-printable", b"base64"):
            lines = lines[:body_start] + rest.replace(b"\r\n", b"\n").splitlines(keepends=True)

    # message: up to the first patch break
    msg_end = body_start
    while msg_end < len(lines) and not is_patch_break(lines[msg_end]):
        msg_end += 1
    diff_start = msg_end
    while diff_start < len(lines) and not _is_diff_start(lines, diff_start):
        diff_start += 1
    if diff_start >= len(lines):
        raise PatchError(
            "no diff found",
            file=source,
            hint="a patch file is 'git format-patch' output or a unified diff",
        )
    diff_lines = _strip_signature(lines[diff_start:])
    diff = b"".join(diff_lines)

    charset = None
    ctype = headers.get(b"content-type", b"").decode("latin-1")
    if m := re.search(r'charset="?([\w.:-]+)"?', ctype, re.IGNORECASE):
        charset = m.group(1)
    body = _decode_text(b"".join(lines[body_start:msg_end]), charset)

    if has_header:
        subject = _decode_header(headers.get(b"subject", b""))
        author_raw = _decode_header(headers[b"from"]) if b"from" in headers else None
        date = _decode_text(headers[b"date"]) if b"date" in headers else None
        # in-body From:/Subject:/Date: lines override the mail's (git am does the same)
        body_lines = body.split("\n")
        while body_lines and (m2 := re.match(r"^(From|Subject|Date):\s*(.*)$", body_lines[0])):
            key, value = m2.group(1), m2.group(2)
            if key == "From":
                author_raw = value
            elif key == "Subject":
                subject = value
            else:
                date = value
            body_lines.pop(0)
        body = "\n".join(body_lines)
        subject = clean_subject(subject)
        name, addr = email.utils.parseaddr(author_raw) if author_raw else (None, None)
        author_name: str | None = name or None
        author_email: str | None = addr or None
        if author_raw and not author_email:
            raise PatchError(
                f"From: header {author_raw!r} has no e-mail address",
                file=source,
                hint="use 'Name <email>'",
            )
    else:
        subject = subject_from_filename(source.name)
        author_name = author_email = date = None
    message = _clean_message(body)
    if not subject and has_header:
        first_line, _, remainder = message.partition("\n")
        subject, message = first_line.strip(), remainder.strip("\n")
    if not subject:
        raise PatchError("empty subject", file=source, hint="give the patch a Subject: line")

    files = _files(diff, source)
    change_ids = tuple(dict.fromkeys(cid for cid in CHANGE_ID_RE.findall(message)))
    cherries = tuple(dict.fromkeys(CHERRY_RE.findall(message)))
    return Patch(
        file=file or source.name,
        category=category,
        path=source,
        subject=subject,
        author_name=author_name,
        author_email=author_email,
        date=date,
        message=message,
        change_ids=change_ids,
        cherry_picked_from=cherries,
        files=files,
        diff=diff,
        has_header=has_header,
    )


def _clean_message(body: str) -> str:
    """``git stripspace``: trailing blanks off every line, blank runs folded, ends trimmed."""
    out: list[str] = []
    for line in body.split("\n"):
        line = line.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _files(diff: bytes, source: Path) -> tuple[FileChange, ...]:
    from unidiff import PatchSet  # imported here: `--help` must not pay for it
    from unidiff.errors import UnidiffParseError

    text = diff.decode("utf-8", "surrogateescape")
    try:
        patch_set = PatchSet(text)
    except UnidiffParseError as exc:
        raise PatchError(f"diff does not parse: {exc}", file=source) from None
    except Exception as exc:  # unidiff raises bare errors on some garbage
        raise PatchError(f"diff does not parse: {exc}", file=source) from None
    if not len(patch_set):
        raise PatchError("diff touches no file", file=source)
    changes = []
    for pf in patch_set:
        path = _strip_prefix(pf.target_file if not pf.is_removed_file else pf.source_file)
        if pf.is_added_file:
            status = "added"
        elif pf.is_removed_file:
            status = "deleted"
        elif pf.is_rename:
            status = "renamed"
        else:
            status = "modified"
        old = _strip_prefix(pf.source_file) if pf.is_rename else None
        changes.append(
            FileChange(
                path=path,
                status=status,
                old_path=old,
                binary=bool(pf.is_binary_file),
                old_mode=getattr(pf, "source_mode", None) or None,
                new_mode=getattr(pf, "target_mode", None) or None,
                added=pf.added,
                removed=pf.removed,
            )
        )
    return tuple(changes)


def _strip_prefix(name: str | None) -> str:
    if not name or name == "/dev/null":
        return name or ""
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    return name[2:] if re.match(r"^[abciow12]/", name) else name


def parse_file(path: Path, *, file: str = "", category: str = "") -> Patch:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PatchError(f"cannot read: {exc.strerror}", file=path) from None
    return parse_bytes(data, source=path, file=file, category=category)
