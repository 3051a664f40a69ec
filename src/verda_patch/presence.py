"""Whether a target's whole history holds an upstream change, revert-aware.

SPEC "Merged upstream": an origin is present in a target when a commit
reachable from it is one of the origin's commits, cites one of them, or
carries its Change-Id in its trailer block — unless a later commit of that
history reverts it (``This reverts commit X.`` of that commit, or of a commit
citing it); a revert of the revert brings it back. The candidates come from
the mirror's :mod:`verda_patch.history_index`; which of them the target
reaches is one ``git rev-list`` for every query of a run.

:class:`Lookup` answers a batch of such questions in one pass; ``prune``,
``import`` (to pick a category) and :func:`held_by_base` ask through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from verda_patch import git
from verda_patch.config import RepoConfig
from verda_patch.history_index import HistoryIndex
from verda_patch.patchfile import Patch

SAME_COMMIT = "same-commit"
CHERRY_PICKED_FROM = "cherry-picked-from"
CHANGE_ID = "change-id"


@dataclass(frozen=True)
class Query:
    """One upstream change: the commits it is known by and its Change-Ids."""

    commits: tuple[str, ...] = ()  # full ids the mirror has
    change_ids: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # more names its citations may use (abbreviated, unknown)


@dataclass(frozen=True)
class Found:
    """What the target holds of one query."""

    match: str | None  # same-commit | cherry-picked-from | change-id; None: absent
    upstream: tuple[str, ...] = ()  # the target's commits that carry it, not reverted
    reverted_by: tuple[str, ...] = ()  # when absent: the target's reverts that undid it

    @property
    def present(self) -> bool:
        return self.match is not None


def reachable(repo: Path, target: str, commits: Iterable[str]) -> set[str]:
    """Which of ``commits`` are in ``target``'s history (one ``git rev-list``).

    ``rev-list C... ^TARGET`` lists what the candidates reach and the target
    does not: a candidate is in the target's history exactly when it is not
    listed. The walk stops where the candidates' branches meet the target's.
    """
    todo = list(dict.fromkeys(c for c in commits if c))
    if not todo:
        return set()
    # a name the repository lacks is ignored by rev-list, and is in no history
    known = git.run(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        cwd=repo,
        input="".join(f"{c}\n" for c in todo).encode(),
    ).text.split("\n")
    todo = [c for c, line in zip(todo, known, strict=False) if line.endswith(" commit")]
    if not todo:
        return set()
    stdin = "".join(f"{c}\n" for c in todo) + f"^{target}\n"
    out = git.run(
        ["rev-list", "--ignore-missing", "--stdin"], cwd=repo, input=stdin.encode()
    ).text.split()
    return set(todo) - set(out)


class Lookup:
    """Answers :class:`Query` s against one target, all at once."""

    def __init__(self, repo: Path, index: HistoryIndex, target: str) -> None:
        self.repo = repo
        self.index = index
        self.target = target

    def find(self, queries: Sequence[Query]) -> list[Found]:
        same = [tuple(dict.fromkeys(q.commits)) for q in queries]
        citing_map = self.index.citing(c for q in queries for c in (*q.commits, *q.aliases))
        cid_map = self.index.with_change_ids(i for q in queries for i in q.change_ids)
        kinds = [
            (
                (SAME_COMMIT, list(same[k])),
                (
                    CHERRY_PICKED_FROM,
                    [h for c in (*q.commits, *q.aliases) for h in citing_map.get(c, ())],
                ),
                (CHANGE_ID, [h for i in q.change_ids for h in cid_map.get(i, ())]),
            )
            for k, q in enumerate(queries)
        ]
        hits = {h for per in kinds for _, found in per for h in found}
        # reverts, reverts of reverts, ...: the index knows them all; the target decides
        reverters: dict[str, list[str]] = {}
        frontier = set(hits)
        while frontier:
            found_map = self.index.reverting(frontier)
            frontier = set()
            for sha, revs in found_map.items():
                reverters[sha] = revs
                frontier |= {r for r in revs if r not in reverters}
        inside = reachable(
            self.repo, self.target, hits | {r for rs in reverters.values() for r in rs}
        )
        alive_memo: dict[str, bool] = {}

        def undone_by(sha: str, seen: frozenset[str] = frozenset()) -> list[str]:
            return [
                r
                for r in reverters.get(sha, ())
                if r in inside and r not in seen and alive(r, seen | {sha})
            ]

        def alive(sha: str, seen: frozenset[str] = frozenset()) -> bool:
            if sha not in alive_memo:
                alive_memo[sha] = sha in inside and not undone_by(sha, seen)
            return alive_memo[sha]

        out = []
        for per in kinds:
            result = Found(None)
            undone: list[str] = []
            for kind, found in per:
                live = [h for h in dict.fromkeys(found) if alive(h)]
                if live:
                    result = Found(kind, tuple(live))
                    break
                undone += [r for h in found if h in inside for r in undone_by(h)]
            if not result.present and undone:
                result = Found(None, (), tuple(dict.fromkeys(undone)))
            out.append(result)
        return out


@dataclass(frozen=True)
class Held:
    """A patch whose change the pinned base already holds."""

    file: str
    commit: str  # the base's commit that carries it
    subject: str

    def warning(self, project: str) -> str:
        return (
            f"{self.file}: its change is already in the base ({self.commit[:12]} "
            f"{self.subject}); applying it adds the same change twice — "
            f"'verda-patch prune {project}' lists it, '--yes' removes it"
        )


def held_by_base(
    config: RepoConfig,
    project: str,
    patches: Sequence[Patch],
    notify: Callable[[str], None] | None = None,
    *,
    build: bool = True,
) -> list[Held]:
    """The patches whose upstream change (cited commit or Change-Id) the base holds.

    Provenance only, over the base's whole history, reverts honoured — what
    ``prune`` without ``--against`` finds first; one index lookup and one
    ``rev-list``. ``build=False`` (``apply``): only when the mirror's index
    exists already, so a first apply does not pay for reading all history.
    """
    from verda_patch import history_index
    from verda_patch.mirror import Mirror

    proj = config.project(project)
    wanted = [p for p in patches if p.cherry_picked_from or p.change_ids]
    if not wanted:
        return []
    mirror = Mirror.for_project(config, proj, notify=notify)
    if not mirror.has(proj.commit) or not (build or (mirror.path / history_index.FILE).is_file()):
        return []
    queries = [
        Query(
            tuple(c for c in p.cherry_picked_from if len(c) == 40),
            p.change_ids,
            tuple(c for c in p.cherry_picked_from if len(c) != 40),
        )
        for p in wanted
    ]
    with history_index.for_mirror(mirror, notify) as index:
        found = Lookup(mirror.path, index, proj.commit).find(queries)
    held = [(p, f.upstream[0]) for p, f in zip(wanted, found, strict=True) if f.present]
    if not held:
        return []
    subjects = dict(
        line.split(" ", 1)
        for line in git.run(
            ["log", "--no-walk=unsorted", "--format=%H %s", "--stdin"],
            cwd=mirror.path,
            input="".join(f"{sha}\n" for _, sha in held).encode(),
        ).text.splitlines()
        if " " in line
    )
    return [Held(p.file, sha, subjects.get(sha, "")) for p, sha in held]
