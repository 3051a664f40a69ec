"""`verda-patch --json list` on 1,000 patch files written by others, side by side with raw git.

    python benchmarks/bench_list_third_party.py DEB_REPO... [--git GIT_REPO]
                                                [--patches 1000] [--repeat 3]

DEB_REPO: clones of the Debian packaging of OpenStack projects
(``git clone https://opendev.org/openstack-archive/deb-keystone``, and
deb-cinder, deb-neutron, deb-glance, deb-swift). GIT_REPO: a clone of git/git,
whose ``t/t5100`` and ``t/t4256`` mails are added to the mix. The distinct
files (DEP-3 headers, quilt ``Index:``/``===`` diffs, ``git diff`` output,
gitweb and format-patch mails, MIME mails) are repeated in turn until there
are ``--patches`` of them, as ``NNNN-<name>.patch`` in ``customs/`` of a patch
repo (list reads no upstream).

Timed, best of ``--repeat``, alternating who goes first:

- ours: ``verda-patch --repo R --json list PROJECT``, a fresh process: start-up,
  config, every file parsed (subject, author, date, message, trailers, DEP-3
  fields, files), the JSON document;
- git: for the same files, ``git mailinfo -b`` (one process per file: git has no
  batch mode for it) and one ``git apply --numstat`` of all the patches it
  split off; that is what ``git am`` reads before it applies.

Prints the machine, both timings, a ``RATIO`` line and a ``TARGET`` line (the
issue's bar: under 1 s for 1,000 files on 2 cores). Nothing is asserted.
Only git's mails that ``git am`` takes are used (t5100 also holds mails
without a diff, which would time the error path).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Case, alternate, machine_line, ratio_line, target_line, user_git_env, verda

from verda_patch.gitverdict import ask_git

PROJECT = "adopted"


def collect(repos: list[Path], git_repo: Path | None, into: Path) -> list[tuple[str, bytes]]:
    """Distinct patch files: every debian/patches file at any tag, git's sample mails."""
    seen: dict[str, tuple[str, bytes]] = {}
    for repo in repos:
        tags = subprocess.run(
            ["git", "-C", str(repo), "tag"], capture_output=True, text=True, check=True
        ).stdout.split()
        for tag in tags:
            out = subprocess.run(
                ["git", "-C", str(repo), "ls-tree", f"{tag}:debian/patches"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            for line in out.splitlines():
                meta, name = line.split("\t", 1)
                _mode, kind, sha = meta.split()
                if kind == "blob" and name != "series" and sha not in seen:
                    blob = subprocess.run(
                        ["git", "-C", str(repo), "cat-file", "blob", sha],
                        capture_output=True,
                        check=True,
                    ).stdout
                    seen[sha] = (name, blob)
    if git_repo is not None:
        tree = subprocess.run(
            ["git", "-C", str(git_repo), "archive", "HEAD", "t/t5100", "t/t4256"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "x"], cwd=into, input=tree, check=True)
        split = into / "split"
        split.mkdir()
        subprocess.run(
            ["git", "mailsplit", f"-o{split}", str(into / "t/t5100/sample.mbox")],
            capture_output=True,
            check=True,
        )
        mails = [*sorted(split.iterdir()), into / "t/t4256/1/patch"]
        for mail in mails:
            data = mail.read_bytes()
            if not ask_git(data).refused:  # mails git am takes (t5100 has a few without a diff)
                seen[f"git-{mail.name}"] = (f"mail-{mail.name}", data)
    return list(seen.values())


def write_repo(root: Path, files: list[tuple[str, bytes]], count: int) -> list[Path]:
    folder = root / "patches" / PROJECT / "customs"
    folder.mkdir(parents=True)
    (root / "base-commit").write_text(
        f"{PROJECT}:\n  upstream: https://opendev.org/openstack/{PROJECT}\n  commit: {'0' * 39}1\n"
    )
    paths = []
    for i in range(count):
        name, data = files[i % len(files)]
        stem = name.removesuffix(".patch").removesuffix(".diff")
        path = folder / f"{i + 1:04d}-{stem}.patch"
        path.write_bytes(data)
        paths.append(path)
    return paths


def git_reads(paths: list[Path], scratch: Path) -> None:
    """What git am reads first: mailinfo per file, then the patches' numstat."""
    env = user_git_env()
    patches = []
    for i, path in enumerate(paths):
        patch = scratch / f"p{i}"
        with path.open("rb") as mail:
            subprocess.run(
                ["git", "mailinfo", "-b", str(scratch / "msg"), str(patch)],
                stdin=mail,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                check=False,
            )
        patches.append(patch)
    data = b"".join(p.read_bytes() for p in patches if p.exists())
    subprocess.run(
        ["git", "apply", "--numstat", "-"],
        input=data,
        cwd=scratch,
        capture_output=True,
        env=env,
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", type=Path, help="clones of openstack-archive/deb-*")
    parser.add_argument("--git", type=Path, help="a clone of git/git (its mail samples)")
    parser.add_argument("--patches", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="verda-bench-3p-") as tmp:
        root = Path(tmp)
        files = collect([r.resolve() for r in args.repos], args.git, root)
        repo = root / "repo"
        paths = write_repo(repo, files, args.patches)
        cache = root / "cache"
        scratch = root / "scratch"
        scratch.mkdir()
        result = verda(repo, "--json", "list", PROJECT, cache=cache, check=False)
        doc = json.loads(result.stdout)
        listed = doc["projects"][0]["patches"]
        unreadable = len(doc.get("errors", []))
        dep3 = sum(1 for p in listed if p.get("dep3"))
        authored = sum(1 for p in listed if p["author"])
        print(
            f"input: {len(paths)} files ({len(files)} distinct); listed {len(listed)}, "
            f"unreadable {unreadable}, with a DEP-3 header {dep3}, with an author {authored}"
        )
        ours = Case(
            "verda --json list", lambda: verda(repo, "--json", "list", PROJECT, cache=cache)
        )

        def reset() -> None:
            shutil.rmtree(scratch)
            scratch.mkdir()

        ref = Case("git mailinfo + apply --numstat", lambda: git_reads(paths, scratch), setup=reset)
        alternate([(ours, ref)], args.repeat)
        print(f"verda-patch --json list: best {ours.best:.3f}s  (cpu {min(ours.cpu):.3f}s)")
        print(f"git mailinfo x{len(paths)} + apply --numstat: best {ref.best:.3f}s")
        print(ratio_line("list-third-party", f"n={len(paths)} json", ours.best, ref.best))
        print(target_line("list-third-party", f"n={len(paths)} json", ours.best, 1.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
