"""oc routing recommendation: ranked "save up to N%" suggestions."""

from __future__ import annotations

import typer

from oc_cli import output, schema
from oc_cli.commands._common import OutputOpt, backend, flush_notes

app = typer.Typer(help="Recommendations: each skill's latest measurement joined with its open proposal.",
                  no_args_is_help=True)


@app.callback()
def recommendation() -> None:
    """Recommendations: each skill's latest measurement joined with its open proposal."""


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0f}%"


def _proposal(r: dict) -> str:
    """The open proposal's id, else which checks kept the measurement from proposing."""
    if r["applied"]:
        return "applied"
    if r.get("proposalId"):
        return r["proposalId"]
    reasons = (r.get("decision") or {}).get("reasons") or []
    topics = [reason.split(":", 1)[0] for reason in reasons]
    return f"none ({', '.join(topics)})" if topics else ""


@app.command("list")
def list_(
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's (team) skills."),
    skill_scope: str = typer.Option(None, "--skill-scope", help="Only skills of this scope."),
    only_open: bool = typer.Option(False, "--only-open", help="Only skills with a pending proposal."),
    all_: bool = typer.Option(False, "--all", help="Also switches already made (shown as applied)."),
    fmt: str = OutputOpt(),
) -> None:
    """Rank skills by the saving their latest measurement found.

    A recommendation whose switch is already made (the skill is pinned to the recommended model,
    e.g. after `proposal approve`) is left out unless --all, where it shows as applied.
    """
    b = backend()
    rows = b.list_recommendations(cluster_tenant=cluster_tenant, skill_scope=skill_scope, only_open=only_open)
    applied = 0 if all_ else sum(1 for r in rows if r["applied"])
    if applied:
        rows = [r for r in rows if not r["applied"]]
    flush_notes()
    if fmt == "json":
        output.emit(rows, "json")
        return
    columns = ["skill", "currentModel", "recommendedModel", "saving", "perMonth", "proposal"]
    if not schema.RECOMMENDATION.reported("projectedMonthlySavingsUsd", b.mode):
        columns.remove("perMonth")  # the control plane has no usage to project a monthly figure from
    table = []
    for r in rows:
        saving = r.get("pinnedSavingsPct", r.get("projectedSavingsPct"))
        lo = r.get("pinnedCiLowPct", r.get("ciLowPct"))
        hi = r.get("pinnedCiHighPct", r.get("ciHighPct"))
        text = f"{'switched, saving' if r['applied'] else 'save up to'} {_pct(saving)} (95% CI {_pct(lo)} to {_pct(hi)})"
        monthly = r.get("projectedMonthlySavingsUsd")
        table.append({
            "skill": r["skill"],
            "currentModel": r.get("currentModel"),
            "recommendedModel": r.get("recommendedModel"),
            "saving": text,
            "perMonth": None if monthly is None else output.money(monthly),
            "proposal": _proposal(r),
        })
    output.emit(table, "table", columns=columns,
                empty=(f"(no open recommendations; {applied} already applied: see them with --all)" if applied
                       else "(no recommendations: run `oc routing measurement run` first)"))
