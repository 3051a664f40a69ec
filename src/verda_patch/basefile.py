"""Edit one entry of ``base-commit`` in place, keeping everything else byte for byte.

A ``yaml.dump`` round trip would drop the user's comments, re-order keys and
re-quote values. Instead the file is composed with PyYAML (which keeps the
character offset of every node) and only the spans of the values that change
are rewritten: a value is replaced where it stands, a missing key is inserted
as one new line after ``commit:`` with the entry's own indentation, a key that
must go loses its line. The result is parsed again before it is written, and
every other project must come back unchanged (issue 7).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from verda_patch import config as cfg
from verda_patch import git
from verda_patch.errors import ConfigError, UpstreamError, UserError
from verda_patch.mirror import Mirror, Notify
from verda_patch.store import write_atomic

# Values written as plain scalars; anything else is double-quoted (JSON quoting is valid YAML).
_PLAIN_RE = re.compile(r"[A-Za-z0-9_./+-][A-Za-z0-9_./+@-]*")
_KEY_ORDER = ("upstream", "commit", "ref", "branch")


@dataclass(frozen=True)
class BaseEdit:
    """What :func:`set_base` changed: the entry before and after."""

    path: Path
    before: cfg.Project
    after: cfg.Project
    changed: bool


def _scalar_text(value: str, style: str | None) -> str:
    """``value`` as YAML source, in the quoting style the old value had when possible."""
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _PLAIN_RE.fullmatch(value) or not _plain_is_string(value):
        import json

        return json.dumps(value, ensure_ascii=False)
    return value


def _plain_is_string(text: str) -> bool:
    """Whether ``text`` written plain reads back as that string for any YAML loader
    (``2025.1`` would be a float to ``yaml.safe_load``, ``yes`` a bool)."""
    resolver = yaml.resolver.Resolver()
    tag = resolver.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag == "tag:yaml.org,2002:str")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    """Index just past the newline of the line holding ``index`` (or the end of text)."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _replace_value(text: str, node: yaml.ScalarNode, new: str) -> tuple[int, int, str]:
    """The edit that puts ``new`` where ``node`` stands, keeping a trailing comment's column."""
    start, end = node.start_mark.index, node.end_mark.index
    replacement = _scalar_text(new, node.style)
    tail = re.match(r"[ \t]+(?=#)", text[end:])
    if tail and "\t" not in tail.group(0):
        # keep an aligned comment where it was, as far as the new width allows
        spaces = max(1, len(tail.group(0)) - (len(replacement) - (end - start)))
        return start, end + len(tail.group(0)), replacement + " " * spaces
    return start, end, replacement


def _entry(root: yaml.Node, project: str, path: Path) -> tuple[yaml.Node, yaml.MappingNode]:
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("base-commit must be a mapping of projects", file=path)
    for key, value in root.value:
        if isinstance(key, yaml.ScalarNode) and key.value == project:
            if not isinstance(value, yaml.MappingNode):
                raise ConfigError(
                    f"project '{project}' must be a mapping",
                    file=path,
                    line=value.start_mark.line + 1,
                )
            return key, value
    raise ConfigError(
        f"no project '{project}' in base-commit", file=path, hint=f"add a '{project}:' entry first"
    )


