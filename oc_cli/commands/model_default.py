"""oc model-default: the company-wide default and per-ClusterTenant defaults."""

from __future__ import annotations

import typer

from oc_cli import schema
from oc_cli.commands._common import OutputOpt, backend, removed, show
from oc_cli.domain.validation import parse_json_flag
from oc_cli.errors import ValidationError

app = typer.Typer(help="Default models: company-wide (global) and per ClusterTenant.", no_args_is_help=True)


@app.command("set")
def set_(
    model: str = typer.Option(None, "--model", help="The default model."),
    default_model: str = typer.Option(None, "--default-model", help="Same as --model (reference-CLI spelling)."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Set this ClusterTenant's default instead of the global one."),
    scope: str = typer.Option(None, "--scope", metavar="global|clusterTenant", help="Scope (inferred from --cluster-tenant)."),
    auto_config: str = typer.Option(None, "--auto-config", metavar="JSON", help="AutoRoutingConfig for this scope ('null' clears)."),
    fmt: str = OutputOpt(),
) -> None:
    """Set a default. Fields you do not give keep their stored value."""
    if model is not None and default_model is not None and model != default_model:
        raise ValidationError("--model and --default-model disagree", "give one of them")
    chosen = model if model is not None else default_model
    if scope is not None and scope not in ("global", "clusterTenant"):
        raise ValidationError(f"--scope: invalid scope {scope!r}", "expected 'global' or 'clusterTenant'")
    if scope == "clusterTenant" and not cluster_tenant:
        raise ValidationError("--cluster-tenant is required when --scope is clusterTenant")
    if scope == "global" and cluster_tenant:
        raise ValidationError("--cluster-tenant cannot be combined with --scope global")
    fields = set()
    if chosen is not None:
        fields.add("defaultModel")
    cfg = None
    if auto_config is not None:
        cfg = parse_json_flag(auto_config, "--auto-config")
        fields.add("autoConfig")
    if not fields:
        raise ValidationError("nothing to set", "give --model MODEL and/or --auto-config JSON")
    b = backend()
    if scope == "global" and getattr(b, "tenant", None):
        # Without --cluster-tenant a tenant identity sets its own default; an explicit
        # --scope global asks for the operator's row, which it may not change.
        b.require_operator("model-default set --scope global")
    show(b.set_default(cluster_tenant=cluster_tenant, default_model=chosen, auto_config=cfg, fields=fields), fmt)


@app.command("list")
def list_(
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's default."),
    fmt: str = OutputOpt(),
) -> None:
    """List defaults."""
    b = backend()
    show(b.list_defaults(cluster_tenant=cluster_tenant), fmt, schema.DEFAULT.columns(b.mode))


@app.command("show")
def show_(ref: str = typer.Argument(..., metavar="ID|global|TENANT"), fmt: str = OutputOpt()) -> None:
    """Show one default (by id, `global`, or a ClusterTenant name)."""
    show(backend().get_default(ref), fmt)


@app.command("remove")
def remove(ref: str = typer.Argument(..., metavar="ID|global|TENANT"), fmt: str = OutputOpt()) -> None:
    """Remove a default."""
    removed(backend().delete_default(ref), fmt, "Model-routing default")
