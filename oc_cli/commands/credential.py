"""oc credential: provider credentials — references to secrets, never the keys themselves."""

from __future__ import annotations

import typer

from oc_cli import schema
from oc_cli.commands._common import OutputOpt, backend, removed, show
from oc_cli.domain.validation import raw_key_error

app = typer.Typer(help="Provider credentials: the name of the Secret that holds a key, never the key.",
                  no_args_is_help=True)


def _local_only_env_var(env_var: str | None, verb: str) -> None:
    """--env-var feeds local mode's gateway export; checked before anything else (no token needed)."""
    from oc_cli import runtime
    from oc_cli.errors import NotSupportedError

    if env_var is not None and runtime.settings().mode != "local":
        raise NotSupportedError(f"{verb} --env-var: not supported by the control plane",
                                "in remote mode the OpenCrane operator wires each key from the Secret named by "
                                "--secret-ref", hint="drop --env-var; it names the variable of local mode's "
                                "`oc gateway export`")


def _refuse_raw(api_key: str | None, key: str | None) -> None:
    if api_key is not None:
        raise raw_key_error("--api-key")
    if key is not None:
        raise raw_key_error("--key")


@app.command("add")
def add(
    provider: str = typer.Option(..., "--provider", help="Provider, e.g. openai, anthropic, bedrock."),
    secret_ref: str = typer.Option(..., "--secret-ref", help="Name of the Kubernetes Secret (or env var) holding the key."),
    scope: str = typer.Option(None, "--scope", metavar="global|clusterTenant", help="Owner scope (default: global, or the tenant given)."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Owning ClusterTenant (implies --scope clusterTenant)."),
    litellm_credential_name: str = typer.Option(None, "--litellm-credential-name", help="LiteLLM credential name, if registered there."),
    env_var: str = typer.Option(None, "--env-var", help="Local mode: the variable `oc gateway export` reads the key from (default: derived from --secret-ref)."),
    api_key: str = typer.Option(None, "--api-key", hidden=True),
    key: str = typer.Option(None, "--key", hidden=True),
    fmt: str = OutputOpt(),
) -> None:
    """Register a provider credential by reference (its secretRef)."""
    _refuse_raw(api_key, key)
    _local_only_env_var(env_var, "credential add")
    body = {"provider": provider, "secretRef": secret_ref, "scope": scope, "clusterTenant": cluster_tenant,
            "litellmCredentialName": litellm_credential_name, "envVar": env_var}
    show(backend().create_credential({k: v for k, v in body.items() if v is not None}), fmt)


@app.command("list")
def list_(
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", help="Only this ClusterTenant's credentials."),
    fmt: str = OutputOpt(),
) -> None:
    """List credentials."""
    b = backend()
    show(b.list_credentials(cluster_tenant=cluster_tenant), fmt, schema.CREDENTIAL.columns(b.mode))


@app.command("show")
def show_(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Show one credential."""
    show(backend().get_credential(ref), fmt)


@app.command("update")
def update(
    ref: str = typer.Argument(..., metavar="ID"),
    secret_ref: str = typer.Option(None, "--secret-ref", help="New Secret name."),
    litellm_credential_name: str = typer.Option(None, "--litellm-credential-name", help="New LiteLLM credential name ('' clears)."),
    env_var: str = typer.Option(None, "--env-var", help="Local mode: the variable `oc gateway export` reads the key from ('' goes back to the derived name)."),
    api_key: str = typer.Option(None, "--api-key", hidden=True),
    key: str = typer.Option(None, "--key", hidden=True),
    fmt: str = OutputOpt(),
) -> None:
    """Change a credential's secret reference (the rest of the row is kept)."""
    _refuse_raw(api_key, key)
    _local_only_env_var(env_var, "credential update")
    patch = {}
    if secret_ref is not None:
        patch["secretRef"] = secret_ref
    if litellm_credential_name is not None:
        patch["litellmCredentialName"] = litellm_credential_name
    if env_var is not None:
        patch["envVar"] = env_var
    show(backend().update_credential(ref, patch), fmt)


@app.command("remove")
def remove(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Remove a credential (models it backed keep running without one)."""
    removed(backend().delete_credential(ref), fmt, "Provider credential")
