"""Tables that stay readable in the terminal they are printed to (80 columns too).

Every command's table goes through :func:`build`: each column says how much it
matters. The columns a reader cannot do without (a patch's file, a verdict)
are never truncated; a column that says the same on every row is left out and
said once below the table; then, while the table is wider than the terminal,
the least important column goes; then the elastic columns (a subject, a
note) shrink, cut with an ellipsis on one line (or wrapped, where allowed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

KEEP = 100  # priority of a column that is never dropped nor truncated
FOLD_WIDTH = 20  # a kept column folds onto more lines rather than going below this


@dataclass(frozen=True)
class Column:
    header: str
    # higher matters more; the lowest goes first when the table is too wide
    priority: int = 50
    justify: str = "left"
    wrap: bool = False  # may take several lines (else one line, cut with "…")
    uniform_note: bool = False  # the same value on every row: said once, not per row
    # text that may shrink (a subject, a note) down to min_width; the other columns
    # are shown whole or not at all
    elastic: bool = False
    min_width: int = 12

    @property
    def keep(self) -> bool:
        return self.priority >= KEEP


@dataclass(frozen=True)
class Layout:
    """Which columns a table shows, how wide, and what it says once instead of per row."""

    shown: tuple[int, ...]  # indexes into the columns given
    widths: tuple[int, ...]  # one per shown column
    notes: tuple[str, ...]  # "diff: identical (every row)" for a uniform column left out
    dropped: tuple[str, ...]  # headers left out for width


def _plain_width(cell: str) -> int:
    from rich.cells import cell_len
    from rich.text import Text

    return max((cell_len(line) for line in Text.from_markup(cell).plain.split("\n")), default=0)


def _table_width(widths: Sequence[int]) -> int:
    # rich's default box: "│ " before each column, " " after it, a final "│"
    return sum(widths) + 3 * len(widths) + 1


def layout(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Layout:
    """Decide the columns of a table ``width`` cells wide (see the module's docstring)."""
    from rich.text import Text

    shown = list(range(len(columns)))
    notes: list[str] = []
    for i, column in enumerate(columns):
        values = {row[i] for row in rows}
        if column.uniform_note and len(rows) > 1 and len(values) == 1:
            (value,) = values
            if value:
                notes.append(f"{column.header}: {Text.from_markup(value).plain} (every row)")
            shown.remove(i)
    natural = {
        i: max([_plain_width(columns[i].header), *(_plain_width(row[i]) for row in rows)])
        for i in shown
    }

    def least(i: int) -> int:
        return min(natural[i], columns[i].min_width) if columns[i].elastic else natural[i]

    dropped: list[str] = []
    optional = sorted((i for i in shown if not columns[i].keep), key=lambda i: columns[i].priority)
    for i in optional:
        if _table_width([least(j) for j in shown]) <= width:
            break
        shown.remove(i)
        dropped.append(columns[i].header)
    # shrink the elastic columns, the widest first, until the table fits; if the
    # columns that are never cut still do not fit, the widest of them folds onto
    # a second line (a file name stays whole, only broken)
    widths = {i: natural[i] for i in shown}
    excess = _table_width(list(widths.values())) - width
    for floor in (least, lambda i: min(natural[i], FOLD_WIDTH)):
        while excess > 0:
            room = [i for i in shown if widths[i] > floor(i)]
            if not room:
                break
            widest = max(room, key=lambda i: (widths[i] - floor(i), -columns[i].priority))
            widths[widest] -= 1
            excess -= 1
    return Layout(tuple(shown), tuple(widths[i] for i in shown), tuple(notes), tuple(dropped))


def build(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    *,
    title: str | None = None,
) -> tuple[Table, tuple[str, ...]]:
    """A rich table of ``rows`` (markup strings) fitted to ``width``, and the notes to
    print below it (what a left-out uniform column said on every row)."""
    from rich.table import Table

    plan = layout(columns, rows, width)
    table = Table(title=title, title_justify="left", show_lines=False)
    for i, cells in zip(plan.shown, plan.widths, strict=True):
        column = columns[i]
        table.add_column(
            column.header,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=not (column.wrap or column.keep),
            overflow="fold" if column.wrap or column.keep else "ellipsis",
            width=cells,
        )
    for row in rows:
        table.add_row(*(row[i] for i in plan.shown))
    return table, plan.notes
