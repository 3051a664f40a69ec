"""Tables at 80 columns: what is never cut, what gives way first (issue 17)."""

from __future__ import annotations

import io

from rich.console import Console

from verda_patch.commands.prune import columns as prune_columns
from verda_patch.tables import KEEP, Column, build, layout

PRUNE = prune_columns()
FILE = "cherry-pick/0002-Scheduler-prefer-hosts-with-the-most-free-RAM.patch"
ROWS = [
    (FILE, "merged", "cherry-picked-from", "8deca7fff96b Fix the scheduler", "identical", ""),
    ("general/0001-x.patch", "partial", "change-id", "b492098153e6 Other", "identical", "ok"),
]


def _render(width: int) -> str:
    table, notes = build(PRUNE, ROWS, width)
    out = io.StringIO()
    console = Console(file=out, width=width, soft_wrap=False)
    console.print(table)
    for line in notes:
        console.print(line)
    return out.getvalue()


def test_a_uniform_column_is_said_once_below() -> None:
    plan = layout(PRUNE, ROWS, 200)
    assert "diff" not in [PRUNE[i].header for i in plan.shown]
    assert plan.notes == ("diff: identical (every row)",)
    assert "diff: identical (every row)" in _render(200)


def test_at_80_columns_verdict_and_file_stay_whole() -> None:
    text = _render(80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "merged" in text and "partial" in text and "…" not in text.split("┃ verdict")[0]
    # the file may fold onto a second line, never lose characters
    cells = [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]
    assert FILE in "".join(cells)
    plan = layout(PRUNE, ROWS, 80)
    assert {"match", "diff"} & set(plan.dropped) or "diff" not in plan.shown


def test_low_value_columns_give_way_first() -> None:
    columns = (
        Column("#", priority=10),
        Column("file", priority=KEEP),
        Column("subject", priority=70, elastic=True, min_width=16),
        Column("files", priority=20),
    )
    rows = [("1", "0001-a-long-enough-file-name.patch", "A subject " * 5, "3")]
    plan = layout(columns, rows, 60)
    assert [columns[i].header for i in plan.shown] == ["file", "subject"]
    assert plan.dropped == ("#", "files")
    assert sum(plan.widths) + 3 * len(plan.widths) + 1 <= 60
