"""Upstream cache: one bare mirror per upstream under ``$VERDA_PATCH_CACHE``.

One upstream spelled several ways (``file:///x/up``, ``/x/./up/``, a URL with
and without ``.git`` or a credential) is one mirror: the key is the normalised
location (:mod:`verda_patch.upstreams`). The mirror's config stores the URL
without credentials; a credential is passed only on the fetch's command line,
and the user's own credentials and git config only for hosts the policy trusts
(:mod:`verda_patch.policy`).

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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from verda_patch import git, history_index, upstreams
from verda_patch.config import Project, RepoConfig, check_refname, check_upstream
from verda_patch.errors import GitError, OperationFailed, UpstreamError
from verda_patch.policy import Policy

Progress = Callable[[str, int, int], None]
Notify = Callable[[str], None]

REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# files verda-patch keeps inside a mirror (git ignores unknown files in a bare repo)
USED_MARK = "verda-last-used"
FETCHED_MARK = "verda-last-fetch"
# transports an untrusted patch repo may name: no file (local paths), ext or fd
UNTRUSTED_PROTOCOLS = "git:http:https:ssh"
# settings of the user's global config a fetch keeps even for an untrusted host
TRANSPORT_SETTINGS = ("http.proxy", "http.sslCAInfo", "http.sslCAPath")
_PROGRESS_RE = re.compile(rb"([A-Za-z ]+):\s+\d+% \((\d+)/(\d+)\)")


def cache_root() -> Path:
    """``$VERDA_PATCH_CACHE``, else ``$XDG_CACHE_HOME/verda-patch``, else ``~/.cache/...``."""
    if env := os.environ.get("VERDA_PATCH_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "verda-patch"


def key(location: str) -> str:
    """Cache key of an upstream: readable tail plus a hash of its normalised location."""
    normal = upstreams.normalise(location)
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", normal.rstrip("/").rsplit("/", 1)[-1])
    tail = tail.removesuffix(".git")[:40] or "upstream"
    return f"{tail}-{hashlib.sha256(normal.encode()).hexdigest()[:16]}"


CACHE_LOCK = "cache.lock"


@contextmanager
def _flock(path: Path, *, exclusive: bool) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def cache_lock(root: Path, *, exclusive: bool) -> Iterator[None]:
    """The whole cache's lock: shared by every mirror write, exclusive for removals."""
    root.mkdir(parents=True, exist_ok=True)
    with _flock(root / CACHE_LOCK, exclusive=exclusive):
        yield


