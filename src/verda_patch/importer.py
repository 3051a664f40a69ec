"""``import``: adopt a patch queue kept elsewhere — a quilt series, a fork branch, a mailbox.

Every source becomes a list of incoming patches in the source's order. Each
is sorted into a category with the reason shown (SPEC "Commands"): what cites
or is found upstream is a cherry-pick; DEP-3 ``Forwarded: not-needed`` or
``Origin: vendor`` stays downstream (customs); other DEP-3 files are general;
a commit or mail without DEP-3 fields is general when it carries a Change-Id
(proposed upstream), else customs.

Before anything is written the imported series is built twice in scratch
trees: the project's series with the queue in the source's order, and the
series as it will be kept (category order). Both must give the same tree;
splitting a queue into categories reorders it, and a patch that needs an
earlier one in another category would otherwise be found only by the next
``apply``.

Nothing is overwritten: quilt files keep their names and a name the category
already has refuses the import; so does a patch whose diff the project
already carries (an import run twice). Imported names are appended to each
category's ``series`` (one is created, listing the category's present files
first, when the category has none).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verda_patch import git, history_index, presence
from verda_patch.apply import Hooks, custom_files, scratch_tree
from verda_patch.config import RepoConfig
from verda_patch.dep3 import is_marker
from verda_patch.errors import (
    NothingToDo,
    PatchConflict,
    PatchError,
    UpstreamError,
    UserError,
)
from verda_patch.export import render_commits
from verda_patch.mirror import Mirror
from verda_patch.patchfile import Patch, parse_bytes
from verda_patch.store import (
    SERIES,
    Store,
    is_file_name,
    is_patch_name,
    read_series,
    slugify,
    write_atomic,
)

Notify = Callable[[str], None]

KINDS = ("quilt", "branch", "mbox")
# the SPEC's roles; a patch repo that renames its categories picks with -c
CHERRY_PICK, GENERAL, CUSTOMS = "cherry-pick", "general", "customs"

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*?)[ \t]*$")
_HEX_RE = re.compile(r"\b[0-9a-f]{7,40}\b")
_STRIP_RE = re.compile(r"^-p ?(\d+)$")


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """One patch of the queue: where it came from and where it goes."""

    source: str  # series entry, commit id or "<mbox>:<n>"
    file: str  # <category>/<name> under patches/<project>/
    category: str
    reason: str
    subject: str
    author: str | None
    written: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "file": self.file,
            "category": self.category,
            "reason": self.reason,
            "subject": self.subject,
            "author": self.author,
            "written": self.written,
        }


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


@dataclass(frozen=True)
class Verification:
    """The imported series built next to the queue in its own order."""

    source_tree: str | None  # the queue applied in source order (None: it does not apply)
    tree: str | None  # the series as imported (None: it does not apply)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None and self.tree is not None and self.tree == self.source_tree


@dataclass(frozen=True)
class ImportResult:
    project: str
    kind: str  # quilt | branch | mbox
    origin: str  # the DIR, REF or FILE given
    patches: tuple[Imported, ...]
    skipped: tuple[Skipped, ...]
    verification: Verification | None
    written: bool

    def to_json(self) -> dict[str, Any]:
        check = self.verification
        return {
            "project": self.project,
            "kind": self.kind,
            "origin": self.origin,
            "patches": [p.to_json() for p in self.patches],
            "skipped": [{"source": s.source, "reason": s.reason} for s in self.skipped],
            "same_tree": check.ok if check else None,
            "source_tree": check.source_tree if check else None,
            "tree": check.tree if check else None,
            "problem": check.problem if check else None,
            "written": self.written,
        }


# --- incoming patches ----------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A patch as the source holds it, before it has a place in the patch repo."""

    source: str
    data: bytes
    name: str | None = None  # kept file name (quilt); None: NNNN-<subject>.patch
    note: str = ""  # what was done to it on the way in (shown with the reason)
    commit: str | None = None  # the fork commit (branch imports)


