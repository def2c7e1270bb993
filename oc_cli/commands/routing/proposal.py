"""oc routing proposal: a human approves or rejects every switch."""

from __future__ import annotations

import typer

from oc_cli import output, schema
from oc_cli.commands._common import OutputOpt, backend, flush_notes, show
from oc_cli.errors import ValidationError

app = typer.Typer(help="Proposals: approve (pin the skill to the proposed model) or reject.", no_args_is_help=True)

STATUSES = ("pending", "approved", "rejected", "applied")


@app.command("list")
def list_(
    status: str = typer.Option(None, "--status", metavar="|".join(STATUSES), help="Only proposals in this state."),
    fmt: str = OutputOpt(),
) -> None:
    """List proposals, newest first."""
    if status is not None and status not in STATUSES:
        raise ValidationError(f"--status: invalid value {status!r}", f"expected one of {', '.join(STATUSES)}")
    b = backend()
    rows = b.list_proposals(status=status)
    show(rows if fmt == "json" else schema.PROPOSAL.for_table(rows), fmt, schema.PROPOSAL.columns(b.mode))


@app.command("show")
def show_(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Show one proposal with the evidence behind it."""
    show(backend().get_proposal(ref), fmt)


@app.command("approve")
def approve(
    ref: str = typer.Argument(..., metavar="ID"),
    force: bool = typer.Option(False, "--force", help="Approve even if the skill changed since the measurement."),
    fmt: str = OutputOpt(),
) -> None:
    """Switch the skill to the proposed model (pins it) and record the decision."""
    b = backend()
    result = b.approve_proposal(ref, force=force)
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.emit_object(result)
        output.success(f"proposal {result['id']} applied: skill pinned to {result.get('appliedModel')}")
    if b.mode == "local":
        team = b.get_proposal(ref).get("skillTeam")
        if team:
            output.message(f"hint: ClusterTenant {team}'s gateway config changes; re-export it with: "
                           f"oc gateway export --cluster-tenant {team} --write FILE "
                           f"(preview: oc gateway diff FILE --cluster-tenant {team})")
        else:
            output.message("hint: the gateway config changes (the global one and each ClusterTenant's); re-export it "
                           "with: oc gateway export [--cluster-tenant T] --write FILE (preview: oc gateway diff FILE)")


@app.command("reject")
def reject(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Reject a proposal; nothing else changes."""
    result = backend().reject_proposal(ref)
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.emit_object(result)
        output.success(f"proposal {result['id']} rejected; nothing else changed")
