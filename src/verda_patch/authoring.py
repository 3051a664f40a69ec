"""``new`` and ``cherry-pick``: turn work-tree changes or upstream commits into patch files.

``new`` never rewrites the user's files. It renders the change (uncommitted
edits as one commit, or the commits made since the last sync), then rebuilds
the branch *from the patch files* in a throw-away linked work tree that shares
the user's objects: the unchanged prefix of the series is reused, the new
patches are applied at their place in the apply order (the end of their
category, so before the categories after it and before the custom-source
commit), and the rest of the series and custom-source follow, with the same
``git am`` that ``apply`` runs. Only when that gives exactly the tree the user
has are the files written and the branch moved; the working files are never
touched, so a later ``apply`` builds the very same commit ids.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verda_patch import contain, git
from verda_patch.apply import (
    CUSTOM_SOURCE,
    Hooks,
    commit_custom_source,
    custom_files,
    mailbox,
    run_am,
    scratch_tree,
)
from verda_patch.config import RepoConfig
from verda_patch.errors import (
    DirtyWorkTree,
    NothingToDo,
    OperationFailed,
    PatchConflict,
    UpstreamError,
    UserError,
)
from verda_patch.export import (
    ChainCommit,
    add_trailer,
    chain,
    export_tree,
    open_work_tree,
    render_commit,
    render_commits,
)
from verda_patch.mirror import Mirror
from verda_patch.patchfile import TRAILER_KEY, Patch, fold_blank_lines, parse_bytes
from verda_patch.store import SERIES, Store, slugify
from verda_patch.worktree import WorkTree

Notify = Callable[[str], None]

CHANGE_ID_RE = re.compile(r"I[0-9a-f]{40}")
CHERRY_CATEGORY = "cherry-pick"
FALLBACK_IDENTITY = (git.COMMITTER_NAME, git.COMMITTER_EMAIL)
# categories whose patches are upstream changes or meant to become one (SPEC "Categories")
_NEEDS_CHANGE_ID = ("general", CHERRY_CATEGORY)


# --- the user's identity ----------------------------------------------------------


_IDENT_RE = re.compile(r"^(?P<name>.*?) <(?P<mail>[^<>]*)> \d+ [+-]\d{4}$")


def user_identity(repo: Path) -> tuple[str, str]:
    """The author git would record for the user in ``repo``: ``git var GIT_AUTHOR_IDENT``
    (GIT_AUTHOR_* and EMAIL, author.* before user.* config, git's own guess), else
    verda-patch's identity when git cannot tell."""
    ident = git.var("GIT_AUTHOR_IDENT", cwd=repo)
    match = _IDENT_RE.match(ident or "")
    if match is None:
        return FALLBACK_IDENTITY
    return (match["name"] or FALLBACK_IDENTITY[0], match["mail"] or FALLBACK_IDENTITY[1])


def user_editor(repo: Path) -> str | None:
    """The editor git would start in ``repo`` (``git var GIT_EDITOR``: GIT_EDITOR,
    core.editor, VISUAL, EDITOR, then git's default), or None when git has none."""
    return git.var("GIT_EDITOR", cwd=repo)


def now_date() -> str:
    """Now, as git's ``@<epoch> <offset>``, in the local time zone."""
    stamp = time.time()
    offset = time.localtime(stamp).tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    return f"@{int(stamp)} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


# --- what `new` would take ---------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """What the work tree holds beyond the last sync."""

    commits: tuple[str, ...]  # "<sha> <subject>" of commits since the sync, oldest first
    changed: tuple[str, ...]  # tracked paths with staged or unstaged changes
    untracked: tuple[str, ...]

    @property
    def mode(self) -> str:
        """``commits`` when the user committed, else ``uncommitted``."""
        return "commits" if self.commits else "uncommitted"


def _status(repo: Path) -> tuple[list[str], list[str]]:
    """(changed tracked paths, untracked paths) from one ``git status``."""
    res = git.run(
        ["status", "--porcelain", "-z", "--untracked-files=all", "--ignore-submodules"],
        cwd=repo,
    )
    fields = git.zsplit(res.stdout)
    changed: list[str] = []
    untracked: list[str] = []
    i = 0
    while i < len(fields):
        entry = fields[i]
        code, path = entry[:2], entry[3:]
        i += 1
        if code == "??":
            untracked.append(path)
            continue
        changed.append(path)
        if "R" in code or "C" in code:
            i += 1  # the rename's source path follows
    return changed, untracked


def _is_ancestor(repo: Path, older: str, newer: str) -> bool:
    res = git.run(["merge-base", "--is-ancestor", older, newer], cwd=repo, ok=(0, 1, 128))
    return res.returncode == 0


def _new_commits(
    config: RepoConfig, project: str, tree: WorkTree, base: str
) -> tuple[str | None, list[ChainCommit]]:
    """(last sync, or None when the branch was rewritten; the commits no patch file holds).

    Normally that is what was committed on top of the last sync. After an
    amend or ``rebase -i`` it is every commit ``export`` would report as
    untracked, provided export has nothing else to write.
    """
    head = tree.head()
    assert head is not None
    synced = tree.synced()
    if synced is not None and _is_ancestor(tree.path, synced, head):
        custom = f"{CUSTOM_SOURCE}/{project}"
        saved = [c for c in chain(tree.path, base, synced) if c.commit.trailer != custom]
        if all(c.commit.trailer for c in saved):
            return synced, chain(tree.path, synced)
        # an export matched commits that lost their trailer: the branch is no plain apply
    dry = export_tree(config, project, tree.path, base, write=False)
    if dry.written or dry.missing or dry.order_not_saved or dry.custom_source_changed:
        raise OperationFailed(
            f"the branch in {tree.path} was rewritten since the last apply/export "
            "(amend, rebase) and the patch files do not hold it yet",
            hint=f"save it with 'verda-patch export {project}' first, then run 'new' again",
        )
    short = {line.split()[0] for line in dry.untracked}
    return None, [c for c in chain(tree.path, base) if c.sha[:12] in short]


def pending(config: RepoConfig, project: str) -> Pending:
    """Commits and changes in the work tree that no patch file holds yet."""
    tree, base = open_work_tree(config, project)
    _synced, commits = _new_commits(config, project, tree, base)
    changed, untracked = _status(tree.path)
    return Pending(
        commits=tuple(f"{c.sha} {c.commit.subject}" for c in commits),
        changed=tuple(changed),
        untracked=tuple(untracked),
    )


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewResult:
    project: str
    files: tuple[str, ...]  # <category>/<name> written, in apply order
    commits: tuple[str, ...]  # their commits in the work tree (trailer included)
    head: str
    source: str  # "uncommitted" | "commits"
    warnings: tuple[str, ...] = ()
    left_untracked: tuple[str, ...] = ()  # untracked files not taken into the patch

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "files": list(self.files),
            "commits": list(self.commits),
            "head": self.head,
            "source": self.source,
            "warnings": list(self.warnings),
            "left_untracked": list(self.left_untracked),
        }


