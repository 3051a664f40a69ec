"""``check``: the CI gate. Every check is its own result; nothing stops at the first failure.

Per project, in order (a step that cannot run because an earlier one failed is
reported as skipped, never as passed):

- ``config``: ``base-commit`` / ``verda-patch.yaml`` load; every ``patches/<dir>``
  is a project of ``base-commit``; the pinned commit exists upstream.
- ``series``: no folder that is not a category, no patch file outside one; each
  ``series`` lists every patch file of its category exactly once and nothing else.
- ``parse`` (per patch): the file is a patch git can use.
- ``cherry-pick-origin`` (per ``cherry-pick`` patch): it names its upstream
  commit (``(cherry picked from commit X)``) or carries a ``Change-Id``.
- ``unique-change-id`` / ``unique-name`` (per patch): no Change-Id in two
  patches; no file name in two categories.
- ``apply`` (per patch, and for the project): the whole series applies on the
  base in a scratch tree (the user's work tree is never touched).
- ``export`` (per patch, and for the project): exporting that tree
  (:func:`verda_patch.export.export_tree` without writing) would rewrite no
  patch file (the files are in canonical form).
- ``review``: ``review/<project>`` matches the patched tree, when the repo keeps one.
- ``forward`` (only with ``--against REF``, repeatable; :mod:`verda_patch.forecast`):
  per release, which patches it has merged (prune's detection) and which of
  the others stop applying there.
- ``already-in-base`` (a warning, never a failure): patches whose upstream
  change the pinned base already holds.

The library only returns a :class:`Report`; ``commands/check.py`` renders it
as text, the SPEC's JSON or JUnit XML.
"""

from __future__ import annotations

import contextlib
import re
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verda_patch.apply import Hooks, scratch_tree
from verda_patch.config import BASE_FILE, RepoConfig
from verda_patch.errors import (
    PatchConflict,
    PatchError,
    UpstreamError,
    VerdaError,
)
from verda_patch.parallel import run_each
from verda_patch.patchfile import Patch, normal_change_id
from verda_patch.store import (
    PATCH_SUFFIXES,
    PATCHES_DIR,
    SERIES,
    Entry,
    Store,
    is_file_name,
    is_patch_name,
    read_series,
)

PASS = "pass"
FAIL = "fail"
SKIP = "skip"

CONFIG = "config"
SERIES_CHECK = "series"
PARSE = "parse"
ORIGIN = "cherry-pick-origin"
CHANGE_ID = "unique-change-id"
NAME = "unique-name"
APPLY = "apply"
EXPORT = "export"
REVIEW = "review"
FORWARD = "forward"
IN_BASE = "already-in-base"

CHERRY_PICK = "cherry-pick"
UNPARSED = "not checked: the file does not parse"
# A forward check drops each patch that conflicts on the target and tries the
# rest again; past this many conflicts the remaining patches are left unchecked.
MAX_FORWARD_CONFLICTS = 25

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Result:
    """One check on one subject (a patch, a series file, a project, the repo)."""

    project: str | None
    check: str
    file: str | None  # a patch: its path under patches/<project>/ (the SPEC's `file`)
    status: str  # pass | fail | skip
    message: str = ""
    per_patch: bool = False  # a JUnit testcase of its own per patch
    category: str | None = None
    path: str | None = None  # the file to open, relative to the patch repo
    line: int | None = None
    paths: tuple[str, ...] = ()  # conflicting or out-of-date paths
    detail: str = ""  # git's own message
    seconds: float = 0.0
    against: str | None = None  # forward: the release this forecast is for
    forecast: str | None = None  # forward: merged | partial | applies | stops-applying

    @property
    def ok(self) -> bool:
        """A skipped check did not fail: the failure that made it skip is reported."""
        return self.status != FAIL

    @property
    def where(self) -> str:
        """``path:line`` of what to open, or the best name we have."""
        where = self.path or self.file or ""
        return f"{where}:{self.line}" if where and self.line else where

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "check": self.check,
            "file": self.file,
            "ok": self.ok,
            "message": self.message,
            "status": self.status,
            "path": self.path,
            "line": self.line,
            "paths": list(self.paths),
            "detail": self.detail,
            **({"against": self.against, "forecast": self.forecast} if self.against else {}),
        }


