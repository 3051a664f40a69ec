"""``check --markdown FILE``: the check report as Markdown for a pull request.

What a CI job posts as a PR comment or writes to ``$GITHUB_STEP_SUMMARY``: a
verdict line, then per project the patches by category (how many passed),
one line per check, what failed and why (with git's message folded away), and
the ``--against`` forecast table, one column per release. Built from the same
:class:`~verda_patch.check.Report` as the terminal and JSON output, so it
renders whatever results ``check`` returns.
"""

from __future__ import annotations

from collections import defaultdict

from verda_patch.check import FAIL, FORWARD, PASS, Report, Result

_MARK = {PASS: "✅", FAIL: "❌", "skip": "➖"}
_MAX_FAILURES = 50  # a comment stays readable; the JUnit file has every one


def _cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def _code(text: str) -> str:
    return f"`{text.replace('`', '')}`" if text else ""


def _status(results: list[Result]) -> str:
    statuses = {r.status for r in results}
    return FAIL if FAIL in statuses else PASS if PASS in statuses else "skip"


def _categories(results: list[Result]) -> list[str]:
    per_patch: dict[str, dict[str, list[Result]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        if r.per_patch and r.file and r.check != FORWARD:
            per_patch[r.category or "(none)"][r.file].append(r)
    if not per_patch:
        return []
    lines = ["| category | patches | passed | failed |", "|---|--:|--:|--:|"]
    for category, files in per_patch.items():
        failed = sum(1 for checks in files.values() if _status(checks) == FAIL)
        passed = sum(1 for checks in files.values() if _status(checks) == PASS)
        lines.append(f"| {_cell(category)} | {len(files)} | {passed} | {failed} |")
    return [*lines, ""]


def _checks(results: list[Result]) -> list[str]:
    by_check: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.check != FORWARD:
            by_check[r.check].append(r)
    lines = ["| check | | result |", "|---|---|---|"]
    for name, group in by_check.items():
        status = _status(group)
        patches = [r for r in group if r.per_patch]
        if patches:
            ok = sum(1 for r in patches if r.status == PASS)
            summary = f"{ok}/{len(patches)} patches"
        else:
            summary = next((r for r in group if r.status == status), group[-1]).message
        lines.append(f"| {_cell(name)} | {_MARK[status]} | {_cell(summary)} |")
    return [*lines, ""]


def _failures(results: list[Result]) -> list[str]:
    failed = [r for r in results if r.status == FAIL]
    if not failed:
        return []
    lines = [f"**{len(failed)} failed**", ""]
    for r in failed[:_MAX_FAILURES]:
        where = _code(r.where)
        paths = f" (paths: {', '.join(_code(p) for p in r.paths[:5])})" if r.paths else ""
        lines.append(f"- ❌ **{r.check}** {where}: {_cell(r.message)}{paths}".replace("  ", " "))
        if r.detail.strip():
            detail = r.detail.strip().replace("```", "'''")
            lines += [
                "  <details><summary>git said</summary>",
                "",
                "  ```",
                *(f"  {line}" for line in detail.splitlines()[:40]),
                "  ```",
                "  </details>",
            ]
    if len(failed) > _MAX_FAILURES:
        lines.append(f"- … {len(failed) - _MAX_FAILURES} more (see the JUnit report or --json)")
    return [*lines, ""]


def _forecast(results: list[Result]) -> list[str]:
    rows: dict[str, dict[str, Result]] = {}
    refs: dict[str, None] = {}
    for r in results:
        if r.check == FORWARD and r.against and r.file:
            rows.setdefault(r.file, {})[r.against] = r
            refs[r.against] = None
    if not rows:
        return []
    lines = [
        "**Forecast per release** (`--against`)",
        "",
        "| patch | " + " | ".join(_cell(ref) for ref in refs) + " |",
        "|---|" + "---|" * len(refs),
    ]
    for file, cells in rows.items():
        values = []
        for ref in refs:
            cell = cells.get(ref)
            kind = (cell.forecast or cell.status) if cell else ""
            at = f" at {_code(cell.paths[0])}" if cell and cell.paths else ""
            mark = "❌ " if cell and cell.status == FAIL else ""
            values.append(f"{mark}{_cell(kind)}{at}")
        lines.append(f"| {_code(file)} | " + " | ".join(values) + " |")
    return [*lines, ""]


def render(report: Report) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    failures = report.failures
    verdict = "✅ all checks passed" if report.ok else f"❌ {len(failures)} check(s) failed"
    lines = [f"## verda-patch check: {verdict}", ""]
    by_project: dict[str, list[Result]] = defaultdict(list)
    for r in report.results:
        by_project[r.project or "(repo)"].append(r)
    for project, results in by_project.items():
        lines += [f"### {project}", ""]
        lines += _categories(results)
        lines += _checks(results)
        lines += _failures(results)
        lines += _forecast(results)
    return "\n".join(lines).rstrip("\n") + "\n"
