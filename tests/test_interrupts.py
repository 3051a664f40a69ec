"""SIGINT/SIGTERM at random points of export and prune --yes: no file is ever
half-written, the series stays consistent, and a plain re-run finishes the job."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from tests.builders import git
from tests.commands.test_apply import _new_file_patch


def _spawn(repo, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "verda_patch", "--repo", str(repo.path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _delay(test: str, sig: int, low: float, high: float) -> float:
    """A random delay seeded per test: a failure names it and happens again on re-run."""
    return random.Random(f"{test}-{int(sig)}").uniform(low, high)


def _interpreter_start_up(err: bytes) -> bool:
    """A KeyboardInterrupt traceback from Python's own start-up (site, runpy),
    before any line of verda-patch ran: no handler of ours can exist yet."""
    return b"KeyboardInterrupt" in err and b"verda_patch" not in err


def _interrupt(proc, delay, sig):
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if b"Traceback" in err:
        assert _interpreter_start_up(err), f"after {delay:.3f}s: {err.decode()}"
        return
    # 130 from our handler; -2 when Python re-raises SIGINT at shutdown (a worker
    # thread was still joining), -2/-15 when the signal lands before Python
    # installed its handlers (nothing has run yet): all mean "interrupted"
    assert proc.returncode in (0, 130, -signal.SIGINT, -signal.SIGTERM), (delay, err.decode())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_start_up_is_not_a_traceback(make_patch_repo, sig):
    # issue 17: a SIGINT landing while click and the command modules were being
    # imported (before the handler was installed) printed a traceback
    repo = make_patch_repo()
    for step in range(12):
        delay = step * 0.012
        proc = _spawn(repo, "list")
        _interrupt(proc, delay, sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_export_interrupted_then_rerun(make_upstream, make_patch_repo, sig):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"))
    count = 120
    for i in range(count):
        repo.add_patch("sample", "customs", f"{i + 1:04d}-extra-{i}.patch", _new_file_patch(i))
    assert repo.run("apply", "sample").exit_code == 0
    folder = repo.path / "patches/sample/customs"
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    tree = repo.path / ".verda/work/sample"
    base = up.rev("1.0.0")
    # reword every commit (keeping its trailer): export must rewrite every file
    git(
        tree,
        "-c",
        "core.hooksPath=/dev/null",
        "filter-branch",
        "-f",
        "--msg-filter",
        "sed 's/^Add extra module/Add EXTRA module/'",
        f"{base}..HEAD",
        env={
            "FILTER_BRANCH_SQUELCH_WARNING": "1",
            "GIT_COMMITTER_NAME": "d",
            "GIT_COMMITTER_EMAIL": "d@example.org",
        },
    )
    _interrupt(_spawn(repo, "export", "sample"), _delay("export", sig, 0.05, 0.6), sig)
    for path in folder.iterdir():
        assert not path.name.startswith("."), f"temp file left: {path.name}"
        data = path.read_bytes()
        assert data == old[path.name] or b"EXTRA module" in data, path.name
    result = repo.run("export", "sample")
    assert result.exit_code == 0, result.stderr
    assert all(b"EXTRA module" in p.read_bytes() for p in folder.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_prune_yes_interrupted_then_rerun(make_upstream, make_patch_repo, sig):
    up = make_upstream()
    base = up.rev("1.0.0")
    repo = make_patch_repo()
    repo.set_base("sample", up, base, branch="master")
    names = []
    for i in range(60):
        sha = up.commit(f"Upstream fix {i}", {f"sample/fix_{i}.py": f"FIX = {i}\n"})
        name = f"{i + 1:04d}-fix-{i}.patch"
        repo.add_patch("sample", "cherry-pick", name, up.format_patch(sha))
        names.append(name)
    repo.series("sample", "cherry-pick", names)
    repo.set_base("sample", up, up.rev("master"), branch="master")  # the base holds them all
    assert repo.run("prune", "sample").exit_code == 0  # warm the cache: the run below only removes
    _interrupt(_spawn(repo, "prune", "sample", "--yes"), _delay("prune", sig, 0.0, 0.4), sig)
    folder = repo.path / "patches/sample/cherry-pick"
    listed = [line for line in (folder / "series").read_text().splitlines() if line]
    on_disk = sorted(p.name for p in folder.iterdir() if p.name != "series")
    assert not any(n.startswith(".") for n in on_disk), on_disk
    assert sorted(listed) == on_disk  # never a listed file missing, never an unlisted one
    result = repo.run("prune", "sample", "--yes")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in folder.iterdir() if p.name != "series"] == []


def test_an_interrupt_inside_a_callback_is_delivered_again():
    # a signal landing in an import lock's weakref callback was printed as
    # "Exception ignored ... KeyboardInterrupt" and then lost
    code = (
        "import sys, time, weakref\n"
        "from verda_patch import __main__ as entry\n"
        "import signal\n"
        "signal.signal(signal.SIGALRM, entry._interrupted)\n"
        "sys.unraisablehook = entry._unraisable\n"
        "class A: pass\n"
        "a = A()\n"
        "def cb(ref): raise KeyboardInterrupt\n"
        "r = weakref.ref(a, cb)\n"
        "try:\n"
        "    del a\n"
        "    time.sleep(5)\n"
        "    print('lost')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "interrupted\n" and proc.stderr == "", proc.stderr
