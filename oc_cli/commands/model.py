"""oc model: the model registry."""

from __future__ import annotations

import typer

from oc_cli import schema
from oc_cli.commands._common import OutputOpt, backend, removed, show

app = typer.Typer(help="The model registry: public model names mapped to upstream models and credentials.",
                  no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Option(..., "--name", help="Public (routable) model name, e.g. my-cheap-model."),
    upstream: str = typer.Option(..., "--upstream", help="Upstream LiteLLM model, e.g. openai/gpt-4o-mini."),
    credential: str = typer.Option(None, "--credential", metavar="ID", help="Provider credential id."),
    api_base: str = typer.Option(None, "--api-base", help="Upstream API base URL."),
    scope: str = typer.Option(None, "--scope", metavar="global|clusterTenant", help="Owner scope (default: global, or the tenant given)."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Owning ClusterTenant (implies --scope clusterTenant)."),
    default: bool = typer.Option(False, "--default", help="Mark as a default model."),
    input_cost: float = typer.Option(None, "--input-cost-per-mtok", help="USD per million input tokens (cost fallback)."),
    output_cost: float = typer.Option(None, "--output-cost-per-mtok", help="USD per million output tokens (cost fallback)."),
    fmt: str = OutputOpt(),
) -> None:
    """Register a model."""
    body = {"publicModelName": name, "upstreamModel": upstream, "providerCredentialId": credential,
            "apiBase": api_base, "scope": scope, "clusterTenant": cluster_tenant, "isDefault": default,
            "inputCostPerMtok": input_cost, "outputCostPerMtok": output_cost}
    show(backend().create_model({k: v for k, v in body.items() if v is not None}), fmt)


@app.command("list")
def list_(
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's models."),
    fmt: str = OutputOpt(),
) -> None:
    """List registered models."""
    b = backend()
    show(b.list_models(cluster_tenant=cluster_tenant), fmt, schema.MODEL.columns(b.mode))


@app.command("show")
def show_(ref: str = typer.Argument(..., metavar="ID|NAME"), fmt: str = OutputOpt()) -> None:
    """Show one model (by id, or by name when unambiguous)."""
    show(backend().get_model(ref), fmt)


@app.command("update")
def update(
    ref: str = typer.Argument(..., metavar="ID|NAME"),
    name: str = typer.Option(None, "--name", help="New public name."),
    upstream: str = typer.Option(None, "--upstream", help="New upstream model."),
    api_base: str = typer.Option(None, "--api-base", help="New API base ('' clears)."),
    credential: str = typer.Option(None, "--credential", metavar="ID", help="New credential id ('' clears)."),
    default: bool = typer.Option(None, "--default/--no-default", help="Mark or unmark as a default model."),
    input_cost: float = typer.Option(None, "--input-cost-per-mtok", help="USD per million input tokens."),
    output_cost: float = typer.Option(None, "--output-cost-per-mtok", help="USD per million output tokens."),
    fmt: str = OutputOpt(),
) -> None:
    """Change a model; fields you do not give keep their value."""
    patch = {}
    for key, value in (("publicModelName", name), ("upstreamModel", upstream), ("apiBase", api_base),
                       ("providerCredentialId", credential), ("isDefault", default),
                       ("inputCostPerMtok", input_cost), ("outputCostPerMtok", output_cost)):
        if value is not None:
            patch[key] = value
    show(backend().update_model(ref, patch), fmt)


@app.command("remove")
def remove(
    ref: str = typer.Argument(..., metavar="ID|NAME"),
    force: bool = typer.Option(False, "--force", help="Remove even if postures or defaults still name it."),
    fmt: str = OutputOpt(),
) -> None:
    """Remove a model."""
    removed(backend().delete_model(ref, force=force), fmt, "Model")