def read_quilt(folder: Path) -> list[Incoming]:
    """The patches a quilt ``series`` names, in its order; commented-out lines stay out."""
    series = folder / SERIES
    if not series.is_file():
        raise UserError(
            f"no '{SERIES}' file in {folder}",
            file=folder,
            hint="point --quilt at the folder holding series, e.g. debian/patches",
        )
    out: list[Incoming] = []
    names: dict[str, int] = {}
    text = series.read_bytes().decode("utf-8", "surrogateescape")
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split() if not line.lstrip().startswith("#") else []
        if not words:
            continue
        entry, options = words[0], words[1:]
        strip = 1
        for option in options:
            m = _STRIP_RE.match(option)
            if not m:
                raise PatchError(
                    f"quilt option {option!r} is not supported (only -pN)",
                    file=series,
                    line=lineno,
                    hint="apply the patch by hand and re-export it, or drop the option",
                )
            strip = int(m.group(1))
        path = folder / entry
        if ".." in Path(entry).parts or entry.startswith("/"):
            raise PatchError(f"series entry {entry!r} leaves {folder}", file=series, line=lineno)
        if path.is_symlink():
            # a source package is someone else's input: read only its own files
            raise PatchError(
                f"series entry '{entry}' is a symlink",
                file=series,
                line=lineno,
                hint="copy the file it points at into the folder",
            )
        if not path.is_file():
            raise PatchError(
                f"series names '{entry}' but {path} does not exist",
                file=series,
                line=lineno,
                hint="restore the file or comment the line out",
            )
        name, notes = entry, []
        if not is_file_name(name):
            name = name.replace("/", "-").replace("\\", "-")
            notes.append(f"renamed from {entry}")
        if not is_patch_name(name):
            name = name.lstrip(".") + ".patch"
            notes.append(f"named {name}")
        if name in names:
            raise PatchError(
                f"'{entry}' becomes {name}, as does line {names[name]}",
                file=series,
                line=lineno,
                hint="rename one of the two files in the series",
            )
        names[name] = lineno
        data = path.read_bytes()
        if strip != 1:
            data = restrip(data, strip, source=path)
            notes.append(f"paths rewritten from -p{strip} to -p1")
        out.append(Incoming(entry, data, name=name, note="; ".join(notes)))
    return out


def restrip(data: bytes, strip: int, *, source: Path) -> bytes:
    """A ``-pN`` diff as the ``-p1`` diff git applies: ``--- x`` → ``--- a/x`` for -p0."""
    lines = data.splitlines(keepends=True)
    if any(line.startswith(b"diff --git ") for line in lines):
        raise PatchError(
            f"a git diff cannot be applied with -p{strip}",
            file=source,
            hint="remove the -p option from the series line",
        )
    out: list[bytes] = []
    for i, line in enumerate(lines):
        header = (
            line.startswith(b"--- ") and i + 1 < len(lines) and lines[i + 1].startswith(b"+++ ")
        ) or (line.startswith(b"+++ ") and i > 0 and lines[i - 1].startswith(b"--- "))
        if header:
            line = _restrip_line(line, strip, source)
        out.append(line)
    return b"".join(out)


def _restrip_line(line: bytes, strip: int, source: Path) -> bytes:
    marker, rest = line[:4], line[4:]
    end = rest.find(b"\t")
    if end < 0:
        end = len(rest.rstrip(b"\r\n"))
    path, tail = rest[:end], rest[end:]
    if path == b"/dev/null":
        return line
    parts = path.split(b"/")
    if len(parts) <= strip:
        raise PatchError(
            f"path {path.decode('utf-8', 'replace')!r} has fewer than {strip} leading folders",
            file=source,
        )
    prefix = b"a/" if marker == b"--- " else b"b/"
    return marker + prefix + b"/".join(parts[strip:]) + tail


def read_mbox(repo: Path, mbox: Path) -> list[Incoming]:
    """The messages of a mailbox, split by ``git mailsplit`` as ``git am`` splits it."""
    if not mbox.is_file():
        raise UserError("no such file", file=mbox, hint="give the mailbox with --mbox FILE")
    room = Path(tempfile.mkdtemp(prefix="verda-mbox-"))
    try:
        res = git.run(["mailsplit", f"-o{room}", "--", str(mbox.resolve())], cwd=repo, ok=(0, 128))
        if res.returncode:
            raise UserError(
                f"git mailsplit cannot read it: {res.err.strip() or 'exit 128'}", file=mbox
            )
        parts = sorted(room.iterdir(), key=lambda p: p.name)
        return [Incoming(f"{mbox.name}:{i}", part.read_bytes()) for i, part in enumerate(parts, 1)]
    finally:
        shutil.rmtree(room, ignore_errors=True)


