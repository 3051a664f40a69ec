"""``tag``: an annotated tag in the patch repo recording exactly what a release was built from.

The tag message names the upstream, the pinned commit and its ref, then lists
every file that decides the patched tree — the project's patch and series
files, its custom-source files, ``verda-patch.yaml`` — as ``sha256sum`` lines
(``<hex>  <path>``), so a release can be checked or rebuilt later with
``git tag -l --format='%(contents)' TAG | grep -E '^[0-9a-f]{64}  ' | sha256sum -c``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.config import SETTINGS_FILE, RepoConfig, check_tag_pattern
from verda_patch.errors import ConfigError, OperationFailed, UserError
from verda_patch.mirror import Mirror, Notify
from verda_patch.store import SERIES, Store, sha256_file


@dataclass(frozen=True)
class TaggedFile:
    path: str  # relative to the patch repo root
    sha256: str
    file: str | None = None  # a patch's SPEC name, "<category>/<file name>"

    def to_json(self) -> dict[str, str]:
        doc = {"file": self.file} if self.file else {}
        return {**doc, "path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class TagResult:
    project: str
    name: str
    target: str  # the patch repo commit the tag points at
    upstream: str
    base: str
    ref: str
    describe: str | None
    patches: tuple[TaggedFile, ...]
    files: tuple[TaggedFile, ...]  # series, custom-source, settings
    message: str
    created: bool
    already: bool = False  # the target already carried this release's tag (``name``)

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "tag": self.name,
            "target": self.target,
            "created": self.created,
            "already_tagged": self.already,
            "base": {
                "upstream": self.upstream,
                "commit": self.base,
                "ref": self.ref,
                "describe": self.describe,
            },
            "patches": [f.to_json() for f in self.patches],
            "files": [f.to_json() for f in self.files],
            "message": self.message,
        }


def _repo_head(root: Path) -> str:
    res = git.run(["rev-parse", "--show-toplevel"], cwd=root, ok=(0, 128))
    if res.returncode:
        raise UserError(
            f"{root} is not a git repository",
            hint="tags live in the patch repo's git history; "
            "run 'git init' and commit the patch repo first",
        )
    head = git.resolve(root, "HEAD")
    if head is None:
        raise UserError(f"{root} has no commit yet", hint="commit the patch repo first")
    return head


def refuse_if_dirty(root: Path) -> None:
    """Exit 1 when the patch repo has uncommitted changes or untracked files."""
    res = git.run(
        [
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules",
            "--",
            ".",
            ":(exclude).verda",
        ],  # our own work trees and state, even if not ignored
        cwd=root,
        # read-only, and what the user ignores (core.excludesFile in their global
        # config: a build's tarball, an editor's files) must not count as a change
        user_config=True,
    )
    changed = [entry[3:] for entry in git.zsplit(res.stdout) if len(entry) > 3]
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise OperationFailed(
            f"the patch repo has uncommitted changes ({changed[0]}{more})",
            hint="commit them first: a tag records committed files only",
        )


def check_pattern(pattern: str, settings_file: Path) -> None:
    """``config.check_tag_pattern`` as an error (a pattern not read from the file)."""
    if problem := check_tag_pattern(pattern):
        raise ConfigError(problem, file=settings_file, hint="e.g. '{project}-{ref}-verda.{n}'")


def _pattern_re(pattern: str, values: dict[str, str]) -> re.Pattern[str]:
    head, _, tail = pattern.partition("{n}")
    return re.compile(
        re.escape(head.format(**values)) + r"(\d+)" + re.escape(tail.format(**values)) + "$"
    )


def _next_name(root: Path, pattern: str, values: dict[str, str]) -> str:
    """The pattern filled with the smallest ``n`` above every existing tag's."""
    regex = _pattern_re(pattern, values)
    numbers = [0]
    for tag in git.out(["tag", "--list"], cwd=root).splitlines():
        if m := regex.match(tag):
            numbers.append(int(m.group(1)))
    return pattern.format(**values, n=max(numbers) + 1)


def _existing_tag(root: Path, target: str, pattern: str, values: dict[str, str]) -> str | None:
    """A tag of this release pattern that already points at ``target``, if any."""
    regex = _pattern_re(pattern, values)
    at = git.out(["tag", "--list", "--points-at", target], cwd=root).splitlines()
    found = sorted((int(m.group(1)), tag) for tag in at if (m := regex.match(tag)))
    return found[-1][1] if found else None


