"""Rendering: JSON (the wire shape) or tables; messages and errors to stderr.

stdout carries data, stderr carries messages. ``-o json`` prints the wire object and nothing
else. Tables are aligned text, laid out here rather than by rich: rich's table would wrap a
cell it cannot fit, and ids must never wrap. At a terminal the header is bold (unless colour is
off); when piped there are no ANSI escapes. rich draws the one-object views and the progress
bars, and is never imported on the machine-readable paths. Colour is off with ``NO_COLOR``,
``--no-color`` or a non-TTY stream.

At a terminal a table fits its width the way ``kubectl`` and ``gh`` fit theirs: no id and no
header is ever wrapped or cut, free text (a message, an input) is cut with ``…``, and when that
is not enough the table's low-value columns are left out, least valuable first (each table
declares that order once, as ``Columns(..., drop=...)``). ``-o wide`` keeps every column. Piped
output is never fitted: scripts get every column, whole.
"""

from __future__ import annotations

import json
import math
import os
import sys
import unicodedata
from typing import Any, Iterable, Sequence

FORMATS = ("table", "wide", "json")

# Columns whose cells are free text: at a terminal they are cut with an ellipsis to fit. Every
# other column (ids, names, keys, models, times, numbers) is shown whole.
FREE_TEXT = frozenset({"message", "description", "input", "expected", "error", "reason", "note", "problem",
                       "details", "output"})
TEXT_MIN = 12  # a cut free-text column keeps at least this many cells
GAP = 2  # spaces between columns
ELLIPSIS = "…"


class Columns(list):
    """A table's columns in display order, plus ``drop``: the columns a narrow terminal may leave
    out, least valuable first. Columns not named in ``drop`` are always shown."""

    def __init__(self, names: Iterable[str], *, drop: Iterable[str] = ()) -> None:
        super().__init__(names)
        self.drop = tuple(drop)
        unknown = [d for d in self.drop if d not in self]
        if unknown:
            raise ValueError(f"drop names unknown columns: {unknown}")

_state = {"no_color": False}


def set_no_color(flag: bool) -> None:
    _state["no_color"] = bool(flag)


def color_enabled(stream=None) -> bool:
    stream = stream or sys.stdout
    if _state["no_color"] or "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        if all(isinstance(v, (str, int, float)) for v in value) and len(value) <= 6:
            return ", ".join(str(v) for v in value)
        return f"[{len(value)} items]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = str(value)
    return " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text


def money(value: float) -> str:
    """US dollars as people write them: ``$0.00007``, ``$0.0123``, ``$1,234.50`` (never ``7e-05``)."""
    if value == 0:
        return "$0"
    if not math.isfinite(value):
        return cell(value)
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1:
        return f"{sign}${v:,.2f}"
    digits = min(-math.floor(math.log10(v)) + 2, 12)  # three significant digits
    text = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return f"{sign}${text}"


def millis(value: float) -> str:
    return f"{value:,.0f} ms"


