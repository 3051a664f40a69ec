"""``base bump``: move a project to a new upstream release as one resumable operation.

Steps (issue 7): resolve REF; classify every patch against it (``merged.py``);
remove the merged ones; apply the rest on REF in the work tree
(``apply.apply_project``); write back the patch files whose meaning changed
(``export.py``); pin REF in ``base-commit``; report what moved, and how the
dependency lines of ``requirements.txt`` / ``setup.cfg`` changed.

Before anything is touched, ``base-commit`` and every file under
``patches/<project>/`` are copied to ``bump/<project>/backup/`` and a state
file ``bump/<project>/state.json`` records the phase, both in the patch repo's
private state folder (``opstate.repo_state_dir``: inside its ``.git``, where
no commit can plant a state file). Whatever
stops the run — a conflict, Ctrl-C, a crash — ``--continue`` carries on from
the phase it reached and ``--abort`` puts every one of those files back byte
for byte and the work tree where it was.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verda_patch import basefile, contain, git, opstate
from verda_patch.apply import Hooks
from verda_patch.config import BASE_FILE, RepoConfig
from verda_patch.errors import OperationFailed, PatchConflict, UserError
from verda_patch.mirror import Mirror
from verda_patch.store import PATCHES_DIR, Store, sha256_file, write_atomic
from verda_patch.worktree import WorkTree

Notify = Callable[[str], None]

# The apply engine names the command to resume with after "verda-patch ": this way
# apply, export and a conflict's hint all say 'verda-patch base bump --continue'.
OPERATION = "base bump"
REQUIREMENT_FILES = ("requirements.txt", "test-requirements.txt", "setup.cfg")
STATE_VERSION = 1

# phases, in order; the state file holds the one the run reached
PRUNING = "pruning"
APPLYING = "applying"
CONFLICT = "conflict"
FINISHING = "finishing"


def _bump_dir(root: Path, project: str) -> Path:
    # one folder per project: the state and the backup of two projects never share a name
    return opstate.repo_state_dir(root) / "bump" / project


def state_path(root: Path, project: str) -> Path:
    return _bump_dir(root, project) / "state.json"


def backup_dir(root: Path, project: str) -> Path:
    return _bump_dir(root, project) / "backup"


def legacy_state(root: Path, project: str) -> Path | None:
    """A bump state an older verda-patch kept under ``.verda/state/`` (no longer read)."""
    path = root / opstate.LEGACY_DIR / f"{project}.bump.json"
    return path if path.is_file() and not path.is_symlink() else None


def read_state(root: Path, project: str) -> dict[str, Any] | None:
    path = state_path(root, project)
    try:
        data = opstate.read_json(path)
        return None if data is None else _valid_state(data, project)
    except ValueError as exc:
        raise opstate.damaged(
            path,
            str(exc),
            "restore base-commit and the patch files from git "
            f"('git checkout -- base-commit patches/{project}'), then remove it",
        ) from None


_PHASES = (PRUNING, APPLYING, CONFLICT, FINISHING)


def _valid_state(data: Any, project: str) -> dict[str, Any]:
    """``data`` when it has the shape :func:`start` writes; else ``opstate.BadState``."""
    from verda_patch.config import check_refname

    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise opstate.BadState("not a bump state of this verda-patch version")
    if data.get("operation") != "bump" or data.get("phase") not in _PHASES:
        raise opstate.BadState("unknown operation or phase")
    opstate.project_name(data.get("project"), project)
    for end in ("from", "to"):
        value = data.get(end)
        if not isinstance(value, dict):
            raise opstate.BadState(f"'{end}' is not an object")
        opstate.commit_id(value.get("commit"), f"{end}.commit")
        ref = value.get("ref")
        if ref is not None and (not isinstance(ref, str) or check_refname(ref)):
            raise opstate.BadState(f"{end}.ref is not a ref name")
    files = data.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in files.values()
    ):
        raise opstate.BadState("'files' is not a map of saved files to sha256")
    for rel in files:
        opstate.project_file(rel, project)
    dirs = data.get("dirs")
    if not isinstance(dirs, list):
        raise opstate.BadState("'dirs' is not a list")
    for rel in dirs:
        opstate.project_file(rel, project)
    tree = data.get("work_tree")
    if not isinstance(tree, dict) or not isinstance(tree.get("existed"), bool):
        raise opstate.BadState("'work_tree' is not an object")
    opstate.commit_id(tree.get("head"), "work_tree.head", optional=True)
    opstate.commit_id(tree.get("synced"), "work_tree.synced", optional=True)
    opstate.patch_names(data.get("remove"))
    opstate.patch_names(data.get("dropped", []))
    for key in ("verdicts", "requirements"):
        items = data.get(key)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise opstate.BadState(f"'{key}' is not a list of objects")
    fields = set(RequirementChange.__dataclass_fields__)
    if any(set(r) != fields for r in data["requirements"]):
        raise opstate.BadState("a requirement change has unknown fields")
    if not isinstance(data.get("prune"), dict):
        raise opstate.BadState("'prune' is not an object")
    return data


def _write_state(root: Path, project: str, state: dict[str, Any]) -> None:
    opstate.write_json(state_path(root, project), state)


def refuse_if_bumping(config: RepoConfig, project: str) -> None:
    """Exit 1 while a ``base bump`` of ``project`` is stopped: its files are half moved."""
    state = read_state(config.root, project)
    if state is not None:
        raise OperationFailed(
            f"a 'base bump' of {project} to {state.get('to', {}).get('ref') or '?'} is in "
            f"progress (stopped while {state.get('phase', '?')})",
            file=state_path(config.root, project),
            hint=(
                f"finish it with 'verda-patch base bump --continue {project}' or undo it "
                f"with 'verda-patch base bump --abort {project}'"
            ),
        )


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchVerdict:
    """One patch's prune verdict as the bump reports it (from ``merged.Verdict``)."""

    file: str
    status: str  # merged | partial | absent
    match: str | None
    identical: bool
    upstream: tuple[tuple[str, str], ...]  # (commit, subject)
    changed_lines: dict[str, int] | None
    missing: tuple[str, ...]
    warning: str | None
    removed: bool

    @classmethod
    def from_json(cls, data: dict[str, Any], removed: Iterable[str] = ()) -> PatchVerdict:
        shas = [str(sha) for sha in data.get("upstream") or []]
        subjects = [str(s) for s in data.get("upstream_subjects") or []]
        subjects = (subjects + [""] * len(shas))[: len(shas)]
        return cls(
            file=str(data["file"]),
            status=str(data["status"]),
            match=data.get("match"),
            identical=bool(data.get("identical")),
            upstream=tuple(zip(shas, subjects, strict=True)),
            changed_lines=data.get("changed_lines"),
            missing=tuple(data.get("missing") or ()),
            warning=data.get("warning"),
            removed=bool(data.get("removed")) or data["file"] in set(removed),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "status": self.status,
            "match": self.match,
            "identical": self.identical,
            "upstream": [sha for sha, _ in self.upstream],
            "upstream_subjects": [subject for _, subject in self.upstream],
            "changed_lines": self.changed_lines,
            "missing": list(self.missing),
            "warning": self.warning,
            "removed": self.removed,
        }


