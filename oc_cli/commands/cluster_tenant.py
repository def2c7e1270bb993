"""oc cluster-tenant: ClusterTenants (customers) and their model allowlists."""

from __future__ import annotations

from typing import List

import typer

from oc_cli import runtime, schema
from oc_cli.commands._common import OutputOpt, flush_notes, removed, show

app = typer.Typer(help="ClusterTenants (customers) and the models granted to them.", no_args_is_help=True)


def _local(verb: str):
    return runtime.local_backend(f"cluster-tenant {verb}")


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME"),
    grant_all_global: bool = typer.Option(False, "--grant-all-global", help="Allow every global model (the reference's rule), now and later."),
    description: str = typer.Option(None, "--description", help="Free-text description."),
    fmt: str = OutputOpt(),
) -> None:
    """Create a ClusterTenant. It may use only the models it owns plus those granted to it."""
    show(_local("create").create_cluster_tenant(name, grant_all_global=grant_all_global, description=description), fmt)


@app.command("list")
def list_(fmt: str = OutputOpt()) -> None:
    """List ClusterTenants."""
    show(_local("list").list_cluster_tenants(), fmt, schema.TENANT.columns("local"))


@app.command("show")
def show_(name: str = typer.Argument(..., metavar="NAME"), fmt: str = OutputOpt()) -> None:
    """Show one ClusterTenant."""
    show(_local("show").get_cluster_tenant(name), fmt)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., metavar="NAME"),
    force: bool = typer.Option(False, "--force", help="Also remove the models, credentials and defaults it owns."),
    fmt: str = OutputOpt(),
) -> None:
    """Remove a ClusterTenant."""
    removed(_local("remove").delete_cluster_tenant(name, force=force), fmt, "ClusterTenant")


@app.command("grant")
def grant(
    name: str = typer.Argument(..., metavar="NAME"),
    model: List[str] = typer.Option(..., "--model", help="Global model to allow (repeatable)."),
    fmt: str = OutputOpt(),
) -> None:
    """Allow a ClusterTenant to use global models."""
    _models(_local("grant").grant_models(name, model), fmt)


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., metavar="NAME"),
    model: List[str] = typer.Option(..., "--model", help="Granted model to take back (repeatable)."),
    fmt: str = OutputOpt(),
) -> None:
    """Take back global models from a ClusterTenant."""
    _models(_local("revoke").revoke_models(name, model), fmt)


@app.command("models")
def models(name: str = typer.Argument(..., metavar="NAME"), fmt: str = OutputOpt()) -> None:
    """Print a ClusterTenant's allowlist and effective default model."""
    _models(_local("models").tenant_models(name), fmt)


def _models(result: dict, fmt: str) -> None:
    flush_notes()
    if fmt == "json":
        show(result, fmt)
        return
    rows = [{"model": m, "source": result["sources"].get(m),
             "default": "yes" if m == result.get("defaultModel") else ""} for m in result["models"]]
    show(rows, fmt, ["model", "source", "default"], empty=f"(ClusterTenant {result['clusterTenant']} may use no model)")
    from oc_cli import output

    default = result.get("defaultModel")
    if not default:
        output.message("default model: none")
    elif result.get("defaultAllowed") is False:
        output.warn(f"default model: {default} ({result.get('defaultSource')}) — not on the allowlist, so skills "
                    f"that fall to it resolve to blocked")
    else:
        output.message(f"default model: {default} ({result.get('defaultSource')})")
    if result.get("note") and result.get("defaultAllowed") is not False:
        output.message(f"note: {result['note']}")
    blocked = result.get("blockedSkills") or []
    if blocked:
        n = len(blocked)
        output.warn(f"{n} skill{'' if n == 1 else 's'} of ClusterTenant {result['clusterTenant']} now "
                    f"resolve{'s' if n == 1 else ''} to blocked:")
        for b in blocked:
            how = "pinned to" if b["source"] == "skill-pinned" else f"{b['source']} →"
            output.message(f"  {b['skill']}  ({how} {b['blockedModel']})")
        output.message(f"  to undo: oc cluster-tenant grant {result['clusterTenant']} "
                       + " ".join(f"--model {m}" for m in sorted({b['blockedModel'] for b in blocked})))