def edit_text(text: str, project: str, changes: dict[str, str | None], path: Path) -> str:
    """``text`` with the keys of ``project`` set (a None value removes the key)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from None
    if root is None:
        raise ConfigError(f"no project '{project}' in base-commit", file=path)
    _key, mapping = _entry(root, project, path)
    present = {str(k.value): (k, v) for k, v in mapping.value}
    nl = _newline(text)
    edits: list[tuple[int, int, str]] = []
    for name, new in changes.items():
        if name in present:
            k, v = present[name]
            if not isinstance(v, yaml.ScalarNode):
                raise ConfigError(
                    f"{project}.{name} must be a single value",
                    file=path,
                    line=v.start_mark.line + 1,
                )
            if new is None:
                if mapping.flow_style:
                    raise ConfigError(
                        f"cannot remove '{name}' from a flow-style entry",
                        file=path,
                        line=k.start_mark.line + 1,
                        hint="write the entry in block style",
                    )
                start = _line_start(text, k.start_mark.index)
                edits.append((start, _line_end(text, v.end_mark.index), ""))
            elif v.value != new:
                edits.append(_replace_value(text, v, new))
            continue
        if new is None:
            continue
        # insert after the last present key that comes before it in the usual order
        before = [present[k] for k in _KEY_ORDER[: _KEY_ORDER.index(name)] if k in present]
        anchor_key, anchor_value = before[-1] if before else list(present.values())[-1]
        value_text = _scalar_text(new, None)
        if mapping.flow_style:
            at = anchor_value.end_mark.index
            edits.append((at, at, f", {name}: {value_text}"))
        else:
            at = _line_end(text, anchor_value.end_mark.index)
            key_at = anchor_key.start_mark.index
            indent = text[_line_start(text, key_at) : key_at]
            prefix = "" if at == 0 or text[at - 1] == "\n" else nl
            edits.append((at, at, f"{prefix}{indent}{name}: {value_text}{nl}"))
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _load_text(text: str, like: Path) -> dict[str, cfg.Project]:
    """Parse ``text`` as base-commit (through the real loader, for its checks)."""
    fd, tmp = tempfile.mkstemp(prefix=".base-commit.", suffix=".check", dir=like.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        return cfg.load_projects(Path(tmp))
    finally:
        Path(tmp).unlink(missing_ok=True)


def _same(a: cfg.Project, b: cfg.Project) -> bool:
    return (a.name, a.upstream, a.commit, a.ref, a.branch) == (
        b.name,
        b.upstream,
        b.commit,
        b.ref,
        b.branch,
    )


def _with_upstream(config: cfg.RepoConfig, project: str, upstream: str) -> cfg.RepoConfig:
    """``config`` as if base-commit named ``upstream`` for ``project`` (to resolve in it)."""
    import dataclasses

    if not cfg.PROJECT_RE.match(project) or set(project) == {"."}:
        raise UserError(
            f"'{project}' cannot be a project name",
            hint="use letters, digits, '.', '_' and '-', e.g. nova",
            value=project,
        )
    problem = cfg.check_upstream(upstream)
    if problem:
        raise UserError(problem, value=upstream)
    known = config.projects.get(project)
    entry = (
        dataclasses.replace(known, upstream=upstream)
        if known
        else cfg.Project(project, upstream, commit="0" * 40)
    )
    return dataclasses.replace(config, projects={**config.projects, project: entry})


def add_project(root: Path, project: cfg.Project, resolved: Resolved) -> BaseEdit:
    """Append ``project``'s entry, pinned to ``resolved``, to base-commit; nothing else
    in the file changes (its comments, the other projects)."""
    path = root / cfg.BASE_FILE
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    before = cfg.load_projects(path) if path.exists() else {}
    lines = [
        f"{project.name}:",
        f"  upstream: {_scalar_text(project.upstream, None)}",
        f"  commit: {resolved.commit}",
    ]
    if resolved.ref:
        lines.append(f"  ref: {_scalar_text(resolved.ref, None)}")
    sep = "" if not text or text.endswith("\n") else "\n"
    new_text = text + sep + "\n".join(lines) + "\n"
    after = _load_text(new_text, path)
    added = after.get(project.name)
    ok = (
        added is not None
        and all(_same(after[name], before[name]) for name in before)
        and (added.upstream, added.commit, added.ref)
        == (project.upstream, resolved.commit, resolved.ref)
    )
    if not ok or added is None:  # pragma: no cover - never write what reads back otherwise
        raise ConfigError(f"could not add '{project.name}'", file=path, hint="add it by hand")
    write_atomic(path, new_text.encode("utf-8"))
    return BaseEdit(path, cfg.Project(project.name, "", ""), added, True)


def set_base(
    root: Path, project: str, *, commit: str, ref: str | None, upstream: str | None = None
) -> BaseEdit:
    """Pin ``project`` to ``commit`` (full 40-hex); ``ref`` None removes a stale ``ref:``;
    ``upstream`` (when given) replaces its upstream."""
    path = root / cfg.BASE_FILE
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=path) from None
    before = cfg.load_projects(path)
    if project not in before:
        raise ConfigError(f"no project '{project}' in base-commit", file=path)
    if not cfg.COMMIT_RE.fullmatch(commit):
        raise ValueError(f"not a full commit id: {commit!r}")
    changes: dict[str, str | None] = {"commit": commit, "ref": ref}
    if upstream is not None:
        changes = {"upstream": upstream, **changes}
    new_text = edit_text(text, project, changes, path)
    after = _load_text(new_text, path) if new_text != text else before
    want = before[project]
    want_upstream = want.upstream if upstream is None else upstream
    ok = (
        list(after) == list(before)
        and all(_same(after[name], before[name]) for name in before if name != project)
        and after[project].commit == commit
        and after[project].ref == ref
        and (after[project].upstream, after[project].branch) == (want_upstream, want.branch)
    )
    if not ok:  # pragma: no cover - a bug in the line edit; never write a wrong file
        raise ConfigError(
            f"could not edit the entry of '{project}' in place",
            file=path,
            line=want.line,
            hint="edit 'commit:' and 'ref:' by hand",
        )
    if new_text != text:
        write_atomic(path, new_text.encode("utf-8"))
    return BaseEdit(path, before[project], after[project], new_text != text)


# --- resolving and describing bases in the mirror ------------------------------------------

_HEX_RE = re.compile(r"[0-9a-fA-F]{4,40}")


@dataclass(frozen=True)
class Resolved:
    """What a REF given on the command line names in the upstream."""

    given: str
    commit: str  # always the peeled commit
    kind: str  # branch | tag | commit (an id) | ref (any other name, e.g. refs/tags/x)

    @property
    def ref(self) -> str | None:
        """The name to record as ``ref:`` (None for a bare commit id)."""
        return None if self.kind == "commit" else self.given


def check_ref_argument(ref: str) -> None:
    """Refuse what must never reach git as a revision: options, ranges, reflog syntax."""
    if ref.startswith("-"):
        raise UserError(
            f"REF must not start with '-', got {ref!r}",
            hint="give a tag, branch or commit id of the upstream",
            value=ref,
        )
    if cfg.check_refname(ref) and not _HEX_RE.fullmatch(ref):
        raise UserError(
            f"{ref!r} is not a tag, branch or commit id",
            hint="give a plain name such as 32.0.0 or stable/2025.2, or a commit id",
            value=ref,
        )


def _kind(mirror: Mirror, ref: str, commit: str) -> str:
    # the order Mirror.resolve tries: branch, tag, then anything rev-parse takes
    if git.resolve(mirror.path, f"refs/heads/{ref}"):
        return "branch"
    if git.resolve(mirror.path, f"refs/tags/{ref}"):
        return "tag"
    return "commit" if _HEX_RE.fullmatch(ref) and commit.startswith(ref.lower()) else "ref"


def resolve(
    config: cfg.RepoConfig, project: str, ref: str, *, notify: Notify | None = None
) -> Resolved:
    """Resolve ``ref`` in the project's mirror, fetching when it is missing or a branch."""
    check_ref_argument(ref)
    proj = config.project(project)
    mirror = Mirror.for_project(config, proj, notify=notify).ensure()
    if not mirror.resolve(ref) or git.resolve(mirror.path, f"refs/heads/{ref}"):
        # a branch moves: compare with its tip upstream, not the cached one
        mirror.update()
    commit = mirror.resolve(ref)
    if commit is None and cfg.COMMIT_RE.fullmatch(ref.lower()):
        with contextlib.suppress(UpstreamError):
            mirror.ensure(commits=(ref.lower(),))  # a commit on no branch or tag
        commit = mirror.resolve(ref.lower())
    if commit is None:
        raise UpstreamError(
            f"upstream of '{project}' has no tag, branch or commit '{ref}'",
            hint=f"list what it has with 'git ls-remote {proj.shown_upstream}'",
            value=ref,
        )
    return Resolved(ref, commit, _kind(mirror, ref, commit))


