"""oc usage: gateway usage records — import LiteLLM spend logs, list recent calls (local mode)."""

from __future__ import annotations


import typer

from oc_cli import output, schema
from oc_cli.commands._common import OutputOpt, backend, flush_notes, show
from oc_cli.domain.words import plural

app = typer.Typer(help="Gateway usage: import LiteLLM spend logs, list recent calls.", no_args_is_help=True)


@app.callback()
def usage() -> None:
    """Gateway usage: production traffic imported from LiteLLM spend logs and oc's own calls."""


@app.command("import")
def import_(
    path: str = typer.Argument(..., metavar="FILE",
                               help="LiteLLM_SpendLogs rows: a JSON array or JSONL, one row a line ('-' = stdin)."),
    fmt: str = OutputOpt(),
) -> None:
    """Import LiteLLM spend logs as production traffic.

    Idempotent: a row whose request_id is already stored is skipped, so importing the same
    export twice adds nothing. Invalid rows are skipped and reported by line (JSONL) or index
    (array); the rest are imported. Rows are committed in large batches, each whole or not at
    all: an interrupted import keeps the batches before the interruption, and running it again
    completes it. A tenant identity imports only its own tenant's rows.
    """
    with output.ProgressBar(output.progress_enabled() and fmt != "json", "importing", unit="bytes") as progress:
        report = backend().import_usage(path, progress=progress)
    flush_notes()
    if fmt == "json":
        output.emit(report, "json")
        return
    extra = [f"{plural(report['skipped'], 'duplicate')} skipped"]
    if report["skippedOtherTenant"]:
        extra.append(f"{plural(report['skippedOtherTenant'], 'row')} of other tenants skipped")
    if report["bad"]:
        extra.append(f"{plural(report['bad'], 'bad row')}")
    source = "stdin" if path == "-" else path
    output.success(f"imported {plural(report['imported'], 'usage row')} from {source} ({', '.join(extra)})")
    for bad in report["badRows"]:
        where = f"line {bad['line']}" if "line" in bad else f"element {bad['index']}"
        rid = f" (request_id {bad['requestId']})" if bad.get("requestId") else ""
        output.warn(f"{where}{rid}: {bad['error']}")
    if report["bad"] > len(report["badRows"]):
        output.warn(f"... and {plural(report['bad'] - len(report['badRows']), 'more bad row')} (not shown)")


@app.command("list")
def list_(
    since: str = typer.Option(None, "--since", metavar="WHEN",
                              help="Only calls since then: 7d, 24h, 30m or an ISO date/time."),
    until: str = typer.Option(None, "--until", metavar="WHEN", help="Only calls before then (same forms)."),
    model: str = typer.Option(None, "--model", help="Only calls to this (public) model name."),
    skill: str = typer.Option(None, "--skill", metavar="SKILL_KEY", help="Only calls of this skill."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's calls (operators)."),
    kind: str = typer.Option(None, "--kind", metavar="traffic|measurement|judge", help="Only this kind of call."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many rows (newest first)."),
    fmt: str = OutputOpt(),
) -> None:
    """List recent gateway calls, newest first."""
    rows = backend().list_usage({"since": since, "until": until, "model": model, "skill": skill,
                                 "clusterTenant": cluster_tenant, "kind": kind, "limit": limit})
    show(rows, fmt, schema.USAGE_ROW.columns("local"), empty="(no usage rows)")
