"""Rendering: JSON (the wire shape) or tables; messages and errors to stderr.

stdout carries data, stderr carries messages. ``-o json`` prints the wire object and nothing
else. Tables are drawn with rich only when stdout is a terminal; when piped they are plain,
aligned text (no ANSI escapes), so rich is never imported on the machine-readable paths.
Colour is off with ``NO_COLOR``, ``--no-color`` or a non-TTY stream.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable, Sequence

FORMATS = ("table", "json")

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


def header(key: str) -> str:
    out = ""
    for ch in key:
        if ch.isupper() and out:
            out += "_"
        out += ch.upper()
    return out


def _plain_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    heads = [header(c) for c in columns]
    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _rich_console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    colour = color_enabled(stream)
    # color_system=None drops every ANSI style (bold too), not only colours: NO_COLOR means none.
    return Console(file=stream, no_color=not colour, color_system="auto" if colour else None,
                   highlight=False, soft_wrap=False, emoji=False)


def emit(data: Any, fmt: str = "table", *, columns: Sequence[str] | None = None,
         title: str | None = None, empty: str = "(no results)") -> None:
    """Print ``data`` (a list of row dicts or one dict) as JSON or as a table."""
    if fmt == "json":
        sys.stdout.write(to_json(data) + "\n")
        return
    if isinstance(data, list):
        if not data:
            message(empty)
            return
        cols = list(columns) if columns else list(data[0].keys())
        if stdout_is_tty():
            from rich.table import Table

            table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False, box=None)
            for c in cols:
                table.add_column(header(c), overflow="fold")
            for row in data:
                table.add_row(*[_escape(cell(row.get(c))) for c in cols])
            _rich_console().print(table)
        else:
            sys.stdout.write(_plain_table(data, cols) + "\n")
        return
    if isinstance(data, dict):
        emit_object(data, columns=columns)
        return
    sys.stdout.write(("" if data is None else str(data)) + "\n")


def emit_object(obj: dict, *, columns: Sequence[str] | None = None) -> None:
    keys = list(columns) if columns else list(obj.keys())
    width = max((len(k) for k in keys), default=0)
    if stdout_is_tty():
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for k in keys:
            grid.add_row(k, _escape(cell(obj.get(k))))
        _rich_console().print(grid)
    else:
        for k in keys:
            sys.stdout.write(f"{k.ljust(width)}  {cell(obj.get(k))}".rstrip() + "\n")


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
