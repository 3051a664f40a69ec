"""What a run trusts: untrusted mode, trusted hosts and limits (issue 18).

All of it comes from the user's environment or the command line, never from
the patch repo, whose content (``base-commit``, ``verda-patch.yaml``, patch
files) is someone else's input when the gate runs on a pull request.

- ``--untrusted`` or ``VERDA_PATCH_UNTRUSTED=1``: fetches run without the
  user's credentials and global git config unless the host is trusted; no
  local-path upstreams; a pinned commit must be on an upstream branch or tag;
  the limits below are enforced.
- ``VERDA_PATCH_TRUSTED_HOSTS``: hosts (``host`` or ``host:port``, separated by
  commas or blanks) that may receive the user's credentials. When it is set,
  no other host receives them, in any mode.
- ``VERDA_PATCH_MAX_PATCH_BYTES`` / ``_MAX_HUNKS`` / ``_MAX_PATCHES`` /
  ``_MAX_PROJECTS``: the limits of untrusted mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from verda_patch.errors import UserError

UNTRUSTED_ENV = "VERDA_PATCH_UNTRUSTED"
TRUSTED_HOSTS_ENV = "VERDA_PATCH_TRUSTED_HOSTS"
LIMIT_ENV = {
    "patch_bytes": "VERDA_PATCH_MAX_PATCH_BYTES",
    "hunks": "VERDA_PATCH_MAX_HUNKS",
    "patches": "VERDA_PATCH_MAX_PATCHES",
    "projects": "VERDA_PATCH_MAX_PROJECTS",
}


@dataclass(frozen=True)
class Limits:
    """The most an untrusted patch repo may hold; each bounds memory or time."""

    patch_bytes: int = 16 << 20  # one patch file
    hunks: int = 20_000  # hunks of one patch file
    patches: int = 20_000  # patch files of one project
    projects: int = 200  # entries of base-commit

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Limits:
        values: dict[str, int] = {}
        for name, var in LIMIT_ENV.items():
            raw = environ.get(var, "").strip()
            if not raw:
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise UserError(
                    f"{var}={raw!r} is not a positive whole number",
                    hint=f"set {var} to a number, or unset it for the default",
                )
            values[name] = int(raw)
        return cls(**values)

    def exceeded(self, name: str, value: int, what: str) -> str | None:
        """Why ``value`` is over the limit ``name``, as one sentence, or None."""
        limit: int = getattr(self, name)
        if value <= limit:
            return None
        return (
            f"{what} is {value}, more than the {limit} allowed in untrusted mode "
            f"(raise it with {LIMIT_ENV[name]} in the job's environment)"
        )


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Policy:
    """How much the patch repo is trusted in this run."""

    untrusted: bool = False
    trusted_hosts: frozenset[str] | None = None  # None: every host (trusted mode default)
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, untrusted: bool = False
    ) -> Policy:
        env = os.environ if environ is None else environ
        hosts_raw = env.get(TRUSTED_HOSTS_ENV)
        hosts = (
            frozenset(h.lower() for h in hosts_raw.replace(",", " ").split())
            if hosts_raw is not None
            else None
        )
        return cls(
            untrusted=untrusted or _flag(env.get(UNTRUSTED_ENV)),
            trusted_hosts=hosts,
            limits=Limits.from_environment(env),
        )

    def credentials_for(self, host: str | None) -> bool:
        """Whether a fetch from ``host`` may use the user's credentials and git config."""
        if self.trusted_hosts is None:
            return not self.untrusted
        return host is not None and host in self.trusted_hosts

    def check(self, name: str, value: int, what: str) -> str | None:
        """Why ``value`` breaks limit ``name`` in this run, or None (always None when trusted)."""
        return self.limits.exceeded(name, value, what) if self.untrusted else None