@dataclass(frozen=True)
class RequirementChange:
    """A dependency line that differs between the old and the new base."""

    file: str
    name: str  # normalised distribution name ("python" for python_requires)
    old: str | None  # the line without its comment, None when added
    new: str | None  # None when removed

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Plan:
    """What a bump would do; nothing has changed yet."""

    project: str
    old_commit: str
    old_ref: str | None
    target: basefile.Resolved
    verdicts: tuple[PatchVerdict, ...]
    removable: tuple[str, ...]
    prune: dict[str, Any]  # the SPEC's prune JSON of the detection
    range_commits: int
    requirements: tuple[RequirementChange, ...]
    blocked: str | None  # why --yes would refuse now (unsaved work), or None

    @property
    def kept(self) -> tuple[str, ...]:
        gone = set(self.removable)
        return tuple(v.file for v in self.verdicts if v.file not in gone)


@dataclass(frozen=True)
class Result:
    """A finished bump."""

    project: str
    old_commit: str
    old_ref: str | None
    new_commit: str
    new_ref: str | None
    verdicts: tuple[PatchVerdict, ...]
    refreshed: tuple[str, ...]
    unchanged: tuple[str, ...]
    requirements: tuple[RequirementChange, ...]
    work_tree: Path
    head: str
    prune: dict[str, Any]
    warnings: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()  # skipped with 'git am --skip' during the bump

    @property
    def pruned(self) -> tuple[PatchVerdict, ...]:
        return tuple(v for v in self.verdicts if v.removed)

    @property
    def partial(self) -> tuple[PatchVerdict, ...]:
        return tuple(v for v in self.verdicts if v.status == "partial")

    @property
    def kept_merged(self) -> tuple[PatchVerdict, ...]:
        """Merged but kept: customs patches, which are only reported."""
        return tuple(v for v in self.verdicts if v.status == "merged" and not v.removed)


