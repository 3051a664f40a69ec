"""``prefix-remote``: prefixes other machines built, fetched and checked; ours pushed.

A fleet of CI machines shares built prefixes through any git remote they can
reach (``prefix-remote:`` in ``verda-patch.yaml``): no server of our own. A
remote ref is a hint from someone else: what it names is fetched into the
cache mirror under ``refs/verda/incoming/`` and accepted only when every
commit past the part this cache already holds passes
:func:`verda_patch.prefix.verify` — a straight line from the base through our
own prefix, each commit carrying its patch's trailer and making exactly its
patch's change. A wrong one changes nothing: it is dropped with a warning and
the build goes on from what this cache has. Untrusted mode (issue 18) never
pushes, and takes the remote's credentials only for a trusted host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from verda_patch import git, upstreams
from verda_patch import prefix as prefixes
from verda_patch.config import RepoConfig, is_url
from verda_patch.errors import GitError
from verda_patch.mirror import Mirror, _transport_env
from verda_patch.policy import Policy

INCOMING = "refs/verda/incoming/"
Notify = Callable[[str], None]


@dataclass
class Remote:
    url: str
    mirror: Mirror
    policy: Policy
    notify: Notify | None = None
    has: set[int] = field(default_factory=set)  # positions the remote holds (after offered())

    @classmethod
    def for_config(cls, config: RepoConfig, mirror: Mirror, notify: Notify | None) -> Remote | None:
        raw = config.settings.prefix_remote
        if not raw:
            return None
        url = raw if is_url(raw) else str((config.root / Path(raw).expanduser()).resolve())
        if config.policy.untrusted and upstreams.local_path(url) is not None:
            if notify:
                notify("untrusted mode: prefix-remote is a local path; not used")
            return None
        return cls(url, mirror, config.policy, notify)

    @property
    def location(self) -> str:
        return upstreams.redact(self.url)

    def _say(self, message: str) -> None:
        if self.notify:
            self.notify(message)

    def _git(self, args: list[str], *, cwd: Path) -> git.Result | None:
        trusted = self.policy.credentials_for(upstreams.host(self.url))
        try:
            with _transport_env(trusted, untrusted=self.policy.untrusted) as env:
                return git.run(args, cwd=cwd, env=env, user_config=trusted)
        except GitError as exc:
            lines = upstreams.redact(exc.stderr).strip().splitlines() if exc.stderr else []
            self._say(
                f"prefix-remote {self.location}: {args[0]} failed "
                f"({lines[-1] if lines else 'exit ' + str(exc.returncode)}); going on without it"
            )
            return None

    def offered(self, keys: Sequence[str]) -> dict[int, str]:
        """Position → commit for every key of ``keys[1:]`` the remote has (one ls-remote)."""
        wanted = {prefixes.ref(k): i for i, k in enumerate(keys) if i}
        if not wanted:
            return {}
        res = self._git(
            ["ls-remote", "--refs", "--end-of-options", self.url, *wanted], cwd=self.mirror.path
        )
        found: dict[int, str] = {}
        for line in res.text.splitlines() if res else ():
            sha, _, name = line.partition("\t")
            if name in wanted:
                found[wanted[name]] = sha
        self.has = set(found)
        return found

    def fetch(self, key: str) -> str | None:
        """Fetch the remote's prefix ``key`` into the mirror; the commit, unchecked."""
        incoming = INCOMING + key
        with self.mirror.lock():
            res = self._git(
                [
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--end-of-options",
                    self.url,
                    f"+{prefixes.ref(key)}:{incoming}",
                ],
                cwd=self.mirror.path,
            )
        return git.resolve(self.mirror.path, incoming) if res else None

    def forget(self, key: str) -> None:
        git.run(["update-ref", "-d", INCOMING + key], cwd=self.mirror.path, ok=(0, 1))

    def push(self, entries: Sequence[tuple[str, str]]) -> None:
        """Offer (key, commit) prefixes the remote lacks; never overwrite one it has."""
        if self.policy.untrusted or not entries:
            return
        specs = [f"{sha}:{prefixes.ref(key)}" for key, sha in entries]
        res = self._git(
            ["push", "--quiet", "--no-verify", "--end-of-options", self.url, *specs],
            cwd=self.mirror.path,
        )
        if res is not None:
            self._say(f"pushed {len(specs)} prefixes to {self.location}")


def take(
    remote: Remote,
    cache: prefixes.Prefixes,
    base: str,
    files: Sequence[str],
    keys: Sequence[str],
    mail_of: Callable[[int], bytes],
    local: prefixes.Plan,
) -> prefixes.Plan:
    """The longer of ``local`` and what the remote offers, checked before it is used."""
    offered = remote.offered(keys)
    if not offered or max(offered) <= local.start:
        return local
    start = max(offered)
    commit = remote.fetch(keys[start])
    if commit is None:
        return local
    try:
        why = prefixes.verify(
            cache.mirror,
            base,
            commit,
            files[:start],
            [mail_of(i) for i in range(local.start, start)],
            diff_from=local.start,
            through=local.commit if local.start else None,
        )
        good = start if why is None else max(why.position - 1, 0)
        if why is not None:
            kept = f"; its first {good} are used" if good > local.start else "; not used"
            remote._say(
                f"warning: prefix-remote {remote.location} offered a wrong prefix for "
                f"{files[start - 1]} ({why}){kept}, building the rest here"
            )
        if good <= local.start:
            return local
        chain = prefixes.links(cache.mirror, local.commit, commit)[: good - local.start]
        cache.record([(keys[local.start + i + 1], link.sha) for i, link in enumerate(chain)])
    finally:
        remote.forget(keys[start])
    return prefixes.Plan(tuple(keys), good, chain[-1].sha)
