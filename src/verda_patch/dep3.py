"""DEP-3 headers of Debian, Ubuntu and quilt patches → subject, author, date, message.

https://dep-team.pages.debian.net/deps/dep3/: RFC 2822-like fields at the top
of a patch. ``Description:`` (or ``Subject:``) gives the subject on its first
line; its continuation lines (one leading space dropped, `` .`` a blank line)
and free-form paragraphs are the long description. ``Author:`` (or ``From:``)
is the author, a bare name included. Every other field (``Origin``, ``Bug*``,
``Forwarded``, ``Applied-Upstream``, ``Last-Update``, ``Reviewed-by``,
``Change-Id``, ...) is kept, as written, in the message's last paragraph, so it
survives ``git am`` and reads back from the commit.

Real files are read leniently: free text before the header, a misspelled field
name (``Forwared``), a known field written without its colon, an mbox
``From <sha> <date>`` line and the mail header after it, a second set of fields
in a later paragraph (pseudo-headers), a field given twice.
"""

from __future__ import annotations

import difflib
import email.utils
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

# canonical spelling of every field DEP-3 names, plus the ones real files carry
KNOWN_FIELDS = (
    "Description",
    "Subject",
    "Author",
    "From",
    "Origin",
    "Bug",
    "Bug-Debian",
    "Bug-Ubuntu",
    "Forwarded",
    "Applied-Upstream",
    "Last-Update",
    "Reviewed-by",
    "Acked-by",
    "Change-Id",
    "Signed-off-by",
    "Date",
)
_BY_LOWER = {name.lower(): name for name in KNOWN_FIELDS}
# fields that say a block of lines is a DEP-3 header rather than a mail header
MARKERS = frozenset(
    name.lower()
    for name in KNOWN_FIELDS
    if name not in ("Subject", "From", "Date", "Signed-off-by", "Change-Id")
)
# mail transport headers: form, not part of the patch's meaning
_TRANSPORT = ("content-", "mime-version")
_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)[ \t]*:[ \t]*(.*)$")
_BARE_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)[ \t]+(\S.*)$")
_MBOX_FROM_RE = re.compile(r"^From \S+ .*\d\d:\d\d:\d\d")


@functools.lru_cache(maxsize=1024)
def canonical(name: str) -> str | None:
    """The known field ``name`` stands for, misspellings included; None when unknown."""
    lower = name.lower()
    if lower in _BY_LOWER:
        return _BY_LOWER[lower]
    if lower.startswith("bug-"):
        return "Bug-" + name[4:].capitalize()
    if lower in ("debian-bug", "ubuntu-bug"):
        return "Bug-" + name[:-4].capitalize()
    close = difflib.get_close_matches(lower, list(_BY_LOWER), n=1, cutoff=0.8)
    return _BY_LOWER[close[0]] if close else None


def is_marker(name: str) -> bool:
    """A header field name only a DEP-3 header (not a mail) carries."""
    known = canonical(name)
    return known is not None and (known.lower() in MARKERS or known.startswith("Bug"))


class Fields(Mapping[str, str]):
    """The fields of a DEP-3 header by canonical name (``Origin``, ``Bug-Debian``, ...).

    ``fields["Origin"]`` is the first value given; :meth:`all` gives every one.
    Unknown fields keep their name as written. Lookups ignore case.
    """

    __slots__ = ("_items",)

    def __init__(self, items: tuple[tuple[str, str], ...] = ()) -> None:
        self._items = items

    def _find(self, name: str) -> Iterator[str]:
        key = (canonical(name) or name).lower()
        return (value for field, value in self._items if field.lower() == key)

    def __getitem__(self, name: str) -> str:
        for value in self._find(name):
            return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(field for field, _ in self._items))

    def __len__(self) -> int:
        return len(dict.fromkeys(field.lower() for field, _ in self._items))

    def all(self, name: str) -> tuple[str, ...]:
        return tuple(self._find(name))

    @property
    def items_in_order(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fields) and other._items == self._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Fields({self._items!r})"


@dataclass(frozen=True)
class Header:
    """What a DEP-3 header says. ``author`` is the raw ``Author:`` value."""

    subject: str | None
    author: str | None
    date: str | None
    message: str
    fields: Fields


@dataclass
class _Field:
    name: str  # as written
    known: str | None
    value: str
    more: list[str]  # continuation lines, as written
    lines: list[str]  # every line of the field, as written
    slips: list[str] = field(default_factory=list)  # lines after it that are no field


