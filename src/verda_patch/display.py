"""Text from patch files made safe for a terminal: control characters shown, not obeyed.

A subject, author or file name comes from someone else's patch (issue 18): an
ESC there could hide an OSC-8 link or erase the line a reviewer reads, a
right-to-left override could reorder it. :func:`visible` shows each such
character as a Python-style escape (``\\x1b``, ``\\u202e``) and keeps only
newlines (messages may span lines) and tabs.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embedding /
# override / isolate characters that reorder what follows them on screen
_UNSAFE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character a terminal would act on escaped."""
    return _UNSAFE_RE.sub(_escape, text)