@dataclass(frozen=True)
class CherryPickResult:
    project: str
    file: str | None  # None when nothing was written (the check failed, no --force)
    commit: str
    subject: str
    change_id: str | None
    matched_by: str  # "change-id" | "rev"
    branches: tuple[str, ...]  # upstream branches holding the commit (Change-Id lookups)
    others: tuple[tuple[str, tuple[str, ...]], ...]  # other commits with the Change-Id
    applies: bool | None  # None: not checked (a problem was found first)
    conflicts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "file": self.file,
            "commit": self.commit,
            "subject": self.subject,
            "change_id": self.change_id,
            "matched_by": self.matched_by,
            "branches": list(self.branches),
            "others": [{"commit": c, "branches": list(b)} for c, b in self.others],
            "applies": self.applies,
            "conflicts": list(self.conflicts),
            "warnings": list(self.warnings),
        }


# --- planning new files --------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    name: str
    data: bytes
    patch: Patch


def _plan(
    store: Store, project: str, category: str, items: Sequence[tuple[str, bytes]]
) -> list[_Planned]:
    """File names (next free numbers) and parsed patches for ``(slug, data)`` items."""
    folder = store.category_dir(project, category)
    first = store.next_number(project, category)
    planned = []
    for i, (slug, data) in enumerate(items):
        name = f"{first + i:04d}-{slugify(slug)}.patch"
        path = folder / name
        if path.exists():
            raise UserError("already exists; not overwriting it", file=path)
        patch = parse_bytes(data, source=path, file=f"{category}/{name}", category=category)
        planned.append(_Planned(name, data, patch))
    return planned