@dataclass(frozen=True)
class Fork:
    """Where ``--branch`` reads: a git repository and the commits of base..REF."""

    repo: Path
    ref: str
    tip: str
    tree: str  # the tip's tree: what the imported commits must build
    commits: tuple[str, ...]
    skipped: tuple[Skipped, ...] = ()


def read_fork(repo: Path, ref: str, base: str, where: str) -> Fork:
    """The commits of ``base..ref`` in ``repo``, oldest first; merges and empty ones skipped."""
    tip = git.resolve(repo, ref)
    if tip is None:
        raise UpstreamError(
            f"'{ref}' is no commit, branch or tag of {where}",
            hint="name a branch of the fork, or read it from a clone with --from DIR",
            value=ref,
        )
    if not git.is_commit(repo, base):
        raise UpstreamError(
            f"{where} does not have the base commit {base[:12]}",
            hint="fetch the upstream into it first, or fix 'commit:' in base-commit",
        )
    res = git.run(["merge-base", "--is-ancestor", base, tip], cwd=repo, ok=(0, 1))
    if res.returncode:
        fork_point = git.run(["merge-base", base, tip], cwd=repo, ok=(0, 1)).text.strip()
        hint = (
            f"the fork leaves upstream at {fork_point[:12]}: 'verda-patch base set' to it, "
            f"or rebase the fork onto {base[:12]}"
            if fork_point
            else "the fork shares no history with the base"
        )
        raise UpstreamError(
            f"'{ref}' ({tip[:12]}) does not contain the base {base[:12]}", hint=hint
        )
    listing = git.out(
        ["log", "--reverse", "--topo-order", "--format=%H %T %P", f"{base}..{tip}", "--"],
        cwd=repo,
    )
    trees: dict[str, str] = {}
    commits: list[str] = []
    skipped: list[Skipped] = []
    for line in listing.splitlines():
        sha, tree, *parents = line.split()
        trees[sha] = tree
        if len(parents) > 1:
            # format-patch leaves merges out too; the check against the tip's tree
            # tells whether one resolved a conflict the linear series lacks
            skipped.append(
                Skipped(sha[:12], "merge commit: its changes come with the commits it merges")
            )
            continue
        parent_tree = trees.get(parents[0]) if parents else None
        if parent_tree is None and parents:
            parent_tree = git.out(["rev-parse", f"{parents[0]}^{{tree}}"], cwd=repo)
        if parent_tree == tree:
            skipped.append(Skipped(sha[:12], "empty commit: it changes nothing"))
            continue
        commits.append(sha)
    return Fork(
        repo,
        ref,
        tip,
        trees.get(tip) or git.out(["rev-parse", f"{tip}^{{tree}}"], cwd=repo),
        tuple(commits),
        tuple(skipped),
    )


def fork_patches(fork: Fork, base: str) -> list[Incoming]:
    """Each fork commit as the ``git format-patch`` file ``export`` writes."""
    if not fork.skipped:  # linear: one format-patch of the whole range
        rendered = render_commits(fork.repo, base, fork.commits)
    else:  # merges leave no single range ending in a patch commit: one call each
        rendered = {}
        for sha in fork.commits:
            rendered.update(render_commits(fork.repo, f"{sha}^", [sha]))
    return [Incoming(sha[:12], rendered[sha], commit=sha) for sha in fork.commits]


# --- DEP-3 -------------------------------------------------------------------------------


def dep3_fields(patch: Patch) -> dict[str, str]:
    """The DEP-3 fields of a patch by lower-case name (first value each); {} when none.

    A DEP-3 header is read by the patch parser (``Patch.dep3``); a mail carries
    the fields as the last lines of its message instead (``gbp pq`` writes them
    there).
    """
    if any(is_marker(name) for name in patch.dep3):
        return {name.lower(): patch.dep3[name] for name in patch.dep3}
    fields: dict[str, str] = {}
    for line in patch.message.rsplit("\n\n", 1)[-1].splitlines():
        if m := _FIELD_RE.match(line):
            fields.setdefault(m.group(1).lower(), m.group(2))
    return fields if any(is_marker(name) for name in fields) else {}


