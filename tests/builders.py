"""Real upstream and patch repos in ``tmp_path`` (no mocked git, no network).

Dates tick forward one minute per commit from a fixed start so every history
is reproducible; the default author is non-ASCII on purpose.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from verda_patch.cli import cli

AUTHOR = "Zoë Ångström <zoe@example.org>"
START = 1_700_000_000  # fixed epoch for the first commit


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
        GIT_COMMITTER_NAME="Upstream CI",
        GIT_COMMITTER_EMAIL="ci@upstream.example.org",
    )
    env.update(extra or {})
    return env


def git(
    cwd: Path,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> str:
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=master", "-c", "commit.gpgSign=false", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        env=_env(env),
        check=False,
    )
    if check and proc.returncode:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def change_id(seed: str) -> str:
    """A Gerrit-style Change-Id derived from ``seed`` (stable across runs)."""
    return "I" + hashlib.sha1(seed.encode()).hexdigest()


class Upstream:
    """An upstream git repository with real history."""

    _tick = 0

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q")
        self.tick = 0

    def _dates(self) -> dict[str, str]:
        self.tick += 1
        stamp = f"@{START + self.tick * 60} +0000"
        return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}

    def write(self, files: Mapping[str, str | bytes | None]) -> None:
        for name, content in files.items():
            target = self.path / name
            if content is None:
                git(self.path, "rm", "-q", "--", name)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
            git(self.path, "add", "--", name)

    def commit(
        self,
        subject: str,
        files: Mapping[str, str | bytes | None] | None = None,
        *,
        body: str = "",
        author: str = AUTHOR,
        change_id: str | bool | None = True,
        trailers: tuple[str, ...] = (),
    ) -> str:
        """Commit ``files`` (None deletes) and return the new commit id."""
        if files:
            self.write(files)
        message = subject + ("\n\n" + body.strip() if body else "")
        lines = list(trailers)
        if change_id is True:
            lines.append(f"Change-Id: {globals()['change_id'](subject)}")
        elif isinstance(change_id, str):
            lines.append(f"Change-Id: {change_id}")
        if lines:
            message += "\n\n" + "\n".join(lines)
        git(
            self.path,
            "commit",
            "-q",
            "--allow-empty",
            "--author",
            author,
            "-m",
            message,
            env=self._dates(),
        )
        return self.rev("HEAD")

    def rev(self, ref: str) -> str:
        return git(self.path, "rev-parse", f"{ref}^{{commit}}")

    def tag(self, name: str, ref: str = "HEAD", annotated: bool = True) -> None:
        if annotated:
            git(self.path, "tag", "-a", "-m", f"release {name}", name, ref, env=self._dates())
        else:
            git(self.path, "tag", name, ref)

    def branch(self, name: str, at: str = "HEAD") -> None:
        git(self.path, "branch", name, at)

    def checkout(self, ref: str) -> None:
        git(self.path, "checkout", "-q", ref)

    def cherry_pick(self, rev: str, *, record: bool = True) -> str:
        git(self.path, "cherry-pick", *(["-x"] if record else []), rev, env=self._dates())
        return self.rev("HEAD")

    def format_patch(self, rev: str, *extra: str) -> bytes:
        """``git format-patch -1 --stdout`` of ``rev``."""
        return subprocess.run(
            ["git", "format-patch", "-1", "--stdout", *extra, rev],
            cwd=self.path,
            capture_output=True,
            check=True,
            env=_env(),
        ).stdout

    def read(self, ref: str, path: str) -> bytes:
        return subprocess.run(
            ["git", "show", f"{ref}:{path}"],
            cwd=self.path,
            capture_output=True,
            check=True,
            env=_env(),
        ).stdout


class PatchRepo:
    """A patch repo directory (base-commit, patches/...) that is also a git repo."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "-q")
        self.bases: dict[str, dict[str, str]] = {}
        (path / "base-commit").write_text("")

    def set_base(
        self,
        project: str,
        upstream: Upstream | Path | str,
        commit: str,
        *,
        ref: str | None = None,
        branch: str | None = None,
    ) -> None:
        location = upstream.path if isinstance(upstream, Upstream) else upstream
        entry = {"upstream": str(location), "commit": commit}
        if ref:
            entry["ref"] = ref
        if branch:
            entry["branch"] = branch
        self.bases[project] = entry
        (self.path / "base-commit").write_text(yaml.safe_dump(self.bases, sort_keys=False))

    def add_patch(self, project: str, category: str, name: str, data: bytes | str) -> Path:
        folder = self.path / "patches" / project / category
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / name
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        return target

    def series(self, project: str, category: str, lines: list[str]) -> Path:
        target = self.path / "patches" / project / category / "series"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(line + "\n" for line in lines))
        return target

    def commit_all(self, message: str = "update") -> None:
        git(self.path, "add", "-A")
        git(
            self.path,
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            message,
            env={
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@example.org",
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.org",
            },
        )

    def run(self, *args: str, input: str | None = None) -> Result:
        """Invoke the CLI on this repo the way a user would."""
        return CliRunner().invoke(
            cli, ["--repo", str(self.path), *args], input=input, catch_exceptions=False
        )