def column_cell(column: str, value: Any) -> str:
    """``cell`` for a table column: money (``…Usd``) as dollars, latencies (``…Ms``) in ms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if column.endswith("Usd"):
            return money(value)
        if column.endswith("Ms"):
            return millis(value)
    return cell(value)


def header(key: str) -> str:
    out = ""
    for ch in key:
        if ch.isupper() and out:
            out += "_"
        out += ch.upper()
    return out


def width(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def cut(text: str, room: int) -> str:
    """``text`` in at most ``room`` cells, ending in an ellipsis when it was cut."""
    if width(text) <= room:
        return text
    out, used = "", 0
    for ch in text:
        w = width(ch)
        if used + w > room - 1:
            break
        out += ch
        used += w
    return out + ELLIPSIS


def _pad(text: str, room: int) -> str:
    return text + " " * (room - width(text))


def fit(columns: Sequence[str], heads: Sequence[str], cells: Sequence[Sequence[str]], room: int,
        drop: Sequence[str] = ()) -> tuple[list[int], list[int]]:
    """Which columns to show and how wide, for a terminal ``room`` cells wide.

    Returns (indexes of the columns shown, their widths). Ids and headers are never cut: a column's
    least width is its header's and, unless it is free text, its widest cell. When even the least
    widths do not fit, the ``drop`` columns are left out, least valuable first, and then those of
    them that fit again are put back, most valuable first. Free-text columns share what is left.
    """
    natural = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(heads)]
    least = [min(n, max(width(heads[i]), TEXT_MIN)) if columns[i] in FREE_TEXT else n
             for i, n in enumerate(natural)]

    def need(shown: list[int]) -> int:
        return sum(least[i] for i in shown) + GAP * (len(shown) - 1)

    shown = list(range(len(columns)))
    dropped: list[int] = []
    for name in drop:
        if need(shown) <= room:
            break
        i = columns.index(name)
        shown.remove(i)
        dropped.append(i)
    for i in reversed(dropped):
        trial = sorted(shown + [i])
        if need(trial) <= room:
            shown = trial
    widths = {i: least[i] for i in shown}
    spare = room - need(shown)
    for i in shown:  # free text grows back towards its natural width, left to right
        if spare <= 0:
            break
        grow = min(natural[i] - widths[i], spare)
        widths[i] += grow
        spare -= grow
    return shown, [widths[i] for i in shown]


def _table_lines(rows: Sequence[dict], columns: Sequence[str], room: int | None) -> list[str]:
    """The table as lines: whole when ``room`` is None (piped), else fitted to ``room`` cells."""
    heads = [header(c) for c in columns]
    cells = [[column_cell(c, r.get(c)) for c in columns] for r in rows]
    if room is None:
        shown = list(range(len(columns)))
        widths = [max([width(heads[i])] + [width(row[i]) for row in cells]) for i in shown]
    else:
        shown, widths = fit(columns, heads, cells, room, getattr(columns, "drop", ()))
    lines = []
    for row in [heads, *cells]:
        line = (" " * GAP).join(_pad(cut(row[i], w), w) for i, w in zip(shown, widths))
        lines.append(line.rstrip())
    return lines


def _plain_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    return "\n".join(_table_lines(rows, columns, None))


def terminal_width() -> int:
    import shutil  # only tables at a terminal need it

    return shutil.get_terminal_size((80, 24)).columns


def _rich_console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    colour = color_enabled(stream)
    # color_system=None drops every ANSI style (bold too), not only colours: NO_COLOR means none.
    return Console(file=stream, no_color=not colour, color_system="auto" if colour else None,
                   highlight=False, soft_wrap=False, emoji=False)


def emit(data: Any, fmt: str = "table", *, columns: Sequence[str] | None = None,
         title: str | None = None, empty: str = "(no results)") -> None:
    """Print ``data`` (a list of row dicts or one dict) as JSON or as a table (``wide``: all columns)."""
    if fmt == "json":
        sys.stdout.write(to_json(data) + "\n")
        return
    if isinstance(data, list):
        if not data:
            message(empty)
            return
        cols = columns if columns else list(data[0].keys())
        if fmt == "wide":
            cols = list(cols)  # every column, none dropped
        if stdout_is_tty():
            lines = _table_lines(data, cols, terminal_width())
            if title:
                lines.insert(0, title)
            if color_enabled():
                lines[len(lines) - len(data) - 1] = f"\x1b[1m{lines[len(lines) - len(data) - 1]}\x1b[0m"
            sys.stdout.write("\n".join(lines) + "\n")
        else:
            sys.stdout.write(_plain_table(data, cols) + "\n")
        return
    if isinstance(data, dict):
        emit_object(data, columns=columns)
        return
    sys.stdout.write(("" if data is None else str(data)) + "\n")


def emit_object(obj: dict, *, columns: Sequence[str] | None = None) -> None:
    keys = list(columns) if columns else list(obj.keys())
    pad = max((len(k) for k in keys), default=0)
    if stdout_is_tty():
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for k in keys:
            grid.add_row(k, _escape(column_cell(k, obj.get(k))))
        _rich_console().print(grid)
    else:
        for k in keys:
            sys.stdout.write(f"{k.ljust(pad)}  {column_cell(k, obj.get(k))}".rstrip() + "\n")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def message(text: str) -> None:
    """A human message on stderr (never on stdout)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def success(text: str) -> None:
    mark = "✓" if _utf8(sys.stderr) else "OK"
    if color_enabled(sys.stderr):
        message(f"\x1b[32m{mark}\x1b[0m {text}")
    else:
        message(f"{mark} {text}")


def warn(text: str) -> None:
    if color_enabled(sys.stderr):
        message(f"\x1b[33mwarning:\x1b[0m {text}")
    else:
        message(f"warning: {text}")


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on or not show (controls such as ESC
    or BEL, bidi overrides, zero-width and other invisible characters) written as its escape, the
    way ``repr`` does. Errors echo names the user typed; an echoed escape sequence must not move
    the cursor or recolour the screen, and a right-to-left mark must not reorder the line."""
    return "".join(ch if ch == " " or ch.isprintable() else repr(ch)[1:-1] for ch in text)


def error_line(line: str) -> None:
    line = visible(line)
    if color_enabled(sys.stderr) and line.startswith("error:"):
        message("\x1b[31merror:\x1b[0m" + line[len("error:"):])
    else:
        message(line)


def _utf8(stream) -> bool:
    enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return enc in ("utf8", "utf_8")


def rows_with(rows: Iterable[dict], **extra: Any) -> list[dict]:
    return [{**r, **extra} for r in rows]


def progress_enabled() -> bool:
    """Progress bars only for a person at a terminal: not in CI, not when stderr is piped."""
    if os.environ.get("CI") or os.environ.get("OC_NO_PROGRESS"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressBar:
    """A transient rich progress bar on stderr, or nothing when ``enabled`` is false.

    Called as ``progress(done, total, message)`` — the backends' Progress callback. ``unit`` is
    "items" (done of total) or "bytes" (a download-style column).
    """

    def __init__(self, enabled: bool, label: str, unit: str = "items") -> None:
        self.enabled = enabled
        self.label = label
        self.unit = unit
        self.bar = None
        self.task = None

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeRemainingColumn)

            count = DownloadColumn() if self.unit == "bytes" else MofNCompleteColumn()
            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), count, TimeRemainingColumn(),
                                console=_rich_console(stderr=True), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total or None, description=message or self.label)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