# --- upstream lookups --------------------------------------------------------------------


@dataclass(frozen=True)
class OnUpstream:
    """What the upstream holds of the commits and Change-Ids a queue names."""

    commits: dict[str, str]  # named id (maybe abbreviated) → the upstream commit carrying it
    change_ids: dict[str, str]  # Change-Id → an upstream commit carrying it
    branch: dict[str, str] = field(default_factory=dict)  # named id → the branch holding it


def upstream_lookup(
    mirror: Mirror,
    branches: Sequence[str],
    commits: Iterable[str],
    change_ids: Iterable[str],
    notify: Notify | None = None,
) -> OnUpstream:
    """Which ``commits`` and ``change_ids`` the history of upstream's ``branches`` holds.

    Asked through the mirror's history index (SPEC "Merged upstream"): a commit
    counts when a branch reaches it or a commit citing it, a Change-Id when a
    reached commit carries it in its trailers; a reverted change does not count.
    """
    targets = tuple(b for b in dict.fromkeys(branches) if mirror.resolve(b))
    wanted = sorted(set(commits))
    full: dict[str, str] = {}
    if wanted:
        res = git.run(
            ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=mirror.path,
            input="".join(f"{c}^{{commit}}\n" for c in wanted).encode(),
        )
        for named, line in zip(wanted, res.text.splitlines(), strict=False):
            words = line.split()
            if len(words) == 2 and words[1] == "commit":
                full[named] = words[0]
    queries = [presence.Query((sha,), (), (named,)) for named, sha in full.items()]
    queries += [presence.Query((), (cid,)) for cid in sorted(set(change_ids))]
    found: dict[str, str] = {}
    where: dict[str, str] = {}
    by_id: dict[str, str] = {}
    if queries and targets:
        with history_index.for_mirror(mirror, notify) as index:
            for target in targets:
                answers = presence.Lookup(mirror.path, index, f"refs/heads/{target}").find(queries)
                for query, answer in zip(queries, answers, strict=True):
                    if not answer.present:
                        continue
                    if query.commits:
                        if query.aliases[0] not in found:
                            found[query.aliases[0]] = answer.upstream[0]
                            where[query.aliases[0]] = target
                    else:
                        by_id.setdefault(query.change_ids[0], answer.upstream[0])
    return OnUpstream(found, by_id, where)


# --- categories -----------------------------------------------------------------------


def _hexes(value: str) -> list[str]:
    return _HEX_RE.findall(value.lower())


def classify(
    patch: Patch,
    fields: dict[str, str],
    upstream: OnUpstream,
    repo_name: str,
    commit: str | None = None,
) -> tuple[str, str]:
    """(role, reason): cherry-pick, general or customs, with the evidence.

    ``commit``: the fork commit the patch was made from (branch imports).
    """
    if commit and commit in upstream.commits:
        return CHERRY_PICK, f"upstream commit (on {upstream.branch.get(commit, 'upstream')})"
    for cited in patch.cherry_picked_from:
        if cited in upstream.commits:
            return (
                CHERRY_PICK,
                f"cherry picked from {upstream.commits[cited][:12]}, upstream has it",
            )
    for cid in patch.change_ids:
        if cid in upstream.change_ids:
            return (
                CHERRY_PICK,
                f"Change-Id {cid[:9]}… is upstream ({upstream.change_ids[cid][:12]})",
            )
    origin = fields.get("origin", "")
    keyword = origin.partition(",")[0]
    keyword = keyword.strip().lower()
    if keyword in ("upstream", "backport"):
        return CHERRY_PICK, f"DEP-3 Origin: {keyword}"
    for name in ("origin", "applied-upstream"):
        for sha in _hexes(fields.get(name, "")):
            if sha in upstream.commits:
                return (
                    CHERRY_PICK,
                    f"DEP-3 {name.title()} names upstream {upstream.commits[sha][:12]}",
                )
    if fields.get("applied-upstream"):
        return CHERRY_PICK, "DEP-3 Applied-Upstream"
    if keyword.startswith(("http://", "https://")) and repo_name and repo_name in origin:
        return CHERRY_PICK, "DEP-3 Origin is an upstream URL"
    forwarded = fields.get("forwarded", "").strip().lower()
    if forwarded == "not-needed":
        return CUSTOMS, "DEP-3 Forwarded: not-needed"
    if keyword == "vendor":
        return CUSTOMS, "DEP-3 Origin: vendor"
    lacking = [c[:12] for c in patch.cherry_picked_from]
    not_up = f" (cites {', '.join(lacking)}, which upstream lacks)" if lacking else ""
    if fields:
        shown = (
            f"Forwarded: {fields['forwarded']}"
            if "forwarded" in fields
            else "header, no upstream Origin"
        )
        return GENERAL, f"DEP-3 {shown}{not_up}"
    if patch.change_ids:
        return (
            GENERAL,
            f"Change-Id {(patch.change_id or '')[:9]}… not upstream (proposed){not_up}",
        )
    return CUSTOMS, f"no DEP-3, no Change-Id, not upstream{not_up}"


