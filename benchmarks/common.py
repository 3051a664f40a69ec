"""Shared pieces for the benchmarks: generated repos, timing, machine facts, ratio lines.

Every ``bench_*.py`` builds what it needs in a scratch directory, times
verda-patch against the raw git commands a user would type **in the same run**
(alternating the two so machine noise hits both), and prints one ``RATIO`` line
per comparison (see :func:`ratio_line`); ``run_all.py`` collects those lines.

Building blocks, usable on their own:

- :func:`make_upstream` — an upstream with a few hundred files and some
  history, written with one ``git fast-import`` (a second or so).
- :func:`make_series` — N commits on top of the upstream's base (small edits
  across many files, a few new files, renames, a deletion now and then) and
  their ``git format-patch`` files.
- :func:`write_patch_repo` — a patch repo (``base-commit`` +
  ``patches/<project>/<category>/``) holding a prefix of those files.
- :func:`verda` / :func:`git` / :func:`timed` / :func:`alternate` / :func:`best`.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# --- running things -----------------------------------------------------------------


def verda_argv() -> list[str]:
    """How to start verda-patch: the console script next to this Python, if any.

    A version manager's shim (pyenv's ``shims/verda-patch`` is a bash script that
    re-executes ``pyenv exec``) adds 30-50 ms that is not ours; the script in the
    interpreter's own ``bin/`` is what a venv or a package install runs.
    """
    script = Path(sys.executable).parent / "verda-patch"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("verda-patch")
    return [found] if found else [sys.executable, "-m", "verda_patch"]


def user_git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment raw git runs with: the user's, plus an identity if none is set.

    Raw git keeps the user's config and defaults (no handicap, no help); only
    ``GIT_DIR``-style variables that would redirect it are dropped.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    }
    have = subprocess.run(["git", "config", "user.email"], capture_output=True, env=env)
    if have.returncode:
        env.setdefault("GIT_AUTHOR_NAME", "Bench")
        env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.org")
        env.setdefault("GIT_COMMITTER_NAME", "Bench")
        env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.org")
    env.update(extra or {})
    return env


def scratch_git_env() -> dict[str, str]:
    """A hermetic environment for *building* fixtures (never for timed raw git)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
        GIT_AUTHOR_NAME="Bench Builder",
        GIT_AUTHOR_EMAIL="builder@example.org",
        GIT_COMMITTER_NAME="Bench Builder",
        GIT_COMMITTER_EMAIL="builder@example.org",
    )
    return env


