#!/usr/bin/env python3
"""Peak memory of ``verda-patch list`` on one 60 MB patch, beside ``git apply --numstat``.

    python benchmarks/bench_list_memory.py [--megabytes 60] [--workdir DIR]

Two generated patches of ``--megabytes`` each, one file per patch repo:

- ``code``: a new file of plausible Python lines (40-80 bytes each, as
  ``common.py`` writes them), the shape of a vendored module;
- ``short``: a new file of two-byte lines (``+\\n``), the worst case per byte
  for a parser that keeps a line object per line (issue 18: ~75x the patch).

For each, the peak RSS (``ru_maxrss``) of one ``verda-patch --repo R list``
process and of one ``git apply --numstat`` reading the same file, each measured
in a fresh wrapper process so nothing else counts. Prints the figures, the
multiple of the patch size, and one ratio line per patch (verda / git peak
RSS, which ``run_all.py`` collects as a ratio).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import _line, machine_line, print_table, python_env, verda_argv

# prints the peak RSS (KiB) of the command it runs, and only of that process tree's
# waited-for children: a fresh wrapper per measurement
_PEAK = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_mib(argv: list[str], cwd: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=python_env(),
    ).stdout
    return int(out.strip()) / 1024


def write_patch(path: Path, megabytes: int, kind: str) -> int:
    target = megabytes << 20
    rng = random.Random(3)
    with path.open("wb") as out:
        out.write(
            b"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            b"From: Bench Builder <builder@example.org>\n"
            b"Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
            b"Subject: [PATCH] vendor a big module\n\n---\n"
        )
        body = bytearray()
        lines = 0
        while len(body) < target:
            body += b"+\n" if kind == "short" else f"+{_line(rng, str(lines))}\n".encode()
            lines += 1
        out.write(
            b"diff --git a/big.py b/big.py\nnew file mode 100644\n"
            b"--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,%d @@\n" % lines
        )
        out.write(body)
        out.write(b"-- \n2.39.5\n\n")
    return path.stat().st_size


def make_repo(root: Path, patch: Path) -> Path:
    folder = root / "patches" / "bench" / "customs"
    folder.mkdir(parents=True)
    (root / "base-commit").write_text(
        "bench:\n  upstream: https://git.example.org/bench\n  commit: " + "0" * 40 + "\n"
    )
    shutil.copyfile(patch, folder / "0001-vendor-a-big-module.patch")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=60)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-list-memory-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(machine_line())
    rows = []
    for kind in ("code", "short"):
        patch = work / f"{kind}.patch"
        size = write_patch(patch, args.megabytes, kind) / (1 << 20)
        repo = make_repo(work / f"repo-{kind}", patch)
        ours = peak_mib([*verda_argv(), "--repo", str(repo), "list"], work)
        ref = peak_mib(["git", "apply", "--numstat", str(patch)], work)
        baseline = peak_mib([*verda_argv(), "--version"], work)
        print(
            f"list-memory {kind} {size:.0f} MiB patch: peak RSS verda {ours:.1f} MiB / "
            f"git {ref:.1f} MiB = {ours / ref:.2f}x",
            flush=True,
        )
        rows.append(
            (
                kind,
                f"{size:.1f} MiB",
                f"{ours:.1f} MiB",
                f"{ours / size:.2f}x",
                f"{(ours - baseline) / size:.2f}x",
                f"{ref:.1f} MiB",
                f"{ref / size:.2f}x",
            )
        )
        shutil.rmtree(repo)
    print_table(
        "peak RSS of one list (MiB; 'net' = minus the interpreter's own, from --version)",
        ("patch", "size", "verda list", "x size", "net x size", "git apply", "git x size"),
        rows,
    )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
