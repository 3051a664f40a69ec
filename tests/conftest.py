"""Every test runs with HOME, XDG dirs and the cache inside tmp_path, the user's
git config hidden, and only the file transport allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builders import PatchRepo, Upstream, sample_upstream


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("VERDA_PATCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_ALLOW_PROTOCOL", "file")
    monkeypatch.delenv("VERDA_PATCH_REPO", raising=False)
    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.delenv("GIT_WORK_TREE", raising=False)


@pytest.fixture
def make_upstream(tmp_path: Path) -> Callable[..., Upstream]:
    counter = iter(range(1000))

    def make(name: str | None = None, sample: bool = True) -> Upstream:
        path = tmp_path / (name or f"upstream{next(counter)}")
        return sample_upstream(path) if sample else Upstream(path)

    return make


@pytest.fixture
def make_patch_repo(tmp_path: Path) -> Callable[..., PatchRepo]:
    counter = iter(range(1000))

    def make(name: str | None = None) -> PatchRepo:
        return PatchRepo(tmp_path / (name or f"patchrepo{next(counter)}"))

    return make