def sample_upstream(path: Path) -> Upstream:
    """A small Python project with a release tag and a stable branch."""
    up = Upstream(path)
    up.commit(
        "Initial import",
        {
            "setup.cfg": "[metadata]\nname = sample\n",
            "requirements.txt": "oslo.config>=9.0\nrequests>=2.25\n",
            "sample/__init__.py": "",
            "sample/api.py": "".join(f"def api_{i}():\n    return {i}\n\n" for i in range(40)),
            "sample/quota.py": "LIMITS = {'cores': 20, 'ram': 51200}\n",
            "README.rst": "Sample\n======\n",
        },
    )
    up.commit(
        "Add scheduler",
        {
            "sample/scheduler.py": "".join(
                f"def weigh_{i}(host):\n    return host.free * {i}\n\n" for i in range(30)
            )
        },
    )
    up.tag("1.0.0")
    return up


def write_series(
    repo: PatchRepo, up: Upstream, project: str, category: str, shas: list[str], start: int = 1
) -> list[str]:
    """Write ``git format-patch`` of each commit as NNNN-<subject>.patch; returns file names."""
    names = []
    for number, sha in enumerate(shas, start):
        subject = git(up.path, "log", "-1", "--format=%s", sha)
        slug = "".join(ch if ch.isalnum() else "-" for ch in subject).strip("-")[:40]
        name = f"{number:04d}-{slug}.patch"
        repo.add_patch(project, category, name, up.format_patch(sha))
        names.append(name)
    return names


def side_commit(
    up: Upstream, at: str, subject: str, files: Mapping[str, str | bytes | None], **kwargs: object
) -> str:
    """Commit on a throw-away branch at ``at`` (a downstream change made on the base)."""
    current = git(up.path, "rev-parse", "--abbrev-ref", "HEAD")
    git(up.path, "checkout", "-q", "--detach", at)
    sha = up.commit(subject, files, **kwargs)  # type: ignore[arg-type]
    git(up.path, "checkout", "-q", current)
    return sha


def fork_of(up: Upstream, path: Path, base: str, branch: str = "corp") -> dict[str, str]:
    """A clone of ``up`` whose ``branch`` forks at ``base`` with three downstream commits.

    ``backport``: the upstream commit ``upstream`` (made on master here) picked with
    ``cherry-pick -x``; ``fix``: a fix carrying a Change-Id upstream lacks;
    ``inhouse``: a change with neither. Returns their commit ids and ``upstream``.
    """
    shas = {
        "upstream": up.commit(
            "Round quota limits down", {"sample/quota.py": "LIMITS = {'cores': 16, 'ram': 51200}\n"}
        )
    }
    git(path.parent, "clone", "-q", str(up.path), path.name)
    fork = Upstream.__new__(Upstream)
    fork.path, fork.tick = path, 100
    git(path, "checkout", "-q", "-b", branch, base)
    shas["backport"] = fork.cherry_pick(shas["upstream"])
    shas["fix"] = fork.commit(
        "Weigh hosts by free RAM",
        {"sample/scheduler.py": "def weigh(host):\n    return host.free_ram\n"},
        change_id=change_id("weigh-ram"),
    )
    shas["inhouse"] = fork.commit(
        "Add corporate branding",
        {"README.rst": "Sample (Example Corp build)\n===========================\n"},
        change_id=None,
    )
    return shas