def _series_with(
    store: Store, project: str, category: str, current: Sequence[Patch], new: Sequence[Patch]
) -> list[Patch]:
    """The apply order once ``new`` is written to ``category`` (series appended, or by name)."""
    folder = store.project_dir(project) / category
    in_category = [p for p in current if p.category == category]
    if (folder / SERIES).is_file():
        ordered = [*in_category, *new]
    else:
        ordered = sorted([*in_category, *new], key=lambda p: p.name)
    out: list[Patch] = []
    for cat in store.categories:
        out += ordered if cat == category else [p for p in current if p.category == cat]
    return out


def _write(store: Store, project: str, category: str, planned: Sequence[_Planned]) -> None:
    for item in planned:
        entry = store.add(
            project, category, item.name.split("-", 1)[1][: -len(".patch")], item.data
        )
        if entry.name != item.name:  # pragma: no cover - repo_lock keeps writers apart
            raise OperationFailed(
                f"wrote {entry.file} but expected {category}/{item.name}",
                file=entry.path,
                hint="another process added patches meanwhile; check the category",
            )


def _change_id_warnings(category: str, patches: Sequence[Patch]) -> list[str]:
    if category not in _NEEDS_CHANGE_ID:
        return []
    warnings = []
    for patch in patches:
        if category == CHERRY_CATEGORY and not (patch.change_ids or patch.cherry_picked_from):
            warnings.append(
                f"{patch.file} names no upstream commit or Change-Id; a cherry-pick should "
                "(add upstream commits with 'verda-patch cherry-pick')"
            )
        elif not patch.change_ids:
            warnings.append(f"{patch.file} has no Change-Id; add one when you propose it upstream")
    return warnings


# --- rebuilding the branch -------------------------------------------------------------


@contextmanager
def _linked_tree(repo: Path, at: str, scratch_root: Path) -> Iterator[Path]:
    """A throw-away linked work tree of ``repo`` at ``at`` (objects shared, branch untouched)."""
    scratch_root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="new-", dir=scratch_root))
    path.rmdir()
    git.run(["worktree", "add", "--quiet", "--detach", str(path), at], cwd=repo)
    try:
        yield path
    finally:
        git.run(["worktree", "remove", "--force", "--force", str(path)], cwd=repo, ok=(0, 128))
        shutil.rmtree(path, ignore_errors=True)
        git.run(["worktree", "prune"], cwd=repo, ok=(0, 128))


