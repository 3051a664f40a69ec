"""What git itself says about a patch file verda-patch cannot read.

A message that claims "git refuses it too" must be true (SPEC "Patch files"),
so when the parser refuses a file, the same bytes go to ``git mailsplit`` +
``git mailinfo -b`` (what ``git am --keep-non-patch`` reads) and
``git apply --numstat`` (what it would apply) in a scratch folder, and the
error's hint says what git answered. Only refused files pay for this.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.errors import PatchError

_FROM_HEADER_RE = re.compile(rb"^From:", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    refused: bool
    reason: str  # git's own words when it refuses


def _first_error(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return ""


def ask_git(data: bytes) -> Verdict:
    """Would ``git am`` take ``data``? (mailinfo's reading, then git apply's)."""
    with tempfile.TemporaryDirectory(prefix="verda-verdict-") as scratch:
        root = Path(scratch)
        (root / "in").write_bytes(data)
        (root / "split").mkdir()
        git.run(
            ["mailsplit", "-b", f"-o{root / 'split'}", str(root / "in")], cwd=root, ok=range(256)
        )
        first = root / "split" / "0001"
        mail = first.read_bytes() if first.exists() else data
        info = git.run(["mailinfo", "-b", "msg", "patch"], cwd=root, input=mail, ok=range(256))
        if info.returncode:
            return Verdict(True, "git mailinfo: " + (_first_error(info.stderr) or "refused"))
        author = re.search(rb"^Author: (.*)$", info.stdout, re.MULTILINE)
        if _FROM_HEADER_RE.search(mail) and not (author and author.group(1).strip()):
            return Verdict(True, "git am: the From: header gives no author name")
        patch = (root / "patch").read_bytes() if (root / "patch").exists() else b""
        if not patch.strip():
            return Verdict(True, "git am: the patch is empty")
        numstat = git.run(["apply", "--numstat", "-"], cwd=root, input=patch, ok=range(256))
        if numstat.returncode:
            return Verdict(True, "git apply: " + (_first_error(numstat.stderr) or "refused"))
        if not numstat.stdout.strip():
            return Verdict(True, "git apply: no file to change")
        return Verdict(False, "")


def checked(error: PatchError, data: bytes | None) -> PatchError:
    """``error`` with a hint that says, truthfully, whether git refuses the file too."""
    if data is None:
        return error
    verdict = ask_git(data)
    if verdict.refused:
        said = f"git refuses it too ({verdict.reason})"
    else:
        said = "git itself reads this file; please report it as a verda-patch bug"
    error.hint = f"{error.hint}; {said}" if error.hint else said
    return error


def checked_file(error: PatchError, path: Path) -> PatchError:
    """:func:`checked` for the file at ``path`` (unreadable files stay as they are)."""
    try:
        data = path.read_bytes()
    except OSError:
        return error
    return checked(error, data)