def _field(line: str, in_header: bool) -> _Field | None:
    m = _FIELD_RE.match(line)
    if m:
        return _Field(m.group(1), canonical(m.group(1)), m.group(2).rstrip(), [], [line])
    if in_header:
        # a known field written without its colon ("Forwarded no")
        m = _BARE_FIELD_RE.match(line)
        known = canonical(m.group(1)) if m else None
        if m and known:
            return _Field(m.group(1), known, m.group(2).rstrip(), [], [line])
    return None


def _paragraphs(text: str) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.strip():
            out[-1].append(line.rstrip())
        elif out[-1]:
            out.append([])
    return [p for p in out if p]


def _header_block(para: list[str], first: bool) -> tuple[list[str], list[_Field]] | None:
    """(free text before the fields, the fields) when ``para`` is a set of fields.

    The first paragraph may start with free text (a shell prompt, a note), and a
    line in it that is no field (``Co-Authored By: ...``) goes with the field
    before it; a later paragraph is a set of fields only when every line is a
    field or a continuation.
    """
    lines = [line for line in para if not _MBOX_FROM_RE.match(line)]
    mbox = len(lines) != len(para)
    start = 0
    if first:
        while start < len(lines) and not _FIELD_RE.match(lines[start]):
            start += 1
    fields: list[_Field] = []
    for line in lines[start:]:
        if line[:1] in (" ", "\t") and fields:
            fields[-1].more.append(line)
            fields[-1].lines.append(line)
            continue
        found = _field(line, in_header=bool(fields))
        if found is None:
            if not (first and fields):
                return None
            fields[-1].slips.append(line)
            fields[-1].lines.append(line)
            continue
        fields.append(found)
    if not fields or not (mbox or any(f.known for f in fields)):
        return None
    return lines[:start], fields


def _description(value: str, more: list[str]) -> tuple[str, list[str]]:
    """DEP-3 ``Description``: first line, then continuation lines unfolded."""
    body = []
    for line in more:
        text = line[1:] if line[:1] in (" ", "\t") else line
        body.append("" if text.strip() == "." else text.rstrip())
    subject = value.strip()
    if not subject:
        while body and not body[0].strip():
            body.pop(0)
        subject = body.pop(0).strip() if body else ""
    return subject, body


def _is_date(value: str) -> bool:
    try:
        return email.utils.parsedate_tz(value) is not None
    except (TypeError, ValueError, IndexError):
        return False


def parse(text: str, *, mail_like: bool = False) -> Header | None:
    """The DEP-3 header in ``text`` (what precedes the diff), or None when there is none.

    ``mail_like``: the fields start like a mail (``From:`` with an address), so a
    folded ``Subject:`` is unfolded as ``git mailinfo`` does instead of being
    read as a DEP-3 description.
    """
    paragraphs = _paragraphs(text)
    subject: str | None = None
    author: str | None = None
    date: str | None = None
    body: list[str] = []
    free: list[list[str]] = []
    kept: list[str] = []
    items: list[tuple[str, str]] = []
    seen_header = False
    for para in paragraphs:
        block = _header_block(para, first=not seen_header)
        if block is None:
            free.append(para)
            continue
        before, fields = block
        seen_header = True
        if before:
            free.append(before)
        for f in fields:
            known = f.known or f.name
            key = known.lower()
            if key.startswith(_TRANSPORT):
                continue
            value = f.value if not f.more else f.value + "\n" + "\n".join(f.more)
            items.append((known, value))
            if key in ("description", "subject"):
                if subject is None:
                    if key == "subject" and mail_like:
                        subject = " ".join([f.value, *(m.strip() for m in f.more)]).strip()
                    else:
                        subject, body = _description(f.value, f.more)
                    body.extend(f.slips)
                continue  # a second subject (an embedded mail's) repeats the first
            consumed = False
            if key in ("author", "from") and author is None and f.value.strip():
                author, consumed = f.value.strip(), True
            elif key == "from":
                consumed = True  # an embedded mail's From: repeats the author
            elif key == "date" and (date is not None or _is_date(f.value)):
                date, consumed = date or f.value.strip(), True
            kept.extend(f.slips if consumed else f.lines)
    if not seen_header:
        return None
    parts = ["\n".join(body)] + ["\n".join(p) for p in free] + ["\n".join(kept)]
    message = "\n\n".join(part for part in parts if part.strip())
    return Header(subject or None, author, date, message, Fields(tuple(items)))