def _rebuild(
    config: RepoConfig,
    tree: WorkTree,
    base: str,
    synced: str | None,
    current: Sequence[Patch],
    series: Sequence[Patch],
    new: Sequence[Patch],
    want_tree: str,
) -> tuple[str, dict[str, str]]:
    """Build ``series`` in a linked tree; return (head, file → commit of each new patch).

    With a sync point the branch up to the first changed place is reused;
    after a rewrite (``synced`` None) everything is built from ``base``.
    """
    project = tree.project
    custom = f"{CUSTOM_SOURCE}/{project}"
    have: list[ChainCommit] = []
    keep = 0
    if synced is not None:
        # the synced branch is the patch files applied: reuse its commits up to the new ones
        have = [c for c in chain(tree.path, base, synced) if c.commit.trailer != custom]
        if [c.commit.trailer for c in have] != [p.file for p in current]:
            raise OperationFailed(
                f"the patch files of {project} changed since {tree.path} was built",
                hint=f"keep your change aside ('git -C {tree.path} stash -u'), run 'verda-patch "
                f"apply {project}', then 'git stash pop' and 'new' again",
            )
        while (
            keep < len(current) and keep < len(series) and current[keep].file == series[keep].file
        ):
            keep += 1
    start = have[keep - 1].sha if keep else base
    rest = list(series[keep:])
    new_files = {p.file for p in new}
    with _linked_tree(tree.path, start, contain.verda_dir(config.root, "tmp")) as scratch:
        outcome = run_am(scratch, mailbox(rest), len(rest))
        if not outcome.ok:
            done = int(git.out(["rev-list", "--count", f"{start}..HEAD"], cwd=scratch) or 0)
            failing = rest[done].file if done < len(rest) else "the series"
            if failing in new_files:
                later = next((p.file for p in rest if p.file not in new_files), None)
                message = f"your change does not apply at its place in the series ({failing}"
                message += f", before {later})" if later else ")"
            else:
                message = f"{failing} no longer applies on top of your change"
            raise OperationFailed(
                message,
                hint="a change that builds on later patches belongs in a later category "
                "(-c), or make it on top of the patch it needs",
            )
        commit_custom_source(config, project, scratch)
        head = git.out(["rev-parse", "HEAD"], cwd=scratch)
    built = {c.commit.trailer: c.sha for c in chain(tree.path, start, head)}
    if [t for t in built if t != custom] != [p.file for p in rest]:
        raise OperationFailed(
            "rebuilding the series made no commit for one of its patches "
            "(its change is already in the tree)",
            hint="check that your change is not already carried by a patch",
        )
    got_tree = git.out(["rev-parse", f"{head}^{{tree}}"], cwd=tree.path)
    if got_tree != want_tree:
        paths = git.zsplit(
            git.run(["diff", "--name-only", "-z", want_tree, got_tree], cwd=tree.path).stdout
        )
        raise OperationFailed(
            "the series rebuilt with your change differs from your work tree in "
            + ", ".join(paths[:5])
            + (f" and {len(paths) - 5} more" if len(paths) > 5 else ""),
            hint="the change depends on its place in the series; put it in a later category",
        )
    return head, {file: sha for file, sha in built.items() if file in new_files}


def _move_branch(tree: WorkTree, new_head: str, old_head: str) -> None:
    """Point the branch at ``new_head`` and the index at its tree; the files stay as they are."""
    git.run(
        ["update-ref", "-m", "verda-patch new", f"refs/heads/{tree.branch}", new_head, old_head],
        cwd=tree.path,
    )
    git.run(["reset", "--quiet", "--mixed", "HEAD"], cwd=tree.path)
    tree.mark_synced()


# --- new -----------------------------------------------------------------------------------


def _uncommitted_commit(
    tree: WorkTree,
    head: str,
    message: str,
    author: tuple[str, str],
    date: str,
    include_untracked: bool,
) -> str | None:
    """One commit object (not on any branch) holding every uncommitted change, or None."""
    index = tree.git_dir() / "verda-new.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        # start from the user's index: its stat data spares hashing every file of the
        # tree. copy2 keeps the index's mtime, which git needs: an entry whose file
        # is as new as the index is "racily clean" and gets its content compared; a
        # fresh mtime on the copy would make git trust stale stat data and miss a
        # same-size edit made in the second the index was written (issue 17)
        shutil.copy2(tree.git_dir() / "index", index)
    except FileNotFoundError:
        git.run(["read-tree", head], cwd=tree.path, env=env)
    try:
        git.run(["add", "-A" if include_untracked else "-u", "--", "."], cwd=tree.path, env=env)
        new_tree = git.out(["write-tree"], cwd=tree.path, env=env)
    finally:
        index.unlink(missing_ok=True)
    if new_tree == git.out(["rev-parse", f"{head}^{{tree}}"], cwd=tree.path):
        return None
    return git.out(
        ["commit-tree", new_tree, "-p", head],
        cwd=tree.path,
        input=(message.rstrip("\n") + "\n").encode(),
        env={"GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": date},
    )


