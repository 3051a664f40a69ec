"""`verda-patch list` on 1,000 generated format-patch files, side by side with raw git.

    python benchmarks/bench_list.py [--patches 1000] [--repeat 3] [--keep DIR]

Builds, in a temp dir: an upstream (300 files, one ``git fast-import``), 1,000
commits on its base (edits of 1-3 files, some renames, new files, binary files,
non-ASCII authors, Change-Ids, cherry-picked-from lines) written by one
``git format-patch -M --binary``, and a patch repo holding them in the three
categories (general/ with a series file).

Then, alternating who goes first each round, best of ``--repeat`` wall-clock runs:

- ours: ``verda-patch --repo R list nova`` (and ``--json list nova``) as a
  subprocess: interpreter start, config, series, parsing every file, rendering;
- git: ``cat`` of the same files in apply order piped into one
  ``git apply --numstat -``: git's own parser reading every diff of the series
  (files and line counts) in one process. It reads less than ``list`` (no
  subjects, authors, trailers, series files), so the ratio is an upper bound.
  One ``git mailinfo`` per patch would read as much but costs 1,000 processes,
  which would flatter us.

Prints the machine, both timings and ``RATIO list ...`` lines in the format
``benchmarks/run_all.py`` collects. Nothing is asserted: timings live here,
never in the tests.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line, ratio_line

START = 1_700_000_000
AUTHORS = [
    ("Zoë Ångström", "zoe@example.org"),
    ("Jörg Müller", "joerg@example.org"),
    ("Ada Lovelace", "ada@example.org"),
    ("Søren Kierkegaard", "soren@example.org"),
    ("李小龍", "lee@example.org"),
]
WORDS = [
    "quota",
    "scheduler",
    "weigher",
    "cell",
    "flavor",
    "image",
    "volume",
    "port",
    "host",
    "instance",
    "migration",
    "allocation",
    "placement",
    "resize",
    "rebuild",
    "console",
]
AREAS = ["compute", "scheduler", "api", "conductor", "network", "virt", "db", "objects"]
CATEGORIES = (("cherry-pick", 200), ("general", 500), ("customs", 300))


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.org",
    )
    return env


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=master", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"git {' '.join(args[:2])} failed: {proc.stderr.decode()}")
    return proc.stdout.decode().strip()


def data(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return f"data {len(raw)}\n".encode() + raw + b"\n"


def new_file(rng: random.Random, lines: int, uid: str) -> list[str]:
    return [
        f"    {rng.choice(WORDS)}_{uid}_{i} = {rng.randint(0, 999)}  # {rng.choice(WORDS)}"
        for i in range(lines)
    ]


def edit(rng: random.Random, lines: list[str], uid: str) -> None:
    for _ in range(rng.choice((1, 1, 2))):
        at = rng.randrange(len(lines))
        if rng.random() < 0.3 and len(lines) > 10:
            del lines[at]
        lines.insert(at, f"    {rng.choice(WORDS)}_{uid} = {rng.randint(0, 999)}  # changed")


def make_upstream(path: Path, rng: random.Random) -> tuple[str, dict[str, list[str]]]:
    files = {
        f"nova/{AREAS[i % len(AREAS)]}/{rng.choice(WORDS)}_{i}.py": new_file(rng, 80, f"u{i}")
        for i in range(300)
    }
    stream = b"commit refs/heads/master\nmark :1\n"
    stream += f"author Upstream <up@example.org> {START} +0000\n".encode()
    stream += f"committer Upstream <up@example.org> {START} +0000\n".encode()
    stream += data("Initial import\n")
    for name, lines in files.items():
        stream += f"M 100644 inline {name}\n".encode() + data("\n".join(lines) + "\n")
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "fast-import", "--quiet", input=stream + b"\n")
    git(path, "reset", "-q", "--hard", "master")
    return git(path, "rev-parse", "master"), files


def make_series(
    upstream: Path,
    base: str,
    files: dict[str, list[str]],
    count: int,
    out: Path,
    rng: random.Random,
) -> list[Path]:
    stream = bytearray()
    for n in range(count):
        name, mail = AUTHORS[n % len(AUTHORS)]
        stamp = START + 86_400 + n * 600
        ops: list[bytes] = []
        roll = rng.random()
        area = rng.choice(AREAS)
        if roll < 0.05:
            new = f"nova/{area}/verda_{rng.choice(WORDS)}_{n}.py"
            files[new] = new_file(rng, rng.randint(10, 60), f"n{n}")
            touched = [new]
            subject = f"{area}: add the {rng.choice(WORDS)} helper"
        elif roll < 0.09:
            old = rng.choice(sorted(files))
            new = f"{old.rsplit('/', 1)[0]}/moved_{n}.py"
            files[new] = files.pop(old)
            edit(rng, files[new], f"r{n}")
            ops.append(f"R {old} {new}\n".encode())
            touched = [new]
            subject = f"{area}: move {old.rsplit('/', 1)[1]} aside"
        elif roll < 0.11:
            blob = bytes(rng.getrandbits(8) for _ in range(600))
            ops.append(f"M 100644 inline nova/{area}/logo_{n}.png\n".encode() + data(blob))
            touched = []
            subject = f"{area}: [doc] new logo"
        else:
            touched = rng.sample(sorted(files), k=rng.choice((1, 1, 2, 3)))
            for path in touched:
                edit(rng, files[path], f"p{n}")
            subject = f"{area}: fix {rng.choice(WORDS)} {rng.choice(WORDS)} handling"
        trailers = f"Change-Id: I{rng.getrandbits(160):040x}\n"
        if n < CATEGORIES[0][1]:
            trailers += f"(cherry picked from commit {rng.getrandbits(160):040x})\n"
        body = (
            f"{subject}\n\nThe {rng.choice(WORDS)} path missed the {rng.choice(WORDS)} case;"
            f" patch {n} handles it.\n\nCloses-Bug: #{2_000_000 + n}\n{trailers}"
        )
        stream += b"commit refs/heads/series\n"
        stream += f"author {name} <{mail}> {stamp} +0000\n".encode()
        stream += f"committer {name} <{mail}> {stamp} +0000\n".encode()
        stream += data(body)
        if n == 0:
            stream += f"from {base}\n".encode()
        stream += b"".join(ops)
        for path in touched:
            stream += f"M 100644 inline {path}\n".encode() + data("\n".join(files[path]) + "\n")
        stream += b"\n"
    git(upstream, "fast-import", "--quiet", input=bytes(stream))
    git(upstream, "format-patch", "-q", "-M", "--binary", "-o", str(out), f"{base}..series")
    patches = sorted(out.glob("*.patch"))
    if len(patches) != count:
        raise SystemExit(f"format-patch wrote {len(patches)} files, expected {count}")
    return patches


def make_patch_repo(root: Path, upstream: Path, base: str, patches: list[Path]) -> list[Path]:
    """The patch repo; returns its patch files in apply order."""
    (root / "patches" / "nova").mkdir(parents=True)
    (root / "base-commit").write_text(f"nova:\n  upstream: {upstream}\n  commit: {base}\n")
    ordered: list[Path] = []
    start = 0
    for category, share in CATEGORIES:
        folder = root / "patches" / "nova" / category
        folder.mkdir()
        chunk = patches[start : start + share * len(patches) // 1000]
        start += len(chunk)
        names = []
        for i, source in enumerate(chunk, 1):
            target = folder / f"{i:04d}-{source.name.split('-', 1)[1]}"
            shutil.copyfile(source, target)
            names.append(target)
        if category == "general":
            # a series file: the same order, written out, with a comment
            (folder / "series").write_text(
                "# general fixes, in apply order\n" + "".join(p.name + "\n" for p in names)
            )
        ordered += names
    return ordered


def verda_argv() -> list[str]:
    """The console script next to this interpreter (a pyenv shim adds 30-50 ms not ours)."""
    script = Path(sys.executable).parent / "verda-patch"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("verda-patch")
    return [found] if found else [sys.executable, "-m", "verda_patch"]


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run_ok(argv: Sequence[str], **kwargs: object) -> None:
    proc = subprocess.run(argv, capture_output=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")


def git_baseline(files: list[Path], cwd: Path) -> Callable[[], None]:
    def run() -> None:
        cat = subprocess.Popen(["cat", *map(str, files)], stdout=subprocess.PIPE)
        apply = subprocess.run(
            ["git", "apply", "--numstat", "-"],
            stdin=cat.stdout,
            capture_output=True,
            cwd=cwd,
            env=git_env(),
            check=False,
        )
        assert cat.stdout is not None
        cat.stdout.close()
        if cat.wait() or apply.returncode:
            raise SystemExit(f"baseline failed: {apply.stderr.decode()[-500:]}")
        if not apply.stdout:
            raise SystemExit("baseline read nothing")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    args = parser.parse_args()

    print(machine_line())
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="bench-list-"))
    try:
        rng = random.Random(7)
        built = time.perf_counter()
        base, files = make_upstream(scratch / "upstream", rng)
        patches = make_series(
            scratch / "upstream", base, files, args.patches, scratch / "format-patch", rng
        )
        repo = scratch / "repo"
        ordered = make_patch_repo(repo, scratch / "upstream", base, patches)
        size = sum(p.stat().st_size for p in ordered)
        print(
            f"built {len(ordered)} patch files ({size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - built:.1f}s under {scratch}"
        )

        verda = verda_argv()
        cases: dict[str, Callable[[], None]] = {
            "verda list": lambda: run_ok([*verda, "--repo", str(repo), "list", "nova"]),
            "verda --json list": lambda: run_ok(
                [*verda, "--repo", str(repo), "--json", "list", "nova"]
            ),
            "git apply --numstat": git_baseline(ordered, scratch),
        }
        run_ok([*verda, "--repo", str(repo), "list", "nova"])  # warm the page cache once
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(args.repeat):
            order = list(cases) if round_ % 2 == 0 else list(reversed(cases))
            for name in order:
                times[name].append(timed(cases[name]))
        best = {name: min(values) for name, values in times.items()}

        print(f"\nbest of {args.repeat} (wall clock, subprocess), {len(ordered)} patches:")
        for name, value in best.items():
            runs = " ".join(f"{v:.3f}" for v in times[name])
            print(f"  {name:<22} {value:7.3f}s   ({runs})")
        ref = best["git apply --numstat"]
        print()
        print(ratio_line("list", f"n={len(ordered)} table", best["verda list"], ref))
        print(ratio_line("list", f"n={len(ordered)} json", best["verda --json list"], ref))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
