"""Upstream cache: one bare mirror per upstream under ``$VERDA_PATCH_CACHE``.

A mirror holds the upstream's branches and tags (not ``refs/changes/*``, which
Gerrit servers have by the hundred thousand). It is created in a temporary
directory and renamed into place, and every write (clone, fetch) runs under an
exclusive ``flock`` with a re-check inside the lock, so concurrent runs sharing
a cache neither corrupt it nor fetch twice. Work trees borrow its objects
through ``objects/info/alternates``; the mirror is never garbage-collected.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.config import Project, RepoConfig, check_refname, check_upstream, is_url
from verda_patch.errors import GitError, OperationFailed, UpstreamError

Progress = Callable[[str, int, int], None]
Notify = Callable[[str], None]

REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
_PROGRESS_RE = re.compile(rb"([A-Za-z ]+):\s+\d+% \((\d+)/(\d+)\)")


def cache_root() -> Path:
    """``$VERDA_PATCH_CACHE``, else ``$XDG_CACHE_HOME/verda-patch``, else ``~/.cache/...``."""
    if env := os.environ.get("VERDA_PATCH_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "verda-patch"


def key(location: str) -> str:
    """Cache key of an upstream: readable tail plus a hash of the whole location."""
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", location.rstrip("/").rsplit("/", 1)[-1])
    tail = tail.removesuffix(".git")[:40] or "upstream"
    return f"{tail}-{hashlib.sha256(location.encode()).hexdigest()[:16]}"


@dataclass
class Mirror:
    """A bare mirror of one upstream (``location`` is a URL or absolute path)."""

    location: str
    path: Path
    notify: Notify | None = None
    progress: Progress | None = None

    @classmethod
    def for_project(
        cls,
        config: RepoConfig,
        project: Project,
        *,
        notify: Notify | None = None,
        progress: Progress | None = None,
    ) -> Mirror:
        location = project.upstream_location(config.root)
        problem = check_upstream(location)
        if problem:
            raise UpstreamError(
                f"{project.name}.{problem}", file=config.root / "base-commit", line=project.line
            )
        root = cache_root()
        return cls(location, root / f"{key(location)}.git", notify, progress)

    # --- locking ---------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for every write to this mirror (blocks until free)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- reading ---------------------------------------------------------------

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def healthy(self) -> bool:
        if not self.exists():
            return False
        res = git.run(["rev-parse", "--is-bare-repository"], cwd=self.path, ok=(0, 128))
        return res.returncode == 0 and res.text.strip() == "true"

    def has(self, commit: str) -> bool:
        return self.exists() and git.is_commit(self.path, commit)

    def resolve(self, rev: str) -> str | None:
        """The commit ``rev`` (sha, branch, tag) names in the mirror, or None."""
        if check_refname(rev) and not re.fullmatch(r"[0-9a-fA-F]{4,40}", rev):
            return None
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            if sha := git.resolve(self.path, candidate):
                return sha
        return None

    def refs_intact(self) -> bool:
        """Every ref points at an object the mirror has (cheap: one batch check)."""
        refs = git.run(["for-each-ref", "--format=%(objectname)"], cwd=self.path, ok=(0, 128))
        if refs.returncode:
            return False
        check = git.run(
            ["cat-file", "--batch-check"], cwd=self.path, input=refs.stdout, ok=(0, 128)
        )
        return check.returncode == 0 and b" missing" not in check.stdout

    # --- writing ---------------------------------------------------------------

    def ensure(self, commits: tuple[str, ...] = (), refs: tuple[str, ...] = ()) -> Mirror:
        """Make sure the mirror exists and holds ``commits``; fetch only when it must.

        A warm cache that already has every commit makes no network access at all.
        """
        if self.healthy() and all(self.has(c) for c in commits) and not refs:
            return self
        with self.lock():
            if not self.healthy():
                self._clone()
            missing = [c for c in commits if not self.has(c)]
            if missing or refs:
                self._fetch(extra=tuple(missing))
            still = [c for c in commits if not self.has(c)]
            if still and not self.refs_intact():
                # objects were deleted under the refs: fetching cannot repair that
                self._clone()
                still = [c for c in commits if not self.has(c)]
            if still:
                raise UpstreamError(
                    f"commit {still[0]} is not in upstream {self.location}",
                    hint="check 'commit:' in base-commit, or the upstream URL",
                )
        return self

    def update(self) -> Mirror:
        """Fetch every branch and tag (for commands that compare with a branch tip)."""
        return self.ensure(refs=("*",))

    def _clone(self) -> None:
        if self.exists():
            if self.notify:
                self.notify(f"cache mirror {self.path} is damaged; cloning it again")
            broken = self.path.with_name(self.path.name + f".broken-{os.getpid()}")
            self.path.rename(broken)
            shutil.rmtree(broken, ignore_errors=True)
        elif self.path.exists():
            shutil.rmtree(self.path)
        if self.notify:
            self.notify(f"cloning {self.location} into the cache (once)")
        tmp = Path(tempfile.mkdtemp(prefix=self.path.name + ".", dir=self.path.parent))
        try:
            # `clone --bare` takes branches and tags only, and for a local path
            # it copies (hardlinks) objects instead of repacking them, which
            # also copes with a local upstream that lacks a few blobs
            self._transfer(
                [
                    "clone",
                    "--bare",
                    "--progress" if self.progress else "--quiet",
                    "--end-of-options",
                    self.location,
                    str(tmp),
                ],
                cwd=self.path.parent,
            )
            for setting in (
                ["gc.auto", "0"],  # work trees borrow these objects; never prune them
                ["maintenance.auto", "false"],
                ["core.logAllRefUpdates", "false"],
            ):
                git.run(["config", *setting], cwd=tmp)
            git.run(["config", "--unset-all", "remote.origin.fetch"], cwd=tmp, ok=(0, 5))
            for spec in REFSPECS:
                git.run(["config", "--add", "remote.origin.fetch", spec], cwd=tmp)
            os.rename(tmp, self.path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _fetch(self, extra: tuple[str, ...]) -> None:
        if self.notify:
            self.notify(f"fetching {self.location}")
        self._run_fetch(self.path, ())
        still = tuple(c for c in extra if not git.is_commit(self.path, c))
        if still:
            # a pinned commit on no branch or tag: ask for it by id
            self._run_fetch(self.path, still, ok_missing=True)

    def _run_fetch(self, repo: Path, commits: tuple[str, ...], ok_missing: bool = False) -> None:
        args = [
            "fetch",
            "--quiet" if not self.progress else "--progress",
            "--prune",
            "--no-write-fetch-head",
            "origin",
        ]
        if commits:
            args = ["fetch", "--quiet", "--no-write-fetch-head", "origin", *commits]
        self._transfer(args, cwd=repo, ok_missing=ok_missing)

    def _transfer(self, args: list[str], *, cwd: Path, ok_missing: bool = False) -> None:
        """Run a clone or fetch with the user's config (proxies, credentials), streaming
        git's progress to the callback."""
        if not is_url(self.location) and not Path(self.location).exists():
            # checked only now: a warm cache must work while the upstream is away
            raise UpstreamError(
                f"upstream is a path that does not exist: {self.location}",
                hint="fix 'upstream:' in base-commit, or clone the upstream there",
            )
        stderr = bytearray()
        with git.streaming(
            args, cwd=cwd, user_config=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        ) as proc:
            assert proc.stderr is not None
            while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
                stderr += chunk
                if self.progress and (found := _PROGRESS_RE.findall(chunk)):
                    phase, done, total = found[-1]
                    self.progress(phase.decode().strip(), int(done), int(total))
            code = proc.wait()
        if code and not ok_missing:
            message = stderr.decode("utf-8", "replace").strip().splitlines()
            verb = args[0]
            raise OperationFailed(
                f"{verb}ing {self.location} failed: {message[-1] if message else f'exit {code}'}",
                hint="check the network and the upstream URL; the cache was left as it was",
            ) from GitError(args, code, stderr.decode("utf-8", "replace"), cwd)