def clean_message(text: str) -> str:
    """An editor's text as a commit message: ``#`` lines dropped, blanks folded, ends trimmed."""
    return fold_blank_lines(line.rstrip() for line in text.splitlines() if not line.startswith("#"))


def new_patch(
    config: RepoConfig,
    project: str,
    name: str,
    category: str,
    *,
    message: str | None = None,
    include_untracked: bool = True,
    author: tuple[str, str] | None = None,
    date: str | None = None,
) -> NewResult:
    """Turn the work tree's changes since the last sync into patch files of ``category``."""
    store = Store(config)
    store.category_dir(project, category)  # unknown category: exit 2 before anything else
    slug = name.removesuffix(".patch").removesuffix(".diff")
    if not re.search(r"[A-Za-z0-9]", slug):
        raise UserError(f"NAME {name!r} makes no file name", hint="use e.g. 'fix-quota-check'")
    tree, base = open_work_tree(config, project)
    identity = author or user_identity(tree.path)  # read once, up front
    head = tree.head()
    assert head is not None
    synced, commits = _new_commits(config, project, tree, base)
    changed, untracked = _status(tree.path)
    left: tuple[str, ...] = ()

    if commits:
        if changed:
            raise DirtyWorkTree(
                f"{tree.path} has new commits and uncommitted changes ({changed[0]}"
                + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                + ")",
                hint="commit the changes too ('git commit -a') so each commit becomes a patch, "
                "or set them aside with 'git stash'",
            )
        if message is not None:
            raise UserError(
                "-m is for uncommitted changes; your commits keep their own messages",
                hint="reword them with 'git commit --amend' or 'git rebase -i' first",
            )
        for item in commits:
            if len(item.parents) > 1:
                raise UserError(
                    f"commit {item.sha[:12]} is a merge; a patch series is linear",
                    hint="rebase or squash it, then run 'new' again",
                )
            if item.commit.trailer is not None:
                raise UserError(
                    f"commit {item.sha[:12]} already carries '{TRAILER_KEY}: "
                    f"{item.commit.trailer}'",
                    hint=f"save it with 'verda-patch export {project}'",
                )
        shas = [item.sha for item in commits]
        source = "commits"
        left = tuple(untracked)
    else:
        if not changed and not (untracked and include_untracked):
            more = f" ({len(untracked)} untracked files left out)" if untracked else ""
            raise NothingToDo(
                f"nothing to turn into a patch: {tree.path} has no changes and no commits "
                f"since the last apply/export{more}",
                hint=f"edit files in {tree.path} first",
            )
        text = message if message is not None else slug
        if not text.strip():
            raise UserError("the commit message is empty", hint="give one with -m")
        commit = _uncommitted_commit(
            tree, head, text, identity, date or now_date(), include_untracked
        )
        if commit is None:
            raise NothingToDo(
                f"nothing to turn into a patch: the changes in {tree.path} cancel out",
                hint=f"edit files in {tree.path} first",
            )
        shas = [commit]
        source = "uncommitted"
        left = () if include_untracked else tuple(untracked)

    touched: set[str] = set()
    for sha in shas:
        touched.update(
            git.zsplit(
                git.run(
                    ["diff-tree", "-r", "--no-renames", "--name-only", "-z", f"{sha}^", sha],
                    cwd=tree.path,
                ).stdout
            )
        )
    from_custom = sorted(touched & {rel for rel, _ in custom_files(config.root, project)})
    if from_custom:
        raise UserError(
            f"{from_custom[0]} comes from {CUSTOM_SOURCE}/{project}/{from_custom[0]}, which is "
            "copied over the tree after every patch",
            file=config.root / CUSTOM_SOURCE / project / from_custom[0],
            hint="edit that file in the patch repo instead, and leave it out of the change",
        )

    rendered = render_commits(tree.path, synced or base, shas)
    slugs = [slug] if len(shas) == 1 else [item.commit.subject for item in commits]
    planned = _plan(
        store, project, category, list(zip(slugs, (rendered[s] for s in shas), strict=True))
    )
    current = store.load(project)
    new = [item.patch for item in planned]
    series = _series_with(store, project, category, current, new)
    tip = shas[-1] if source == "uncommitted" else head
    want_tree = git.out(["rev-parse", f"{tip}^{{tree}}"], cwd=tree.path)
    new_head, built = _rebuild(config, tree, base, synced, current, series, new, want_tree)

    # the files hold the commits at their place in the series, as export would write them
    final = render_commits(tree.path, f"{built[new[0].file]}^", [built[p.file] for p in new])
    planned = [_Planned(item.name, final[built[item.patch.file]], item.patch) for item in planned]
    _write(store, project, category, planned)
    _move_branch(tree, new_head, head)
    return NewResult(
        project=project,
        files=tuple(p.file for p in new),
        commits=tuple(built[p.file] for p in new),
        head=new_head,
        source=source,
        warnings=tuple(_change_id_warnings(category, new)),
        left_untracked=left,
    )


