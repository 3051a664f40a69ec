"""Which leading patches ``export`` would leave byte for byte, remembered per prefix.

check's export step renders every commit of the scratch tree (one
``git format-patch``) and compares it with its patch file, applying the file's
diff again where the two differ as text. That verdict is a function of the
commit and the file's name and bytes alone, so it is remembered: the key of
position k hashes a stamp of the comparing code and the git version, the base,
the name and bytes of the files 1..k, and commit k (whose parents pin every
commit before it). A check that finds the key of position k skips rendering and
comparing the first k patches; right after ``apply`` that is all of them. A check
remembers the last position it found unchanged and :data:`CHECKPOINTS` evenly
spaced ones before it, so an edit in the middle is compared again from the
checkpoint before it, not from the first patch.

The keys live in the upstream's cache mirror, next to the prefix refs, never
in the patch repo (whose files an untrusted change controls), and never on a
``prefix-remote``. The memo holds only keys, at most :data:`LIMIT`, newest last;
a line that is not a key, an unknown key or an unreadable memo only means
comparing again.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from verda_patch import git
from verda_patch.series import code_stamp
from verda_patch.store import write_atomic

FORMAT = "verda-patch export memo v1"
FILE = "verda-export-memo"
LIMIT = 4096  # keys: some 60 checked states of a long series
CHECKPOINTS = 64
_KEY = re.compile(r"[0-9a-f]{64}")
_MAX_BYTES = LIMIT * 65 + 1  # a longer memo was not written by us: ignored


@functools.cache
def stamp() -> str:
    """The code deciding the verdict (the comparison, the parser) and the git rendering."""
    from verda_patch import export, patchfile

    modules = code_stamp(export, patchfile, sys.modules[__name__])
    return f"{modules} git {'.'.join(map(str, git.version()))}"


def keys(base: str, positions: Sequence[tuple[str, str, bytes | None]]) -> list[str]:
    """The key of each leading position (commit, file name, file bytes) whose file exists.

    ``result[i]`` covers positions 0..i; the list stops at the first file with no bytes.
    """
    running = hashlib.sha256(f"{FORMAT}\0{stamp()}\0{base}".encode()).hexdigest()
    out = []
    for sha, name, data in positions:
        if data is None:
            break
        file_digest = hashlib.sha256(data).hexdigest()
        running = hashlib.sha256(f"{running}\0{name}\0{file_digest}".encode()).hexdigest()
        out.append(hashlib.sha256(f"{running}\0{sha}".encode()).hexdigest())
    return out


class ExportMemo:
    """The memo of one cache mirror (a bare repository)."""

    def __init__(self, mirror: Path) -> None:
        self.path = mirror / FILE

    def _read(self) -> list[str]:
        try:
            if self.path.stat().st_size > _MAX_BYTES:
                return []
            text = self.path.read_bytes().decode("ascii")
        except (OSError, UnicodeDecodeError):
            return []
        return [line for line in text.split("\n") if _KEY.fullmatch(line)]

    def known(self, position_keys: Sequence[str]) -> int:
        """How many leading positions a remembered key covers (0: none)."""
        remembered = set(self._read())
        return max((i + 1 for i, k in enumerate(position_keys) if k in remembered), default=0)

    def remember(self, position_keys: Sequence[str], known: int, covered: int) -> None:
        """Remember positions ``known+1..covered`` unchanged: the last and checkpoints.

        The newest keys come last; the oldest go beyond :data:`LIMIT`.
        """
        stride = max(1, covered // CHECKPOINTS)
        new = [position_keys[i - 1] for i in range(known + 1, covered + 1) if i % stride == 0]
        if covered > known and position_keys[covered - 1] not in new:
            new.append(position_keys[covered - 1])
        new = [k for k in new if _KEY.fullmatch(k)]
        if not new:
            return
        fresh = set(new)
        kept = [*[k for k in self._read() if k not in fresh], *new][-LIMIT:]
        with suppress(OSError):  # only a memo: the next check compares again
            write_atomic(self.path, "".join(f"{k}\n" for k in kept).encode())
