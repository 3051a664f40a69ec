"""The body of a MIME mail, read the way ``git mailinfo`` reads it (``mailinfo.c``).

Only what ``git am`` needs: multipart boundaries (nested), per-part
``Content-Transfer-Encoding`` (quoted-printable, base64) and charset,
``format=flowed`` (``delsp=yes``), in-body ``From:``/``Subject:``/``Date:``,
and the split into commit message and patch at the first patch break. This is
a line-by-line port of ``handle_body`` and its helpers, quirks included (a
part's first body line right after its headers is dropped when no blank line
separates them, as git drops it), because git is the oracle: what this reads
is what ``git am`` commits. Plain ``text/plain`` 8bit mails never come here;
``patchfile`` reads those directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from verda_patch.errors import PatchError

_HEADERS = (b"from", b"subject", b"date")
_HEADER_NAME_RE = re.compile(rb"^([\x21-\x39\x3b-\x7e]+):")
_FORMAT_PATCH_SEPARATOR_RE = re.compile(rb"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n$")
_SPACE = b" \t\n\r\v\f"


def needs_mime(headers: dict[bytes, bytes]) -> bool:
    """Whether the top headers ask for more than a plain 8bit body."""
    ctype = headers.get(b"content-type", b"").lower()
    cte = headers.get(b"content-transfer-encoding", b"").lower()
    return (
        b"boundary=" in ctype
        or b"format=flowed" in ctype
        or b"base64" in cte
        or b"quoted-printable" in cte
    )


@dataclass
class Body:
    """What ``mailinfo`` takes from a body: message (UTF-8 where a charset was
    declared), patch bytes, and headers found in-body or in part headers."""

    message: bytes = b""
    patch: bytes = b""
    inbody: dict[bytes, bytes] = field(default_factory=dict)  # s_hdr_data
    part: dict[bytes, bytes] = field(default_factory=dict)  # p_hdr_data set by part headers


def _attr(value: bytes, name: bytes) -> bytes | None:
    """``slurp_attr``: the value after ``name`` (case-insensitive), quoted or not."""
    at = value.lower().find(name)
    if at < 0:
        return None
    rest = value[at + len(name) :]
    if rest[:1] == b'"':
        return rest[1:].split(b'"', 1)[0]
    return re.split(rb"[; \t]", rest, maxsplit=1)[0]


def decode_q(data: bytes, rfc2047: bool = False) -> bytes:
    """``decode_q_segment``: a soft break ``=\\n`` ends the text without its newline;
    in an RFC 2047 word ``_`` is a space."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        i += 1
        if c == 0x3D:
            if i >= n or data[i] == 0x0A:
                break
            pair = data[i : i + 2]
            if len(pair) == 2 and all(ch in b"0123456789abcdefABCDEF" for ch in pair):
                out.append(int(pair, 16))
                i += 2
                continue
        if rfc2047 and c == 0x5F:
            c = 0x20
        out.append(c)
    return bytes(out)


def decode_b(data: bytes) -> bytes:
    """``decode_b_segment``: garbage skipped; a body is decoded line by line."""
    out = bytearray()
    pos = acc = 0
    for c in data:
        if c == 0x2B:
            v = 62
        elif c == 0x2F:
            v = 63
        elif 0x41 <= c <= 0x5A:
            v = c - 0x41
        elif 0x61 <= c <= 0x7A:
            v = c - 0x61 + 26
        elif 0x30 <= c <= 0x39:
            v = c - 0x30 + 52
        else:
            continue
        if pos == 0:
            acc = v << 2
        elif pos == 1:
            out.append((acc | (v >> 4)) & 0xFF)
            acc = (v & 15) << 4
        elif pos == 2:
            out.append((acc | (v >> 2)) & 0xFF)
            acc = (v & 3) << 6
        else:
            out.append((acc | v) & 0xFF)
            acc = pos = 0
            continue
        pos += 1
    return bytes(out)


def _patchbreak(line: bytes) -> bool:
    if line.startswith((b"diff -", b"Index: ")):
        return True
    if len(line) < 4 or not line.startswith(b"---"):
        return False
    if line[3:4] == b" " and line[4:5] not in (b"",) and line[4] not in _SPACE:
        return True
    for c in line[3:]:
        if c == 0x0A:
            return True
        if c not in _SPACE:
            return False
    return False


