"""oc resolve: which model a skill resolves to, rung by rung."""

from __future__ import annotations

import typer

from oc_cli import output
from oc_cli.commands._common import OutputOpt, backend, flush_notes, skill_key
from oc_cli.errors import ForbiddenError, ValidationError

app = typer.Typer()

SUMMARY = ["skill", "clusterTenant", "model", "source", "auto", "blocked", "blockedModel", "reason"]


@app.command("resolve")
def resolve(
    key: str = typer.Argument(None, metavar="SKILL_KEY", help="NAME, SCOPE/NAME or SCOPE/TEAM/NAME."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Resolve for this ClusterTenant (default: the skill's team)."),
    request_model: str = typer.Option(None, "--request-model", help="An explicit per-request model (the first rung)."),
    explain: bool = typer.Option(False, "--explain", help="Show every rung with its value and why it won or was skipped."),
    all_: bool = typer.Option(False, "--all", help="Resolve every skill for every ClusterTenant."),
    fmt: str = OutputOpt(),
) -> None:
    """Walk the precedence chain: request → pinned → auto → ClusterTenant default → Global default.

    A model outside the ClusterTenant's allowlist is never returned: the answer is then
    "blocked" and the exit code is 5 (forbidden).
    """
    b = backend()
    if all_:
        if key or request_model or cluster_tenant:
            raise ValidationError("--all takes no skill key, --cluster-tenant or --request-model")
        results = b.resolve_all()
        flush_notes()
        if fmt == "json":
            output.emit(results if explain else [_brief(r) for r in results], "json")
        else:
            output.emit(results, "table", columns=["skill", "clusterTenant", "model", "source", "blocked", "blockedModel"])
        blocked = [r for r in results if r["blocked"]]
        if blocked:
            raise ForbiddenError(f"{len(blocked)} of {len(results)} resolutions are blocked",
                                 "their winning model is not on the ClusterTenant's allowlist",
                                 code="MODEL_NOT_ALLOWED")
        return
    result = b.resolve(skill_key(key), cluster_tenant=cluster_tenant, request_model=request_model)
    flush_notes()
    if fmt == "json":
        output.emit(result if explain else _brief(result), "json")
    else:
        output.emit_object(result, columns=SUMMARY)
        if explain:
            output.message("")
            output.emit(result["rungs"], "table", columns=["rung", "value", "outcome", "reason"])
    if not result["skillRegistered"]:
        output.message(f"note: skill {result['skill']} is not registered; only the defaults apply")
    if result.get("modelRegistered") is False and not result["blocked"]:
        output.message(f"warning: model '{result['model']}' is not registered in the model registry")
    if result["blocked"]:
        tenant = result["clusterTenant"]
        raise ForbiddenError(
            f"resolve {result['skill']}: blocked",
            result["reason"],
            code="MODEL_NOT_ALLOWED",
            hint=f"grant it with: oc cluster-tenant grant {tenant} --model {result['blockedModel']}",
        )


def _brief(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "rungs"}
