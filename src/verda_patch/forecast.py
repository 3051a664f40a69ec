"""``check --against REF`` (repeatable): what each upstream release would do to the series.

Per release and per patch, one forecast a release engineer reads before
choosing the next base:

- ``merged``: REF holds every upstream change the patch carries (prune's
  detection over REF's whole history); moving there drops it;
- ``partial``: REF holds some of them; the patch stays and is refreshed;
- ``applies``: the patch applies exactly on REF (with the rest of the series);
- ``stops-applying``: it does not, with the first conflicting path.

Each is a ``forward`` result of ``check`` (``against`` and ``forecast`` keys in
JSON, a JUnit testcase's part per patch). A patch that stops applying fails;
the series is tried again without it, so one conflict does not hide others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from verda_patch.apply import Hooks, scratch_tree
from verda_patch.check import (
    FAIL,
    FORWARD,
    PASS,
    SKIP,
    Result,
    _error_result,
    _git_detail,
    _patch_result,
)
from verda_patch.config import RepoConfig
from verda_patch.errors import PatchConflict, VerdaError
from verda_patch.patchfile import Patch
from verda_patch.store import Entry

MERGED = "merged"
PARTIAL = "partial"
APPLIES = "applies"
STOPS = "stops-applying"
# past this many conflicts on one release the remaining patches are left unchecked
MAX_CONFLICTS = 25


def forecast_results(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    patches: Sequence[Patch],
    against: Sequence[str],
    hooks: Hooks,
) -> list[Result]:
    """The forecast for every release in ``against``, in order; one failing REF never
    hides the others."""
    results: list[Result] = []
    for ref in dict.fromkeys(against):
        hooks.say(f"{project}: forecast for {ref}")
        try:
            results += forecast(config, project, entries, patches, ref, hooks)
        except VerdaError as exc:
            failed = _error_result(config, project, FORWARD, exc)
            results.append(replace(failed, against=ref))
    return results


def forecast(
    config: RepoConfig,
    project: str,
    entries: Sequence[Entry],
    patches: Sequence[Patch],
    against: str,
    hooks: Hooks,
) -> list[Result]:
    """Which patches REF has merged, and which of the rest stop applying on REF."""
    from verda_patch import merged

    started = time.perf_counter()
    report = merged.detect(config, project, against, notify=hooks.notify)
    target = f"{against} ({report.commit[:12]})"
    verdicts = {v.file: v for v in report.verdicts}
    by_file = {e.file: e for e in entries}
    results: dict[str, Result] = {}

    def result(patch: Patch, status: str, kind: str, message: str, **extra: object) -> None:
        results[patch.file] = _patch_result(
            config,
            project,
            by_file[patch.file],
            FORWARD,
            status,
            message,
            against=against,
            forecast=kind,
            **extra,
        )

    keep: list[Patch] = []
    for patch in patches:
        verdict = verdicts.get(patch.file)
        if verdict is not None and verdict.status == merged.MERGED:
            result(
                patch,
                PASS,
                MERGED,
                f"merged in {target} ({verdict.match}); 'verda-patch base bump {project} "
                f"{against}' drops it",
            )
        else:
            keep.append(patch)
    dropped: list[str] = []
    while keep:
        if len(dropped) >= MAX_CONFLICTS:
            for patch in keep:
                result(patch, SKIP, "", f"not checked: more than {MAX_CONFLICTS} patches conflict")
            break
        try:
            with scratch_tree(config, project, base=report.commit, patches=keep, hooks=hooks):
                pass
        except PatchConflict as exc:
            failing = next((p for p in keep if p.file == exc.patch), None)
            if failing is None:
                raise
            note = (
                f" (checked without the {len(dropped)} failing patch(es) above it)"
                if dropped
                else ""
            )
            verdict = verdicts.get(failing.file)
            partly = verdict is not None and verdict.status == merged.PARTIAL
            first = f" at {exc.paths[0]}" if exc.paths else ""
            message = (
                f"stops applying on {target}{first}"
                + (" (partly merged there)" if partly else "")
                + f": {exc.message.rstrip('.')}"
            )
            if exc.git_message:
                message += "; refresh it when moving the base"
            result(
                failing,
                FAIL,
                PARTIAL if partly else STOPS,
                message + note,
                paths=exc.paths,
                detail=_git_detail(exc.git_message),
            )
            dropped.append(failing.file)
            keep = [p for p in keep if p.file != failing.file]
            continue
        for patch in keep:
            verdict = verdicts.get(patch.file)
            partly = verdict is not None and verdict.status == merged.PARTIAL
            result(
                patch,
                PASS,
                PARTIAL if partly else APPLIES,
                f"applies on {target}" + (" (partly merged there: keep it)" if partly else ""),
            )
        break
    ordered = [results[p.file] for p in patches if p.file in results]
    n_merged = sum(1 for v in report.verdicts if v.status == merged.MERGED)
    n_fail = len(dropped)
    # the patches that stop applying fail their own results; this one only sums up
    ordered.append(
        Result(
            project,
            FORWARD,
            None,
            PASS,
            f"against {target}: {n_merged} merged there, {len(patches) - n_merged - n_fail} "
            f"apply, {n_fail} stop applying" + (" (see their results)" if n_fail else ""),
            paths=tuple(dropped),
            seconds=time.perf_counter() - started,
            against=against,
        )
    )
    return ordered