@dataclass(frozen=True)
class Report:
    results: tuple[Result, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[Result, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def bad_input(self) -> bool:
        """The repo's configuration itself is broken: exit 2 rather than 1."""
        return any(r.check == CONFIG and not r.ok for r in self.results)

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return 2 if self.bad_input else 1

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "results": [r.to_json() for r in self.results]}


# --- helpers -------------------------------------------------------------------------


def _rel(config: RepoConfig, path: Path | str | None) -> str | None:
    if path is None:
        return None
    path = Path(path)
    try:
        return path.resolve().relative_to(config.root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _explain(exc: VerdaError) -> str:
    text = exc.message
    if exc.line:
        text += f" (line {exc.line})"
    if exc.hint:
        text += f"; {exc.hint}"
    return text


def _error_result(
    config: RepoConfig, project: str, check: str, exc: VerdaError, **extra: Any
) -> Result:
    """A project-level failure from an error: its message, and the file and line it names."""
    return Result(
        project,
        check,
        None,
        FAIL,
        _explain(exc),
        path=_rel(config, exc.file),
        line=exc.line,
        **extra,
    )


def _patch_result(
    config: RepoConfig,
    project: str,
    entry: Entry,
    check: str,
    status: str,
    message: str = "",
    **extra: Any,
) -> Result:
    return Result(
        project=project,
        check=check,
        file=entry.file,
        status=status,
        message=message,
        per_patch=True,
        category=entry.category,
        path=extra.pop("path", None) or _rel(config, entry.path),
        **extra,
    )


# --- config --------------------------------------------------------------------------


def config_failed(error: VerdaError, root: Path | None = None) -> Report:
    """The report when ``base-commit`` or ``verda-patch.yaml`` does not even load."""
    path = None
    if error.file is not None:
        path = str(error.file)
        if root is not None:
            with contextlib.suppress(ValueError):
                path = Path(error.file).resolve().relative_to(root.resolve()).as_posix()
    return Report(
        (
            Result(
                None,
                CONFIG,
                path or BASE_FILE,
                FAIL,
                _explain(error),
                path=path or BASE_FILE,
                line=error.line,
            ),
        )
    )


def check_config(config: RepoConfig, projects: Sequence[str]) -> list[Result]:
    results = [
        Result(
            None,
            CONFIG,
            BASE_FILE,
            PASS,
            f"{len(config.projects)} project(s): {', '.join(config.projects) or 'none'}",
            path=BASE_FILE,
        )
    ]
    for name in Store(config).projects_with_patches():
        if name not in config.projects and (not projects or name in projects):
            results.append(
                Result(
                    name,
                    CONFIG,
                    f"{PATCHES_DIR}/{name}/",
                    FAIL,
                    f"{PATCHES_DIR}/{name}/ has no entry in {BASE_FILE}, so it is never applied; "
                    f"add '{name}:' to {BASE_FILE} or remove the folder",
                    path=f"{PATCHES_DIR}/{name}",
                )
            )
    return results


# --- series --------------------------------------------------------------------------


def check_series(
    config: RepoConfig, project: str
) -> tuple[list[Result], list[Entry] | None, list[Entry]]:
    """(results, the apply order when the series is consistent, every patch file found)."""
    store = Store(config)
    base = store.project_dir(project)
    rel_base = f"{PATCHES_DIR}/{project}"
    results: list[Result] = []
    found: list[Entry] = []
    if not base.is_dir():
        return (
            [
                Result(
                    project, SERIES_CHECK, None, PASS, f"no {rel_base}/: no patches", path=rel_base
                )
            ],
            [],
            [],
        )
    for child in sorted(base.iterdir()):
        if child.is_dir() and child.name not in store.categories:
            results.append(
                Result(
                    project,
                    SERIES_CHECK,
                    f"{child.name}/",
                    FAIL,
                    f"folder '{child.name}' is not a category (known: "
                    f"{', '.join(store.categories)}); its patches are never applied: move them "
                    "into a category or add it to 'categories' in verda-patch.yaml",
                    path=f"{rel_base}/{child.name}",
                )
            )
        elif not child.is_dir() and child.name.endswith(PATCH_SUFFIXES):
            results.append(
                Result(
                    project,
                    SERIES_CHECK,
                    child.name,
                    FAIL,
                    f"patch file outside a category folder, never applied: move it into one of "
                    f"{', '.join(store.categories)}",
                    path=f"{rel_base}/{child.name}",
                )
            )
    for category in store.categories:
        folder = base / category
        if not folder.is_dir():
            continue
        problems, listed = _category_series(folder, category)
        on_disk = _patch_files(folder)
        found += [Entry(category, name, folder / name) for name in sorted(on_disk)]
        series_file = f"{category}/{SERIES}"
        if problems:
            first_line = next((line for _, line in problems if line), None)
            subject = series_file if listed is not None else f"{category}/"
            results.append(
                Result(
                    project,
                    SERIES_CHECK,
                    subject,
                    FAIL,
                    "; ".join(text for text, _ in problems),
                    path=f"{rel_base}/{subject.rstrip('/')}",
                    line=first_line,
                )
            )
        elif listed is None:
            results.append(
                Result(
                    project,
                    SERIES_CHECK,
                    f"{category}/",
                    PASS,
                    f"{len(on_disk)} patch(es), in file-name order (no series file)",
                    path=f"{rel_base}/{category}",
                )
            )
        else:
            results.append(
                Result(
                    project,
                    SERIES_CHECK,
                    series_file,
                    PASS,
                    f"lists all {len(listed)} patch(es) of {category}/",
                    path=f"{rel_base}/{series_file}",
                )
            )
    if any(not r.ok for r in results):
        return results, None, found
    try:
        order = store.entries(project)
    except PatchError as exc:  # a rule of the store this check does not know yet
        results.append(_error_result(config, project, SERIES_CHECK, exc))
        return results, None, found
    if not results:
        results.append(Result(project, SERIES_CHECK, None, PASS, "no category folders"))
    return results, order, found


def _patch_files(folder: Path) -> set[str]:
    return {child.name for child in folder.iterdir() if is_patch_name(child.name)}


def _category_series(
    folder: Path, category: str
) -> tuple[list[tuple[str, int | None]], list[str] | None]:
    """Every problem of one category folder, and the names its series lists (None: none)."""
    problems: list[tuple[str, int | None]] = []
    on_disk = _patch_files(folder)
    for name in sorted(on_disk):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            problems.append((f"{category}/{name} is not a regular file", None))
    series = folder / SERIES
    if not series.exists() and not series.is_symlink():
        return problems, None
    if series.is_symlink() or not series.is_file():
        return [*problems, (f"{category}/{SERIES} is not a regular file", None)], []
    listed: list[str] = []
    seen: dict[str, int] = {}
    for lineno, name in read_series(series):
        if not is_file_name(name):
            problems.append((f"line {lineno}: {name!r} is not a file name in {category}/", lineno))
            continue
        if name in seen:
            problems.append(
                (f"line {lineno}: '{name}' is listed twice (first on line {seen[name]})", lineno)
            )
            continue
        seen[name] = lineno
        listed.append(name)
        if name not in on_disk and not (folder / name).is_file():
            problems.append(
                (
                    f"line {lineno}: '{name}' does not exist; remove the line or restore the file",
                    lineno,
                )
            )
    for name in sorted(on_disk - set(seen)):
        problems.append(
            (
                f"{category}/{name} is not listed in {category}/{SERIES}; add it "
                "or remove the file",
                None,
            )
        )
    return problems, listed


# --- per-patch checks ----------------------------------------------------------------


def check_parse(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Result], list[Patch | None]]:
    results: list[Result] = []
    parsed: list[Patch | None] = []
    for i, entry in enumerate(entries, 1):
        try:
            patch = Store(config).parse(entry)  # untrusted mode's limits apply
        except PatchError as exc:
            Store(config).with_git_verdict(exc, entry.path)  # what git says of the same bytes
            parsed.append(None)
            results.append(
                _patch_result(config, project, entry, PARSE, FAIL, _explain(exc), line=exc.line)
            )
        else:
            parsed.append(patch)
            results.append(
                _patch_result(
                    config,
                    project,
                    entry,
                    PARSE,
                    PASS,
                    f"{patch.subject} ({len(patch.files)} file(s))",
                )
            )
        if progress:
            progress(i, len(entries))
    return results, parsed


def check_invariants(
    config: RepoConfig, project: str, entries: Sequence[Entry], parsed: Sequence[Patch | None]
) -> list[Result]:
    results: list[Result] = []
    by_change_id: dict[str, list[str]] = defaultdict(list)
    by_name: dict[str, list[str]] = defaultdict(list)
    for entry, patch in zip(entries, parsed, strict=True):
        by_name[entry.name].append(entry.category)
        if patch:
            for cid in dict.fromkeys(normal_change_id(c) for c in patch.change_ids):
                by_change_id[cid].append(entry.file)
    for entry, patch in zip(entries, parsed, strict=True):
        if entry.category == CHERRY_PICK:
            if patch is None:
                status, message = SKIP, UNPARSED
            elif patch.cherry_picked_from:
                status, message = PASS, f"cherry picked from {patch.cherry_picked_from[0][:12]}"
            elif patch.change_ids:
                status, message = PASS, f"Change-Id {patch.change_ids[-1]}"
            else:
                status, message = (
                    FAIL,
                    "a cherry-pick patch must name its upstream change: add a "
                    "'(cherry picked from commit <sha>)' line or the upstream 'Change-Id:' "
                    "trailer to its message, or move it to general/ or customs/",
                )
            results.append(_patch_result(config, project, entry, ORIGIN, status, message))
        if patch is None:
            status, message = SKIP, UNPARSED
        else:
            clashes = [
                (cid, other)
                for cid in dict.fromkeys(normal_change_id(c) for c in patch.change_ids)
                for other in by_change_id[cid]
                if other != entry.file
            ]
            if clashes:
                others = ", ".join(dict.fromkeys(other for _, other in clashes))
                status, message = (
                    FAIL,
                    f"Change-Id {clashes[0][0]} is also in {others}: one upstream change "
                    "belongs in one patch; merge or drop the duplicate",
                )
            else:
                last = patch.change_ids[-1] if patch.change_ids else None
                status, message = PASS, f"Change-Id {last}" if last else "no Change-Id"
        results.append(_patch_result(config, project, entry, CHANGE_ID, status, message))
        categories = by_name[entry.name]
        if len(categories) > 1:
            status, message = (
                FAIL,
                f"the file name {entry.name} is used in "
                f"{' and '.join(c + '/' for c in categories)}; rename one of them",
            )
        else:
            status, message = PASS, ""
        results.append(_patch_result(config, project, entry, NAME, status, message))
    return results


# --- apply, export, review -------------------------------------------------------------


def _conflict_results(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    exc: PatchConflict,
    target: str,
) -> list[Result]:
    """APPLY results around a conflict: passed before it, failed at it, skipped after it."""
    if exc.git_message:  # git am stopped on it
        hint = (
            f"to fix it: 'verda-patch apply {project}', resolve the conflict in the "
            f"work tree, 'verda-patch apply --continue {project}', then "
            f"'verda-patch export {project}'"
        )
    else:  # it applied but made no commit
        hint = exc.hint or ""
    results: list[Result] = []
    seen = False
    for entry in entries:
        extra: dict[str, Any] = {}
        if entry.file == exc.patch:
            seen = True
            status = FAIL
            message = f"{exc.message} (on {target})" + (f"; {hint}" if hint else "")
            extra = {"paths": exc.paths, "detail": _git_detail(exc.git_message)}
        elif not seen:
            status, message = PASS, f"applies on {target}"
        else:
            status, message = SKIP, f"not reached: {exc.patch} stops the series before it"
        results.append(_patch_result(config, project, entry, APPLY, status, message, **extra))
    return results


def _git_detail(output: str) -> str:
    """git am's output without the progress of the patches before and the hints that
    point into the (deleted) scratch tree."""
    lines = output.strip().splitlines()
    last = max((i for i, line in enumerate(lines) if line.startswith("Applying: ")), default=0)
    # git's errors go to stderr unbuffered, its "Applying:" lines to a buffered stdout:
    # the errors may come first; only the failing patch has any
    errors = [line for line in lines[:last] if line.startswith(("error: ", "CONFLICT"))]
    return "\n".join(line for line in lines[last:] + errors if not line.startswith("hint: "))


def check_apply(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    patches: Sequence[Patch],
    hooks: Hooks,
    then: Callable[[Path, str], list[Result]],
) -> list[Result]:
    """Apply the series in a scratch tree; ``then(tree, head)`` runs the checks needing it."""
    base = config.project(project).commit
    target = f"base {base[:12]}"
    started = time.perf_counter()
    try:
        with scratch_tree(config, project, patches=patches, hooks=hooks) as (tree, head):
            applied = time.perf_counter() - started
            results = [
                _patch_result(config, project, entry, APPLY, PASS, f"applies on {target}")
                for entry in entries
            ]
            results.append(
                Result(
                    project,
                    APPLY,
                    None,
                    PASS,
                    f"{len(patches)} patch(es) apply on {target} (head {head[:12]})",
                    seconds=applied,
                )
            )
            results += then(tree.path, head)
            return results
    except PatchConflict as exc:
        results = _conflict_results(config, project, entries, exc, target)
        # the failure belongs to the patch's own result; the project's says where it stopped,
        # so one bad patch is exactly one failed testcase
        results.append(
            Result(
                project,
                APPLY,
                None,
                SKIP,
                f"stopped at {exc.patch} (see its result)",
                seconds=time.perf_counter() - started,
            )
        )
        return results
    except UpstreamError as exc:
        return [
            Result(
                project,
                CONFIG,
                BASE_FILE,
                FAIL,
                _explain(exc),
                path=BASE_FILE,
                line=exc.line or config.project(project).line,
            ),
            *_skipped(config, project, entries, APPLY, "not run: the base is not available"),
        ]
    except VerdaError as exc:
        return [
            _error_result(
                config,
                project,
                APPLY,
                exc,
                detail=str(getattr(exc, "stderr", "") or ""),
                seconds=time.perf_counter() - started,
            ),
            *_skipped(config, project, entries, APPLY, "not run: the series could not be built"),
        ]


def _skipped(
    config: RepoConfig, project: str, entries: Iterable[Entry], check: str, why: str
) -> list[Result]:
    return [_patch_result(config, project, e, check, SKIP, why) for e in entries]


def check_export(
    config: RepoConfig, project: str, entries: Sequence[Entry], tree: Path, base: str
) -> list[Result]:
    """Exporting the freshly applied tree must rewrite no patch file.

    The leading patches an earlier check found unchanged for these very commits
    and file bytes are not compared again (:mod:`verda_patch.export_memo`).
    """
    from verda_patch.export import export_tree
    from verda_patch.export_memo import ExportMemo
    from verda_patch.mirror import Mirror

    started = time.perf_counter()
    try:
        memo = ExportMemo(Mirror.for_project(config, config.project(project)).path)
        outcome = export_tree(config, project, tree, base, write=False, memo=memo)
    except VerdaError as exc:
        return [_error_result(config, project, EXPORT, exc)]
    seconds = time.perf_counter() - started
    rewritten = set(outcome.written)
    missing = set(outcome.missing)
    untracked = list(outcome.untracked)
    reordered = list(outcome.reordered)
    results: list[Result] = []
    for entry in entries:
        if entry.file in rewritten:
            status, message = (
                FAIL,
                "not in canonical form: 'verda-patch export' would rewrite this file "
                f"(run 'verda-patch apply {project}' then 'verda-patch export {project}' "
                "and commit the result)",
            )
        elif entry.file in missing:
            status, message = (
                FAIL,
                "no commit of the applied tree carries this file (export would miss it)",
            )
        else:
            status, message = PASS, "export leaves it byte for byte"
        results.append(_patch_result(config, project, entry, EXPORT, status, message))
    if untracked:
        results.append(
            Result(
                project,
                EXPORT,
                None,
                FAIL,
                f"{len(untracked)} commit(s) of the applied tree belong to no "
                f"patch file (first: {untracked[0]})",
                seconds=seconds,
            )
        )
    for category in reordered:
        results.append(
            Result(
                project,
                EXPORT,
                f"{category}/{SERIES}",
                FAIL,
                f"export would rewrite {category}/{SERIES}: its order is not the apply order",
                path=f"{PATCHES_DIR}/{project}/{category}/{SERIES}",
                seconds=seconds,
            )
        )
    if not (rewritten or missing or untracked or reordered):
        results.append(
            Result(
                project,
                EXPORT,
                None,
                PASS,
                f"export of the applied tree is a no-op ({len(entries)} patch(es))",
                seconds=seconds,
            )
        )
    # a non-canonical patch fails its own result only: one bad file, one failed testcase
    return results


def check_review(config: RepoConfig, project: str, tree: Path, base: str) -> list[Result]:
    from verda_patch.review import review_dir, review_tree

    directory = review_dir(config, project)
    rel = _rel(config, directory)
    if not directory.is_dir():
        return [Result(project, REVIEW, rel, SKIP, f"not kept: the repo has no {rel}/", path=rel)]
    started = time.perf_counter()
    result = review_tree(config, project, tree, base, check=True)
    seconds = time.perf_counter() - started
    if result.in_sync:
        return [
            Result(
                project,
                REVIEW,
                rel,
                PASS,
                f"{result.unchanged} file(s) match the patched tree",
                path=rel,
                seconds=seconds,
            )
        ]
    stale = result.stale
    shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
    return [
        Result(
            project,
            REVIEW,
            rel,
            FAIL,
            f"{len(stale)} path(s) out of date ({shown}); run 'verda-patch review {project}' "
            f"and commit {rel}/",
            path=rel,
            paths=stale,
            seconds=seconds,
        )
    ]


# --- forward check ---------------------------------------------------------------------


def check_in_base(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    patches: Sequence[Patch],
    hooks: Hooks,
) -> list[Result]:
    """A warning (not a failure) per patch whose change the pinned base already holds."""
    from verda_patch.presence import held_by_base

    by_file = {e.file: e for e in entries}
    results = []
    for held in held_by_base(config, project, patches, hooks.notify):
        hooks.say(f"warning: {held.warning(project)}")
        results.append(
            _patch_result(
                config,
                project,
                by_file[held.file],
                IN_BASE,
                PASS,
                "warning: " + held.warning(project).split(": ", 1)[1],
            )
        )
    return results


# --- the whole check -------------------------------------------------------------------


def _not_run(
    config: RepoConfig, project: str, entries: Sequence[Entry], checks: Sequence[str], why: str
) -> list[Result]:
    """Each of ``checks`` skipped per patch and for the project, then the review check."""
    results: list[Result] = []
    for check in checks:
        results += _skipped(config, project, entries, check, why)
        results.append(Result(project, check, None, SKIP, why))
    results.append(
        Result(project, REVIEW, _rel(config, config.root / "review" / project), SKIP, why)
    )
    return results


def check_project(
    config: RepoConfig,
    project: str,
    *,
    against: Sequence[str] = (),
    hooks: Hooks | None = None,
) -> list[Result]:
    hooks = hooks or Hooks()
    config.project(project)
    results, order, found = check_series(config, project)
    entries = order if order is not None else found
    hooks.say(f"{project}: parsing {len(entries)} patch(es)")
    parse_results, parsed = check_parse(config, project, entries)
    results += parse_results
    results += check_invariants(config, project, entries, parsed)
    if order is None or any(p is None for p in parsed):
        why = (
            "not run: the series files are inconsistent"
            if order is None
            else "not run: a patch file does not parse"
        )
        checks = (APPLY, EXPORT) + ((FORWARD,) if against else ())
        return results + _not_run(config, project, entries, checks, why)
    patches = [p for p in parsed if p is not None]
    base = config.project(project).commit

    def with_tree(tree: Path, head: str) -> list[Result]:
        hooks.say(f"{project}: checking that export is a no-op")
        out = check_export(config, project, entries, tree, base)
        hooks.say(f"{project}: comparing review/{project}")
        return out + check_review(config, project, tree, base)

    hooks.say(f"{project}: applying {len(patches)} patch(es) on {base[:12]} in a scratch tree")
    applied = check_apply(config, project, entries, patches, hooks, with_tree)
    results += applied
    if any(r.check == APPLY and r.file is None and r.status != SKIP for r in applied):
        results += check_in_base(config, project, entries, patches, hooks)
    if not any(r.check == APPLY and r.file is None and r.status == PASS for r in applied):
        why = (
            "not run: the base is not available"
            if any(r.check == CONFIG for r in applied)
            else "not run: the series does not apply on its base"
        )
        results += _not_run(config, project, entries, (EXPORT,), why)
    if against:
        from verda_patch.forecast import forecast_results

        results += forecast_results(config, project, entries, patches, against, hooks)
    return results


def run(
    config: RepoConfig,
    projects: Sequence[str] = (),
    *,
    against: Sequence[str] = (),
    hooks: Hooks | None = None,
) -> Report:
    """Check ``projects`` (default: every project of base-commit, plus orphan patch folders)."""
    names = list(projects) or list(config.projects)
    results = check_config(config, list(projects))
    if len(names) <= 1:
        for name in names:
            results += check_project(config, name, against=against, hooks=hooks)
        return Report(tuple(results))
    # several projects: in parallel, one per core (issue 16); their lines name them,
    # and one bar for all would jump between projects, so there is none
    quiet = Hooks(notify=hooks.notify if hooks else None)
    outcomes = run_each(names, lambda n: check_project(config, n, against=against, hooks=quiet))
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
        results += outcome
    return Report(tuple(results))


# --- JUnit XML -----------------------------------------------------------------------------

# XML 1.0 cannot carry most control characters, which git output may hold (colours, \x1b)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(value: str) -> str:
    return _XML_BAD.sub("", value)


@dataclass(frozen=True)
class TestCase:
    classname: str
    name: str
    results: tuple[Result, ...]

    @property
    def status(self) -> str:
        statuses = {r.status for r in self.results}
        # a patch whose apply was not reached was not fully checked: skipped, not passed
        return FAIL if FAIL in statuses else SKIP if SKIP in statuses else PASS


def testcases(report: Report) -> list[TestCase]:
    """One per patch (classname ``project/category``, name the file name) and one per
    repo-level check (classname the project, or ``verda-patch`` for the repo)."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for result in report.results:
        if result.per_patch and result.file:
            key = (f"{result.project}/{result.category}", result.file.split("/")[-1])
        else:
            key = (result.project or "verda-patch", result.check)
        groups.setdefault(key, []).append(result)
    return [TestCase(cls, name, tuple(rs)) for (cls, name), rs in groups.items()]


def _failure_text(case: TestCase) -> str:
    blocks = []
    for r in case.results:
        if r.status != FAIL:
            continue
        lines = [f"[{r.check}{' ' + r.against if r.against else ''}] {r.message}"]
        if r.where:
            lines.append(f"file: {r.where}")
        if r.paths:
            lines.append("paths: " + ", ".join(r.paths))
        if r.detail:
            lines.append("git:\n" + r.detail)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def junit_xml(report: Report, suite_name: str = "verda-patch check") -> bytes:
    cases = testcases(report)
    by_suite: dict[str, list[TestCase]] = defaultdict(list)
    for case in cases:
        by_suite[case.classname.split("/")[0]].append(case)
    root = ET.Element("testsuites", name=suite_name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    total_time = 0.0
    for suite_name_, suite_cases in by_suite.items():
        failures = sum(1 for c in suite_cases if c.status == FAIL)
        skipped = sum(1 for c in suite_cases if c.status == SKIP)
        seconds = sum(r.seconds for c in suite_cases for r in c.results)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name_,
            tests=str(len(suite_cases)),
            failures=str(failures),
            errors="0",
            skipped=str(skipped),
            time=f"{seconds:.3f}",
        )
        for case in suite_cases:
            element = ET.SubElement(
                suite,
                "testcase",
                classname=case.classname,
                name=case.name,
                time=f"{sum(r.seconds for r in case.results):.3f}",
            )
            first = next((r for r in case.results if r.status == FAIL), None)
            if first is not None:
                where = f"{first.where}: " if first.where else ""
                failure = ET.SubElement(
                    element,
                    "failure",
                    type=first.check,
                    message=_xml_text(f"{where}{first.message}"),
                )
                failure.text = _xml_text(_failure_text(case))
            elif case.status == SKIP:
                why = next(r for r in case.results if r.status == SKIP)
                ET.SubElement(element, "skipped", message=_xml_text(f"[{why.check}] {why.message}"))
            out = "\n".join(f"[{r.check}] {r.status}: {r.message}" for r in case.results)
            ET.SubElement(element, "system-out").text = _xml_text(out)
        totals["tests"] += len(suite_cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
        total_time += seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"
