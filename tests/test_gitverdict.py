"""gitverdict: a claim that git refuses a file is asked of git itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from verda_patch.errors import PatchError
from verda_patch.gitverdict import ask_git, checked

SAMPLES = Path(__file__).parent / "samples"
GOOD = (
    b"From: A <a@example.org>\nSubject: x\n\n---\n"
    b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
)


def test_a_file_git_reads_is_not_said_to_be_refused_by_git() -> None:
    assert not ask_git(GOOD).refused
    error = checked(PatchError("some parser slip", file="x.patch", hint="fix it"), GOOD)
    assert error.hint == (
        "fix it; git itself reads this file; please report it as a verda-patch bug"
    )


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ("bad-no-diff.patch", "git apply: "),
        ("bad-corrupt-hunk.patch", "git apply: "),
        ("bad-from-no-address.patch", "git am: the From: header gives no author name"),
        ("bad-rfc2047.patch", "git mailinfo: "),
    ],
)
def test_git_refuses_the_bad_samples_in_its_own_words(sample: str, reason: str) -> None:
    verdict = ask_git((SAMPLES / sample).read_bytes())
    assert verdict.refused and verdict.reason.startswith(reason)
