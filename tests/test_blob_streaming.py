"""`review` and `archive` stream blobs: a huge file is never whole in memory
(issue 18: a 2 GB sparse file took 4.2 GB of RSS)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile

import pytest

BIG = 64 << 20

# runs verda-patch in a fresh interpreter and prints the peak RSS of that process
# alone (KiB): git's own children (hashing the file) are not counted
_MEASURE = """
import resource, sys
from verda_patch.cli import cli
try:
    cli(sys.argv[1:], prog_name="verda-patch")
except SystemExit as exc:
    code = exc.code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code, file=sys.stderr)
"""


def _peak_kib(*args: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, env=os.environ
    )
    *_, last = proc.stderr.strip().splitlines()
    peak, code = last.split()
    assert code in ("0", "None"), proc.stderr
    return int(peak)


@pytest.fixture
def repo_with_custom_file(make_upstream, make_patch_repo):
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    folder = repo.path / "custom-source" / "sample" / "data"
    folder.mkdir(parents=True)
    return repo, folder / "blob.bin"


@pytest.mark.parametrize("command", ["review", "archive"])
def test_a_huge_file_is_streamed(repo_with_custom_file, tmp_path, command):
    repo, big = repo_with_custom_file
    extra = ["-o", str(tmp_path / "out.tar.gz")] if command == "archive" else []
    big.write_bytes(b"small\n")
    small = _peak_kib("--repo", str(repo.path), command, "sample", *extra)
    with big.open("wb") as handle:
        handle.truncate(BIG)  # sparse: 64 MiB of NULs
    large = _peak_kib("--repo", str(repo.path), command, "sample", *extra)
    # holding the blob would add 64 MiB or more (it did: one copy per stage)
    assert (large - small) * 1024 < BIG // 4, (small, large)
    if command == "review":
        written = repo.path / "review" / "sample" / "data" / "blob.bin"
        assert written.stat().st_size == BIG
        assert _peak_kib("--repo", str(repo.path), "review", "sample", "--check") > 0
    else:
        with tarfile.open(tmp_path / "out.tar.gz") as tar:
            member = tar.getmember(next(n for n in tar.getnames() if n.endswith("blob.bin")))
            assert member.size == BIG