@dataclass
class Mirror:
    """A bare mirror of one upstream.

    ``url`` is what git fetches (a URL, possibly with a credential, or an
    absolute path); ``location`` is the same without credentials, the only
    form ever printed or stored.
    """

    url: str
    path: Path
    notify: Notify | None = None
    progress: Progress | None = None
    policy: Policy = field(default_factory=Policy)
    # where the commits ensure() is given were written: base-commit and its line
    pinned_in: tuple[Path, int | None] | None = None

    @property
    def location(self) -> str:
        return upstreams.redact(self.url)

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
        if config.policy.untrusted and upstreams.local_path(location) is not None:
            raise UpstreamError(
                f"{project.name}.upstream is a local path ({upstreams.redact(project.upstream)}); "
                "untrusted mode fetches only from network URLs",
                file=config.root / "base-commit",
                line=project.line,
                hint="name the upstream by its https:// or ssh:// URL, "
                "or run without --untrusted on a patch repo you trust",
            )
        root = cache_root()
        return cls(
            location,
            root / f"{key(location)}.git",
            notify,
            progress,
            config.policy,
            (config.root / "base-commit", project.line),
        )

    # --- locking ---------------------------------------------------------------

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock for every write to this mirror (blocks until free), inside a
        shared hold of the cache lock that ``cache prune`` takes exclusively."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (
            cache_lock(self.path.parent, exclusive=False),
            _flock(self.path.with_suffix(".lock"), exclusive=True),
        ):
            yield

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

    def on_branch_or_tag(self, commit: str) -> bool:
        """Whether a branch or tag of the mirror contains ``commit``."""
        res = git.run(
            [
                "for-each-ref",
                "--count=1",
                "--format=%(refname)",
                f"--contains={commit}",
                "refs/heads/",
                "refs/tags/",
            ],
            cwd=self.path,
            ok=(0, 1, 128, 129),
        )
        return res.returncode == 0 and bool(res.stdout.strip())

    def ensure(self, commits: tuple[str, ...] = (), refs: tuple[str, ...] = ()) -> Mirror:
        """Make sure the mirror exists and holds ``commits``; fetch only when it must.

        A warm cache that already has every commit makes no network access at all.
        In untrusted mode each commit must also be on an upstream branch or tag.
        """
        healthy = self.healthy()
        peeled = [git.resolve(self.path, c) for c in commits] if healthy else []
        if not (healthy and all(peeled) and not refs):
            self._ensure_locked(commits, refs)
            peeled = [git.resolve(self.path, c) for c in commits]
        self._refuse_tag_objects(commits, peeled)
        self._mark(USED_MARK)
        if self.policy.untrusted:
            for commit in commits:
                if not self.on_branch_or_tag(commit):
                    raise self._unmerged(commit)
        return self

    def _unmerged(self, commit: str) -> UpstreamError:
        return UpstreamError(
            f"commit {commit} is on no branch or tag of upstream {self.location} "
            "(an unmerged pull or change ref is refused in untrusted mode)",
            hint="pin a commit that upstream has merged (a tag or branch tip)",
        )

    def _refuse_tag_objects(self, commits: tuple[str, ...], peeled: list[str | None]) -> None:
        """SPEC: ``commit:`` is always the commit itself, never an annotated tag's object
        (git would peel it silently, and the tag's id would be reported as the base)."""
        for given, commit in zip(commits, peeled, strict=True):
            if commit and len(given) == 40 and commit != given.lower():
                file, line = self.pinned_in or (None, None)
                raise UpstreamError(
                    f"commit {given} is an annotated tag, not a commit; 'commit:' is always "
                    f"the commit itself: {commit}",
                    file=file,
                    line=line,
                    hint=f"write 'commit: {commit}', or pin by the tag's name with "
                    "'verda-patch base set PROJECT TAG'",
                    value=given,
                )

    def _mark(self, name: str) -> None:
        """Touch a marker (when the mirror was last used or fetched, for ``cache``)."""
        with suppress(OSError):  # a read-only cache still works
            mark = self.path / name
            mark.touch()
            os.utime(mark)

    def _ensure_locked(self, commits: tuple[str, ...], refs: tuple[str, ...]) -> None:
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
            if still and self.policy.untrusted:
                raise self._unmerged(still[0])
            if still:
                raise UpstreamError(
                    f"commit {still[0]} is not in upstream {self.location}",
                    hint="check 'commit:' in base-commit, or the upstream URL",
                )

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
                    self.url,
                    str(tmp),
                ],
                cwd=self.path.parent,
            )
            for setting in (
                ["remote.origin.url", self.location],  # never a credential at rest
                ["gc.auto", "0"],  # work trees borrow these objects; never prune them
                ["maintenance.auto", "false"],
                ["core.logAllRefUpdates", "false"],
            ):
                git.run(["config", *setting], cwd=tmp)
            git.run(["config", "--unset-all", "remote.origin.fetch"], cwd=tmp, ok=(0, 5))
            for spec in REFSPECS:
                git.run(["config", "--add", "remote.origin.fetch", spec], cwd=tmp)
            os.rename(tmp, self.path)
            self._mark(FETCHED_MARK)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _fetch(self, extra: tuple[str, ...]) -> None:
        if self.notify:
            self.notify(f"fetching {self.location}")
        # a mirror made by an older verda-patch may keep a credential in its config
        git.run(["config", "remote.origin.url", self.location], cwd=self.path)
        self._run_fetch(self.path, ())
        history_index.after_fetch(self.path)
        self._mark(FETCHED_MARK)
        still = tuple(c for c in extra if not git.is_commit(self.path, c))
        if still and not self.policy.untrusted:
            # a pinned commit on no branch or tag: ask for it by id (never in
            # untrusted mode, where such a commit is refused anyway)
            self._run_fetch(self.path, still, ok_missing=True)

    def _run_fetch(self, repo: Path, commits: tuple[str, ...], ok_missing: bool = False) -> None:
        # the URL itself, not "origin": the stored URL has no credential
        args = [
            "fetch",
            "--quiet" if not self.progress else "--progress",
            "--prune",
            "--no-write-fetch-head",
            "--end-of-options",
            self.url,
            *REFSPECS,
        ]
        if commits:
            args = ["fetch", "--quiet", "--no-write-fetch-head", "--end-of-options", self.url]
            args += commits
        self._transfer(args, cwd=repo, ok_missing=ok_missing)

    def _transfer(self, args: list[str], *, cwd: Path, ok_missing: bool = False) -> None:
        """Run a clone or fetch, streaming git's progress to the callback.

        The user's config (proxies, credentials) is used only for a host the
        policy trusts; otherwise git runs without global config, askpass or
        netrc, keeping only the proxy settings.
        """
        local = upstreams.local_path(self.url)
        if (
            local is not None
            and not self.url.lower().startswith("file:")
            and not Path(self.url).exists()
        ):
            # checked only now: a warm cache must work while the upstream is away
            raise UpstreamError(
                f"upstream is a path that does not exist: {self.location}",
                hint="fix 'upstream:' in base-commit, or clone the upstream there",
            )
        trusted = self.policy.credentials_for(upstreams.host(self.url))
        with _transport_env(trusted, untrusted=self.policy.untrusted) as env:
            self._stream(args, cwd=cwd, env=env, user_config=trusted, ok_missing=ok_missing)

    def _stream(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        user_config: bool,
        ok_missing: bool,
    ) -> None:
        stderr = bytearray()
        with git.streaming(
            args,
            cwd=cwd,
            env=env,
            user_config=user_config,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        ) as proc:
            assert proc.stderr is not None
            while chunk := proc.stderr.read1(4096):  # type: ignore[attr-defined]
                stderr += chunk
                if self.progress and (found := _PROGRESS_RE.findall(chunk)):
                    phase, done, total = found[-1]
                    self.progress(phase.decode().strip(), int(done), int(total))
            code = proc.wait()
        if code and not ok_missing:
            text = upstreams.redact(stderr.decode("utf-8", "replace"))
            message = text.strip().splitlines()
            doing = "cloning" if args[0] == "clone" else "fetching"
            raise OperationFailed(
                f"{doing} {self.location} failed: {message[-1] if message else f'exit {code}'}",
                hint="check the network and the upstream URL; the cache was left as it was",
            ) from GitError([upstreams.redact(a) for a in args], code, text, cwd)


@contextmanager
def _transport_env(trusted: bool, *, untrusted: bool) -> Iterator[dict[str, str]]:
    """Extra environment for a fetch: nothing for a trusted host; else a HOME without
    ``.netrc`` or config, no askpass, only the user's proxy settings carried over."""
    env: dict[str, str] = {}
    if untrusted:
        env["GIT_ALLOW_PROTOCOL"] = UNTRUSTED_PROTOCOLS
    if trusted:
        yield env
        return
    carried = [("credential.helper", ""), *git.user_settings(TRANSPORT_SETTINGS)]
    env["GIT_CONFIG_COUNT"] = str(len(carried))
    for i, (name, value) in enumerate(carried):
        env[f"GIT_CONFIG_KEY_{i}"] = name
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    env["SSH_ASKPASS_REQUIRE"] = "never"
    env["GIT_TERMINAL_PROMPT"] = "0"
    with tempfile.TemporaryDirectory(prefix="verda-patch-home.") as home:
        env["HOME"] = home  # curl reads ~/.netrc from $HOME; ssh uses the passwd entry
        env["XDG_CONFIG_HOME"] = home
        yield env