def git(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    quiet: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run git in ``cwd`` (fixture env unless ``env`` is given); raise with stderr on failure."""
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=master", *args],
        cwd=cwd,
        env=dict(env) if env is not None else scratch_git_env(),
        input=input,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if quiet else None,
        check=False,
    )
    if check and proc.returncode:
        raise RuntimeError(
            f"git {' '.join(args)} failed in {cwd} (exit {proc.returncode}):\n"
            + (proc.stderr or b"").decode("utf-8", "replace")[-2000:]
        )
    return proc


def git_out(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    return git(cwd, *args, env=env).stdout.decode("utf-8", "surrogateescape").strip()


PYCACHE = Path(tempfile.gettempdir()) / "verda-patch-bench" / "pycache"


def python_env(bytecode: bool = True) -> dict[str, str]:
    """The environment for starting verda-patch (or any Python) as an installed tool runs.

    A pip install ships compiled bytecode; an editable install writes it on first
    import. Where ``PYTHONDONTWRITEBYTECODE`` is set (CI images and containers often
    set it) every run would recompile verda-patch's sources (~50 ms), so with
    ``bytecode=True`` the cache goes to a scratch ``PYTHONPYCACHEPREFIX`` instead.
    """
    env = dict(os.environ)
    if bytecode and (env.get("PYTHONDONTWRITEBYTECODE") or sys.flags.dont_write_bytecode):
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    elif not bytecode:
        # verda-patch's own modules compiled on every run (the library's and
        # stdlib's bytecode is still used), as where PYTHONDONTWRITEBYTECODE is set
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def verda(
    repo: Path, *args: str, cache: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """``verda-patch --repo REPO ARGS`` as a user runs it, with its cache at ``cache``."""
    full_env = python_env()
    full_env["VERDA_PATCH_CACHE"] = str(cache)
    full_env.update(env or {})
    proc = subprocess.run(
        [*verda_argv(), "--repo", str(repo), *args],
        env=full_env,
        capture_output=True,
        check=False,
    )
    if check and proc.returncode:
        raise RuntimeError(
            f"verda-patch {' '.join(args)} failed (exit {proc.returncode}):\n"
            + proc.stderr.decode("utf-8", "replace")[-2000:]
        )
    return proc


def wait_for_gc(repo: Path, timeout: float = 300) -> None:
    """Wait until a detached ``git gc --auto`` in ``repo`` (its common dir) has finished.

    Raw ``git am`` of a long series triggers one (verda-patch turns it off in its
    throw-away trees); it must not steal the CPU from the next measurement.
    """
    time.sleep(0.2)  # am forks the detached gc just before it exits
    deadline = time.monotonic() + timeout
    while (repo / "gc.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def rmtree(path: Path) -> None:
    if path.exists() or path.is_symlink():
        shutil.rmtree(path)


# --- timing -------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def children_cpu() -> float:
    """CPU seconds (user + sys) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Case:
    """One timed thing: ``setup`` (untimed), ``os.sync()``, ``run`` (timed), ``after`` (untimed).

    Records wall-clock seconds and the CPU seconds of the child processes it
    started (less sensitive to a busy machine than wall time).
    """

    name: str
    run: Callable[[], object]
    setup: Callable[[], object] | None = None
    after: Callable[[], object] | None = None
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def once(self) -> float:
        if self.setup:
            self.setup()
        # Write back what setup (or the previous case) left dirty before the clock
        # starts: deleting a 4,600-file tree on ext4 mounted with 'discard' otherwise
        # slows down whichever case runs next (seen: 3x on a nova work tree).
        os.sync()
        cpu = children_cpu()
        elapsed = timed(self.run)
        self.cpu.append(children_cpu() - cpu)
        self.times.append(elapsed)
        if self.after:
            self.after()
        return elapsed

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def alternate(pairs: Sequence[tuple[Case, Case]], repeat: int) -> None:
    """Run each (ours, reference) pair ``repeat`` times, swapping who goes first each round.

    Pairs run in the order given inside a round, so a pair may rely on the state
    the previous pair left (a warm cache after a cold run).
    """
    for round_ in range(repeat):
        for ours, ref in pairs:
            first, second = (ours, ref) if round_ % 2 == 0 else (ref, ours)
            first.once()
            second.once()


def best(values: Iterable[float]) -> float:
    return min(values)


def ratio_line(bench: str, label: str, ours: float, ref: float, target: float | None = None) -> str:
    """The one line format ``run_all.py`` collects::

    RATIO apply n=400 cold: verda 1.234s / git 1.100s = 1.12x (target <= 1.2x) ok
    """
    ratio = ours / ref if ref else float("inf")
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target:g}x) " + ("ok" if ratio <= target else "MISSED")
    return f"RATIO {bench} {label}: verda {ours:.3f}s / git {ref:.3f}s = {ratio:.2f}x{verdict}"


def target_line(bench: str, label: str, value: float, limit: float) -> str:
    """An absolute target (seconds), also collected by ``run_all.py``::

    TARGET startup verda-patch --help: 0.062s (target < 0.3s) ok
    """
    verdict = "ok" if value < limit else "MISSED"
    return f"TARGET {bench} {label}: {value:.3f}s (target < {limit:g}s) {verdict}"


RATIO_RE = re.compile(
    r"^RATIO (?P<bench>\S+) (?P<label>.*?): verda (?P<ours>[\d.]+)s / (?P<refname>\S+) "
    r"(?P<ref>[\d.]+)s = (?P<ratio>[\d.]+|inf)x(?: \(target <= (?P<target>[\d.]+)x\) "
    r"(?P<verdict>\S+))?$"
)


def seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def print_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1
) -> None:
    """A plain-text table (no rich needed: benchmarks run where only git and Python are).

    The first ``left`` columns are left-aligned, the others (figures) right-aligned.
    """
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                str(c).rjust(w) if i >= left else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


