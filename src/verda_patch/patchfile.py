"""One patch file → :class:`Patch` (header, message, trailers, files, diff).

The header and message are read the way ``git am --keep-non-patch`` reads them
(``mailinfo.c``): headers up to the first line that is not one, RFC 2047 words
decoded, in-body ``From:``/``Subject:``/``Date:`` lines taking precedence, the
message up to the first *patch break* (a line that is ``---`` plus blanks, starts
a ``diff -`` header, ``Index:`` or ``--- file``). An indented ``diff --git``
quoted inside a message is therefore part of the message, as git sees it. Text
that is not UTF-8 is read byte by byte as latin-1, as ``git commit`` stores it.
The diff is read the way ``git apply`` reads it: file sections, C-quoted names,
rename/copy/mode headers, hunks counted by their headers, so the diff ends
exactly where its last hunk does and a format-patch signature is never part of
it. Plain unified diffs (no mail header) take their subject from the file name.
Anything git could not use raises :class:`PatchError` naming the file.
"""

from __future__ import annotations

import codecs
import email.utils
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import overload

from verda_patch.dep3 import Fields as Dep3Fields
from verda_patch.dep3 import is_marker as is_dep3_field
from verda_patch.dep3 import parse as parse_dep3
from verda_patch.errors import PatchError
from verda_patch.mail import decode_b, decode_q, needs_mime, read_body

MAX_PATCH_BYTES = 256 << 20

# Read as leniently as Gerrit writes it (any case, blanks around the value); a value
# that is not 'I' + 40 hex digits is no Change-Id at all.
CHANGE_ID_RE = re.compile(r"^change-id:[ \t]*(i[0-9a-f]{40})[ \t]*$", re.MULTILINE | re.IGNORECASE)
_CHERRY_LINE_RE = re.compile(r"^[ \t]*\(cherry picked from commit [0-9a-f]{7,40}\)[ \t]*$")
_PARAGRAPH_RE = re.compile(r"\n[ \t]*\n")
CHERRY_RE = re.compile(r"\(cherry picked from commit ([0-9a-f]{7,40})\)")
TRAILER_KEY = "Verda-Patch"
_MBOX_FROM_RE = re.compile(rb"^From [^\s]+ .*\d\d:\d\d:\d\d")
# mailinfo.c is_rfc2822_header(): any printable ASCII but ':' names a header
_HEADER_RE = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):(.*)$")
_MAIL_HEADERS = {b"from", b"subject", b"date"}
_INBODY_RE = re.compile(rb"^(from|subject|date):", re.IGNORECASE)
_FORMAT_PATCH_SEPARATOR_RE = re.compile(rb"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n$")
_NUMBER_PREFIX_RE = re.compile(r"^\d+-")
_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_BINARY_BLOCK_RE = re.compile(rb"^(literal|delta) \d+\n$")
# git's isspace() (sane_ctype): no \v, no \f, no Unicode spaces
_SPACE = " \t\n\r"
# ident.c crud(): what git strips from both ends of an author's name and address
_CRUD = bytes(range(33)) + b".,:;<>\"\\'"
_BSPACE = b" \t\n\r"
_UTF8_NAMES = {"utf-8", "utf8"}
_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord('"'): 34,
    ord("\\"): 92,
}


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
    # the DEP-3 header's fields (Origin, Forwarded, Applied-Upstream, ...); empty for a mail
    dep3: Dep3Fields = field(default_factory=Dep3Fields)

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
        # as git log's "%an <%ae>": formataddr() would RFC 2047-encode a non-ASCII name
        if not self.author_email:
            return self.author_name
        return f"{self.author_name or self.author_email} <{self.author_email}>"

    @property
    def iso_date(self) -> str | None:
        """The ``Date:`` header as ISO 8601, or as written when it does not parse."""
        if not self.date:
            return None
        try:
            parsed: datetime = email.utils.parsedate_to_datetime(self.date)
        except (TypeError, ValueError, IndexError, OverflowError):
            return self.date
        return parsed.isoformat()


# --- text ---------------------------------------------------------------------