@dataclass(frozen=True)
class AbortResult:
    project: str
    restored: tuple[str, ...]  # files written back or re-created
    deleted: tuple[str, ...]  # files the bump had added, removed again
    work_tree_head: str | None


def _to_json_common(
    project: str,
    old: tuple[str, str | None],
    new: tuple[str, str | None],
    verdicts: Iterable[PatchVerdict],
    requirements: Iterable[RequirementChange],
    prune: dict[str, Any],
) -> dict[str, Any]:
    verdicts = list(verdicts)
    return {
        "project": project,
        "from": {"commit": old[0], "ref": old[1]},
        "to": {"commit": new[0], "ref": new[1]},
        "pruned": [v.to_json() for v in verdicts if v.removed],
        "partial": [v.to_json() for v in verdicts if v.status == "partial"],
        "requirements": [r.to_json() for r in requirements],
        "prune": prune,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    doc = _to_json_common(
        plan.project,
        (plan.old_commit, plan.old_ref),
        (plan.target.commit, plan.target.ref),
        [v for v in plan.verdicts],
        plan.requirements,
        plan.prune,
    )
    doc["status"] = "planned"
    doc["would_prune"] = list(plan.removable)
    doc["remaining"] = list(plan.kept)
    doc["blocked"] = plan.blocked
    return doc


def result_json(result: Result) -> dict[str, Any]:
    doc = _to_json_common(
        result.project,
        (result.old_commit, result.old_ref),
        (result.new_commit, result.new_ref),
        result.verdicts,
        result.requirements,
        result.prune,
    )
    doc.update(
        status="done",
        refreshed=list(result.refreshed),
        unchanged=list(result.unchanged),
        kept_merged=[v.to_json() for v in result.kept_merged],
        work_tree=str(result.work_tree),
        head=result.head,
        warnings=list(result.warnings),
        dropped=list(result.dropped),
        summary={
            "pruned": len(result.pruned),
            "pruned_identical": sum(1 for v in result.pruned if v.identical),
            "pruned_modified": sum(1 for v in result.pruned if not v.identical),
            "refreshed": len(result.refreshed),
            "unchanged": len(result.unchanged),
            "dropped": len(result.dropped),
            "partial": len(result.partial),
        },
    )
    return doc


# --- requirements -------------------------------------------------------------------------

_REQ_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_SPECIFIER_RE = re.compile(r"(===|==|>=|<=|!=|~=|>|<)")
_PYTHON_REQUIRES_RE = re.compile(r"^\s*python[_-]requires\s*=\s*(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(file: str, line: str) -> tuple[str, str] | None:
    """(name, line without comment) when ``line`` is a dependency line, else None."""
    text = line.split(" #", 1)[0].split("\t#", 1)[0].rstrip()
    if not text.strip() or text.lstrip().startswith(("#", ";", "[", "-")):
        return None
    if m := _PYTHON_REQUIRES_RE.match(text):
        return "python", text.strip()
    m = _REQ_NAME_RE.match(text)
    if not m:
        return None
    rest = m.group(3)
    if file.endswith("setup.cfg"):
        # only version-specified lines: setup.cfg holds much else (entry points, metadata)
        if "=" in rest.split(">=")[0].split("==")[0].split("<=")[0].split("!=")[0].split("~=")[0]:
            return None  # a "key = value" setting
        if not _SPECIFIER_RE.search(rest):
            return None
    elif rest and not (_SPECIFIER_RE.match(rest) or rest.startswith((";", "@", ","))):
        return None
    return _normalise(m.group(1)), text.strip()


def requirements_diff(repo: Path, old: str, new: str) -> tuple[RequirementChange, ...]:
    """Dependency lines of requirements files and setup.cfg that differ between two commits."""
    res = git.run(
        [
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "-U0",
            old,
            new,
            "--",
            *REQUIREMENT_FILES,
        ],
        cwd=repo,
    )
    removed: dict[tuple[str, str], list[str]] = {}
    added: dict[tuple[str, str], list[str]] = {}
    order: list[tuple[str, str]] = []
    file = ""
    for raw in res.text.splitlines():
        if raw.startswith("diff --git "):
            file = raw.rsplit(" b/", 1)[-1]
            continue
        if raw.startswith(("--- ", "+++ ", "@@", "index ", "new file", "deleted file")):
            continue
        if raw[:1] not in "+-":
            continue
        parsed = _requirement(file, raw[1:])
        if parsed is None:
            continue
        key = (file, parsed[0])
        if key not in order:
            order.append(key)
        (removed if raw[0] == "-" else added).setdefault(key, []).append(parsed[1])
    changes: list[RequirementChange] = []
    for key in order:
        olds, news = removed.get(key, []), added.get(key, [])
        for i in range(max(len(olds), len(news))):
            a = olds[i] if i < len(olds) else None
            b = news[i] if i < len(news) else None
            if a != b:
                changes.append(RequirementChange(key[0], key[1], a, b))
    return tuple(changes)


# --- planning -----------------------------------------------------------------------------


def plan(
    config: RepoConfig,
    project: str,
    ref: str,
    *,
    include_customs: bool = False,
    notify: Notify | None = None,
) -> Plan:
    """Resolve ``ref`` and classify every patch against it; change nothing."""
    from verda_patch import merged

    refuse_if_bumping(config, project)
    proj = config.project(project)
    target = basefile.resolve(config, project, ref, notify=notify)
    report = merged.detect(
        config, project, target.commit, include_customs=include_customs, notify=notify
    )
    prune = report.to_json()
    prune["against"]["ref"] = target.given
    verdicts = tuple(PatchVerdict.from_json(v.to_json()) for v in report.verdicts)
    mirror = Mirror.for_project(config, proj, notify=notify)
    requirements = requirements_diff(mirror.path, proj.commit, target.commit)
    blocked = None
    try:
        _refuse_unsaved(config, project, proj.commit)
    except OperationFailed as exc:  # DirtyWorkTree, or a stopped apply
        blocked = str(exc)
    return Plan(
        project=project,
        old_commit=proj.commit,
        old_ref=proj.ref,
        target=target,
        verdicts=verdicts,
        removable=tuple(v.file for v in report.removable),
        prune=prune,
        range_commits=report.range_commits,
        requirements=requirements,
        blocked=blocked,
    )


def _refuse_unsaved(config: RepoConfig, project: str, base: str) -> None:
    from verda_patch.apply import refuse_if_unsaved

    tree = WorkTree(config, project)
    if not tree.exists():
        return
    state = tree.read_state()
    if state and state.get("phase") == "conflict":
        op = state.get("operation", "apply")
        raise OperationFailed(
            f"an '{op}' of {project} stopped at a conflict in {tree.path}",
            hint=f"finish it with 'verda-patch {op} --continue {project}' or undo it with "
            "'--abort' first",
        )
    refuse_if_unsaved(tree, base)


# --- the files a bump may touch -----------------------------------------------------------


def _project_files(root: Path, project: str) -> list[Path]:
    """Every regular file under ``patches/<project>/`` (patches, series, anything else)."""
    folder = contain.folder(root, Path(PATCHES_DIR, project))  # no symlink on the way
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _save_originals(root: Path, project: str) -> dict[str, str]:
    """Copy base-commit and ``patches/<project>/**`` aside; return {path: sha256}."""
    final = backup_dir(root, project)
    if final.exists():
        shutil.rmtree(final)  # left by a run that never wrote its state: nothing refers to it
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = Path(tempfile.mkdtemp(prefix=f".bump-{project}.", dir=final.parent))
    manifest: dict[str, str] = {}
    try:
        for path in [root / BASE_FILE, *_project_files(root, project)]:
            rel = path.relative_to(root).as_posix()
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            shutil.copymode(path, target)
            manifest[rel] = sha256_file(target)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


# --- running ------------------------------------------------------------------------------


def start(config: RepoConfig, the_plan: Plan, hooks: Hooks | None = None) -> Result:
    """Carry out ``the_plan`` (``--yes``). Raises PatchConflict, leaving a resumable state."""
    hooks = hooks or Hooks()
    project = the_plan.project
    root = config.root
    refuse_if_bumping(config, project)
    proj = config.project(project)
    if proj.commit != the_plan.old_commit:
        raise OperationFailed(
            f"base-commit of {project} changed since the bump was planned",
            hint="run the bump again",
        )
    _refuse_unsaved(config, project, proj.commit)
    tree = WorkTree(config, project)
    manifest = _save_originals(root, project)
    state: dict[str, Any] = {
        "version": STATE_VERSION,
        "operation": "bump",
        "project": project,
        "phase": PRUNING,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "from": {"commit": the_plan.old_commit, "ref": the_plan.old_ref},
        "to": {
            "commit": the_plan.target.commit,
            "ref": the_plan.target.ref,
            "given": the_plan.target.given,
            "kind": the_plan.target.kind,
        },
        "backup": str(backup_dir(root, project)),  # for people; never read back
        "files": manifest,
        "dirs": _project_dirs(root, project),
        "work_tree": {
            "existed": tree.exists(),
            "head": tree.head(),
            "synced": tree.synced(),
        },
        "remove": list(the_plan.removable),
        "verdicts": [v.to_json() for v in the_plan.verdicts],
        "prune": the_plan.prune,
        "requirements": [r.to_json() for r in the_plan.requirements],
    }
    _write_state(root, project, state)
    return _run(config, project, state, hooks)


def _run(config: RepoConfig, project: str, state: dict[str, Any], hooks: Hooks) -> Result:
    """Carry on from the phase ``state`` records, to the end."""
    from verda_patch import apply as engine

    root = config.root
    new_commit = str(state["to"]["commit"])
    tree = WorkTree(config, project)
    if state["phase"] == PRUNING:
        # idempotent: a file already gone, a series line already dropped, are skipped
        Store(config).remove(project, state["remove"])
        state["phase"] = APPLYING
        _write_state(root, project, state)

    if state["phase"] in (APPLYING, CONFLICT):
        apply_state = tree.read_state() if tree.exists() else None
        if apply_state and apply_state.get("phase") == "conflict":
            dropped = _skipped(tree, apply_state, new_commit)
            if set(dropped) - set(state.get("dropped", [])):
                hooks.say(f"dropping {', '.join(dropped)} (skipped with 'git am --skip')")
                state["dropped"] = sorted(set(state.get("dropped", [])) | set(dropped))
                _write_state(root, project, state)
            _stage_resolution(tree, hooks)
            state["resolved"] = True
            try:
                engine.continue_apply(config, project, hooks)
            except PatchConflict as exc:
                # a dropped patch made no commit, as intended: finish without it
                if not (exc.patch in state.get("dropped", []) and not tree.am_in_progress()):
                    state["phase"] = CONFLICT
                    _write_state(root, project, state)
                    raise
                _finish_without(config, project, tree, new_commit, state["dropped"])
        else:
            gone = set(state.get("dropped", []))
            remaining = [p for p in Store(config).load(project) if p.file not in gone]
            if not (apply_state is None and _complete(tree, new_commit, remaining)):
                try:
                    engine.apply_project(
                        config,
                        project,
                        hooks=hooks,
                        base=new_commit,
                        operation=OPERATION,
                        patches=remaining,
                    )
                except PatchConflict:
                    state["phase"] = CONFLICT
                    _write_state(root, project, state)
                    raise
        state["phase"] = FINISHING
        _write_state(root, project, state)

    # FINISHING: pin the new base, then write back the patches whose meaning changed.
    # Both steps are idempotent, so an interrupted finish simply runs again.
    if state.get("dropped"):
        Store(config).remove(project, state["dropped"])
    basefile.set_base(root, project, commit=new_commit, ref=state["to"].get("ref"))
    fresh = _reload(config)
    refreshed, unchanged, warnings, synced = _export(fresh, project)
    if state.get("resolved") and synced:
        warnings += _reproduce(fresh, project, hooks)
    head = tree.head() or new_commit
    result = Result(
        project=project,
        old_commit=str(state["from"]["commit"]),
        old_ref=state["from"].get("ref"),
        new_commit=new_commit,
        new_ref=state["to"].get("ref"),
        verdicts=tuple(PatchVerdict.from_json(v, state["remove"]) for v in state["verdicts"]),
        refreshed=refreshed,
        unchanged=unchanged,
        requirements=tuple(RequirementChange(**r) for r in state.get("requirements", [])),
        work_tree=tree.path,
        head=head,
        prune=_prune_with_removed(state),
        warnings=tuple(warnings),
        dropped=tuple(state.get("dropped", [])),
    )
    state_path(root, project).unlink(missing_ok=True)
    shutil.rmtree(backup_dir(root, project), ignore_errors=True)
    return result


def _prune_with_removed(state: dict[str, Any]) -> dict[str, Any]:
    prune = dict(state.get("prune") or {})
    gone = set(state.get("remove", []))
    prune["patches"] = [dict(p, removed=p.get("file") in gone) for p in prune.get("patches", [])]
    prune["dry_run"] = False
    return prune


def _reload(config: RepoConfig) -> RepoConfig:
    from verda_patch import config as cfg

    return cfg.load(config.root)


def _complete(tree: WorkTree, base: str, patches: list[Any]) -> bool:
    """Whether the work tree already holds ``patches`` on ``base`` (an apply that finished)."""
    from verda_patch.apply import verify_chain

    if not tree.exists() or tree.am_in_progress() or tree.synced() != tree.head():
        return False
    if not git.is_commit(tree.path, base):
        return False
    if git.run(
        ["merge-base", "--is-ancestor", "--end-of-options", base, "HEAD"],
        cwd=tree.path,
        ok=(0, 1),
    ).returncode:
        return False
    try:
        verify_chain(tree, base, patches)
    except OperationFailed:
        return False
    return True


def _am_next(tree: WorkTree) -> int | None:
    """The 1-based number of the message ``git am`` stopped at, or None when it is done."""
    if not tree.am_in_progress():
        return None
    try:
        return int((tree.git_dir() / "rebase-apply" / "next").read_text().strip())
    except (OSError, ValueError):
        return None


def _skipped(tree: WorkTree, apply_state: dict[str, Any], base: str) -> list[str]:
    """Patches the user dropped with ``git am --skip`` (upstream made them obsolete).

    They are the patches before the one ``git am`` stands at now (all of them
    when it finished) that made no commit. Their files are removed once the
    series is through (the originals are in the bump's backup for ``--abort``).
    """
    names = [str(n) for n in apply_state.get("patches", [])]
    at = _am_next(tree)
    done = names if at is None else names[: max(at - 1, 0)]
    made = {c.trailer for c in tree.commits(base)} if git.is_commit(tree.path, base) else set()
    return [name for name in done if name not in made]


def _finish_without(
    config: RepoConfig, project: str, tree: WorkTree, base: str, dropped: list[str]
) -> None:
    """What ``apply.finish`` does, for the series without the dropped patches."""
    from verda_patch.apply import commit_custom_source, verify_chain

    patches = [p for p in Store(config).load(project) if p.file not in set(dropped)]
    verify_chain(tree, base, patches)
    commit_custom_source(config, project, tree.path)
    tree.mark_synced()
    tree.clear_state()


_MARKER_RE = re.compile(rb"^(<<<<<<<|>>>>>>>)( |$)|^=======$", re.MULTILINE)


def _stage_resolution(tree: WorkTree, hooks: Hooks) -> None:
    """Stage what the user resolved by editing only (issue 7: "or just edits").

    Only conflicted paths that no longer hold conflict markers are staged (a
    deleted file is staged as deleted); with no conflicted path and nothing
    staged, edits to tracked files are staged. Anything still marked is left
    for ``git am --continue`` to refuse.
    """
    if not tree.am_in_progress():
        return
    unmerged = tree.unmerged()
    staged = []
    for rel in dict.fromkeys(unmerged):
        path = tree.path / rel
        if path.is_file() and _MARKER_RE.search(path.read_bytes()):
            continue
        if path.exists() or path.is_symlink():
            git.run(["add", "--", rel], cwd=tree.path)
        else:
            git.run(["rm", "--quiet", "--cached", "--", rel], cwd=tree.path)
        staged.append(rel)
    if (
        not unmerged
        and git.run(["diff", "--cached", "--quiet"], cwd=tree.path, ok=(0, 1)).returncode == 0
    ):
        changed = git.zsplit(git.run(["diff", "--name-only", "-z"], cwd=tree.path).stdout)
        if changed:
            git.run(["add", "--update", "--", *changed], cwd=tree.path)
            staged += changed
    if staged:
        hooks.say(f"staged your resolution of {', '.join(staged)}")


def _export(
    config: RepoConfig, project: str
) -> tuple[tuple[str, ...], tuple[str, ...], list[str], bool]:
    """Write the work tree back: (refreshed, unchanged, warnings, all of it saved)."""
    from verda_patch import export

    outcome = export.export_project(config, project, write=True, prune_missing=False)
    warnings = []
    untracked = _names(outcome.untracked)
    if untracked:
        warnings.append(
            f"the work tree has {len(untracked)} commit(s) no patch file holds (first: "
            f"{untracked[0]}); keep them with 'verda-patch new {project} NAME -c CATEGORY'"
        )
    missing = _names(outcome.missing)
    if missing:
        warnings.append(
            f"{len(missing)} patch file(s) have no commit in the work tree (first: "
            f"{missing[0]}); check them before committing"
        )
    uncommitted = _names(getattr(outcome, "uncommitted", ()))
    if uncommitted:
        warnings.append(
            f"the work tree has uncommitted changes no patch holds ({uncommitted[0]}"
            + (f" and {len(uncommitted) - 1} more" if len(uncommitted) > 1 else "")
            + f"); keep them with 'verda-patch new {project} NAME -c CATEGORY'"
        )
    synced = bool(getattr(outcome, "synced", not (untracked or missing)))
    return (
        _names(outcome.written),
        _names(outcome.unchanged),
        warnings,
        synced and not (uncommitted),
    )


def _reproduce(config: RepoConfig, project: str, hooks: Hooks) -> list[str]:
    """Rebuild the work tree from the refreshed files after a resolved conflict.

    ``git am --continue`` commits the resolution with today's committer date,
    so the branch would not have the reproducible ids the SPEC promises
    (same base + same files → same commits). Applying the files again gives
    them, and proves the refreshed files hold the resolution: the tree must
    come out identical. If it does not, the resolved branch is put back.
    """
    from verda_patch import apply as engine

    tree = WorkTree(config, project)
    before = tree.head()
    synced = tree.synced()
    if before is None:
        return []
    want = git.out(["rev-parse", "--end-of-options", f"{before}^{{tree}}"], cwd=tree.path)
    problem = None
    try:
        engine.apply_project(config, project, hooks=Hooks(notify=hooks.notify))
        if git.out(["rev-parse", "HEAD^{tree}"], cwd=tree.path) != want:
            problem = "the refreshed patch files do not rebuild the resolved tree"
    except (OperationFailed, UserError) as exc:
        problem = f"the refreshed patch files do not re-apply ({exc})"
    if problem is None:
        return []
    if tree.read_state():
        engine.abort_apply(config, project)
    if tree.head() != before:
        tree.reset_to(before)
    if synced:
        git.run(["update-ref", "--end-of-options", "refs/verda/synced", synced], cwd=tree.path)
    return [
        f"{problem}; the work tree keeps your resolution at {before[:12]}: check "
        f"'verda-patch export {project}' and 'git diff'"
    ]


def _names(items: Iterable[Any]) -> tuple[str, ...]:
    out = []
    for item in items:
        name = getattr(item, "file", item)
        out.append(str(name))
    return tuple(out)


def resume(config: RepoConfig, project: str, hooks: Hooks | None = None) -> Result:
    """``base bump --continue``: carry on from where the bump stopped."""
    hooks = hooks or Hooks()
    state = read_state(config.root, project)
    if state is None:
        _refuse_legacy(config.root, project)
        raise UserError(
            f"no 'base bump' of {project} is in progress; nothing to continue",
            hint=f"start one with 'verda-patch base bump {project} REF --yes'",
        )
    return _run(config, project, state, hooks)


def abort(config: RepoConfig, project: str) -> AbortResult:
    """``base bump --abort``: base-commit, patch files, series and work tree as before."""
    from verda_patch import apply as engine

    root = config.root
    state = read_state(root, project)
    if state is None:
        _refuse_legacy(root, project)
        raise UserError(
            f"no 'base bump' of {project} is in progress; nothing to abort",
            hint=f"'verda-patch base show {project}' shows the pinned base",
        )
    saved = backup_dir(root, project)  # a fixed place, never one the state names
    manifest: dict[str, str] = state["files"]
    missing = [rel for rel in manifest if not (saved / rel).is_file()]
    if missing:
        raise OperationFailed(
            f"the saved copy of {missing[0]} is gone; cannot restore",
            file=saved,
            hint="restore the files from git ('git checkout -- patches base-commit')",
        )

    # the work tree first: the files are the contract, and they are restored last
    tree = WorkTree(config, project)
    head: str | None = None
    before = state.get("work_tree") or {}
    if tree.exists():
        apply_state = tree.read_state()
        if apply_state:
            head = engine.abort_apply(config, project)
        if tree.exists() and before.get("head") and tree.head() != before["head"]:
            tree.reset_to(str(before["head"]))
            if before.get("synced"):
                git.run(
                    ["update-ref", "--end-of-options", "refs/verda/synced", str(before["synced"])],
                    cwd=tree.path,
                )
            head = str(before["head"])
        elif tree.exists() and not before.get("existed"):
            tree.remove()
            head = None
        elif tree.exists():
            head = tree.head()

    restored: list[str] = []
    deleted: list[str] = []
    for path in _project_files(root, project):
        rel = path.relative_to(root).as_posix()
        if rel not in manifest:
            path.unlink()
            deleted.append(rel)
    for rel, digest in manifest.items():
        target = contain.file_in(root, rel)
        data = (saved / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise OperationFailed(
                f"the saved copy of {rel} does not match what was saved",
                file=saved / rel,
                hint="restore the files from git ('git checkout -- patches base-commit')",
            )
        if not target.is_file() or target.read_bytes() != data:
            contain.folder(root, Path(rel).parent, create=True)
            write_atomic(target, data)
            shutil.copymode(saved / rel, target)
            restored.append(rel)
    _prune_empty_dirs(root, project, keep=set(state.get("dirs", [])))
    state_path(root, project).unlink(missing_ok=True)
    shutil.rmtree(saved, ignore_errors=True)
    return AbortResult(project, tuple(restored), tuple(deleted), head)


def _refuse_legacy(root: Path, project: str) -> None:
    """Say what to do with a bump an older version stopped (its state is not trusted)."""
    old = legacy_state(root, project)
    if old is not None:
        raise UserError(
            f"{old.relative_to(root)} was written by an older verda-patch; state under "
            ".verda/ is no longer read, because a commit can plant it",
            file=old,
            hint=f"finish or abort that bump with the version that started it, or restore "
            f"'git checkout -- base-commit patches/{project}' and remove {opstate.LEGACY_DIR}",
        )


def _project_dirs(root: Path, project: str) -> list[str]:
    folder = contain.folder(root, Path(PATCHES_DIR, project))
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in folder.rglob("*") if p.is_dir())


def _prune_empty_dirs(root: Path, project: str, keep: set[str]) -> None:
    """Remove empty folders under ``patches/<project>/`` that were not there before."""
    for rel in sorted(_project_dirs(root, project), key=lambda r: r.count("/"), reverse=True):
        path = root / rel
        if rel not in keep and not any(path.iterdir()):
            path.rmdir()
