"""oc config: kubectl-style contexts in <user config dir>/opencrane/config.toml."""

from __future__ import annotations

import sys

import typer

from oc_cli import output, settings
from oc_cli.commands._common import OutputOpt, show
from oc_cli.domain import validation as v
from oc_cli.errors import NotFoundError, ValidationError

app = typer.Typer(help="Contexts: which database or control plane to use, and as whom.", no_args_is_help=True)

_SECRET_WORDS = ("token", "key", "password", "secret")


def _redact(value):
    if isinstance(value, dict):
        return {k: ("REDACTED" if any(w in k.lower() for w in _SECRET_WORDS) and not isinstance(val, dict)
                    else _redact(val)) for k, val in value.items()}
    return value


@app.command("get-contexts")
def get_contexts(fmt: str = OutputOpt()) -> None:
    """List contexts; the current one is marked."""
    cfg = settings.load_config()
    current = cfg.get("current-context")
    rows = []
    for name, ctx in sorted((cfg.get("contexts") or {}).items()):
        ctx = ctx or {}
        rows.append({"current": "*" if name == current else "", "name": name,
                     "mode": "remote" if ctx.get("url") else "local", "url": ctx.get("url"),
                     "tenant": ctx.get("tenant"), "db": ctx.get("db")})
    show(rows, fmt, ["current", "name", "mode", "url", "tenant", "db"],
         empty="(no contexts: local mode with the default database)")


@app.command("current-context")
def current_context() -> None:
    """Print the current context's name."""
    cfg = settings.load_config()
    cur = cfg.get("current-context")
    if not cur:
        raise NotFoundError("no current context", hint="set one with: oc config use-context NAME")
    sys.stdout.write(cur + "\n")


@app.command("use-context")
def use_context(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Make NAME the current context."""
    cfg = settings.load_config()
    if name not in (cfg.get("contexts") or {}):
        raise NotFoundError(f"context '{name}' not found", hint=f"create it with: oc config set-context {name} …")
    cfg["current-context"] = name
    settings.save_config(cfg)
    output.success(f'Switched to context "{name}".')


@app.command("set-context")
def set_context(
    name: str = typer.Argument(..., metavar="NAME"),
    url: str = typer.Option(None, "--url", help="Control-plane URL (remote mode). '' unsets."),
    tenant: str = typer.Option(None, "--tenant", help="Act as this ClusterTenant's admin. '' unsets."),
    db: str = typer.Option(None, "--db", help="Local database path. '' unsets."),
    gateway_url: str = typer.Option(None, "--gateway-url", help="LiteLLM proxy URL for measurements. '' unsets."),
    judge_model: str = typer.Option(None, "--judge-model", help="Judge model for measurements. '' unsets."),
    ca_bundle: str = typer.Option(None, "--ca-bundle", help="CA bundle for TLS. '' unsets."),
    insecure: bool = typer.Option(None, "--insecure/--no-insecure", help="Skip TLS verification (unsafe)."),
    require_calibrated_judge: bool = typer.Option(
        None, "--require-calibrated-judge/--no-require-calibrated-judge",
        help="Block proposals while the skill's judge is not calibrated against human labels."),
    gateway_key_stdin: bool = typer.Option(False, "--gateway-key-stdin", help="Read the gateway (LiteLLM master) key from stdin into the keyring."),
    use: bool = typer.Option(False, "--use", help="Also make it the current context."),
) -> None:
    """Create or change a context. Only the fields you give change."""
    if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or len(name) > 63:
        raise ValidationError(f"invalid context name {name!r}", "expected 1-63 letters, digits, '-', '_' or '.'")
    cfg = settings.load_config()
    contexts = cfg.setdefault("contexts", {})
    ctx = contexts.setdefault(name, {})
    changes = {"url": url, "tenant": tenant, "db": db, "ca-bundle": ca_bundle}
    if url:
        v.url(url, "--url")
    if tenant:
        v.tenant_name(tenant, "--tenant")
    for key, value in changes.items():
        if value is None:
            continue
        if value == "":
            ctx.pop(key, None)
        else:
            ctx[key] = value
    for table, key, value, flag in (("gateway", "url", gateway_url, "--gateway-url"),
                                    ("judge", "model", judge_model, "--judge-model")):
        if value is None:
            continue
        sub = ctx.setdefault(table, {})
        if value == "":
            sub.pop(key, None)
            if not sub:
                ctx.pop(table)
        else:
            if table == "gateway":
                v.url(value, flag)
            else:
                v.name(value, flag, what="model name")
            sub[key] = value
    if require_calibrated_judge is not None:
        judge_table = ctx.setdefault("judge", {})
        if require_calibrated_judge:
            judge_table["require-calibrated"] = True
        else:
            judge_table.pop("require-calibrated", None)
            if not judge_table:
                ctx.pop("judge")
    if insecure is not None:
        if insecure:
            ctx["insecure"] = True
        else:
            ctx.pop("insecure", None)
    if gateway_key_stdin:
        key_value = sys.stdin.readline().strip()
        if not key_value:
            raise ValidationError("--gateway-key-stdin: no key on standard input")
        try:
            import keyring

            keyring.set_password(settings.GATEWAY_KEY_SERVICE, name, key_value)
        except Exception as exc:
            raise ValidationError("--gateway-key-stdin: no usable keyring to hold the key",
                                  f"{type(exc).__name__}; set LITELLM_MASTER_KEY in the environment instead") from None
    if use:
        cfg["current-context"] = name
    path = settings.save_config(cfg)
    output.success(f'Context "{name}" saved in {path}.')


@app.command("delete-context")
def delete_context(name: str = typer.Argument(..., metavar="NAME")) -> None:
    """Delete a context."""
    cfg = settings.load_config()
    if name not in (cfg.get("contexts") or {}):
        raise NotFoundError(f"context '{name}' not found")
    del cfg["contexts"][name]
    if cfg.get("current-context") == name:
        del cfg["current-context"]
    try:
        import keyring

        keyring.delete_password(settings.GATEWAY_KEY_SERVICE, name)
    except Exception:  # nothing stored, or no keyring: nothing to remove
        pass
    settings.save_config(cfg)
    output.success(f'Context "{name}" deleted.')


@app.command("view")
def view(fmt: str = OutputOpt()) -> None:
    """Print the config file (secrets redacted; none are stored there)."""
    cfg = _redact(settings.load_config())
    if fmt == "json":
        output.emit(cfg, "json")
        return
    import tomli_w

    sys.stdout.write(f"# {settings.config_path()}\n")
    sys.stdout.write(tomli_w.dumps(cfg) if cfg else "# (empty: local mode with the default database)\n")
