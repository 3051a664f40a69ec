"""`verda-patch cache list|prune` and one mirror per normalised upstream (issue 18)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verda_patch import cache, mirror, upstreams


@pytest.fixture
def upstream(make_upstream):
    return make_upstream("up")


def _repo_with(make_patch_repo, upstream, spelling: str):
    repo = make_patch_repo()
    repo.set_base("nova", spelling, upstream.rev("HEAD"))
    return repo


def _mirrors(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("*.git"))


def test_one_mirror_for_every_spelling_of_a_local_upstream(make_patch_repo, upstream, tmp_path):
    path = upstream.path
    spellings = [
        str(path),
        f"file://{path}",
        f"file://{path.parent}/./{path.name}",
        f"{path}/",
        f"{path.parent}//{path.name}",
    ]
    for spelling in spellings:
        result = _repo_with(make_patch_repo, upstream, spelling).run("apply", "nova")
        assert result.exit_code == 0, result.stderr
    assert len(_mirrors(tmp_path)) == 1  # was one full clone per spelling


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://opendev.org/openstack/nova", "https://OpenDev.org:443/openstack/nova.git"),
        ("https://opendev.org/openstack/nova", "https://ci:s3cret@opendev.org/openstack//nova/"),
        ("ssh://git@host:22/x/nova", "git@host:x/nova.git"),
        ("/x/up", "file:///x/./up/"),
    ],
)
def test_spellings_of_one_upstream_share_a_key(a, b):
    assert mirror.key(a) == mirror.key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("/x/up", "/x/up.git"),  # two directories
        ("https://host/a/nova", "https://host/b/nova"),
        ("https://host/nova", "https://host:8443/nova"),
    ],
)
def test_other_upstreams_do_not_share_a_key(a, b):
    assert mirror.key(a) != mirror.key(b)


def test_key_never_contains_a_credential():
    assert "s3cret" not in upstreams.normalise("https://ci:s3cret@host/nova")
    assert upstreams.redact("fetching https://ci:s3cret@host/nova failed") == (
        "fetching https://host/nova failed"
    )
    assert upstreams.redact("ssh://me:pw@host/x and git@host:y") == "ssh://me@host/x and git@host:y"


@pytest.fixture
def warm(make_patch_repo, upstream, tmp_path):
    repo = _repo_with(make_patch_repo, upstream, str(upstream.path))
    assert repo.run("apply", "nova").exit_code == 0
    (path,) = _mirrors(tmp_path)
    return repo, path


def test_cache_list_shows_mirror_size_upstream_and_times(warm):
    repo, path = warm
    result = repo.run("--json", "cache", "list")
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["kind"] == "mirror"
    assert entry["name"] == path.name.removesuffix(".git")
    assert entry["size"] > 0
    assert entry["upstream"] == str(repo.bases["nova"]["upstream"])
    assert entry["last_used"] and entry["last_fetch"]
    text = repo.run("cache", "list")
    assert text.exit_code == 0 and entry["name"] in text.stdout


def test_cache_list_redacts_a_credential_an_old_mirror_kept(warm):
    repo, path = warm
    subprocess.run(
        ["git", "config", "remote.origin.url", "https://ci:s3cret@git.example.org/nova"],
        cwd=path,
        check=True,
    )
    for args in (("--json", "cache", "list"), ("cache", "list")):
        result = repo.run(*args)
        assert "s3cret" not in result.output
        assert "git.example.org/nova" in result.output


def test_prune_is_a_dry_run_without_yes(warm):
    repo, path = warm
    name = path.name.removesuffix(".git")
    result = repo.run("cache", "prune", name)
    assert result.exit_code == 0, result.stderr
    assert f"would remove mirror {name}" in result.stdout
    assert "re-run with --yes" in result.stderr
    assert path.is_dir()


def test_prune_yes_removes_the_named_mirror_and_says_so(warm):
    repo, path = warm
    name = path.name.removesuffix(".git")
    result = repo.run("cache", "prune", name, "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"removed mirror {name}" in result.stdout
    assert not path.exists() and not path.with_suffix(".lock").exists()
    # the next apply clones it back and the work tree works again
    assert repo.run("apply", "nova", "--force").exit_code == 0
    assert path.is_dir()


def test_prune_by_upstream_location_in_another_spelling(warm):
    repo, path = warm
    result = repo.run(
        "--json", "cache", "prune", f"file://{repo.bases['nova']['upstream']}/", "--yes"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [e["removed"] for e in doc["entries"]] == [True]
    assert not path.exists()


def test_prune_unused_for_days_keeps_recent_mirrors(warm):
    repo, path = warm
    assert "nothing to prune" in repo.run("cache", "prune", "--unused-for", "30", "--yes").stderr
    old = time.time() - 40 * 86400
    for mark in (mirror.USED_MARK, mirror.FETCHED_MARK):
        os.utime(path / mark, (old, old))
    result = repo.run("cache", "prune", "--unused-for", "30", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "removed mirror" in result.stdout and "40 days ago" in result.stdout
    assert not path.exists()


def test_prune_unknown_name_is_exit_2_and_removes_nothing(warm):
    repo, path = warm
    result = repo.run("cache", "prune", "nope", path.name.removesuffix(".git"), "--yes")
    assert result.exit_code == 2
    assert "no entry named 'nope'" in result.stderr
    assert path.is_dir()


def test_prune_without_names_or_age_is_exit_2(warm):
    repo, _ = warm
    result = repo.run("cache", "prune", "--yes")
    assert result.exit_code == 2 and "--unused-for" in result.stderr


def test_prune_waits_for_the_cache_lock(warm, tmp_path):
    _, path = warm
    with mirror.cache_lock(tmp_path / "cache", exclusive=False):
        # another process holds a fetch's shared lock: prune must not remove under it
        proc = subprocess.Popen(
            [sys.executable, "-m", "verda_patch", "cache", "prune", path.name, "--yes"],
            env=os.environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)
        assert proc.poll() is None and path.is_dir()
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert not path.exists()


def test_library_prune_lists_what_it_would_remove(warm, tmp_path):
    _, path = warm
    result = cache.prune(names=[path.name], dry_run=True)
    assert [e.path for e in result.entries] == [path] and result.dry_run
    assert path.is_dir()