# --- cherry-pick ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """An upstream commit ``cherry-pick`` will carry."""

    commit: str
    matched_by: str
    branches: tuple[str, ...] = ()
    others: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _branches_holding(mirror: Path, sha: str) -> tuple[str, ...]:
    res = git.run(
        ["for-each-ref", "--format=%(refname:short)", "--contains", sha, "refs/heads/"],
        cwd=mirror,
    )
    return tuple(res.text.split())


def find_by_change_id(mirror: Mirror, change_id: str, prefer: str) -> Found:
    """The commit carrying ``Change-Id: change_id`` on the mirror's branches.

    One ``git log --branches`` pass; with several, the one on master wins, then
    the one on ``prefer`` (the project's branch), then the newest.
    """
    res = git.run(
        ["log", "--branches", "--format=%H%x1f%P%x1f%B%x1e", f"--grep=^Change-Id: {change_id}$"],
        cwd=mirror.path,
    )
    line = re.compile(rf"^Change-Id:[ \t]*{change_id}[ \t]*$", re.MULTILINE)
    matches: list[tuple[str, bool]] = []
    for record in res.stdout.decode("utf-8", "surrogateescape").split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        sha, parents, body = record.split("\x1f", 2)
        if line.search(body):
            matches.append((sha, len(parents.split()) > 1))
    if not matches:
        names = git.run(
            ["for-each-ref", "--format=%(refname:short)", "refs/heads/"], cwd=mirror.path
        ).text.split()
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        raise UpstreamError(
            f"no commit on the branches of {mirror.location} carries Change-Id {change_id} "
            f"(searched {len(names)} branches: {shown or 'none'})",
            hint="check the Change-Id, or give the upstream commit's sha",
            value=change_id,
        )
    plain = [m for m in matches if not m[1]] or matches
    holding = [(sha, _branches_holding(mirror.path, sha)) for sha, _ in plain]
    holding.sort(key=lambda item: 0 if "master" in item[1] else 1 if prefer in item[1] else 2)
    chosen, branches = holding[0]
    return Found(chosen, "change-id", branches, tuple(holding[1:]))