# --- the machine --------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the figures depend on: cores, CPU model, Python, git, kernel."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    return {
        "nproc": str(os.cpu_count() or 0),
        "cpu": cpu,
        "python": platform.python_version(),
        "git": git_version.strip().removeprefix("git version "),
        "kernel": platform.release(),
        "verda_patch": source_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def source_version() -> str:
    """The verda-patch being measured: package version and the commit of its source tree."""
    try:
        import verda_patch
    except ImportError:
        return "not importable"
    src = Path(verda_patch.__file__).resolve().parent
    proc = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=src, capture_output=True, text=True
    )
    commit = proc.stdout.strip() if proc.returncode == 0 else "no git"
    return f"{verda_patch.__version__} ({commit})"


def machine_line() -> str:
    m = machine()
    return (
        f"machine: nproc={m['nproc']} cpu={m['cpu']!r} python={m['python']} "
        f"git={m['git']} kernel={m['kernel']} load={m['load']}\n"
        f"verda-patch: {m['verda_patch']}"
    )


def save_results(path: Path, bench: str, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"bench": bench, "machine": machine(), "data": data}, indent=2))


# --- generated upstream --------------------------------------------------------------

_WORDS = (
    "instance",
    "host",
    "flavor",
    "image",
    "volume",
    "port",
    "network",
    "quota",
    "request",
    "spec",
    "cell",
    "allocation",
    "resource",
    "provider",
    "migration",
    "server",
    "compute",
    "scheduler",
    "conductor",
    "driver",
    "block",
    "device",
    "mapping",
    "aggregate",
    "hypervisor",
    "keypair",
    "service",
    "tenant",
    "project",
    "user",
    "token",
    "policy",
    "limit",
    "claim",
    "numa",
    "topology",
    "pci",
    "vgpu",
    "vif",
)
_AREAS = (
    "api",
    "compute",
    "conductor",
    "scheduler",
    "virt/libvirt",
    "virt/ironic",
    "network",
    "objects",
    "db",
    "conf",
    "policies",
    "tests/unit",
    "tests/functional",
)
AUTHORS = (
    ("Zoë Ångström", "zoe@example.org"),
    ("Takashi Kajinami", "tkajinam@example.org"),
    ("Sylvain Bauza", "sbauza@example.org"),
    ("Balazs Gibizer", "gibi@example.org"),
    ("René Ribaud", "rene@example.org"),
    ("Dan Smith", "dms@example.org"),
)
START = 1_700_000_000  # fixed epoch: the same arguments give the same repos


def _line(rng: random.Random, uid: str) -> str:
    """One line of plausible Python, unique thanks to ``uid`` (keeps hunks unambiguous)."""
    a, b, c = rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_WORDS)
    kind = rng.randrange(6)
    if kind == 0:
        return f"    def {a}_{b}_{uid}(self, {c}):"
    if kind == 1:
        return f"        LOG.debug('{a} {b} %s', {c})  # {uid}"
    if kind == 2:
        return f"        {a}_{uid} = self.{b}.get_{c}(context)"
    if kind == 3:
        return f"        if not {a}_{uid}:"
    if kind == 4:
        return f"            raise exception.{a.title()}{b.title()}NotFound({c}={c})  # {uid}"
    return f"        return {{'{a}': {b}, '{c}': {uid!r}}}"


def _new_file(rng: random.Random, path: str, lines: int, stamp: str) -> list[str]:
    head = [
        "# Copyright 2024 OpenStack Foundation",
        "#",
        '#    Licensed under the Apache License, Version 2.0 (the "License");',
        "",
        f'"""{path}: generated for the verda-patch benchmarks."""',
        "",
        "from oslo_log import log as logging",
        "",
        "LOG = logging.getLogger(__name__)",
        "",
        "",
        f"class {Path(path).stem.title().replace('_', '')}(object):",
    ]
    return head + [_line(rng, f"{stamp}_{i}") for i in range(lines)]