def _latin1_byte(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return chr(exc.object[exc.start]), exc.start + 1


codecs.register_error("verda-patch-latin1", _latin1_byte)


def _utf8(raw: bytes) -> str:
    """UTF-8, each byte that is not read as latin-1: what ``git commit`` stores
    for such text (``commit.c`` ``verify_utf8``)."""
    return raw.decode("utf-8", "verda-patch-latin1")


def _is_utf8_name(charset: str) -> bool:
    return charset.lower() in _UTF8_NAMES


def _to_utf8(raw: bytes, charset: str, source: Path) -> bytes:
    """``mailinfo.c`` ``convert_to_utf8``: declared charset → UTF-8; none or UTF-8 stays."""
    if not charset or _is_utf8_name(charset):
        return raw
    try:
        return raw.decode(charset).encode("utf-8", "surrogatepass")
    except LookupError:
        raise PatchError(
            f"unknown charset {charset!r}", file=source, hint="declare the charset the text is in"
        ) from None
    except UnicodeDecodeError:
        raise PatchError(
            f"text is not valid {charset}", file=source, hint="declare the charset the text is in"
        ) from None


def _decode_header(raw: bytes, what: str, source: Path) -> bytes:
    """``mailinfo.c`` ``decode_header``: RFC 2047 words → UTF-8, other bytes kept.

    A malformed encoded word is fatal to ``git am``, so it is a PatchError here.
    """
    out = bytearray()
    pos = 0
    while (ep := raw.find(b"=?", pos)) >= 0:
        if ep != pos:
            chunk = raw[pos:ep]
            # whitespace between two encoded words is dropped (RFC 2047 6.2)
            if chunk.strip(_BSPACE) or pos == 0:
                out += chunk
        cp = raw.find(b"?", ep + 2)
        end = raw.find(b"?=", cp + 3) if cp >= 0 else -1
        kind = raw[cp + 1 : cp + 2].lower() if cp >= 0 else b""
        if cp < 0 or raw[cp + 2 : cp + 3] != b"?" or end < 0 or kind not in (b"b", b"q"):
            raise PatchError(
                f"{what}: header has a malformed RFC 2047 word at {raw[ep : ep + 20]!r}",
                file=source,
                hint="encode the header or remove the '=?'",
            )
        piece = raw[cp + 3 : end]
        decoded = decode_b(piece) if kind == b"b" else decode_q(piece, rfc2047=True)
        charset = raw[ep + 2 : cp].decode("ascii", "replace")
        out += _to_utf8(decoded, charset, source)
        pos = end + 2
    out += raw[pos:]
    return bytes(out)


def _cleanup_space(text: bytes) -> bytes:
    """``mailinfo.c`` ``cleanup_space``: every run of git whitespace → one space."""
    return re.sub(rb"[ \t\n\r]+", b" ", text)


def _cleanup_subject(subject: bytes) -> bytes:
    """``mailinfo.c`` ``cleanup_subject`` with ``-b`` (``git am --keep-non-patch``)."""
    s = bytearray(subject)
    at = 0
    while at < len(s):
        c = s[at]
        if c in b"rR":
            if len(s) > at + 3 and s[at + 1] in b"eE" and s[at + 2] == 0x3A:
                del s[at : at + 3]
                continue
            break
        if c in b" \t:":
            del s[at]
            continue
        if c == 0x5B:  # '['
            close = s.find(b"]", at)
            if close < 0:
                break
            if close - at + 1 >= 7 and b"PATCH" in s[at : close + 1]:
                del s[at : close + 1]
            else:
                at = close + 1
                if at < len(s) and s[at] in _BSPACE:
                    at += 1
            continue
        break
    return _cleanup_space(bytes(s).strip(_BSPACE))


def clean_subject(subject: str) -> str:
    """Strip ``Re:`` and ``[...PATCH...]`` prefixes, as ``git am --keep-non-patch``.

    Other bracket tags (``[doc]``) stay; runs of whitespace become one space.
    """
    return _utf8(_cleanup_subject(subject.encode("utf-8", "surrogateescape")))


def _parse_from(value: bytes) -> tuple[bytes, bytes]:
    """(name, email) the way ``mailinfo.c`` ``handle_from`` reads a From: value."""
    f = bytearray(_unquote_quoted_pair(value))
    at = f.find(b"@")
    if at < 0:
        # parse_bogus_from: "John Doe <johndoe>"
        bra = value.find(b"<")
        ket = value.find(b">", bra) if bra >= 0 else -1
        if ket < 0:
            return b"", b""
        mail = value[bra + 1 : ket]
        return _sane_name(value[:bra].strip(_BSPACE), mail), mail
    while at > 0:
        c = f[at - 1]
        if c in _BSPACE:
            break
        if c == 0x3C:  # '<'
            f[at - 1] = 0x20
            break
        at -= 1
    end = at
    while end < len(f) and f[end] not in b" \n\t\r\v\f>":
        end += 1
    mail = bytes(f[at:end])
    del f[at : end + (1 if end < len(f) else 0)]
    name = _cleanup_space(bytes(f)).strip(_BSPACE)
    if name.startswith(b"(") and name.endswith(b")") and len(name) > 1:
        name = name[1:-1]
    return _sane_name(name, mail), mail


def strip_crud(text: str) -> str:
    """A name or address as ``git commit`` records it (``ident.c``, without crud)."""
    return text.strip(_CRUD.decode("latin-1"))


def _sane_name(name: bytes, mail: bytes) -> bytes:
    """``get_sane_name``: git uses the address when the name is empty, long or odd."""
    if not name or len(name) > 60 or any(c in name for c in b"@<>"):
        return mail
    return name


def _unquote_quoted_pair(value: bytes) -> bytes:
    """``unquote_quoted_pair``: drop "quotes" and backslashes, keep (comments)."""
    out = bytearray()
    i = 0

    def comment(i: int) -> int:
        out.append(0x28)
        literal = False
        while i < len(value):
            c = value[i]
            i += 1
            if literal:
                literal = False
            elif c == 0x5C:
                literal = True
                continue
            elif c == 0x28:
                i = comment(i)
                continue
            elif c == 0x29:
                out.append(0x29)
                return i
            out.append(c)
        return i

    while i < len(value):
        c = value[i]
        i += 1
        if c == 0x22:  # quoted string
            literal = False
            while i < len(value):
                c = value[i]
                i += 1
                if literal:
                    literal = False
                elif c == 0x5C:
                    literal = True
                    continue
                elif c == 0x22:
                    break
                out.append(c)
            continue
        if c == 0x28:
            i = comment(i)
            continue
        out.append(c)
    return bytes(out)


def is_patch_break(line: bytes) -> bool:
    """``mailinfo.c:patchbreak`` — where the message ends and the patch begins."""
    if line.startswith((b"diff -", b"Index: ")):
        return True
    if len(line) < 4 or not line.startswith(b"---"):
        return False
    if line[3:4] == b" " and len(line) > 4 and line[4] not in _BSPACE:
        return True
    return line[3:].strip(_BSPACE) == b"" and line.endswith(b"\n")


def _is_diff_start(lines: Lines, i: int) -> bool:
    line = lines[i]
    if line.startswith((b"diff --git ", b"diff -", b"Index: ")):
        return True
    return line.startswith(b"--- ") and i + 1 < len(lines) and lines[i + 1].startswith(b"+++ ")


def subject_from_filename(name: str) -> str:
    """``0003-fix-quota_rounding.diff`` → ``fix quota rounding``."""
    stem = name[: -len(".patch")] if name.endswith(".patch") else name
    stem = stem[: -len(".diff")] if stem.endswith(".diff") else stem
    return _NUMBER_PREFIX_RE.sub("", stem).replace("-", " ").replace("_", " ").strip() or stem


class Lines:
    """The lines of a patch as offsets into its bytes, each ending in ``\\n`` (only
    ``\\n`` ends a line, as for git; a lone CR is data).

    A ``list`` of line objects costs ~40 bytes a line on top of the text: a diff
    of short lines held 75x its size (issue 18). Here a line costs 4 bytes
    until it is read; a slice is a view sharing the offsets.
    """

    __slots__ = ("_data", "_hi", "_lo", "_starts")

    def __init__(self, data: bytes) -> None:
        starts = array("I" if len(data) < 1 << 32 else "Q", [0])
        find, append = data.find, starts.append
        nl = find(b"\n")
        while nl != -1:
            append(nl + 1)
            nl = find(b"\n", nl + 1)
        if starts[-1] != len(data):
            append(len(data))  # a last line without a newline
        self._data, self._starts, self._lo, self._hi = data, starts, 0, len(starts) - 1

    def __len__(self) -> int:
        return self._hi - self._lo

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Lines: ...

    def __getitem__(self, index: int | slice) -> bytes | Lines:
        if isinstance(index, slice):
            lo, hi, _ = index.indices(len(self))
            view = object.__new__(Lines)
            view._data, view._starts = self._data, self._starts
            view._lo, view._hi = self._lo + lo, self._lo + max(lo, hi)
            return view
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        i = self._lo + index
        return self._data[self._starts[i] : self._starts[i + 1]]

    def __iter__(self) -> Iterator[bytes]:
        data, starts = self._data, self._starts
        for i in range(self._lo, self._hi):
            yield data[starts[i] : starts[i + 1]]

    def raw(self) -> tuple[bytes, array[int], int]:
        """(data, line starts, first index): line ``i`` starts at ``starts[first + i]``."""
        return self._data, self._starts, self._lo

    def joined(self) -> bytes:
        """The bytes of these lines, in one copy."""
        return self._data[self._starts[self._lo] : self._starts[self._hi]]


def _split_lines(data: bytes) -> Lines:
    return Lines(data)


def _split_headers(lines: Lines, start: int) -> tuple[dict[bytes, bytes], int]:
    """``read_one_header_line``: headers, unfolded, until a line that is not one."""
    headers: dict[bytes, bytes] = {}
    i = start
    while i < len(lines):
        line = lines[i].rstrip(_BSPACE)
        match = _HEADER_RE.match(line) if line else None
        if not match:
            break
        i += 1
        value = match.group(2)
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
            value += b" " + lines[i][1:].rstrip(_BSPACE)
            i += 1
        # later headers win, as for mailinfo (overwrite=1)
        headers[match.group(1).lower()] = value.lstrip(_BSPACE)
    if i < len(lines) and not lines[i].strip(_BSPACE):
        i += 1
    return headers, i


def _inbody_headers(body: Lines) -> tuple[dict[bytes, bytes], int]:
    """``check_inbody_header``: From/Subject/Date at the top of the message body."""
    found: dict[bytes, bytes] = {}
    key: bytes | None = None
    value = b""

    def flush() -> None:
        nonlocal key
        if key is not None:
            found[key] = value.split(b":", 1)[1].strip(_BSPACE)
            key = None

    i = 0
    while i < len(body):
        line = body[i]
        if line == b"\n":
            i += 1
            if key is not None:
                flush()
                break
            continue
        if key is not None and line[:1] in (b" ", b"\t"):
            value = value.rstrip(b"\n") + line
            i += 1
            continue
        flush()
        if line.startswith(b">From") and line[5:6] in (b" ", b"\t"):
            if not _FORMAT_PATCH_SEPARATOR_RE.match(line[1:]):
                break
        elif line.startswith(b"[PATCH]") and line[7:8] in (b" ", b"\t", b"\n", b"\r"):
            found[b"subject"] = line.strip(_BSPACE)
        elif (m := _INBODY_RE.match(line)) and m.group(1).lower() not in found:
            key, value = m.group(1).lower(), line
        else:
            break
        i += 1
    flush()
    return found, i


def parse_bytes(data: bytes, *, source: Path, file: str = "", category: str = "") -> Patch:
    """Parse the bytes of one patch file."""
    if b"\0" in data:
        raise PatchError("binary data (NUL bytes), not a patch", file=source)
    if len(data) > MAX_PATCH_BYTES:
        raise PatchError(f"{len(data)} bytes is more than a patch may have", file=source)
    if b"\r" in data:
        # git am (mailsplit without --keep-cr) drops the CR of every CRLF
        data = data.replace(b"\r\n", b"\n")
    if data and not data.endswith(b"\n"):
        data += b"\n"
    lines = _split_lines(data)

    pos = 0
    while pos < len(lines) and not lines[pos].strip(_BSPACE):
        pos += 1  # mailinfo skips leading blank lines
    start = pos + 1 if pos < len(lines) and _MBOX_FROM_RE.match(lines[pos]) else pos
    headers, body_start = _split_headers(lines, start)
    mail_like = start > pos or bool({b"from", b"subject"} & set(headers))
    if not mail_like or any(is_dep3_field(_utf8(name)) for name in headers):
        # not a mail (git am would refuse it): a DEP-3 header, or a plain diff
        return _parse_dep3_or_plain(lines, pos, source, file, category, b"from" in headers)
    if needs_mime(headers):
        # multipart, quoted-printable, base64, format=flowed: mailinfo's own reading
        mime = read_body(list(lines[body_start:]), headers, source)
        files, diff = _diff_from(_split_lines(mime.patch), 0, source)
        inbody = mime.inbody
        headers = {**mime.part, **headers}
        message = _clean_message(_utf8(mime.message))
    else:
        # message: up to the first patch break
        msg_end = _patch_break(lines, body_start)
        files, diff = _diff_from(lines, msg_end, source)
        body = lines[body_start:msg_end]
        inbody, skip = _inbody_headers(body)
        body = body[skip:]
        ctype = headers.get(b"content-type", b"").decode("latin-1")
        m = re.search(r'charset=(?:"([^"]*)"|([^; \t]*))', ctype, re.IGNORECASE)
        charset = (m.group(1) or m.group(2) or "") if m else ""
        message = _clean_message(_utf8(_to_utf8(body.joined(), charset, source)))

    def header(name: bytes) -> bytes | None:
        raw = inbody.get(name, headers.get(name))
        return None if raw is None else _decode_header(raw, name.decode().title(), source)

    raw_subject = header(b"subject")
    subject = _utf8(_cleanup_subject(raw_subject)) if raw_subject is not None else ""
    raw_date = header(b"date")
    date = _utf8(_cleanup_space(raw_date).strip(_BSPACE)) if raw_date is not None else None
    raw_from = header(b"from")
    author_name = author_email = None
    if raw_from is not None:
        name, mail = _parse_from(_cleanup_space(raw_from))
        if not mail and not name.strip(_CRUD):
            # git am takes "Name <>" but not an empty name ("empty ident name")
            raise PatchError(
                f"From: header {_utf8(raw_from)!r} has no e-mail address",
                file=source,
                hint="use 'Name <email>'",
            )
        author_name, author_email = _utf8(name), _utf8(mail)
    if not subject:
        # git am takes the message's first line; with no message, the file name
        first_line, _, remainder = message.partition("\n")
        subject, message = first_line.strip(_SPACE), _clean_message(remainder)
        subject = subject or subject_from_filename(source.name)
    return _patch(
        source, file, category, subject, (author_name, author_email), date, message, files, diff
    )


def _patch_break(lines: Lines, start: int) -> int:
    end = start
    while end < len(lines) and not is_patch_break(lines[end]):
        end += 1
    return end


def _diff_from(lines: Lines, start: int, source: Path) -> tuple[tuple[FileChange, ...], bytes]:
    """The files and the bytes of the diff that begins at or after ``lines[start]``."""
    diff_start = start
    while diff_start < len(lines) and not _is_diff_start(lines, diff_start):
        diff_start += 1
    files, diff_end = _scan_diff(lines, diff_start, source)
    if not files:
        raise PatchError(
            "no diff found",
            file=source,
            hint="a patch file is 'git format-patch' output or a unified diff",
        )
    return files, lines[diff_start:diff_end].joined()


def _patch(
    source: Path,
    file: str,
    category: str,
    subject: str,
    author: tuple[str | None, str | None],
    date: str | None,
    message: str,
    files: tuple[FileChange, ...],
    diff: bytes,
    *,
    has_header: bool = True,
    fields: Dep3Fields | None = None,
) -> Patch:
    # SPEC: the trailer block's Change-Ids and the DEP-3 header's
    dep3_ids = [
        normal_change_id(m.group(1))
        for value in (fields.all("Change-Id") if fields is not None else ())
        if (m := CHANGE_ID_RE.match("Change-Id: " + value.strip()))
    ]
    change_ids = tuple(dict.fromkeys([*trailer_change_ids(message), *dep3_ids]))
    cherries = tuple(dict.fromkeys(CHERRY_RE.findall(message)))
    return Patch(
        file=file or source.name,
        category=category,
        path=source,
        subject=subject,
        author_name=author[0],
        author_email=author[1],
        date=date,
        message=message,
        change_ids=change_ids,
        cherry_picked_from=cherries,
        files=files,
        diff=diff,
        has_header=has_header,
        dep3=fields if fields is not None else Dep3Fields(),
    )


def trailer_change_ids(message: str) -> tuple[str, ...]:
    """The Change-Ids of a message's trailer block, in order, each once, normalised.

    The trailer block is the last paragraph, looking past paragraphs of only
    ``(cherry picked from commit X)`` lines (older ``git cherry-pick -x`` put
    one after a blank line). A ``Change-Id:`` quoted higher up in the body — a
    squashed or reverted change's — is not the message's own (SPEC "Merged
    upstream"); this is where Gerrit reads it too.
    """
    paragraphs = _PARAGRAPH_RE.split(message.strip())
    while paragraphs and all(_CHERRY_LINE_RE.match(line) for line in paragraphs[-1].splitlines()):
        paragraphs.pop()
    if not paragraphs:
        return ()
    return tuple(dict.fromkeys(normal_change_id(c) for c in CHANGE_ID_RE.findall(paragraphs[-1])))


def _parse_dep3_or_plain(
    lines: Lines, pos: int, source: Path, file: str, category: str, from_header: bool
) -> Patch:
    """A file that is not a mail: a DEP-3 header and the diff, or a plain diff."""
    msg_end = _patch_break(lines, pos)
    files, diff = _diff_from(lines, msg_end, source)
    text = _utf8(b"".join(line for line in lines[pos:msg_end] if not _MBOX_FROM_RE.match(line)))
    header = parse_dep3(text, mail_like=from_header)
    if header is None:
        subject = subject_from_filename(source.name)
        message = _clean_message(text)
        return _patch(
            source,
            file,
            category,
            subject,
            (None, None),
            None,
            message,
            files,
            diff,
            has_header=False,
        )
    subject = ""
    if header.subject:
        subject = _utf8(_cleanup_subject(_header_bytes(header.subject, "Subject", source)))
    author: tuple[str | None, str | None] = (None, None)
    if header.author:
        raw = _cleanup_space(_header_bytes(header.author, "Author", source)).strip(_BSPACE)
        if b"@" in raw:
            first = re.match(rb"[^,]*<[^>]*@[^>]*>", raw)  # "A <a@x>, B <b@y>": the first
            name, mail = _parse_from(first.group(0) if first else raw)
            author = (_utf8(name) or None, _utf8(mail) or None)
        else:
            author = (_utf8(raw.replace(b"<", b"").replace(b">", b"")).strip(_SPACE) or None, None)
    return _patch(
        source,
        file,
        category,
        subject or subject_from_filename(source.name),
        author,
        header.date,
        _safe_message(header.message),
        files,
        diff,
        fields=header.fields,
    )


def _header_bytes(value: str, what: str, source: Path) -> bytes:
    """A DEP-3 value as bytes, RFC 2047 words decoded when they are well formed."""
    raw = value.encode("utf-8", "surrogateescape")
    if b"=?" in raw:
        try:
            return _decode_header(raw, what, source)
        except PatchError:
            pass  # not a mail: "=?" is just text here
    return raw


def _safe_message(text: str) -> str:
    """``text`` cleaned as git stores it, with every line ``git am`` would take
    for the start of the patch kept indented, so the commit holds all of it."""
    lines = []
    for line in text.split("\n"):
        raw = line.encode("utf-8", "surrogateescape")
        if is_patch_break(raw + b"\n") or _MBOX_FROM_RE.match(raw):
            line = " " + line
        lines.append(line)
    return _clean_message("\n".join(lines))


def normal_change_id(value: str) -> str:
    """One spelling of a Change-Id read leniently (``i…``, upper-case hex): ``I`` + lower hex."""
    return value[:1].upper() + value[1:].lower()


def fold_blank_lines(lines: Iterable[str]) -> str:
    """Already right-stripped lines joined, blank runs folded to one, leading and
    trailing blank lines dropped (``git stripspace``'s second half)."""
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _clean_message(body: str) -> str:
    """``git stripspace``: trailing blanks off every line, blank runs folded, ends trimmed."""
    return fold_blank_lines(line.rstrip(_SPACE) for line in body.split("\n"))


# --- the diff, as git apply reads it --------------------------------------------


def _unquote_c(data: bytes) -> tuple[bytes, int] | None:
    """A C-quoted name at the start of ``data`` (git ``unquote_c_style``) and its end."""
    out = bytearray()
    i = 1
    while i < len(data):
        c = data[i]
        i += 1
        if c == 0x22:
            return bytes(out), i
        if c != 0x5C:
            out.append(c)
            continue
        if i >= len(data):
            return None
        c = data[i]
        i += 1
        if c in _C_ESCAPES:
            out.append(_C_ESCAPES[c])
        elif 0x30 <= c <= 0x33 and re.match(rb"[0-7]{2}", data[i : i + 2]):
            out.append(int(data[i - 1 : i + 2], 8))
            i += 2
        else:
            return None
    return None


def _strip_component(name: bytes) -> bytes:
    """``git apply -p1``: drop the ``a/``/``b/`` (or any first) directory."""
    slash = name.find(b"/")
    return name[slash + 1 :] if slash >= 0 else name


def _header_names(text: bytes) -> tuple[bytes | None, bytes | None]:
    """The two names of a ``diff --git`` line, or None when they are ambiguous."""
    if text.startswith(b'"'):
        first = _unquote_c(text)
        if first is None or text[first[1] : first[1] + 1] != b" ":
            return None, None
        rest = text[first[1] + 1 :]
        if rest.startswith(b'"'):
            second = _unquote_c(rest)
            return (first[0], second[0]) if second and second[1] == len(rest) else (None, None)
        return first[0], rest
    if text.endswith(b'"'):
        k = text.find(b' "')
        while k >= 0:
            second = _unquote_c(text[k + 1 :])
            if second and second[1] == len(text) - k - 1:
                return text[:k], second[0]
            k = text.find(b' "', k + 1)
        return None, None
    # unquoted: both sides name the same file (git_header_name), "a/X b/X"
    k = text.find(b" ")
    while k >= 0:
        old, new = text[:k], text[k + 1 :]
        if _strip_component(old) == _strip_component(new):
            return old, new
        k = text.find(b" ", k + 1)
    return None, None


def _line_name(line: bytes, prefix_len: int) -> bytes:
    """The name on a ``---``/``+++`` line (quoted, or up to a tab and timestamp)."""
    text = line[prefix_len:].rstrip(b"\r\n")
    if text.startswith(b'"'):
        quoted = _unquote_c(text)
        if quoted:
            return quoted[0]
    return text.split(b"\t", 1)[0].rstrip(b" ")


def _path(name: bytes | None, strip: bool) -> str | None:
    if name is None or name == b"/dev/null":
        return None
    return (_strip_component(name) if strip else name).decode("utf-8", "surrogateescape")


def _hunks(lines: Lines, i: int, source: Path) -> tuple[int, int, int]:
    """Count the hunks starting at ``lines[i]``; (end, added, removed)."""
    added = removed = 0
    # the body loop reads one byte a line straight from the offsets (the hot path)
    data, starts, lo = lines.raw()
    count = len(lines)
    while i < count and lines[i].startswith(b"@@ "):
        m = _HUNK_RE.match(lines[i])
        if not m:
            raise PatchError("malformed hunk header", file=source, line=i + 1)
        old = int(m.group(2)) if m.group(2) is not None else 1
        new = int(m.group(4)) if m.group(4) is not None else 1
        header_line = i + 1
        i += 1
        while old > 0 or new > 0:
            if i < count:
                at = starts[lo + i]
                kind = data[at : at + 1]  # b"\n" only for an empty line
            else:
                kind = b""
            if kind == b" " or kind == b"\n":
                old -= 1
                new -= 1
            elif kind == b"-":
                old -= 1
                removed += 1
            elif kind == b"+":
                new -= 1
                added += 1
            elif kind != b"\\":
                raise PatchError(
                    f"corrupt patch: the hunk of line {header_line} ends early",
                    file=source,
                    line=i + 1,
                    hint="regenerate the patch",
                )
            if old < 0 or new < 0:
                raise PatchError(
                    f"corrupt patch: the hunk of line {header_line} has more lines than "
                    "its header counts",
                    file=source,
                    line=i + 1,
                )
            i += 1
        while i < count and lines[i].startswith(b"\\"):
            i += 1  # "\ No newline at end of file"
    return i, added, removed


def _binary(lines: Lines, i: int, source: Path) -> int:
    """Skip a ``GIT binary patch`` body (forward and optional reverse block)."""
    for block in range(2):
        if i >= len(lines) or not _BINARY_BLOCK_RE.match(lines[i]):
            if block == 0:
                raise PatchError("unrecognized binary patch", file=source, line=i + 1)
            break
        i += 1
        while i < len(lines) and lines[i] != b"\n":
            i += 1
        i = min(i + 1, len(lines))
    return i


# the extended header lines of a "diff --git" section (apply.c parse_git_diff_header)
_GIT_HEADERS = tuple(
    (prefix.encode(), prefix.strip())
    for prefix in (
        "old mode ",
        "new mode ",
        "deleted file mode ",
        "new file mode ",
        "rename from ",
        "rename to ",
        "rename old ",
        "rename new ",
        "copy from ",
        "copy to ",
        "similarity index ",
        "dissimilarity index ",
        "index ",
        "--- ",
        "+++ ",
    )
)


def _git_section(lines: Lines, i: int, source: Path) -> tuple[FileChange | None, int]:
    """One ``diff --git`` section; (None, next line) when it is only that line."""
    header_line = i + 1
    old_name, new_name = _header_names(lines[i][len(b"diff --git ") :].rstrip(b"\r\n"))
    meta: dict[str, bytes] = {}
    i += 1
    while i < len(lines):
        line = lines[i]
        for prefix, key in _GIT_HEADERS:
            if line.startswith(prefix):
                meta[key] = line[len(prefix) :].rstrip(b"\r\n")
                break
        else:
            break
        i += 1
    if not meta:
        # apply.c find_header(): a "diff --git" line with no header lines after it
        # is skipped as garbage, whatever follows
        return None, header_line
    added = removed = 0
    binary = False
    if i < len(lines) and lines[i].startswith(b"@@ "):
        i, added, removed = _hunks(lines, i, source)
    elif i < len(lines) and lines[i] == b"GIT binary patch\n":
        binary = True
        i = _binary(lines, i + 1, source)
    elif i < len(lines) and lines[i].startswith(b"Binary files "):
        binary = True
        i += 1

    def quoted(value: bytes) -> bytes:
        unq = _unquote_c(value) if value.startswith(b'"') else None
        return unq[0] if unq else value

    # names as git apply settles them: the "diff --git" line, then ---/+++, then
    # rename/copy lines (which carry no a/ b/ prefix), each overriding the last
    old_strip = new_strip = True
    if "---" in meta:
        old_name = _line_name(b"--- " + meta["---"], 4)
    if "+++" in meta:
        new_name = _line_name(b"+++ " + meta["+++"], 4)
    status = "modified"
    for kind, old_key, new_key in (
        ("renamed", "rename from", "rename to"),
        ("renamed", "rename old", "rename new"),
        ("copied", "copy from", "copy to"),
    ):
        if old_key in meta or new_key in meta:
            status = kind
        if old_key in meta:
            old_name, old_strip = quoted(meta[old_key]), False
        if new_key in meta:
            new_name, new_strip = quoted(meta[new_key]), False
    if "new file mode" in meta or (status == "modified" and old_name == b"/dev/null"):
        status = "added"
    elif "deleted file mode" in meta or (status == "modified" and new_name == b"/dev/null"):
        status = "deleted"
    old_path, new_path = _path(old_name, old_strip), _path(new_name, new_strip)
    path = old_path if status == "deleted" else new_path
    if not path:
        raise PatchError("cannot tell which file this diff changes", file=source, line=header_line)
    modes = meta.get("index", b"").split(b" ")
    index_mode = modes[1].decode("ascii", "replace") if len(modes) > 1 else None
    return (
        FileChange(
            path=path,
            status=status,
            old_path=old_path if status in ("renamed", "copied") else None,
            binary=binary,
            old_mode=_mode(meta, "old mode", "deleted file mode", index_mode, status != "added"),
            new_mode=_mode(meta, "new mode", "new file mode", index_mode, status != "deleted"),
            added=added,
            removed=removed,
        ),
        i,
    )


def _mode(
    meta: dict[str, bytes], key: str, other: str, index_mode: str | None, present: bool
) -> str | None:
    if not present:
        return None
    raw = meta.get(key) or meta.get(other)
    return raw.decode("ascii", "replace") if raw else index_mode


def _traditional_section(lines: Lines, i: int, source: Path) -> tuple[FileChange, int]:
    old_name, new_name = _line_name(lines[i], 4), _line_name(lines[i + 1], 4)
    i, added, removed = _hunks(lines, i + 2, source)
    old_path, new_path = _path(old_name, True), _path(new_name, True)
    if old_path is None:
        status, path = "added", new_path
    elif new_path is None:
        status, path = "deleted", old_path
    else:
        status, path = "modified", new_path
    if not path:
        raise PatchError("cannot tell which file this diff changes", file=source, line=i)
    return FileChange(path=path, status=status, added=added, removed=removed), i


def _scan_diff(lines: Lines, start: int, source: Path) -> tuple[tuple[FileChange, ...], int]:
    """The files the diff from ``lines[start]`` touches and the line after its last hunk.

    Lines between file sections (a diffstat, ``Index:`` banners, the signature)
    are skipped as git apply skips them.
    """
    changes: list[FileChange] = []
    end = start
    i = start
    while i < len(lines):
        line = lines[i]
        change: FileChange | None
        if line.startswith(b"diff --git "):
            change, i = _git_section(lines, i, source)
        elif (
            line.startswith(b"--- ")
            and i + 2 < len(lines)
            and lines[i + 1].startswith(b"+++ ")
            and lines[i + 2].startswith(b"@@ ")
        ):
            change, i = _traditional_section(lines, i, source)
        else:
            i += 1
            continue
        if change is not None:
            changes.append(change)
            end = i
    return tuple(changes), end


def parse_file(path: Path, *, file: str = "", category: str = "") -> Patch:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PatchError(f"cannot read: {exc.strerror}", file=path) from None
    return parse_bytes(data, source=path, file=file, category=category)