def find_upstream(
    config: RepoConfig, project: str, rev: str, notify: Notify | None = None
) -> tuple[Mirror, Found]:
    """Resolve ``rev`` (sha, branch, tag or Change-Id) in the project's mirror, fetching once."""
    proj = config.project(project)
    mirror = Mirror.for_project(config, proj, notify=notify).ensure(commits=(proj.commit,))
    if CHANGE_ID_RE.fullmatch(rev):
        mirror.update()
        return mirror, find_by_change_id(mirror, rev, proj.branch)
    sha = mirror.resolve(rev)
    if sha is None:
        mirror.update()
        sha = mirror.resolve(rev)
    if sha is None:
        raise UpstreamError(
            f"'{rev}' is no commit, branch or tag of upstream {mirror.location} "
            "(fetched its branches and tags just now)",
            hint="give an upstream sha, a ref, or a Gerrit Change-Id (I + 40 hex)",
            value=rev,
        )
    return mirror, Found(sha, "rev")


def cherry_pick(
    config: RepoConfig,
    project: str,
    rev: str,
    *,
    force: bool = False,
    hooks: Hooks | None = None,
) -> CherryPickResult:
    """Add upstream ``rev`` as ``cherry-pick/NNNN-<slug>.patch``, if it applies on the series."""
    hooks = hooks or Hooks()
    store = Store(config)
    store.category_dir(project, CHERRY_CATEGORY)
    proj = config.project(project)
    mirror, found = find_upstream(config, project, rev, notify=hooks.notify)
    sha = found.commit
    parents = git.out(["rev-list", "--parents", "-n", "1", sha], cwd=mirror.path).split()[1:]
    if len(parents) > 1:
        raise UserError(
            f"upstream {sha[:12]} is a merge commit; a patch carries one change",
            hint=f"cherry-pick the commits it merges instead (git log {sha[:12]}^1..{sha[:12]}^2)",
        )
    if not parents:
        raise UserError(f"upstream {sha[:12]} is a root commit; there is nothing to pick onto")
    data = add_trailer(render_commit(mirror.path, sha), f"(cherry picked from commit {sha})")
    subject = git.out(["log", "-1", "--format=%s", sha], cwd=mirror.path)
    [planned] = _plan(store, project, CHERRY_CATEGORY, [(subject, data)])
    patch = planned.patch
    current = store.load(project)

    problems: list[str] = []
    warnings: list[str] = []
    if (
        git.run(
            ["merge-base", "--is-ancestor", sha, proj.commit], cwd=mirror.path, ok=(0, 1)
        ).returncode
        == 0
    ):
        problems.append(f"upstream {sha[:12]} is already in the base {proj.commit[:12]}")
    for other in current:
        if any(sha.startswith(cited) for cited in other.cherry_picked_from) or (
            patch.change_id and patch.change_id in other.change_ids
        ):
            problems.append(f"{other.file} already carries it")
    if not patch.change_ids:
        warnings.append(f"upstream {sha[:12]} has no Change-Id")

    conflicts: tuple[str, ...] = ()
    applies: bool | None = None
    if not problems:
        applies = True
        series = _series_with(store, project, CHERRY_CATEGORY, current, [patch])
        try:
            with scratch_tree(
                config,
                project,
                patches=series,
                hooks=Hooks(notify=hooks.notify, progress=hooks.progress),
            ):
                pass
        except PatchConflict as exc:
            applies = False
            conflicts = exc.paths
            if exc.patch == patch.file:
                where = f" in {', '.join(exc.paths)}" if exc.paths else ""
                problems.append(f"it does not apply on top of the current series{where}")
            else:
                problems.append(f"the current series does not apply ({exc.patch}: {exc.message})")
    if problems and not force:
        raise OperationFailed(
            f"not adding {sha[:12]} ({subject}): " + "; ".join(problems),
            file=store.category_dir(project, CHERRY_CATEGORY),
            hint="nothing was written; add --force to write it anyway",
        )
    warnings = problems + warnings if problems else warnings
    _write(store, project, CHERRY_CATEGORY, [planned])
    return CherryPickResult(
        project=project,
        file=patch.file,
        commit=sha,
        subject=subject,
        change_id=patch.change_id,
        matched_by=found.matched_by,
        branches=found.branches,
        others=found.others,
        applies=applies,
        conflicts=conflicts,
        warnings=tuple(warnings),
    )