@dataclass(frozen=True)
class BaseInfo:
    """What ``base show`` reports."""

    project: str
    upstream: str
    commit: str
    ref: str | None
    ref_commit: str | None  # what ``ref`` names upstream now (a branch moves)
    describe: str | None
    subject: str
    date: str
    branch: str
    branch_commit: str | None
    ahead: int | None  # commits the branch tip has that the pinned commit has not
    on_branch: bool | None

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "upstream": self.upstream,
            "commit": self.commit,
            "ref": self.ref,
            "ref_commit": self.ref_commit,
            "describe": self.describe,
            "subject": self.subject,
            "date": self.date,
            "branch": self.branch,
            "branch_commit": self.branch_commit,
            "ahead": self.ahead,
            "on_branch": self.on_branch,
        }


def describe(repo: Path, commit: str) -> str | None:
    """``git describe --tags`` of ``commit``, or None when no tag reaches it."""
    res = git.run(["describe", "--tags", "--end-of-options", commit], cwd=repo, ok=(0, 128))
    return res.text.strip() or None if res.returncode == 0 else None


def show(
    config: cfg.RepoConfig, project: str, *, fetch: bool = True, notify: Notify | None = None
) -> BaseInfo:
    """The pinned base of ``project`` and where it stands against its branch."""
    proj = config.project(project)
    mirror = Mirror.for_project(config, proj, notify=notify).ensure(commits=(proj.commit,))
    if fetch:
        mirror.update()
    repo = mirror.path
    subject, _, date = git.out(
        ["log", "-1", "--format=%s%x00%aI", "--end-of-options", proj.commit], cwd=repo
    ).partition("\0")
    branch_commit = git.resolve(repo, f"refs/heads/{proj.branch}")
    ahead = on_branch = None
    if branch_commit:
        ahead = int(git.out(["rev-list", "--count", f"{proj.commit}..{branch_commit}"], cwd=repo))
        on_branch = (
            git.run(
                ["merge-base", "--is-ancestor", proj.commit, branch_commit], cwd=repo, ok=(0, 1)
            ).returncode
            == 0
        )
    ref_commit = mirror.resolve(proj.ref) if proj.ref else None
    return BaseInfo(
        project=project,
        upstream=proj.shown_upstream,
        commit=proj.commit,
        ref=proj.ref,
        ref_commit=ref_commit,
        describe=describe(repo, proj.commit),
        subject=subject,
        date=date,
        branch=proj.branch,
        branch_commit=branch_commit,
        ahead=ahead,
        on_branch=on_branch,
    )


