"""`archive`: a reproducible tarball of the patched tree, its manifest, and pbr's PKG-INFO."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.builders import git, side_commit, write_series
from tests.test_check import CHERRY, CUSTOM, GENERAL, Scenario, build
from verda_patch.archive import archive, base_version, is_pep440, pbr_package_name
from verda_patch.config import load
from verda_patch.errors import PatchConflict, UserError
from verda_patch.mirror import Mirror

PBR_SETUP_PY = "import setuptools\n\nsetuptools.setup(setup_requires=['pbr>=2.0.0'], pbr=True)\n"
PBR_SETUP_CFG = "[metadata]\nname = sample\nsummary = A sample\n\n[files]\npackages =\n    sample\n"


@pytest.fixture
def scenario(make_upstream, make_patch_repo) -> Scenario:
    return build(make_upstream, make_patch_repo)


@pytest.fixture
def pbr_scenario(make_upstream, make_patch_repo) -> Scenario:
    """The same three patches on an upstream that builds with pbr."""
    up = make_upstream()
    up.commit("Build with pbr", {"setup.py": PBR_SETUP_PY, "setup.cfg": PBR_SETUP_CFG})
    up.tag("1.1.0")
    base = up.rev("1.1.0")
    api = up.read(base, "sample/api.py").decode()
    a = side_commit(
        up, base, "Fix api 3", {"sample/api.py": api.replace("return 3\n", "return 33\n")}
    )
    repo = make_patch_repo()
    repo.set_base("sample", up, base, ref="1.1.0")
    write_series(repo, up, "sample", "cherry-pick", [a])
    return Scenario(up, repo, base, (a,))


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def _read(path: Path, name: str) -> bytes:
    with tarfile.open(path, "r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/" + name))
        handle = tar.extractfile(member)
        assert handle is not None
        return handle.read()


def test_two_runs_give_the_same_bytes(scenario, tmp_path, monkeypatch):
    config = load(scenario.repo.path)
    first = archive(config, "sample", tmp_path / "one" / "a.tar.gz")
    # another cache, another output folder, touched patch files: same bytes
    monkeypatch.setenv("VERDA_PATCH_CACHE", str(tmp_path / "other-cache"))
    for patch in scenario.patches.rglob("*.patch"):
        patch.touch()
    second = archive(load(scenario.repo.path), "sample", tmp_path / "two" / "b.tar.gz")
    assert first.sha256 == second.sha256
    data = (tmp_path / "one" / "a.tar.gz").read_bytes()
    assert data == (tmp_path / "two" / "b.tar.gz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == first.sha256


def test_entries_are_sorted_owned_by_root_and_dated_by_the_head_commit(scenario, tmp_path):
    result = archive(load(scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    members = _members(result.path)
    names = [m.name for m in members]
    assert names == sorted(names)
    prefix = result.prefix.rstrip("/")
    assert names[0] == prefix and all(n.startswith(prefix) for n in names)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "root", "root")}
    # the patched HEAD's committer date, which is the last patch's author date
    stamps = {m.mtime for m in members}
    assert stamps == {int(git(scenario.up.path, "log", "-1", "--format=%at", scenario.shas[-1]))}
    raw = result.path.read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    assert not raw[3] & 0x08  # no file name in the gzip header
    assert f"{prefix}/sample/gpu.py" in names  # the patched tree, customs included


def test_the_tree_is_the_patched_tree(scenario, tmp_path):
    result = archive(load(scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    for path in ("sample/api.py", "sample/quota.py", "sample/gpu.py", "README.rst"):
        assert _read(result.path, path) == scenario.up.read(scenario.shas[-1], path)


def test_manifest_names_upstream_base_and_every_patch(scenario, tmp_path):
    custom = scenario.repo.path / "custom-source" / "sample" / "etc" / "sample.conf"
    custom.parent.mkdir(parents=True)
    custom.write_text("[DEFAULT]\n")
    result = archive(load(scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    manifest = json.loads(_read(result.path, "VERDA-PATCH.json"))
    assert manifest == result.manifest
    assert manifest["project"] == "sample"
    assert manifest["upstream"] == str(scenario.up.path)
    assert manifest["base"] == {"commit": scenario.base, "ref": "1.0.0", "branch": "master"}
    assert manifest["head"] == result.head
    assert manifest["version"] == result.version
    files = [p["file"] for p in manifest["patches"]]
    assert files == [CHERRY, GENERAL, CUSTOM]
    for entry in manifest["patches"]:
        data = (scenario.patches / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["custom_source"] == [
        {
            "path": "custom-source/sample/etc/sample.conf",
            "sha256": hashlib.sha256(b"[DEFAULT]\n").hexdigest(),
        }
    ]
    assert _read(result.path, "etc/sample.conf") == b"[DEFAULT]\n"


def test_version_and_default_file_name(scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = archive(load(scenario.repo.path), "sample")
    assert result.version == f"1.0.0+verda.3.g{result.head[:10]}"
    assert is_pep440(result.version)
    # issue 17: in dist/ of the patch repo, which git ignores: a tag is not blocked
    assert result.path == scenario.repo.path / "dist" / f"sample-{result.version}.tar.gz"
    assert git(scenario.repo.path, "status", "--porcelain", "--untracked-files=all") == ""
    assert result.prefix == f"sample-{result.version}/"
    assert result.pbr_name is None  # no setup.py: no PKG-INFO
    assert not any(m.name.endswith("/PKG-INFO") for m in _members(result.path))


def test_given_version_is_checked(scenario, tmp_path):
    config = load(scenario.repo.path)
    result = archive(config, "sample", tmp_path / "a.tar.gz", version="1.0.0+verda.7")
    assert result.prefix == "sample-1.0.0+verda.7/"
    with pytest.raises(UserError, match="PEP 440"):
        archive(config, "sample", tmp_path / "b.tar.gz", version="not a version")


def test_base_version_without_ref_follows_pbr(scenario):
    config = load(scenario.repo.path)
    project = config.project("sample")
    mirror = Mirror.for_project(config, project).ensure(commits=(project.commit,)).path
    assert base_version(mirror, project) == "1.0.0"
    from dataclasses import replace

    assert base_version(mirror, replace(project, ref=None)) == "1.0.0"
    scenario.up.commit("After the release", {"NEWS": "x\n"})
    later = scenario.up.rev("HEAD")
    Mirror.for_project(config, project).ensure(commits=(later,))
    assert base_version(mirror, replace(project, ref="master", commit=later)) == "1.0.1.dev1"


def test_conflict_stops_the_archive(scenario, tmp_path):
    path = scenario.patches / GENERAL
    path.write_text(path.read_text().replace(" LIMITS = {'cores': 20", " LIMITS = {'cores': 99"))
    with pytest.raises(PatchConflict) as info:
        archive(load(scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    assert info.value.patch == GENERAL
    assert not (tmp_path / "a.tar.gz").exists()
    assert not list(tmp_path.glob(".a.tar.gz.*"))


def test_pbr_project_gets_pkg_info(pbr_scenario, tmp_path):
    result = archive(load(pbr_scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    assert result.pbr_name == "sample"
    assert result.version.startswith("1.1.0+verda.1.g")
    info = _read(result.path, "PKG-INFO").decode()
    assert "Name: sample\n" in info and f"Version: {result.version}\n" in info


def test_pbr_detection():
    assert (
        pbr_package_name({"setup.py": PBR_SETUP_PY.encode(), "setup.cfg": PBR_SETUP_CFG.encode()})
        == "sample"
    )
    assert pbr_package_name({"setup.cfg": b"[metadata]\nname = x\n\n[pbr]\n"}) == "x"
    assert pbr_package_name({"setup.cfg": b"[metadata]\nname = x\n"}) is None
    assert pbr_package_name({"setup.py": PBR_SETUP_PY.encode()}) is None  # no name to give
    assert pbr_package_name({"setup.py": b"x", "setup.cfg": b"[pbr]\n[metadata\n"}) is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pip_builds_the_pbr_version_from_the_archive(pbr_scenario, tmp_path):
    """What a package job does: unpack, build a wheel offline; pbr finds no git, reads PKG-INFO."""
    pytest.importorskip("pbr")
    pytest.importorskip("wheel")
    result = archive(load(pbr_scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    unpacked = tmp_path / "unpacked"
    with tarfile.open(result.path, "r:gz") as tar:
        tar.extractall(unpacked, filter="data")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(tmp_path / "wheels"),
            str(unpacked / result.prefix),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    assert wheel.name.startswith(f"sample-{result.version}-")


def test_gzip_stream_is_a_plain_tar(scenario, tmp_path):
    result = archive(load(scenario.repo.path), "sample", tmp_path / "a.tar.gz")
    raw = gzip.decompress(result.path.read_bytes())
    assert len(raw) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        assert all(m.isfile() or m.isdir() or m.issym() for m in tar.getmembers())
