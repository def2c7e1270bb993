"""The frontier chart of a multi-candidate measurement: cost per case (x) against pass rate (y).

Drawn as a character grid that fits 80 columns, with a table of the numbers below it. On a
terminal it is printed with rich (colour: green for candidates that pass every check, red for the
others, the proposed one in bold); piped or under NO_COLOR it is the same text without escapes.
"""

from __future__ import annotations

import math
import sys

HEIGHT = 13  # rows of the plot area
WIDTH = 62  # columns of the plot area (6 for the y axis labels; 80 in all with the margin)

_SHORT_CHECK = {"savings": "no saving", "nonInferior": "worse quality", "minCases": "too few cases",
                "noFailures": "failed cases", "costsKnown": "unknown costs"}


def _usd(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"${x:.4f}" if x >= 0.01 else f"${x:.6f}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.0f}%"


def marker(p: dict) -> str:
    if p["role"] == "baseline":
        return "B"
    text = p["label"] + ("*" if p.get("qualifies") else "")
    return f"[{text}]" if p.get("proposed") else text


def verdict(p: dict) -> str:
    if p["role"] == "baseline":
        return "baseline"
    if p.get("proposed"):
        return "proposed"
    decision = p.get("decision") or {}
    if decision.get("alsoQualifies"):
        return "also qualifies"
    if decision.get("propose"):
        return "qualifies"
    failed = [_SHORT_CHECK.get(k, k) for k, ok in (decision.get("checks") or {}).items() if not ok]
    if not failed:
        return "no"
    return "no: " + failed[0] + (" +" if len(failed) > 1 else "")


def _nice_top(x: float) -> float:
    if x <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(x))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= x:
            return step * exp
    return 10 * exp


def chart_lines(points: list[dict]) -> list[tuple[str, list[tuple[int, int, str]]]]:
    """The chart as text lines, each with (start, end, style) spans for colour on a terminal."""
    plotted = [p for p in points if p["costPerCaseUsd"] is not None and p["passRate"] is not None]
    if not plotted:
        return [("(no completed cases to plot)", [])]
    lows = [(p["passRateCi"] or [p["passRate"]])[0] for p in plotted]
    y_lo = max(0.0, math.floor(min(lows) * 10) / 10)
    y_hi = 1.0 if y_lo < 1.0 else 1.0
    if y_hi - y_lo < 0.1:
        y_lo = y_hi - 0.1
    highs = [(p["costPerCaseCi"] or [0, p["costPerCaseUsd"]])[1] for p in plotted]
    x_hi = _nice_top(max(highs + [p["costPerCaseUsd"] for p in plotted]) * 1.08)

    def col(x: float) -> int:
        return min(WIDTH - 1, max(0, round(x / x_hi * (WIDTH - 1))))

    def row(y: float) -> int:  # 0 = top
        return min(HEIGHT - 1, max(0, round((y_hi - y) / (y_hi - y_lo) * (HEIGHT - 1))))

    grid = [[" "] * WIDTH for _ in range(HEIGHT)]
    style = [[""] * WIDTH for _ in range(HEIGHT)]

    def tone(p: dict) -> str:
        if p["role"] == "baseline":
            return "bold cyan"
        base = "green" if p.get("qualifies") else "red"
        return f"bold reverse {base}" if p.get("proposed") else base

    for p in plotted:  # intervals first, markers over them
        r, cx = row(p["passRate"]), col(p["costPerCaseUsd"])
        if p["passRateCi"]:
            for rr in range(row(p["passRateCi"][1]), row(p["passRateCi"][0]) + 1):
                if grid[rr][cx] == " ":
                    grid[rr][cx], style[rr][cx] = "|", tone(p).replace("bold reverse ", "")
        if p["costPerCaseCi"]:
            for cc in range(col(p["costPerCaseCi"][0]), col(p["costPerCaseCi"][1]) + 1):
                if grid[r][cc] in (" ", "|"):
                    grid[r][cc], style[r][cc] = "-", tone(p).replace("bold reverse ", "")
    taken: set[tuple[int, int]] = set()
    for p in sorted(plotted, key=lambda q: q["role"] != "baseline"):
        text, r = marker(p), row(p["passRate"])
        start = max(0, min(WIDTH - len(text), col(p["costPerCaseUsd"]) - (1 if text.startswith("[") else 0)))
        while any((r, start + i) in taken for i in range(len(text))) and start + len(text) < WIDTH:
            start += 1
        for i, ch in enumerate(text):
            grid[r][start + i], style[r][start + i] = ch, tone(p)
            taken.add((r, start + i))

    lines: list[tuple[str, list[tuple[int, int, str]]]] = [("pass rate", [])]
    for r in range(HEIGHT):
        y = y_hi - r * (y_hi - y_lo) / (HEIGHT - 1)
        label = f"{y * 100:4.0f}%" if r % 3 == 0 or r == HEIGHT - 1 else "     "
        axis = "+" if r % 3 == 0 or r == HEIGHT - 1 else "|"
        prefix = f"{label} {axis}"
        spans, start = [], None
        for cx in range(WIDTH + 1):
            st = style[r][cx] if cx < WIDTH else ""
            if start is not None and (cx == WIDTH or st != style[r][start]):
                spans.append((len(prefix) + start, len(prefix) + cx, style[r][start]))
                start = None
            if st and start is None:
                start = cx
        lines.append((prefix + "".join(grid[r]).rstrip(), spans))
    ticks = [0.0, x_hi / 2, x_hi]
    axis = "      +" + "".join("+" if c in (0, (WIDTH - 1) // 2, WIDTH - 1) else "-" for c in range(WIDTH))
    lines.append((axis, []))
    left, mid, right = ("$0", *(_usd(t) for t in ticks[1:]))
    scale = [" "] * (7 + WIDTH + 2)
    for text, at in ((left, 7), (mid, 7 + (WIDTH - 1) // 2 - len(mid) // 2), (right, 7 + WIDTH - len(right))):
        scale[at:at + len(text)] = list(text)
    lines.append(("".join(scale).rstrip(), []))
    lines.append((f"{'cost per case (USD)':>{7 + WIDTH}}", []))
    lines.append(("B baseline  n* passes every check  [n*] proposed  | - 95% intervals", []))
    return lines


def table_rows(points: list[dict]) -> list[dict]:
    out = []
    for p in points:
        ci = p.get("passRateCi")
        out.append({
            "#": p["label"], "model": _short(p["model"] or "", 24), "cost/case": _usd(p["costPerCaseUsd"]),
            "pass": _pct(p["passRate"]), "passCi": f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else "",
            "saving": "" if p.get("pinnedSavingsPct") is None else f"{p['pinnedSavingsPct']:.1f}%",
            "decision": verdict(p),
        })
    return out


def render(points: list[dict], title: str) -> None:
    """Print the chart and the table to stdout (rich on a terminal, plain text otherwise)."""
    from oc_cli import output

    lines = chart_lines(points)
    rows = table_rows(points)
    columns = ["#", "model", "cost/case", "pass", "passCi", "saving", "decision"]
    if output.stdout_is_tty():
        from rich.text import Text

        console = output._rich_console()
        console.print(Text(title, style="bold"))
        for text, spans in lines:
            t = Text(text)
            for a, b, st in spans:
                t.stylize(st, a, b)
            console.print(t)
        sys.stdout.flush()
    else:
        sys.stdout.write(title + "\n" + "\n".join(text for text, _ in lines) + "\n")
    sys.stdout.write("\n")
    output.emit(rows, "table", columns=columns)