def _files(config: RepoConfig, project: str) -> tuple[list[TaggedFile], list[TaggedFile]]:
    root = config.root

    def tagged(path: Path, file: str | None = None) -> TaggedFile:
        return TaggedFile(path.relative_to(root).as_posix(), sha256_file(path), file)

    store = Store(config)
    entries = store.entries(project)  # validates the series files on the way
    patches = [tagged(e.path, e.file) for e in entries]
    others: list[TaggedFile] = []
    for category in config.settings.categories:
        series = store.project_dir(project) / category / SERIES
        if series.is_file():
            others.append(tagged(series))
    from verda_patch.apply import custom_files

    for _rel, path in custom_files(root, project):
        others.append(tagged(path))
    settings = root / SETTINGS_FILE
    if settings.is_file():
        others.append(tagged(settings))
    return patches, others


def _message(
    project: str,
    upstream: str,
    base: str,
    ref: str,
    describe: str | None,
    patches: list[TaggedFile],
    others: list[TaggedFile],
) -> str:
    lines = [
        f"{project} {ref} + {len(patches)} patches",
        "",
        f"Project: {project}",
        f"Upstream: {upstream}",
        f"Base-Commit: {base}",
        f"Ref: {ref}",
    ]
    if describe:
        lines.append(f"Describe: {describe}")
    lines += ["", f"Patches, in apply order (sha256  file), {len(patches)}:"]
    lines += [f"{f.sha256}  {f.path}" for f in patches]
    if others:
        lines += ["", "Other files that shape the tree (sha256  file):"]
        lines += [f"{f.sha256}  {f.path}" for f in others]
    return "\n".join(lines) + "\n"


def _tagger(root: Path) -> dict[str, str]:
    """The release engineer's own identity for the tagger, read once from their config."""
    env: dict[str, str] = {}
    for key, var in (("user.name", "GIT_COMMITTER_NAME"), ("user.email", "GIT_COMMITTER_EMAIL")):
        res = git.run(["config", "--get", key], cwd=root, ok=(0, 1), user_config=True)
        if res.returncode == 0 and res.text.strip():
            env[var] = res.text.strip()
    return env


def tag(
    config: RepoConfig,
    project: str,
    *,
    dry_run: bool = False,
    notify: Notify | None = None,
) -> TagResult:
    """Create the next ``tag_pattern`` tag for ``project`` at the patch repo's HEAD."""
    root = config.root
    proj = config.project(project)
    target = _repo_head(root)
    refuse_if_dirty(root)
    pattern = config.settings.tag_pattern
    check_pattern(pattern, root / SETTINGS_FILE)
    mirror = Mirror.for_project(config, proj, notify=notify).ensure(commits=(proj.commit,))
    from verda_patch.basefile import describe as describe_commit

    described = describe_commit(mirror.path, proj.commit)
    ref = proj.ref or described or proj.commit[:12]
    values = {"project": project, "ref": ref, "commit": proj.commit[:12]}
    existing = _existing_tag(root, target, pattern, values)
    name = existing or _next_name(root, pattern, values)
    check = git.run(["check-ref-format", f"refs/tags/{name}"], cwd=root, ok=(0, 1))
    if check.returncode or name.startswith("-"):
        raise ConfigError(
            f"tag_pattern gives {name!r}, which is not a valid tag name",
            file=root / SETTINGS_FILE,
            hint="change tag_pattern, or the project's 'ref:'",
        )
    patches, others = _files(config, project)
    message = _message(project, proj.shown_upstream, proj.commit, ref, described, patches, others)
    if not dry_run and not existing:
        git.run(
            [
                "tag",
                "--annotate",
                "--no-sign",
                "--cleanup=verbatim",
                "--file=-",
                "--end-of-options",
                name,
                target,
            ],
            cwd=root,
            input=message.encode("utf-8"),
            env=_tagger(root),
        )
    return TagResult(
        project=project,
        name=name,
        target=target,
        upstream=proj.shown_upstream,
        base=proj.commit,
        ref=ref,
        describe=described,
        patches=tuple(patches),
        files=tuple(others),
        message=message,
        created=not dry_run and not existing,
        already=existing is not None,
    )