def _skip_header(line: bytes, name: bytes) -> bytes | None:
    """``skip_header``: the value of ``line`` when it is header ``name`` (any case)."""
    if line[: len(name)].lower() != name or line[len(name) : len(name) + 1] != b":":
        return None
    return line[len(name) + 1 :].lstrip(_SPACE)


class _Reader:
    """``struct mailinfo`` for the body; one instance per mail."""

    def __init__(self, lines: list[bytes], top: dict[bytes, bytes], source: Path) -> None:
        self.lines = lines
        self.at = 0
        self.source = source
        self.boundaries: list[bytes] = []
        self.encoding = b""
        self.charset = b""
        self.flowed = False
        self.delsp = False
        self.filter_stage = 0
        self.header_stage = True
        self.accum = b""
        self.message: list[bytes] = []
        self.patch: list[bytes] = []
        self.inbody: dict[bytes, bytes] = {}
        self.part: dict[bytes, bytes] = {}
        self.top = top
        if b"content-type" in top:
            self.content_type(top[b"content-type"])
        if b"content-transfer-encoding" in top:
            self.transfer(top[b"content-transfer-encoding"])

    # --- headers ----------------------------------------------------------------

    def content_type(self, value: bytes) -> None:
        self.flowed = (_attr(value, b"format=") or b"").lower() == b"flowed"
        self.delsp = (_attr(value, b"delsp=") or b"").lower() == b"yes"
        boundary = _attr(value, b"boundary=")
        if boundary is not None:
            if len(self.boundaries) >= 5:
                raise PatchError("too many MIME boundaries", file=self.source)
            self.boundaries.append(b"--" + boundary)
        self.charset = _attr(value, b"charset=") or b""

    def transfer(self, value: bytes) -> None:
        lower = value.lower()
        if b"base64" in lower:
            self.encoding = b"base64"
        elif b"quoted-printable" in lower:
            self.encoding = b"qp"
        else:
            self.encoding = b""

    def check_header(self, line: bytes, into: dict[bytes, bytes]) -> bool:
        for name in _HEADERS:
            if name not in into and name not in self.top_or(into):
                value = _skip_header(line, name)
                if value is not None:
                    into[name] = value
                    return True
        value = _skip_header(line, b"content-type")
        if value is not None:
            self.content_type(value)
            return True
        value = _skip_header(line, b"content-transfer-encoding")
        if value is not None:
            self.transfer(value)
            return True
        return _skip_header(line, b"message-id") is not None

    def top_or(self, into: dict[bytes, bytes]) -> dict[bytes, bytes]:
        # part headers (p_hdr_data) do not overwrite what the mail header set
        return self.top if into is self.part else {}

    # --- reading lines ------------------------------------------------------------

    def getline(self) -> bytes | None:
        if self.at >= len(self.lines):
            return None
        line = self.lines[self.at]
        self.at += 1
        return line

    def header_line(self) -> tuple[bool, bytes | None]:
        """``read_one_header_line``: (is a header, the line, unfolded)."""
        line = self.getline()
        if line is None:
            return False, None
        text = line.rstrip(_SPACE)
        if not text or not (text.startswith((b"From ", b">From ")) or _HEADER_NAME_RE.match(text)):
            return False, text + b"\n"
        while self.at < len(self.lines) and self.lines[self.at][:1] in (b" ", b"\t"):
            more = self.lines[self.at]
            self.at += 1
            text += b" " + more[1:].rstrip(_SPACE)
        return True, text

    def is_boundary(self, line: bytes) -> bool:
        return bool(self.boundaries) and line.startswith(self.boundaries[-1])

    def find_boundary(self) -> bytes | None:
        while (line := self.getline()) is not None:
            if self.is_boundary(line.rstrip(b"\n")):
                return line
        return None

    def handle_boundary(self, line: bytes) -> bytes | None:
        while True:
            top = self.boundaries[-1]
            text = line.rstrip(b"\n")
            if len(text) >= len(top) + 2 and text[len(top) : len(top) + 2] == b"--":
                self.boundaries.pop()
                self.filter(b"\n")
                found = self.find_boundary()
                if found is None:
                    return None
                line = found
                continue
            break
        self.encoding = b""
        self.charset = b""
        while True:
            is_header, header = self.header_line()
            if not is_header:
                break
            assert header is not None
            self.check_header(header, self.part)
        nxt = self.getline()
        if nxt is None:
            return None
        return nxt.rstrip(b"\n") + b"\n"

    # --- the message and the patch --------------------------------------------------

    def flush_accum(self) -> None:
        if self.accum:
            self.check_header(self.accum, self.inbody)
            self.accum = b""

    def check_inbody(self, line: bytes) -> bool:
        if self.accum and line[:1] in (b" ", b"\t"):
            self.accum = self.accum.removesuffix(b"\n") + line
            return True
        self.flush_accum()
        if line.startswith(b">From") and line[5:6] in (b" ", b"\t", b"\n", b"\r"):
            return bool(_FORMAT_PATCH_SEPARATOR_RE.match(line[1:]))
        if line.startswith(b"[PATCH]") and line[7:8] in (b" ", b"\t", b"\n", b"\r"):
            self.inbody[b"subject"] = line
            return True
        for name in _HEADERS:
            if name not in self.inbody and _skip_header(line, name) is not None:
                self.accum += line
                return True
        return False

    def commit_msg(self, line: bytes) -> bool:
        if self.header_stage and line in (b"", b"\n"):
            if self.accum:
                self.flush_accum()
                self.header_stage = False
            return False
        if self.header_stage:
            self.header_stage = self.check_inbody(line)
            if self.header_stage:
                return False
        line = self.to_utf8(line)
        if _patchbreak(line):
            return True
        self.message.append(line)
        return False

    def to_utf8(self, line: bytes) -> bytes:
        charset = self.charset.decode("latin-1")
        if not charset or charset.lower().replace("-", "") == "utf8":
            return line
        try:
            return line.decode(charset).encode("utf-8", "surrogatepass")
        except (LookupError, UnicodeDecodeError):
            raise PatchError(
                f"cannot convert the message from {charset} to UTF-8",
                file=self.source,
                hint="fix the Content-Type charset",
            ) from None

    def filter(self, line: bytes) -> None:
        if self.filter_stage == 0:
            if not self.commit_msg(line):
                return
            self.filter_stage = 1
        self.patch.append(line)

    def filter_flowed(self, line: bytes, prev: bytearray) -> None:
        if not self.flowed:
            self.filter(line)
            return
        end = len(line)
        if line.endswith(b"\n"):
            end -= 1
            if end and line[end - 1 : end] == b"\r":
                end -= 1
        if line[:end] == b"-- ":  # the signature separator stays as it is
            if prev:
                self.filter(bytes(prev))
                prev.clear()
            self.filter(line)
            return
        text = line
        if end and text[:1] == b" ":  # unstuff
            text = text[1:]
            end -= 1
        if end and text[end - 1 : end] == b" ":  # a soft break: keep for the next line
            prev += text[: end - (1 if self.delsp else 0)]
            return
        text = bytes(prev) + text
        prev.clear()
        self.filter(text)

    def run(self) -> Body:
        prev = bytearray()
        line = self.find_boundary() if self.boundaries else self.getline()
        while line is not None:
            if self.boundaries and self.is_boundary(line):
                if prev:
                    self.filter(bytes(prev))
                    prev.clear()
                line = self.handle_boundary(line)
                if line is None:  # git stops here, with no final flush
                    return self.body()
            if self.encoding:
                decoded = bytes(prev) + (
                    decode_q(line) if self.encoding == b"qp" else decode_b(line)
                )
                prev.clear()
                pieces = decoded.split(b"\n")
                for k, piece in enumerate(pieces):
                    if k == len(pieces) - 1:
                        prev += piece  # a partial line waits for the next one
                        break
                    self.filter_flowed(piece + b"\n", prev)
            else:
                self.filter_flowed(line, prev)
            line = self.getline()
        if prev:
            self.filter(bytes(prev))
        self.flush_accum()
        return self.body()

    def body(self) -> Body:
        return Body(b"".join(self.message), b"".join(self.patch), self.inbody, self.part)


def read_body(lines: list[bytes], top: dict[bytes, bytes], source: Path) -> Body:
    """Read the body ``lines`` of a mail whose top headers are ``top`` (lower-case names)."""
    return _Reader(lines, top, source).run()