def _repo_name(location: str) -> str:
    """``openstack/keystone`` of ``https://opendev.org/openstack/keystone.git`` (last two parts)."""
    parts = [p for p in re.split(r"[/:]", location.rstrip("/")) if p]
    name = "/".join(parts[-2:]) if len(parts) >= 2 else (parts[-1] if parts else "")
    return name.removesuffix(".git")


# --- the import ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """What to import: ``kind`` is quilt (a folder), branch (a ref) or mbox (a file)."""

    kind: str
    value: str
    from_dir: Path | None = None  # branch imports: the git repository holding the ref


@dataclass(frozen=True)
class _Gathered:
    items: list[Incoming]
    skipped: tuple[Skipped, ...] = ()
    tree: str | None = None  # the tree the queue must build (the fork tip's)


@dataclass(frozen=True)
class _Planned:
    incoming: Incoming
    patch: Patch  # parsed with its final name, for the build
    imported: Imported


def _gather(config: RepoConfig, project: str, source: Source, mirror: Mirror) -> _Gathered:
    """The source's patches in its order (and for a fork what else it knows)."""
    proj = config.project(project)
    if source.kind == "quilt":
        return _Gathered(read_quilt(Path(source.value)))
    if source.kind == "mbox":
        return _Gathered(read_mbox(config.root, Path(source.value)))
    if source.kind != "branch":  # pragma: no cover - the CLI offers the three kinds only
        raise UserError(f"unknown source kind {source.kind!r}")
    if source.from_dir is not None:
        repo = source.from_dir.resolve()
        if git.run(["rev-parse", "--git-dir"], cwd=repo, ok=(0, 128)).returncode:
            raise UserError(
                "not a git repository",
                file=source.from_dir,
                hint="--from takes a clone of the fork",
            )
        where = str(source.from_dir)
    else:
        repo = mirror.path
        where = f"upstream {mirror.location}"
        if mirror.resolve(source.value) is None:
            mirror.update()
    fork = read_fork(repo, source.value, proj.commit, where)
    return _Gathered(fork_patches(fork, proj.commit), fork.skipped, fork.tree)


def _parse(
    items: Sequence[Incoming], source: Source
) -> tuple[list[tuple[Incoming, Patch]], list[Skipped]]:
    """Parse every incoming patch; unreadable ones are named all at once (exit 2)."""
    parsed: list[tuple[Incoming, Patch]] = []
    skipped: list[Skipped] = []
    errors: list[PatchError] = []
    for item in items:
        path = Path(source.value) / item.source if source.kind == "quilt" else Path(item.source)
        try:
            parsed.append((item, parse_bytes(item.data, source=path)))
        except PatchError as exc:
            if source.kind == "mbox" and exc.message == "no diff found":
                skipped.append(Skipped(item.source, "no diff (a cover letter or a reply)"))
            else:
                errors.append(exc)
    if errors:
        first = errors[0]
        more = "; ".join(str(e) for e in errors[1:4])
        raise PatchError(
            first.message
            + (f" (and {len(errors) - 1} more unreadable: {more})" if len(errors) > 1 else ""),
            file=first.file,
            line=first.line,
            hint="nothing was imported; fix or drop these files and re-run",
        )
    return parsed, skipped


