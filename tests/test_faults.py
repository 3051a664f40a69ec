"""Faults in the middle of work: dead network, damaged cache, a second writer,
a full disk. Each leaves a state that a re-run recovers, and loses nothing."""

from __future__ import annotations

import errno
import fcntl
import shutil
import subprocess
import sys
import time

import pytest

from tests.builders import side_commit, write_series
from verda_patch import store
from verda_patch.apply import apply_project
from verda_patch.config import load
from verda_patch.errors import OperationFailed
from verda_patch.mirror import Mirror


@pytest.fixture
def repo(make_upstream, make_patch_repo):
    up = make_upstream()
    base = up.rev("HEAD")
    a = side_commit(up, base, "Raise quota", {"sample/quota.py": "LIMITS = {'cores': 4}\n"})
    repo = make_patch_repo()
    repo.set_base("sample", up, base)
    write_series(repo, up, "sample", "customs", [a])
    repo.up = up  # type: ignore[attr-defined]
    return repo


def _mirror(repo):
    config = load(repo.path)
    return Mirror.for_project(config, config.project("sample"))


def test_network_failure_during_fetch_leaves_mirror_usable(repo, monkeypatch):
    first = apply_project(load(repo.path), "sample").head
    newer = repo.up.commit("Upstream moves on", {"README.rst": "new\n"})
    repo.set_base("sample", repo.up, newer)
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "none")  # the network is down
    with pytest.raises(OperationFailed, match=r"fetching .* failed") as info:
        apply_project(load(repo.path), "sample", force=True)
    assert info.value.exit_code == 1
    assert _mirror(repo).healthy()
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    assert apply_project(load(repo.path), "sample", force=True).head != first


def test_damaged_mirror_is_recloned_and_said(repo):
    apply_project(load(repo.path), "sample")
    mirror = _mirror(repo)
    (mirror.path / "HEAD").unlink()
    shutil.rmtree(repo.path / ".verda")
    notes = []
    from verda_patch.apply import Hooks

    apply_project(load(repo.path), "sample", hooks=Hooks(notify=notes.append))
    assert any("damaged" in note for note in notes)
    assert mirror.healthy()


def test_mirror_with_deleted_objects_is_recloned(repo):
    mirror = _mirror(repo)
    mirror.ensure(commits=(load(repo.path).project("sample").commit,))
    for pack in (mirror.path / "objects/pack").glob("*"):
        pack.unlink()
    for loose in (mirror.path / "objects").glob("??"):
        shutil.rmtree(loose)
    result = apply_project(load(repo.path), "sample")
    assert (result.work_tree / "sample/quota.py").read_text() == "LIMITS = {'cores': 4}\n"


def test_second_writer_waits_for_the_lock(repo):
    lock = repo.path / ".verda/lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write("verda-patch pid 4242")
        handle.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "verda_patch", "--repo", str(repo.path), "apply", "sample"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting: never interleaves
        assert not (repo.path / ".verda/work/sample").exists()
        fcntl.flock(handle, fcntl.LOCK_UN)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert b"waiting for verda-patch pid 4242" in err


def test_disk_full_while_writing_keeps_the_old_file(repo, monkeypatch):
    target = repo.path / "patches/sample/customs/0001-Raise-quota.patch"
    before = target.read_bytes()
    real_fdopen = store.os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space"):
        store.write_atomic(target, b"new content")
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_disk_full_on_a_tiny_filesystem(repo, tmp_path):
    """A real ENOSPC: a loop-free check with a size-limited file via RLIMIT_FSIZE."""
    target = repo.path / "patches/sample/customs/0001-Raise-quota.patch"
    before = target.read_bytes()
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "from pathlib import Path\n"
        "from verda_patch.store import write_atomic\n"
        f"write_atomic(Path({str(target)!r}), b'x' * 100000)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert proc.returncode != 0
    assert b"File too large" in proc.stderr or b"EFBIG" in proc.stderr
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_atomic_write_keeps_the_file_mode(repo):
    target = repo.path / "patches/sample/customs/0001-Raise-quota.patch"
    target.chmod(0o664)
    store.write_atomic(target, b"rewritten")
    assert target.stat().st_mode & 0o777 == 0o664
    fresh = target.with_name("0002-new.patch")
    store.write_atomic(fresh, b"new")
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
