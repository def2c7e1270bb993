"""oc routing metrics: requests, tokens, spend, latency, errors and judge pass rate (SPEC §6).

Local mode computes them over the usage rows of a window, grouped by model, skill, tenant or
day. Remote mode passes ``--query`` through to the control plane's Langfuse proxy
(``GET /model-routing/metrics``, opencrane-api §11) and prints its answer as it comes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from oc_cli import output
from oc_cli.commands._common import OutputOpt, backend, flush_notes
from oc_cli.errors import ValidationError

GROUPINGS = ("model", "skill", "tenant", "day")
BAR_WIDTH = 24
COLUMNS = ("requests", "promptTokens", "completionTokens", "spendUsd", "latencyMeanMs", "latencyP95Ms",
           "errorRate", "judgePassRate")
HEADERS = {"requests": "REQUESTS", "promptTokens": "PROMPT_TOKENS", "completionTokens": "COMPLETION_TOKENS",
           "spendUsd": "SPEND_USD", "latencyMeanMs": "MEAN_MS", "latencyP95Ms": "P95_MS",
           "errorRate": "ERRORS", "judgePassRate": "JUDGE_PASS"}

app = typer.Typer()


@app.command("metrics")
def metrics(
    since: str = typer.Option(None, "--since", metavar="WHEN",
                              help="Window start: 7d, 24h, 30m (that long ago) or an ISO date/time [default: 7d]."),
    until: str = typer.Option(None, "--until", metavar="WHEN", help="Window end, same forms [default: now]."),
    by: str = typer.Option(None, "--by", metavar="model|skill|tenant|day", help="Group rows by this [default: model]."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's usage (operators)."),
    query: str = typer.Option(None, "--query", metavar="JSON",
                              help="Remote mode: a Langfuse metrics query, passed to the control plane as is."),
    fmt: str = OutputOpt(),
) -> None:
    """Requests, tokens, spend, latency (mean, p95), error rate and judge pass rate.

    Local mode: over the usage rows (imported spend logs and oc's own gateway calls) in the
    window, per group, with totals; a tenant identity sees only its own rows. p95 is the
    nearest-rank percentile. Remote mode: --query is passed to the control plane, which scopes
    it to the caller's tenant and answers from Langfuse.
    """
    if by is not None and by not in GROUPINGS:
        raise ValidationError(f"--by: unknown grouping {by!r}", f"expected one of: {', '.join(GROUPINGS)}")
    b = backend()
    if b.mode == "remote":
        if query is not None:
            try:
                json.loads(query)
            except ValueError as exc:
                raise ValidationError("--query: not valid JSON", str(exc).split(":")[0]) from None
        # Local-only flags go along so the backend can refuse them by name.
        result = b.metrics({"query": query, "since": since, "until": until, "by": by, "clusterTenant": cluster_tenant})
        flush_notes()
        output.emit(result, "json" if fmt == "json" else "table")
        return
    result = b.metrics({"since": since, "until": until, "by": by, "clusterTenant": cluster_tenant, "query": query})
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
        return
    _table(result)


# -- table mode -------------------------------------------------------------------------------------

def _money(v: float | None) -> str:
    return "-" if v is None else output.money(v)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _cells(row: dict[str, Any]) -> list[str]:
    return [f"{row['requests']:,}", f"{row['promptTokens']:,}", f"{row['completionTokens']:,}",
            _money(row["spendUsd"]), _ms(row["latencyMeanMs"]), _ms(row["latencyP95Ms"]),
            _pct(row["errorRate"]), _pct(row["judgePassRate"])]


def _label(key: Any) -> str:
    return "(none)" if key is None else str(key)


def _table(result: dict[str, Any]) -> None:
    rows = result["rows"]
    scope = f", ClusterTenant {result['clusterTenant']}" if result.get("clusterTenant") else ""
    title = f"by {result['by']}, {result['since']} .. {result['until']}{scope}"
    if not rows:
        output.message(f"(no usage in the window: {title})")
        return
    top = max((r["spendUsd"] or 0.0) for r in rows)
    if output.stdout_is_tty():
        _rich_table(result, title, top)
    else:
        _plain_table(result, title, top)


def _human(n: int) -> str:
    """1234 -> 1.2k, 340200 -> 340k, 1600000 -> 1.6M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= limit:
            scaled = n / limit
            return f"{scaled:.0f}{suffix}" if scaled >= 100 else f"{scaled:.1f}{suffix}"
    return str(n)


def _compact(row: dict[str, Any]) -> list[str]:
    """A terminal row: tokens as in/out with k/M suffixes, so the table fits 80 columns."""
    return [f"{row['requests']:,}", f"{_human(row['promptTokens'])}/{_human(row['completionTokens'])}",
            _money(row["spendUsd"]), _ms(row["latencyMeanMs"]), _ms(row["latencyP95Ms"]),
            _pct(row["errorRate"]), _pct(row["judgePassRate"])]


def _rich_table(result: dict[str, Any], title: str, top: float) -> None:
    from rich.bar import Bar
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    color = output.color_enabled(sys.stdout)
    # Without colour, no style at all: color_system=None makes rich emit no escape sequences.
    console = Console(file=sys.stdout, color_system="auto" if color else None, highlight=False, emoji=False)
    heads = ("REQS", "TOKENS", "SPEND", "MEAN", "P95", "ERR", "PASS")
    body = [_compact(row) for row in result["rows"]]
    totals = _compact(result["totals"])
    widths = [max(len(head), *(len(cells[i]) for cells in (*body, totals))) for i, head in enumerate(heads)]
    labels = [_label(row["key"]) for row in result["rows"]]
    key_width = max(len(result["by"]), len("TOTAL"), *(len(label) for label in labels))
    # The bar gets what the numbers leave of the terminal's width, between 8 and BAR_WIDTH cells.
    spare = console.width - key_width - sum(widths) - 2 * (len(heads) + 1) - 1
    bar_width = max(8, min(BAR_WIDTH, spare))

    table = Table(title=title, caption="tokens in/out; latency mean and p95 in ms; error and judge pass rates",
                  box=None, pad_edge=False, show_edge=False, show_footer=True,
                  header_style="bold", footer_style="bold")
    table.add_column(result["by"].upper(), footer="TOTAL", min_width=min(key_width, 12), overflow="fold")
    for i, (head, total, width) in enumerate(zip(heads, totals, widths)):
        table.add_column(head, footer=total, justify="right", no_wrap=True, min_width=width)
        if i == 2:
            table.add_column("", width=bar_width, no_wrap=True)
    for row, label, cells in zip(result["rows"], labels, body):
        bar = Bar(size=top or 1.0, begin=0, end=row["spendUsd"] or 0.0, width=bar_width, color="cyan")
        table.add_row(escape(label), *cells[:3], bar, *cells[3:])
    console.print(table)


def _plain_table(result: dict[str, Any], title: str, top: float) -> None:
    """Aligned text and a '#' bar for spend: no ANSI escapes, safe to pipe."""
    heads = [result["by"].upper(), *(HEADERS[n] for n in COLUMNS)]
    heads.insert(COLUMNS.index("spendUsd") + 2, "SPEND")
    lines = []
    for row in result["rows"]:
        cells = [_label(row["key"]), *_cells(row)]
        filled = round(BAR_WIDTH * (row["spendUsd"] or 0.0) / top) if top > 0 else 0
        cells.insert(COLUMNS.index("spendUsd") + 2, "#" * filled)
        lines.append(cells)
    total = ["TOTAL", *_cells(result["totals"])]
    total.insert(COLUMNS.index("spendUsd") + 2, "")
    lines.append(total)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(heads)]
    bar_col = COLUMNS.index("spendUsd") + 2

    def fmt(cells: list[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths)):
            out.append(cell.ljust(width) if i in (0, bar_col) else cell.rjust(width))
        return "  ".join(out).rstrip()

    output.message(title)
    sys.stdout.write("\n".join(fmt(line) for line in [heads, *lines]) + "\n")
