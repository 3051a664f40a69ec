"""Parsing a patch holds a small multiple of its size (issue 18: a diff of short
lines held ~75x, so a 190 KiB-in-git patch made ``list`` use 9.7 GB)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from verda_patch.patchfile import parse_bytes


def _short_lines_patch(lines: int) -> bytes:
    head = (
        b"From: A U Thor <a@example.org>\nSubject: [PATCH] big\n\nbody\n---\n"
        b"diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n"
        b"@@ -0,0 +1,%d @@\n" % lines
    )
    return head + b"+\n" * lines


def test_parsing_holds_a_small_multiple_of_the_patch():
    data = _short_lines_patch(200_000)  # 400 KB of two-byte lines
    tracemalloc.start()
    try:
        patch = parse_bytes(data, source=Path("0001-big.patch"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert patch.files[0].added == 200_000
    assert peak < 4 * len(data), f"peak {peak} for a {len(data)}-byte patch"  # was ~40x


def test_lines_match_a_split_on_newline():
    from verda_patch.patchfile import Lines

    for data in (b"", b"a", b"a\n", b"a\nb", b"\n\nx\r\ny\n", b"a\rb\n"):
        parts = data.split(b"\n")
        expected = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
        lines = Lines(data)
        assert list(lines) == expected and len(lines) == len(expected)
        assert [lines[i] for i in range(len(lines))] == expected
        for lo in range(len(expected) + 1):
            for hi in range(len(expected) + 1):
                assert list(lines[lo:hi]) == expected[lo:hi]
                assert lines[lo:hi].joined() == b"".join(expected[lo:hi])
                assert list(lines[lo:][: hi - lo if hi > lo else 0]) == expected[lo:hi]