def _lookup(
    mirror: Mirror,
    branches: Sequence[str],
    parsed: Sequence[tuple[Incoming, Patch]],
    notify: Notify | None,
) -> tuple[OnUpstream, list[dict[str, str]]]:
    fields = [dep3_fields(patch) for _item, patch in parsed]
    named: list[str] = []
    ids: list[str] = []
    for (item, patch), dep3 in zip(parsed, fields, strict=True):
        named += [item.commit] if item.commit else []
        named += patch.cherry_picked_from
        named += _hexes(dep3.get("origin", "") + " " + dep3.get("applied-upstream", ""))
        ids += patch.change_ids
        if re.fullmatch(r"I[0-9a-f]{40}", dep3.get("change-id", "")):
            ids.append(dep3["change-id"])
    return upstream_lookup(mirror, branches, named, ids, notify), fields


def _category_for(role: str, store: Store) -> str:
    if role not in store.categories:
        raise UserError(
            f"verda-patch.yaml has no category '{role}' for the patches import sorts there",
            hint="pick the category with -c CATEGORY",
        )
    return role


def import_queue(
    config: RepoConfig,
    project: str,
    source: Source,
    *,
    category: str | None = None,
    write: bool = False,
    force: bool = False,
    hooks: Hooks | None = None,
) -> ImportResult:
    """Plan (and with ``write`` perform) the import of ``source`` into ``project``."""
    hooks = hooks or Hooks()
    store = Store(config)
    proj = config.project(project)
    if category is not None:
        store.category_dir(project, category)  # unknown category: exit 2 first
    existing = store.load(project)
    mirror = Mirror.for_project(config, proj, notify=hooks.notify).ensure(commits=(proj.commit,))
    gathered = _gather(config, project, source, mirror)
    parsed, unread = _parse(gathered.items, source)
    skipped = [*gathered.skipped, *unread]
    if not parsed:
        raise NothingToDo(
            f"nothing to import from {source.value}"
            + (f" ({len(skipped)} messages without a diff)" if skipped else ""),
            hint="check the series, the branch or the mailbox",
        )
    mirror.update()
    # "upstream" is what the branch the project follows, or upstream's default branch, holds
    default = git.run(["symbolic-ref", "--short", "HEAD"], cwd=mirror.path, ok=(0, 1, 128))
    branches = [proj.branch, *([default.text.strip()] if default.returncode == 0 else [])]
    upstream, fields = _lookup(mirror, branches, parsed, hooks.notify)
    repo_name = _repo_name(mirror.location)

    numbers: dict[str, int] = {}
    planned: list[_Planned] = []
    for (item, patch), dep3 in zip(parsed, fields, strict=True):
        role, reason = classify(patch, dep3, upstream, repo_name, item.commit)
        if category is not None:
            cat, reason = category, f"-c {category} (else {role}: {reason})"
        else:
            cat = _category_for(role, store)
        if item.note:
            reason += f"; {item.note}"
        if item.name is not None:
            name = item.name
        else:
            number = numbers.get(cat) or store.next_number(project, cat)
            numbers[cat] = number + 1
            name = f"{number:04d}-{slugify(patch.subject)}.patch"
        file = f"{cat}/{name}"
        final = parse_bytes(
            item.data, source=store.category_dir(project, cat) / name, file=file, category=cat
        )
        planned.append(
            _Planned(
                item,
                final,
                Imported(item.source, file, cat, reason, final.subject, final.author),
            )
        )
    _refuse_clashes(store, project, existing, planned)

    # a fork's tip is the tree its commits must build, when nothing else is in the series
    expect = gathered.tree if not existing and not custom_files(config.root, project) else None
    verification = _verify(config, project, store, existing, planned, hooks, expect)
    # a series that would not build the queue's tree is only written with force;
    # the caller reports verification.problem either way
    written = write and (verification.ok or force)
    if written:
        _write(store, project, existing, planned)
    patches = tuple(replace(p.imported, written=written) for p in planned)
    return ImportResult(
        project, source.kind, source.value, patches, tuple(skipped), verification, written
    )


