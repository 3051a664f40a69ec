"""Which patches upstream has merged — fully, partly or in another form — with evidence.

A patch's *origins* are the upstream changes it carries (SPEC "Merged upstream"):
the commits its ``(cherry picked from commit X)`` lines cite, grouped so that
commits sharing a Change-Id (or citing one another: a stable backport chain)
are one origin; else its own Change-Id(s); else it has none and only its diff
can tell (patch-id, then a reverse-apply test per file).

Provenance is looked up over the target's **whole** history, the base's
included, and a later revert undoes it (:mod:`verda_patch.presence`, on the
mirror's :mod:`verda_patch.history_index`): a patch whose change the base
already holds is found, and a change merged then reverted is not. The diff
fallbacks keep to ``base..target``: one ``git log --raw`` over the range
indexes every commit by the set of files it changes — file names only, the
header-only trick ``git cherry`` uses. One ``cat-file --batch`` reads the cited
commits' messages. Content diffs are made only for commits that can matter
(the evidence found, and range commits changing exactly a patch's files) by one
``diff-tree --stdin``, and hashed with every patch's diff by one ``patch-id``.
Reverse-apply tests run in batches against a scratch index of the target tree.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from verda_patch import git, history_index, presence
from verda_patch.config import RepoConfig, check_refname
from verda_patch.errors import UpstreamError
from verda_patch.patchfile import CHERRY_RE, Patch, normal_change_id, trailer_change_ids

MERGED = "merged"
PARTIAL = "partial"
ABSENT = "absent"

SAME_COMMIT = "same-commit"
CHERRY_PICKED_FROM = "cherry-picked-from"
CHANGE_ID = "change-id"
PATCH_ID = "patch-id"
REVERSE_APPLY = "reverse-apply"
# Strongest evidence first; a verdict reports the weakest one it rests on.
MATCH_KINDS = (SAME_COMMIT, CHERRY_PICKED_FROM, CHANGE_ID, PATCH_ID, REVERSE_APPLY)

CUSTOMS = "customs"

_REVERTS_RE = re.compile(r"^This reverts commit ([0-9a-f]{7,40})\b", re.MULTILINE)
_HEX40_RE = re.compile(r"[0-9a-f]{40}")
_SHA_LINE_RE = re.compile(rb"^([0-9a-f]{40})\n", re.MULTILINE)
_FILE_SPLIT_RE = re.compile(rb"(?m)^(?=diff --git )")

Notify = Callable[[str], None]


# --- results -------------------------------------------------------------------


@dataclass(frozen=True)
class UpstreamCommit:
    """One upstream commit as the index sees it."""

    sha: str
    subject: str
    merge: bool = False
    change_ids: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    reverts: tuple[str, ...] = ()
    paths: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Origin:
    """One upstream change a patch carries, and whether the target has it."""

    change_ids: tuple[str, ...]
    commits: tuple[str, ...]  # cited commits (full ids when the mirror knows them)
    match: str | None = None  # how it was found; None: not in the target
    upstream: tuple[str, ...] = ()  # the target's commits that carry it
    reverted_by: tuple[str, ...] = ()

    @property
    def present(self) -> bool:
        return self.match is not None

    def describe(self) -> str:
        parts = [*(c[:12] for c in self.commits[:2]), *(i[:10] for i in self.change_ids[:1])]
        text = " / ".join(parts) or "its diff"
        if self.reverted_by:
            text += f" (reverted by {self.reverted_by[0][:12]})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "change_ids": list(self.change_ids),
            "commits": list(self.commits),
            "present": self.present,
            "match": self.match,
            "upstream": list(self.upstream),
            "reverted_by": list(self.reverted_by),
        }


@dataclass(frozen=True)
class ChangedLines:
    """How a modified merge differs: changed lines only the patch has, only upstream has."""

    patch_only: int
    upstream_only: int

    def to_json(self) -> dict[str, int]:
        return {"patch_only": self.patch_only, "upstream_only": self.upstream_only}


@dataclass(frozen=True)
class Verdict:
    """What the target holds of one patch, and why we think so."""

    file: str
    category: str
    subject: str
    status: str  # merged | partial | absent
    match: str | None
    upstream: tuple[UpstreamCommit, ...] = ()
    identical: bool = False
    removed: bool = False
    origins: tuple[Origin, ...] = ()
    missing: tuple[str, ...] = ()  # origins or files the target lacks (partial)
    changed_lines: ChangedLines | None = None
    warning: str | None = None

    @property
    def customs(self) -> bool:
        return self.category == CUSTOMS

    def removable(self, include_customs: bool = False) -> bool:
        """Whether ``--yes`` removes it: merged, and not customs unless asked."""
        return self.status == MERGED and (include_customs or not self.customs)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "match": self.match,
            "upstream": [c.sha for c in self.upstream],
            "reverted_by": list(dict.fromkeys(r for o in self.origins for r in o.reverted_by)),
            "identical": self.identical,
            "removed": self.removed,
            "category": self.category,
            "subject": self.subject,
            "upstream_subjects": [c.subject for c in self.upstream],
            "changed_lines": self.changed_lines.to_json() if self.changed_lines else None,
            "missing": list(self.missing),
            "warning": self.warning,
            "origins": [o.to_json() for o in self.origins],
        }


@dataclass(frozen=True)
class Report:
    """Every patch of a project against one upstream commit."""

    project: str
    ref: str
    commit: str
    base: str
    range_commits: int
    verdicts: tuple[Verdict, ...]
    include_customs: bool = False
    applied: bool = False  # True once --yes removed the removable ones
    default_ref: str = "master"  # the project's branch
    forecast: bool = False  # the target holds what the base lacks: --yes is refused
    against_given: bool = False  # REF came from --against (not the pinned base)

    def count(self, status: str) -> int:
        return sum(1 for v in self.verdicts if v.status == status)

    @property
    def removable(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.removable(self.include_customs))

    @property
    def kept_customs(self) -> tuple[Verdict, ...]:
        return tuple(
            v for v in self.verdicts if v.status == MERGED and not v.removable(self.include_customs)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "against": {"ref": self.ref, "commit": self.commit},
            "base": self.base,
            "range_commits": self.range_commits,
            "dry_run": not self.applied,
            "forecast": self.forecast,
            "patches": [v.to_json() for v in self.verdicts],
            "summary": {
                MERGED: self.count(MERGED),
                PARTIAL: self.count(PARTIAL),
                ABSENT: self.count(ABSENT),
                "removable": len(self.removable),
                "removed": sum(1 for v in self.verdicts if v.removed),
            },
        }


# --- entry points ----------------------------------------------------------------


def detect(
    config: RepoConfig,
    project: str,
    against: str | None = None,
    *,
    include_customs: bool = False,
    notify: Notify | None = None,
) -> Report:
    """Classify every patch of ``project`` against ``against`` (default: its pinned base).

    Without ``against`` the target is the base itself: what the build already
    holds. A REF the base does not contain is a *forecast* (``Report.forecast``).
    """
    from verda_patch.mirror import Mirror
    from verda_patch.store import Store

    proj = config.project(project)
    mirror = Mirror.for_project(config, proj, notify=notify)
    fresh = not mirror.exists()  # ensure() clones it: no fetch needed after
    mirror.ensure(commits=(proj.commit,))
    ref = against or proj.ref or proj.commit
    target: str | None = proj.commit if against is None else None
    # A branch may have moved since the last fetch. A mirror cloned just now, a
    # commit id it holds, or a release tag it has (tags do not move) needs none.
    if target is None and _HEX40_RE.fullmatch(ref) and mirror.has(ref):
        target = ref
    elif target is None and check_refname(ref) is None:
        target = git.resolve(mirror.path, f"refs/tags/{ref}")
    if target is None:
        if not fresh:
            mirror.update()
        target = mirror.resolve(ref)
    if target is None:
        raise UpstreamError(
            f"'{ref}' is not a branch, tag or commit of upstream {mirror.location}",
            file=config.root / "base-commit",
            line=proj.line,
            hint="give --against a branch, tag or commit id the upstream has",
            value=ref,
        )
    with history_index.for_mirror(mirror, notify) as index:
        range_commits, verdicts = classify(
            mirror.path, proj.commit, target, lambda: Store(config).load(project), index=index
        )
    return Report(
        project,
        ref,
        target,
        proj.commit,
        range_commits,
        tuple(verdicts),
        include_customs=include_customs,
        default_ref=proj.branch,
        forecast=not git.is_ancestor(mirror.path, target, proj.commit),
        against_given=against is not None,
    )


def remove(config: RepoConfig, report: Report) -> Report:
    """Delete the removable patches (merged; customs only if asked) and their series lines.

    Only what the build keeps: a forecast (a target the pinned base does not
    contain) is refused, nothing removed — removing a patch whose change the
    base lacks would take a fix out of every build (SPEC ``prune``).
    """
    from verda_patch.store import Store

    refuse_forecast(report)
    doomed = {v.file for v in report.removable}
    if doomed:
        Store(config).remove(report.project, sorted(doomed))
    verdicts = tuple(replace(v, removed=v.file in doomed) for v in report.verdicts)
    return replace(report, verdicts=verdicts, applied=True)


def refuse_forecast(report: Report) -> None:
    """Exit 2, nothing touched, when ``report`` is a forecast: name the safe command."""
    from verda_patch.errors import UserError

    if report.forecast:
        raise UserError(
            f"{report.ref} holds changes the pinned base {report.base[:12]} lacks: "
            f"this is a forecast, and --yes would remove {len(report.removable)} patch(es) "
            "whose fixes every build still needs; nothing was removed",
            hint=f"move the base and drop them in one step: "
            f"'verda-patch base bump {report.project} {report.ref}'",
        )


def classify(
    repo: Path,
    base: str,
    target: str,
    patches: Sequence[Patch] | Callable[[], Sequence[Patch]],
    *,
    index: history_index.HistoryIndex | None = None,
) -> tuple[int, list[Verdict]]:
    """(number of commits in ``base..target``, a verdict per patch in order).

    ``index`` is the repository's history index (a mirror's); without one a
    throw-away index of ``repo`` is made. Independent work overlaps: the range
    log with loading the patches (pass a loader for that), the cited-commit
    lookup with parsing the log, and the reverse-apply tests (scratch index,
    ``git apply``) with diff-tree/patch-id.
    """
    if index is None:
        with history_index.opened(repo) as throwaway:
            return classify(repo, base, target, patches, index=throwaway)
    from concurrent.futures import ThreadPoolExecutor

    with (
        tempfile.TemporaryDirectory(prefix="verda-prune-") as tmp,
        ThreadPoolExecutor(max_workers=3) as pool,
    ):
        counted = pool.submit(git.out, ["rev-list", "--count", f"^{base}", target], cwd=repo)
        patches = patches() if callable(patches) else patches
        bare = [
            i for i, p in enumerate(patches) if not p.cherry_picked_from and not _own_change_ids(p)
        ]
        scratch = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        made = pool.submit(git.run, ["read-tree", target], cwd=repo, env=scratch) if bare else None
        looked_up = pool.submit(
            _lookup_cited, repo, [c for p in patches for c in p.cherry_picked_from]
        )
        applied = None
        if made is not None:
            # speculative: a bare patch that turns out to have a patch-id match
            # ignores its result, and this runs while diff-tree and patch-id do
            made.result()
            applied = pool.submit(_reverse_apply, repo, scratch, [patches[i] for i in bare])
        cited = looked_up.result()
        lookup = presence.Lookup(repo, index, target)

        def range_log(paths: frozenset[str] | None) -> _RangeIndex:
            """``base..target`` for the diff fallbacks: only the commits touching ``paths``
            (each with all its files), or every commit when ``paths`` is None."""
            limit = ["--full-diff", "--", *sorted(paths)] if paths is not None else []
            return _RangeIndex(_log(repo, [f"^{base}", target, *limit]))

        range_commits, verdicts, needs_apply = _judge(repo, range_log, cited, patches, lookup)
        range_commits = int(counted.result() or 0)
        if needs_apply and applied is not None:
            results = dict(zip(bare, applied.result(), strict=True))
            for i in needs_apply:
                verdicts[i] = _applied_verdict(patches[i], *results[i])
    return range_commits, verdicts


def _judge(
    repo: Path,
    range_log: Callable[[frozenset[str] | None], _RangeIndex],
    cited: dict[str, UpstreamCommit],
    patches: Sequence[Patch],
    lookup: presence.Lookup,
) -> tuple[int, list[Verdict], list[int]]:
    """Verdicts from provenance and patch-ids; the patches left for reverse-apply."""
    plans = [_Plan(patch, _origins(patch, cited)) for patch in patches]
    queries = [_query(origin) for plan in plans for origin in plan.origins]
    answers = lookup.find(queries)
    # the range is read only for what provenance left open, and only where it can matter
    at = 0
    left: list[_Plan] = []
    for plan in plans:
        mine = answers[at : at + len(plan.origins)]
        at += len(plan.origins)
        if not plan.origins or not all(a.present for a in mine):
            left.append(plan)
    if not left:
        upstream = _RangeIndex([])
    elif any(len(plan.origins) > 1 for plan in left):
        upstream = range_log(None)  # a squash's missing half may have other files
    else:
        upstream = range_log(frozenset(p for plan in left for p in _patch_key(plan.patch)))
    answered = iter(answers)
    for plan in plans:
        plan.found = [_found(o, next(answered), upstream) for o in plan.origins]
    range_commits = len(upstream.commits)

    # One diff-tree + one patch-id for every diff that can matter.
    wanted: dict[str, None] = {}
    halves: dict[str, None] = {}
    for plan in plans:
        for origin in plan.found:
            wanted.update(dict.fromkeys(origin.upstream))
        if not plan.origins or not plan.all_found:
            # a patch-id can only be equal between diffs of the same files: diff only
            # the range commits with the patch's file set (and, for a squash, with
            # the file set of each missing change's own commit)
            wanted.update(dict.fromkeys(upstream.by_paths.get(_patch_key(plan.patch), ())))
            if len(plan.found) > 1:
                halves.update(
                    dict.fromkeys(
                        sha
                        for o in plan.found
                        if not o.present
                        for sha in o.commits
                        if sha in cited and not cited[sha].merge
                    )
                )
    if halves:
        for commit in _log(
            repo,
            ["--no-walk=unsorted", "--stdin"],
            stdin="".join(f"{s}\n" for s in halves).encode(),
        ):
            cited[commit.sha] = commit
            if commit.paths in upstream.by_paths:
                wanted[commit.sha] = None
                wanted.update(dict.fromkeys(upstream.by_paths[commit.paths]))
    # a commit's patch-id never changes: the index keeps the ones hashed before
    known_pids = lookup.index.patch_ids(wanted)
    diffs = _diffs(repo, [s for s in wanted if s not in known_pids])
    pids = _patch_ids(repo, diffs, [p.diff for p in patches])
    lookup.index.remember_patch_ids(pids.commits)
    commit_pid = {**known_pids, **pids.commits}
    range_by_pid: dict[str, list[str]] = defaultdict(list)
    for sha in wanted:
        if sha in upstream.commits and sha in commit_pid:
            range_by_pid[commit_pid[sha]].append(sha)
    # evidence from the history behind the range (the base's): its subjects too
    behind = [s for p in plans for o in p.found for s in o.upstream if s not in upstream.commits]
    for sha, commit in _lookup_cited(repo, behind).items():
        upstream.commits.setdefault(sha, commit)

    verdicts: list[Verdict | None] = []
    needs_apply: list[int] = []
    judged: list[tuple[int, list[Origin], str | None]] = []
    for i, plan in enumerate(plans):
        own_pid = pids.patches.get(i)
        found = plan.found
        if plan.origins and not plan.all_found:
            found = [
                _by_patch_id(
                    o,
                    cited,
                    commit_pid,
                    range_by_pid,
                    upstream,
                    own_pid if len(found) == 1 else None,
                )
                if not o.present
                else o
                for o in found
            ]
        if not plan.origins:
            hits = upstream.alive(range_by_pid.get(own_pid, [])) if own_pid else []
            if not hits:
                needs_apply.append(i)
                verdicts.append(_absent(plan.patch))
                continue
            found = [Origin((), (), PATCH_ID, tuple(upstream.ordered(hits)))]
        verdicts.append(None)
        judged.append((i, found, own_pid))
    # the modified merges need upstream's diff text (changed lines); one more diff-tree
    text = {
        s
        for _, found, own_pid in judged
        if not _identical(found, own_pid, commit_pid)
        for o in found
        if o.present
        for s in o.upstream
        if s not in diffs
    }
    # ... or the index kept what they change from an earlier run
    lines = lookup.index.changed_lines(text)
    made = {
        sha: b"\n".join(_changed(diff).elements())
        for sha, diff in _diffs(repo, sorted(text - set(lines))).items()
    }
    lookup.index.remember_changed_lines(made)
    changed = {
        sha: Counter(v.split(b"\n")) if v else Counter() for sha, v in {**lines, **made}.items()
    }
    for _, found, _ in judged:  # evidence whose diff was made for its patch-id anyway
        changed.update({s: _changed(diffs[s]) for o in found for s in o.upstream if s in diffs})
    for i, found, own_pid in judged:
        verdicts[i] = _verdict(plans[i].patch, found, own_pid, commit_pid, changed, upstream)
    return range_commits, [v for v in verdicts if v is not None], needs_apply


# --- the range index -------------------------------------------------------------


def _parse_commit(sha: str, parents: str, body: str, paths: Iterable[str]) -> UpstreamCommit:
    return UpstreamCommit(
        sha=sha,
        subject=body.split("\n", 1)[0].strip(),
        merge=len(parents.split()) > 1,
        change_ids=trailer_change_ids(body),
        cited=tuple(dict.fromkeys(CHERRY_RE.findall(body))),
        reverts=tuple(dict.fromkeys(_REVERTS_RE.findall(body))),
        paths=frozenset(paths),
    )


def _parse_log(data: bytes) -> list[UpstreamCommit]:
    """``git log -z --raw --format=%H%x00%P%x00%B`` → commits, newest first.

    Tokens are NUL-separated: id, parents, body, then per changed file a raw
    header (``:old new oldsha newsha status``) and its path(s).
    """
    tokens = data.split(b"\0")
    out: list[UpstreamCommit] = []
    i, n = 0, len(tokens)
    while i + 2 < n:
        sha = tokens[i].strip().decode("ascii")
        parents = tokens[i + 1].decode("ascii")
        body = tokens[i + 2].decode("utf-8", "surrogateescape")
        i += 3
        paths: list[str] = []
        while i < n and tokens[i].lstrip(b"\n").startswith(b":"):
            header = tokens[i].lstrip(b"\n").decode("ascii", "replace")
            fields = header.lstrip(":").split()
            status = fields[-1] if fields else "M"
            count = 2 if status[:1] in ("R", "C") else 1
            names = [t.decode("utf-8", "surrogateescape") for t in tokens[i + 1 : i + 1 + count]]
            i += 1 + count
            # a mode-only change adds nothing to a patch-id, so it is no part of the key
            if not header.startswith("::") and status == "M" and fields[2] == fields[3]:
                continue
            paths += names
        out.append(_parse_commit(sha, parents, body, paths))
    return out


_LOG_ARGS = ("log", "-z", "--no-renames", "--raw", "--no-abbrev", "--format=%H%x00%P%x00%B")


def _log(repo: Path, revs: list[str], *, stdin: bytes | None = None) -> list[UpstreamCommit]:
    args = [*_LOG_ARGS, *revs]
    return _parse_log(git.run(args, cwd=repo, input=stdin).stdout)


class _ShaMap:
    """Commit id → values, where either side may be an abbreviated id (≥ 7 hex)."""

    def __init__(self) -> None:
        self.full: dict[str, list[str]] = defaultdict(list)
        self.short: dict[str, list[str]] = defaultdict(list)
        self._sorted: list[str] | None = None

    def add(self, key: str, value: str) -> None:
        (self.full if len(key) == 40 else self.short)[key].append(value)
        self._sorted = None

    def get(self, key: str) -> list[str]:
        out = list(self.full.get(key, ()))
        if len(key) == 40:
            for short, values in self.short.items():
                if key.startswith(short):
                    out += values
            return out
        if self._sorted is None:
            self._sorted = sorted(self.full)
        import bisect

        at = bisect.bisect_left(self._sorted, key)
        while at < len(self._sorted) and self._sorted[at].startswith(key):
            out += self.full[self._sorted[at]]
            at += 1
        for short, values in self.short.items():
            if short.startswith(key) or key.startswith(short):
                out += values
        return out


class _RangeIndex:
    """``base..target`` indexed by id, cited commit, Change-Id, reverted commit, file set."""

    def __init__(self, commits: list[UpstreamCommit]) -> None:
        self.commits = {c.sha: c for c in commits}
        self.position = {c.sha: len(commits) - k for k, c in enumerate(commits)}  # oldest: 1
        self.ids = _ShaMap()
        self.citing = _ShaMap()
        self.reverting = _ShaMap()
        self.by_change_id: dict[str, list[str]] = defaultdict(list)
        self.by_paths: dict[frozenset[str], list[str]] = defaultdict(list)
        for c in commits:
            self.ids.add(c.sha, c.sha)
            for x in c.cited:
                self.citing.add(x, c.sha)
            for x in c.reverts:
                self.reverting.add(x, c.sha)
            for cid in c.change_ids:
                self.by_change_id[cid].append(c.sha)
            if not c.merge and c.paths:
                self.by_paths[c.paths].append(c.sha)

    def ordered(self, shas: Iterable[str]) -> list[str]:
        return sorted(set(shas), key=lambda s: self.position.get(s, 0))

    def reverted_by(self, sha: str) -> list[str]:
        """Range commits that revert ``sha`` and are not themselves reverted."""
        return [r for r in self.reverting.get(sha) if not self.reverting.get(r)]

    def alive(self, shas: Iterable[str]) -> list[str]:
        return [s for s in shas if not self.reverted_by(s)]


# --- origins -----------------------------------------------------------------------


def _lookup_cited(repo: Path, cited: list[str]) -> dict[str, UpstreamCommit]:
    """Cited ids (full or abbreviated) → the mirror's commit, under both spellings.

    One ``cat-file --batch``: messages only. The files a cited commit changes are
    looked up later, and only for the few that need them (a squash's missing half).
    """
    names = list(dict.fromkeys(cited))
    if not names:
        return {}
    data = git.run(
        ["cat-file", "--batch"],
        cwd=repo,
        input="".join(f"{n}^{{commit}}\n" for n in names).encode(),
    ).stdout
    out: dict[str, UpstreamCommit] = {}
    at = 0
    for name in names:
        end = data.index(b"\n", at)
        header = data[at:end].split()
        at = end + 1
        if len(header) != 3 or header[1] != b"commit":
            continue  # missing or ambiguous
        size = int(header[2])
        raw = data[at : at + size]
        at += size + 1
        head, _, body = raw.partition(b"\n\n")
        parents = " ".join(
            line[7:].decode("ascii") for line in head.split(b"\n") if line.startswith(b"parent ")
        )
        commit = _parse_commit(
            header[0].decode("ascii"), parents, body.decode("utf-8", "surrogateescape"), ()
        )
        out[name] = out[commit.sha] = commit
    return out


def _origins(patch: Patch, cited: dict[str, UpstreamCommit]) -> tuple[Origin, ...]:
    """Cited commits grouped by Change-Id or citation (one change picked twice is one origin)."""
    own_ids = _own_change_ids(patch)
    if not patch.cherry_picked_from:
        return tuple(Origin((cid,), ()) for cid in own_ids)
    # union-find over cited commits: same Change-Id, or one cites the other
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    members: dict[str, tuple[str, ...]] = {}  # cited name → ids it stands for
    change_ids: dict[str, tuple[str, ...]] = {}
    for name in patch.cherry_picked_from:
        known = cited.get(name)
        key = known.sha if known else name
        members[key] = (key, *known.cited) if known else (key,)
        change_ids[key] = known.change_ids if known else ()
        find(key)
    seen_cid: dict[str, str] = {}
    for key, cids in change_ids.items():
        for cid in cids:
            if cid in seen_cid:
                union(key, seen_cid[cid])
            seen_cid.setdefault(cid, key)
    if own_ids and own_ids[-1] in seen_cid:
        # a cited commit the mirror lacks (a fork's, a private stable branch's) joins
        # the known change the patch's own Change-Id names; else it stays apart
        for key in members:
            if key not in cited:
                union(key, seen_cid[own_ids[-1]])
    for key, ids in members.items():
        for other in members:
            if other != key and any(_same_id(other, x) for x in ids[1:]):
                union(key, other)
    groups: dict[str, list[str]] = defaultdict(list)
    for key in members:
        groups[find(key)].append(key)
    origins = []
    for keys in groups.values():
        commits = tuple(dict.fromkeys(x for k in keys for x in members[k]))
        cids = tuple(dict.fromkeys(c for k in keys for c in change_ids[k]))
        origins.append(Origin(cids, commits))
    if len(origins) == 1 and own_ids and not origins[0].change_ids:
        # the one change it carries is the one its own Change-Id names
        origins[0] = replace(origins[0], change_ids=own_ids[-1:])
    return tuple(origins)


def _own_change_ids(patch: Patch) -> tuple[str, ...]:
    """The patch's Change-Ids: its trailer block's (and DEP-3 header's), as ``list`` reads them."""
    return tuple(dict.fromkeys(normal_change_id(c) for c in patch.change_ids))


def _same_id(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _query(origin: Origin) -> presence.Query:
    """Provenance to look for: the origin's commits (an unknown or abbreviated one only
    through what cites it) and Change-Ids."""
    full = tuple(c for c in origin.commits if _HEX40_RE.fullmatch(c))
    aliases = tuple(c for c in origin.commits if c not in full)
    return presence.Query(full, origin.change_ids, aliases)


def _found(origin: Origin, found: presence.Found, upstream: _RangeIndex) -> Origin:
    """Provenance only: the same commit, a commit citing it, or its Change-Id, not reverted."""
    if found.present:
        return replace(origin, match=found.match, upstream=tuple(upstream.ordered(found.upstream)))
    return replace(origin, reverted_by=found.reverted_by)


def _by_patch_id(
    origin: Origin,
    cited: dict[str, UpstreamCommit],
    commit_pid: dict[str, str],
    range_by_pid: dict[str, list[str]],
    upstream: _RangeIndex,
    own_pid: str | None,
) -> Origin:
    """An origin provenance missed, looked for by the patch-id of its commits (or the patch)."""
    wanted = {commit_pid[s] for s in origin.commits if s in cited and s in commit_pid}
    if own_pid:
        wanted.add(own_pid)
    hits = upstream.alive(h for pid in wanted for h in range_by_pid.get(pid, ()))
    if not hits:
        return origin
    return replace(origin, match=PATCH_ID, upstream=tuple(upstream.ordered(hits)))


@dataclass
class _Plan:
    patch: Patch
    origins: tuple[Origin, ...]
    found: list[Origin] = field(default_factory=list)

    @property
    def all_found(self) -> bool:
        return all(o.present for o in self.found)


# --- diffs and patch-ids -------------------------------------------------------------


def _patch_key(patch: Patch) -> frozenset[str]:
    """The files whose content a patch changes, as ``git log --raw --no-renames`` names them."""
    paths: set[str] = set()
    for f in patch.files:
        if f.status == "modified" and not f.binary and not f.added and not f.removed:
            continue  # mode only
        paths.add(f.path)
        if f.status == "renamed" and f.old_path:
            paths.add(f.old_path)  # --no-renames lists a rename as delete + add
    return frozenset(paths)


def _diffs(repo: Path, shas: list[str]) -> dict[str, bytes]:
    """Each commit's diff against its first parent, made as ``format-patch`` makes it."""
    todo = [s for s in shas if s]
    if not todo:
        return {}
    # -M and --binary: what format-patch does, so an unchanged pick has the same patch-id
    data = git.run(
        [
            "diff-tree",
            "--stdin",
            "-r",
            "-p",
            "-M",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-relative",
        ],
        cwd=repo,
        input="".join(f"{s}\n" for s in todo).encode(),
    ).stdout
    wanted = set(todo)
    out: dict[str, bytes] = {}
    marks = [m for m in _SHA_LINE_RE.finditer(data) if m.group(1).decode() in wanted]
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(data)
        out[m.group(1).decode()] = data[m.end() : end]
    return out


@dataclass(frozen=True)
class _PatchIds:
    commits: dict[str, str]
    patches: dict[int, str]


def _patch_ids(repo: Path, diffs: dict[str, bytes], patch_diffs: list[bytes]) -> _PatchIds:
    """``git patch-id --stable`` of upstream diffs and patch files, in one process."""
    chunks: list[bytes] = []
    for sha, diff in diffs.items():
        chunks += [b"commit ", sha.encode(), b"\n", diff]
    fake = {f"{0xFFFFFF << 136 | i:040x}": i for i in range(len(patch_diffs))}
    for name, i in fake.items():
        diff = patch_diffs[i]
        chunks += [b"commit ", name.encode(), b"\n", diff if diff.endswith(b"\n") else diff + b"\n"]
    if not chunks:
        return _PatchIds({}, {})
    res = git.run(["patch-id", "--stable"], cwd=repo, input=b"".join(chunks))
    commits: dict[str, str] = {}
    patches: dict[int, str] = {}
    for line in res.text.splitlines():
        pid, _, name = line.partition(" ")
        if name in fake:
            patches[fake[name]] = pid
        else:
            commits[name] = pid
    return _PatchIds(commits, patches)


def _changed(diff: bytes) -> Counter[bytes]:
    """The added and removed lines of a diff, as a multiset (context and positions dropped)."""
    lines: Counter[bytes] = Counter()
    in_hunk = False
    for line in diff.split(b"\n"):
        if line.startswith(b"@@"):
            in_hunk = True
        elif line.startswith(b"diff "):
            in_hunk = False
        elif in_hunk and line[:1] in (b"+", b"-"):
            lines[line.rstrip()] += 1
    return lines


def _changed_lines(ours: Counter[bytes], upstream: list[Counter[bytes]]) -> ChangedLines:
    theirs: Counter[bytes] = Counter()
    for lines in upstream:
        theirs.update(lines)
    return ChangedLines(sum((ours - theirs).values()), sum((theirs - ours).values()))


# --- verdicts ----------------------------------------------------------------------------


def _absent(patch: Patch, origins: Sequence[Origin] = (), missing: Sequence[str] = ()) -> Verdict:
    return Verdict(
        patch.file,
        patch.category,
        patch.subject,
        ABSENT,
        None,
        origins=tuple(origins),
        missing=tuple(missing),
    )


def _customs_warning(patch: Patch, status: str) -> str | None:
    if patch.category != CUSTOMS or status != MERGED:
        return None
    return "customs patch looks merged upstream; kept unless --include-customs"


def _identical(origins: list[Origin], own_pid: str | None, commit_pid: dict[str, str]) -> bool:
    """One origin, present, with an upstream commit whose patch-id is the patch's own."""
    present = [o for o in origins if o.present]
    return (
        bool(own_pid)
        and len(present) == 1
        and len(present) == len(origins)
        and any(commit_pid.get(s) == own_pid for s in present[0].upstream)
    )


def _verdict(
    patch: Patch,
    origins: list[Origin],
    own_pid: str | None,
    commit_pid: dict[str, str],
    changed_by: dict[str, Counter[bytes]],
    upstream: _RangeIndex,
) -> Verdict:
    present = [o for o in origins if o.present]
    missing = tuple(o.describe() for o in origins if not o.present)
    if not present:
        return _absent(patch, origins, missing)
    status = MERGED if not missing else PARTIAL
    match = max((o.match for o in present if o.match), key=MATCH_KINDS.index)
    evidence = upstream.ordered(s for o in present for s in o.upstream)
    identical = status == MERGED and _identical(origins, own_pid, commit_pid)
    changed = None
    if status == MERGED and not identical:
        # per origin, the upstream commit closest to the patch (a change may land twice)
        ours = _changed(patch.diff)
        chosen = []
        for o in present:
            candidates = [s for s in o.upstream if s in changed_by]
            if candidates:
                chosen.append(
                    min(
                        candidates,
                        key=lambda s: sum(
                            ((ours - changed_by[s]) + (changed_by[s] - ours)).values()
                        ),
                    )
                )
        changed = _changed_lines(ours, [changed_by[s] for s in chosen])
    return Verdict(
        patch.file,
        patch.category,
        patch.subject,
        status,
        match,
        upstream=tuple(upstream.commits[s] for s in evidence if s in upstream.commits),
        identical=identical,
        origins=tuple(origins),
        missing=missing,
        changed_lines=changed,
        warning=_customs_warning(patch, status),
    )


def _applied_verdict(patch: Patch, ok_files: list[str], failed: list[str]) -> Verdict:
    if not ok_files:
        return _absent(patch)
    status = PARTIAL if failed else MERGED
    return Verdict(
        patch.file,
        patch.category,
        patch.subject,
        status,
        REVERSE_APPLY,
        missing=tuple(failed),
        warning=_customs_warning(patch, status),
    )


# --- reverse-apply -------------------------------------------------------------------------


def _file_parts(patch: Patch) -> list[tuple[str, frozenset[str], bytes]]:
    """(name, paths, diff) per file of the patch; the whole diff when it cannot be cut."""
    pieces = [p for p in _FILE_SPLIT_RE.split(patch.diff) if p.strip()]
    every = frozenset(x for f in patch.files for x in (f.path, f.old_path) if x)
    if len(pieces) != len(patch.files) or not patch.diff.startswith(b"diff --git "):
        return [(", ".join(f.path for f in patch.files), every, patch.diff)]
    return [
        (f.path, frozenset(x for x in (f.path, f.old_path) if x), piece)
        for f, piece in zip(patch.files, pieces, strict=True)
    ]


def _reverse_apply(
    repo: Path, index: dict[str, str], patches: list[Patch]
) -> list[tuple[list[str], list[str]]]:
    """Per patch: (files whose change the target tree has, files whose change it lacks).

    ``git apply -R --check --cached`` against ``index``, a scratch index of the
    target tree: never a work tree. Per file, so a later upstream edit in one
    file does not hide the others. Every file is tested, also one the range
    left alone: the base itself may hold the patch's change.
    """
    parts = [_file_parts(patch) for patch in patches]
    pieces = [
        _Piece((i, k), paths, diff)
        for i, patch_parts in enumerate(parts)
        for k, (_, paths, diff) in enumerate(patch_parts)
    ]

    def check(diff: bytes) -> tuple[int, str]:
        res = git.run(
            ["apply", "--cached", "-R", "--check", "-"],
            cwd=repo,
            env=index,
            input=diff,
            ok=(0, 1, 128),
        )
        return res.returncode, res.err

    passed: set[tuple[int, int]] = set()
    for batch in _rounds(pieces):
        passed |= _check_batch(check, batch)
    out = []
    for i, patch_parts in enumerate(parts):
        names = [name for name, _, _ in patch_parts]
        ok_files = [name for k, name in enumerate(names) if (i, k) in passed]
        out.append((ok_files, [n for n in names if n not in ok_files]))
    return out


@dataclass(frozen=True)
class _Piece:
    key: tuple[int, int]  # (patch, file)
    paths: frozenset[str]
    diff: bytes


def _rounds(pieces: list[_Piece]) -> list[list[_Piece]]:
    """Batches in which no path repeats: git apply would chain two changes of one file."""
    rounds: list[tuple[list[_Piece], set[str]]] = []
    for piece in pieces:
        for batch, used in rounds:
            if not piece.paths & used:
                batch.append(piece)
                used |= piece.paths
                break
        else:
            rounds.append(([piece], set(piece.paths)))
    return [batch for batch, _ in rounds]


def _check_batch(
    check: Callable[[bytes], tuple[int, str]], pieces: list[_Piece]
) -> set[tuple[int, int]]:
    """The pieces whose reverse applies: one ``git apply`` for the batch while it can.

    Only an exit 0 proves a piece reverses. A failed batch names the failing files
    on stderr; the rest are checked again together, and one by one when stderr
    named none of them (an error git reports for the whole input).
    """
    if not pieces:
        return set()
    code, err = check(
        b"".join(p.diff if p.diff.endswith(b"\n") else p.diff + b"\n" for p in pieces)
    )
    if code == 0:
        return {p.key for p in pieces}
    if len(pieces) == 1:
        return set()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]

    def named(piece: _Piece) -> bool:
        return any(
            line.startswith((f"error: {x}:", f"error: patch failed: {x}:"))
            for x in piece.paths
            for line in errors
        )

    rest = [p for p in pieces if not named(p)]
    if code == 1 and len(rest) < len(pieces):
        return _check_batch(check, rest)
    return {p.key for p in pieces if check(p.diff)[0] == 0}