@dataclass(frozen=True)
class SetResult:
    project: str
    resolved: Resolved
    edit: BaseEdit
    work_tree_stale: bool  # the work tree still holds the series on the old base

    def to_json(self) -> dict[str, object]:
        return {
            "project": self.project,
            "commit": self.resolved.commit,
            "ref": self.resolved.ref,
            "kind": self.resolved.kind,
            "previous": {"commit": self.edit.before.commit, "ref": self.edit.before.ref}
            if self.edit.before.commit
            else None,  # the project was added
            "changed": self.edit.changed,
            "work_tree_stale": self.work_tree_stale,
        }


def move(
    config: cfg.RepoConfig,
    project: str,
    ref: str,
    *,
    upstream: str | None = None,
    notify: Notify | None = None,
) -> SetResult:
    """``base set``: pin what ``ref`` names, patch files untouched. With ``upstream``, a
    project base-commit does not list yet is added (``init`` then ``base set``), and a
    listed one gets that upstream."""
    from verda_patch.worktree import WorkTree

    if upstream is not None:
        config = _with_upstream(config, project, upstream)
    resolved = resolve(config, project, ref, notify=notify)
    if upstream is not None and project not in cfg.load_projects(config.root / cfg.BASE_FILE):
        edit = add_project(config.root, config.project(project), resolved)
    else:
        edit = set_base(
            config.root, project, commit=resolved.commit, ref=resolved.ref, upstream=upstream
        )
    tree = WorkTree(config, project)
    stale = tree.exists() and edit.before.commit != resolved.commit
    return SetResult(project, resolved, edit, stale)