def _refuse_clashes(
    store: Store, project: str, existing: Sequence[Patch], planned: Sequence[_Planned]
) -> None:
    """Exit 2, nothing written, when a name is taken or a diff is already carried."""
    carried = {p.diff: p.file for p in existing}
    problems: list[str] = []
    seen: set[str] = set()
    for item in planned:
        path = store.project_dir(project) / item.imported.file
        if (
            item.imported.file in seen
            or path.exists()
            or item.patch.name in _series_names(path.parent / SERIES)
        ):
            problems.append(f"{item.imported.file} exists")
        elif item.patch.diff in carried:
            problems.append(f"{item.imported.source} is already {carried[item.patch.diff]}")
        seen.add(item.imported.file)
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise UserError(
            f"{len(problems)} of the imported patches clash with patches/{project}: {shown}",
            file=store.project_dir(project),
            hint="nothing was written; rename or remove those first "
            "(an import runs once per queue)",
        )


def _series_names(series: Path) -> set[str]:
    if not series.is_file():
        return set()
    return {name for _lineno, name in read_series(series)}


def _order(store: Store, existing: Sequence[Patch], new: Sequence[Patch]) -> list[Patch]:
    """The apply order once ``new`` is written: per category, present patches then new ones."""
    out: list[Patch] = []
    for cat in store.categories:
        out += [p for p in existing if p.category == cat]
        out += [p for p in new if p.category == cat]
    return out


def _build_tree(
    config: RepoConfig, project: str, series: Sequence[Patch], hooks: Hooks
) -> tuple[str | None, str | None]:
    """(tree id, None) of ``series`` built in a scratch tree, or (None, why it stopped)."""
    try:
        with scratch_tree(config, project, patches=series, hooks=Hooks(notify=hooks.notify)) as (
            tree,
            head,
        ):
            return git.out(["rev-parse", f"{head}^{{tree}}"], cwd=tree.path), None
    except PatchConflict as exc:
        where = f" in {', '.join(exc.paths)}" if exc.paths else ""
        return None, f"{exc.patch} does not apply{where}"


def _verify(
    config: RepoConfig,
    project: str,
    store: Store,
    existing: Sequence[Patch],
    planned: Sequence[_Planned],
    hooks: Hooks,
    expect: str | None = None,
) -> Verification:
    new = [p.patch for p in planned]
    in_source_order = [*existing, *new]
    as_imported = _order(store, existing, new)
    source_tree, stopped = _build_tree(config, project, in_source_order, hooks)
    if stopped:
        return Verification(
            None, None, f"the queue does not apply on the base in its own order: {stopped}"
        )
    assert source_tree is not None
    if expect is not None and source_tree != expect:
        return Verification(
            source_tree,
            None,
            f"the fork's commits applied in order build {source_tree[:12]}, not the tip's "
            f"tree {expect[:12]} (a merge that resolved a conflict?)",
        )
    if [p.file for p in as_imported] == [p.file for p in in_source_order]:
        return Verification(source_tree, source_tree)
    tree, stopped = _build_tree(config, project, as_imported, hooks)
    if stopped:
        return Verification(
            source_tree,
            None,
            f"in category order, {stopped} (it needs a patch of a later category)",
        )
    if tree != source_tree:
        return Verification(
            source_tree, tree, "in category order the series builds another tree than the queue"
        )
    return Verification(source_tree, tree)


def _write(
    store: Store, project: str, existing: Sequence[Patch], planned: Sequence[_Planned]
) -> None:
    """New files with O_EXCL (never overwriting), then each category's series."""
    by_category: dict[str, list[str]] = {}
    for item in planned:
        folder = store.category_dir(project, item.imported.category, create=True)
        path = folder / item.patch.name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise PatchError("already exists; not overwriting it", file=path) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(item.incoming.data)
        by_category.setdefault(item.imported.category, []).append(item.patch.name)
    for cat, names in by_category.items():
        series = store.category_dir(project, cat) / SERIES
        if series.is_file():
            text = series.read_bytes().decode("utf-8", "surrogateescape")
            if text and not text.endswith("\n"):
                text += "\n"
        else:
            text = "".join(p.name + "\n" for p in existing if p.category == cat)
        write_atomic(
            series, (text + "".join(n + "\n" for n in names)).encode("utf-8", "surrogateescape")
        )
