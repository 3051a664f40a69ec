"""``demo``: an offline tour on a generated sample upstream.

Generates ``DIR/upstream`` (a tiny nova-like Python package with releases
1.0.0, 1.1.0 and 2.0.0, a ``stable/1.x`` branch carrying ``cherry-pick -x``
backports with Gerrit Change-Ids) and ``DIR/patch-repo`` (all three
categories, a series file and custom-source), then applies it. Every date is
fixed, so the demo builds the same commit ids on every machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.errors import UserError

PROJECT = "nova"
AUTHORS = (
    "Zoë Ångström <zoe@example.org>",
    "Kenji Watanabe <kenji@example.org>",
    "Priya Raman <priya@example.org>",
)
EPOCH = 1_735_689_600  # 2025-01-01


@dataclass(frozen=True)
class DemoRepos:
    root: Path
    upstream: Path
    patch_repo: Path
    base: str


class _Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tick = 0
        path.mkdir(parents=True)
        git.run(["init", "--quiet"], cwd=path)

    def commit(
        self,
        subject: str,
        files: Mapping[str, str],
        *,
        body: str = "",
        author: int = 0,
        change_id: bool = True,
        cherry: str | None = None,
    ) -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git.run(["add", "--", *files], cwd=self.path)
        message = subject + (f"\n\n{body}" if body else "")
        trailers = []
        if change_id:
            trailers.append(f"Change-Id: I{hashlib.sha1(subject.encode()).hexdigest()}")
        if cherry:
            trailers.append(f"(cherry picked from commit {cherry})")
        if trailers:
            message += "\n\n" + "\n".join(trailers)
        return self._commit(message, author)

    def _commit(self, message: str, author: int) -> str:
        self.tick += 1
        stamp = f"@{EPOCH + self.tick * 3600} +0000"
        name, _, email = AUTHORS[author].partition(" <")
        git.run(
            ["commit", "--quiet", "--no-verify", "-m", message],
            cwd=self.path,
            env={
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email.rstrip(">"),
                "GIT_AUTHOR_DATE": stamp,
                "GIT_COMMITTER_DATE": stamp,
            },
        )
        return git.out(["rev-parse", "HEAD"], cwd=self.path)

    def read(self, name: str) -> str:
        return (self.path / name).read_text()

    def edit(self, name: str, old: str, new: str) -> dict[str, str]:
        text = self.read(name)
        assert old in text, (name, old)
        return {name: text.replace(old, new, 1)}

    def format_patch(self, rev: str) -> bytes:
        return git.run(
            ["format-patch", "-1", "--stdout", "--no-signature", "--zero-commit", rev],
            cwd=self.path,
        ).stdout


def _api() -> str:
    return (
        '"""Compute API."""\n\n\n'
        "def create_server(ctx, flavor, image):\n"
        "    check_quota(ctx, flavor)\n"
        "    return {'flavor': flavor, 'image': image, 'status': 'BUILD'}\n\n\n"
        "def check_quota(ctx, flavor):\n"
        "    if flavor['vcpus'] > ctx.limits['cores']:\n"
        "        raise ValueError('quota exceeded: cores')\n\n\n"
        "def delete_server(ctx, server):\n"
        "    server['status'] = 'DELETED'\n"
        "    return server\n"
    )


def _scheduler() -> str:
    return (
        '"""Scheduler: pick a host for a request."""\n\n\n'
        "def select_host(hosts, request):\n"
        "    candidates = [h for h in hosts if h['free_ram'] >= request['ram']]\n"
        "    candidates.sort(key=lambda h: h['free_ram'])\n"
        "    return candidates[0] if candidates else None\n"
    )


def generate(root: Path) -> DemoRepos:
    """Write the sample upstream and patch repo under ``root`` (which must not exist)."""
    if root.exists() and any(root.iterdir()):
        raise UserError(
            f"{root} already exists and is not empty; the demo never writes over files",
            hint="pass another directory: 'verda-patch demo DIR'",
        )
    up = _Repo(root / "upstream")
    up.commit(
        "Initial import of nova",
        {
            "setup.cfg": "[metadata]\nname = nova\nsummary = Cloud computing fabric controller\n",
            "requirements.txt": "oslo.config>=9.4.0\noslo.db>=15.0.0\nrequests>=2.25.1\n",
            "nova/__init__.py": "",
            "nova/api.py": _api(),
            "nova/scheduler.py": _scheduler(),
            "nova/quota.py": "DEFAULT_LIMITS = {'cores': 20, 'ram': 51200, 'instances': 10}\n",
            "README.rst": "nova (demo)\n===========\n\nA tiny stand-in for OpenStack nova.\n",
        },
        change_id=False,
    )
    git.run(
        ["tag", "-a", "-m", "nova 1.0.0", "1.0.0"],
        cwd=up.path,
        env={"GIT_COMMITTER_DATE": f"@{EPOCH + 3600} +0000"},
    )
    base = git.out(["rev-parse", "HEAD"], cwd=up.path)
    git.run(["branch", "stable/1.x"], cwd=up.path)

    fix_delete = up.commit(
        "Fix delete_server leaving task_state set",
        up.edit(
            "nova/api.py",
            "    server['status'] = 'DELETED'\n",
            "    server['status'] = 'DELETED'\n    server['task_state'] = None\n",
        ),
        body="Closes-Bug: #2000001",
        author=1,
    )
    fix_sched = up.commit(
        "Scheduler: prefer hosts with the most free RAM",
        up.edit("nova/scheduler.py", "h['free_ram'])\n", "h['free_ram'], reverse=True)\n"),
        body="Packing hosts tightly starves big flavors.\n\nCloses-Bug: #2000002",
        author=2,
    )
    up.commit("Add instance tags API", {"nova/tags.py": "def tags(server):\n    return []\n"})
    git.run(
        ["tag", "-a", "-m", "nova 1.1.0", "1.1.0"],
        cwd=up.path,
        env={"GIT_COMMITTER_DATE": f"@{EPOCH + 99 * 3600} +0000"},
    )
    up.commit(
        "Bump oslo.db to 16.0.0",
        up.edit("requirements.txt", "oslo.db>=15.0.0", "oslo.db>=16.0.0"),
    )
    git.run(
        ["tag", "-a", "-m", "nova 2.0.0", "2.0.0"],
        cwd=up.path,
        env={"GIT_COMMITTER_DATE": f"@{EPOCH + 199 * 3600} +0000"},
    )
    # the stable branch gets the delete fix backported (cherry-pick -x)
    git.run(["checkout", "--quiet", "stable/1.x"], cwd=up.path)
    msg = git.out(["log", "-1", "--format=%B", fix_delete], cwd=up.path)
    files = {"nova/api.py": git.run(["show", f"{fix_delete}:nova/api.py"], cwd=up.path).text}
    for name, content in files.items():
        (up.path / name).write_text(content)
    git.run(["add", "--", *files], cwd=up.path)
    up._commit(f"{msg}\n(cherry picked from commit {fix_delete})", author=1)
    git.run(["checkout", "--quiet", "master"], cwd=up.path)

    # --- the patch repo ------------------------------------------------------------
    repo = root / "patch-repo"
    (repo / "patches" / PROJECT).mkdir(parents=True)
    (repo / "base-commit").write_text(
        "# Pinned upstream bases; see 'verda-patch base show nova'.\n"
        f"{PROJECT}:\n"
        "  upstream: ../upstream   # a local path here; an https:// URL in real life\n"
        f"  commit: {base}\n"
        "  ref: 1.0.0\n"
        "  branch: stable/1.x\n"
    )
    # the downstream work is authored on the base, as a developer would
    git.run(["checkout", "--quiet", "-b", "downstream", base], cwd=up.path)
    picks = []
    for sha in (fix_delete, fix_sched):
        msg = git.out(["log", "-1", "--format=%B", sha], cwd=up.path)
        git.run(["cherry-pick", "--no-commit", sha], cwd=up.path)
        author = git.out(["log", "-1", "--format=%an <%ae>", sha], cwd=up.path)
        up.tick += 1
        picks.append(up._commit(f"{msg}\n(cherry picked from commit {sha})", AUTHORS.index(author)))
    general = up.commit(
        "Reject negative RAM in scheduler requests",
        up.edit(
            "nova/scheduler.py",
            "def select_host(hosts, request):\n",
            "def select_host(hosts, request):\n    if request['ram'] < 0:\n"
            "        raise ValueError('ram must not be negative')\n",
        ),
        body="Proposed upstream; kept here until it merges.",
        author=0,
    )
    gpu = up.commit(
        "[quota] Count GPUs against the project quota",
        {
            **up.edit("nova/quota.py", "'instances': 10}", "'instances': 10, 'gpus': 0}"),
            **up.edit(
                "nova/api.py",
                "        raise ValueError('quota exceeded: cores')\n",
                "        raise ValueError('quota exceeded: cores')\n"
                "    if flavor.get('gpus', 0) > ctx.limits.get('gpus', 0):\n"
                "        raise ValueError('quota exceeded: gpus')\n",
            ),
        },
        body="In-house: GPU flavors are billed separately and capped per project.",
        change_id=False,
    )
    acl = up.commit(
        "Check the in-house ACL service before creating servers",
        up.edit(
            "nova/api.py",
            "def create_server(ctx, flavor, image):\n",
            "def create_server(ctx, flavor, image):\n    ctx.acl.require('server:create')\n",
        ),
        change_id=False,
        author=2,
    )
    for category, sha, name in (
        ("cherry-pick", picks[0], "0001-Fix-delete_server-leaving-task_state-set.patch"),
        ("cherry-pick", picks[1], "0002-Scheduler-prefer-hosts-with-the-most-free-RAM.patch"),
        ("general", general, "0001-Reject-negative-RAM-in-scheduler-requests.patch"),
        ("customs", gpu, "0001-quota-Count-GPUs-against-the-project-quota.patch"),
        ("customs", acl, "0002-Check-the-in-house-ACL-service.patch"),
    ):
        target = repo / "patches" / PROJECT / category / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(up.format_patch(sha))
    (repo / "patches" / PROJECT / "customs" / "series").write_text(
        "# in-house changes, in apply order\n"
        "0001-quota-Count-GPUs-against-the-project-quota.patch\n"
        "0002-Check-the-in-house-ACL-service.patch\n"
    )
    conf = repo / "custom-source" / PROJECT / "etc" / "nova" / "verda.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[verda]\nacl_endpoint = https://acl.internal.example\n")
    git.run(["checkout", "--quiet", "master"], cwd=up.path)
    git.run(["branch", "--quiet", "-D", "downstream"], cwd=up.path)

    from verda_patch.scaffold import init

    init(repo)
    git.run(["add", "-A"], cwd=repo)
    git.run(
        ["commit", "--quiet", "--no-verify", "-m", "Demo patch repo for nova 1.0.0"],
        cwd=repo,
        env={
            "GIT_AUTHOR_NAME": "verda-patch demo",
            "GIT_AUTHOR_EMAIL": "demo@example.org",
            "GIT_AUTHOR_DATE": f"@{EPOCH} +0000",
            "GIT_COMMITTER_DATE": f"@{EPOCH} +0000",
        },
    )
    return DemoRepos(root=root, upstream=up.path, patch_repo=repo, base=base)