def _data(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return b"data %d\n" % len(raw) + raw + b"\n"


@dataclass
class Tree:
    """File contents as lists of lines, the state the generator edits."""

    files: dict[str, list[str]]

    def blob(self, path: str) -> bytes:
        return ("\n".join(self.files[path]) + "\n").encode()


def make_upstream(
    path: Path, *, files: int = 400, history: int = 40, lines: int = 150, seed: int = 1
) -> tuple[str, Tree]:
    """A bare-free upstream repo at ``path`` with ``files`` files and ``history`` commits.

    Returns (base commit id, file state at the base). The base is tagged ``base``
    and is the tip of ``master``.
    """
    rng = random.Random(seed)
    rmtree(path)
    path.mkdir(parents=True)
    git(path, "init", "-q")
    tree = Tree({})
    for i in range(files):
        area = _AREAS[i % len(_AREAS)]
        name = f"proj/{area}/{rng.choice(_WORDS)}_{rng.choice(_WORDS)}_{i}.py"
        tree.files[name] = _new_file(rng, name, rng.randint(lines // 2, lines * 3 // 2), f"u{i}")
    stream = bytearray()
    for n in range(history):
        author = AUTHORS[n % len(AUTHORS)]
        stamp = START + n * 3600
        if n == 0:
            touched = list(tree.files)
            subject = "Initial import"
        else:
            touched = rng.sample(sorted(tree.files), k=min(len(tree.files), rng.randint(2, 12)))
            for name in touched:
                _edit(rng, tree.files[name], f"h{n}")
            subject = f"{rng.choice(_WORDS)}: tidy {rng.choice(_WORDS)} handling"
        stream += b"commit refs/heads/master\n"
        stream += f"mark :{n + 1}\n".encode()
        stream += f"author {author[0]} <{author[1]}> {stamp} +0000\n".encode()
        stream += f"committer Upstream CI <ci@example.org> {stamp} +0000\n".encode()
        stream += _data(f"{subject}\n\nChange-Id: I{rng.getrandbits(160):040x}\n")
        if n:
            stream += f"from :{n}\n".encode()
        for name in touched:
            stream += f"M 100644 inline {name}\n".encode() + _data(tree.blob(name))
        stream += b"\n"
    git(path, "fast-import", "--quiet", input=bytes(stream))
    git(path, "reset", "-q", "--hard", "master")
    git(path, "tag", "base")
    git(path, "gc", "-q")
    return git_out(path, "rev-parse", "base^{commit}"), tree


def _edit(rng: random.Random, lines: list[str], uid: str) -> None:
    """A small realistic edit: 1-3 hunks of a few changed, added or removed lines."""
    for h in range(rng.randint(1, 3)):
        if len(lines) < 20:
            lines.append(_line(rng, f"{uid}_{h}_t"))
            continue
        at = rng.randrange(12, len(lines) - 1)
        kind = rng.randrange(3)
        if kind == 0:  # change a couple of lines
            for k in range(rng.randint(1, 3)):
                if at + k < len(lines):
                    lines[at + k] = _line(rng, f"{uid}_{h}_{k}")
        elif kind == 1:  # add a few
            lines[at:at] = [_line(rng, f"{uid}_{h}_{k}") for k in range(rng.randint(1, 6))]
        else:  # remove a few
            del lines[at : at + rng.randint(1, 3)]


@dataclass(frozen=True)
class Series:
    """``count`` format-patch files, in order, made on ``base``."""

    base: str
    files: tuple[Path, ...]
    kinds: dict[str, int]


def make_series(
    upstream: Path,
    base: str,
    tree: Tree,
    out_dir: Path,
    *,
    count: int,
    seed: int = 2,
    scratch: Path | None = None,
) -> Series:
    """``count`` commits on ``base`` written with ``git format-patch`` into ``out_dir``.

    The mix (per patch): 88% edits of 1-4 existing files (1-3 hunks each), 6% a
    new file (plus an edit elsewhere), 4% a rename with a small edit, 2% a file
    removed. Commits are made in a scratch clone so the upstream (and any
    mirror of it) never holds the patches' objects — ``git am`` must write them.
    """
    rng = random.Random(seed)
    state = Tree({k: list(v) for k, v in tree.files.items()})
    scratch = scratch or out_dir.with_name(out_dir.name + ".scratch.git")
    rmtree(scratch)
    rmtree(out_dir)
    git(upstream.parent, "clone", "-q", "--bare", str(upstream), str(scratch))
    kinds = {"edit": 0, "new": 0, "rename": 0, "delete": 0}
    stream = bytearray()
    for n in range(count):
        author = AUTHORS[(n * 7 + 3) % len(AUTHORS)]
        stamp = START + 10_000_000 + n * 600
        roll = rng.random()
        ops: list[bytes] = []
        area = rng.choice(_AREAS)
        if roll < 0.06:
            kind = "new"
            name = f"proj/{area}/verda_{rng.choice(_WORDS)}_{n}.py"
            state.files[name] = _new_file(rng, name, rng.randint(20, 120), f"n{n}")
            edited = [name, rng.choice(sorted(state.files))]
            subject = f"{area}: add {Path(name).stem}"
        elif roll < 0.10:
            kind = "rename"
            old = rng.choice(sorted(state.files))
            new = f"{Path(old).parent}/renamed_{n}_{Path(old).name}"
            state.files[new] = state.files.pop(old)
            _edit(rng, state.files[new], f"r{n}")
            ops.append(f"R {old} {new}\n".encode())
            edited = [new]
            subject = f"{area}: move {Path(old).stem} to {Path(new).stem}"
        elif roll < 0.12 and len(state.files) > 50:
            kind = "delete"
            gone = rng.choice(sorted(state.files))
            del state.files[gone]
            ops.append(f"D {gone}\n".encode())
            edited = [rng.choice(sorted(state.files))]
            subject = f"{area}: drop unused {Path(gone).stem}"
        else:
            kind = "edit"
            edited = rng.sample(sorted(state.files), k=rng.choice((1, 1, 1, 2, 2, 3, 4)))
            subject = f"{area}: fix {rng.choice(_WORDS)} {rng.choice(_WORDS)} handling"
        kinds[kind] += 1
        for name in edited:
            if kind != "new" or name != edited[0]:
                before = list(state.files[name])
                _edit(rng, state.files[name], f"p{n}")
                if state.files[name] == before:  # a hunk removed what the one before added
                    state.files[name].append(_line(rng, f"p{n}_again"))
        for name in dict.fromkeys(edited):
            ops.append(f"M 100644 inline {name}\n".encode() + _data(state.blob(name)))
        body = (
            f"{subject}\n\n"
            f"The {rng.choice(_WORDS)} code path did not handle the {rng.choice(_WORDS)}\n"
            f"case when the {rng.choice(_WORDS)} was missing; patch {n} fixes that.\n\n"
            f"Closes-Bug: #{2_000_000 + n}\n"
            f"Change-Id: I{rng.getrandbits(160):040x}\n"
            f"Signed-off-by: {author[0]} <{author[1]}>\n"
        )
        stream += b"commit refs/heads/series\n"
        stream += f"author {author[0]} <{author[1]}> {stamp} +0000\n".encode()
        stream += f"committer {author[0]} <{author[1]}> {stamp} +0000\n".encode()
        stream += _data(body)
        if n == 0:
            stream += f"from {base}\n".encode()
        stream += b"".join(ops) + b"\n"
    git(scratch, "fast-import", "--quiet", input=bytes(stream))
    out_dir.mkdir(parents=True)
    git(scratch, "format-patch", "-q", "-o", str(out_dir), f"{base}..series")
    # by number, not name: past 9999 format-patch writes 10000-x.patch, which a plain
    # sort puts between 1000-x.patch and 1001-x.patch
    files = tuple(sorted(out_dir.glob("*.patch"), key=lambda p: int(p.name.split("-", 1)[0])))
    if len(files) != count:
        raise RuntimeError(f"format-patch wrote {len(files)} files, expected {count}")
    return Series(base, files, kinds)


def write_patch_repo(
    root: Path,
    *,
    project: str,
    upstream: str,
    base: str,
    patches: Sequence[Path],
    category: str = "customs",
    ref: str | None = None,
) -> Path:
    """A patch repo at ``root`` whose ``project`` carries ``patches`` (copied, in order)."""
    rmtree(root)
    folder = root / "patches" / project / category
    folder.mkdir(parents=True)
    lines = [f"{project}:", f"  upstream: {upstream}", f"  commit: {base}"]
    if ref:
        lines.append(f"  ref: {ref}")
    (root / "base-commit").write_text("\n".join(lines) + "\n")
    (root / ".gitignore").write_text(".verda/\n")
    width = max(4, len(str(len(patches))))
    for i, source in enumerate(patches, 1):
        # renumber: a prefix of a longer series, or a filtered real one, stays 0001..N
        slug = re.sub(r"^\d+-", "", source.name)
        shutil.copyfile(source, folder / f"{i:0{width}d}-{slug}")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"bench: {len(patches)} patches")
    return root
