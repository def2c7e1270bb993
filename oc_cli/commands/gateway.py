"""oc gateway: the LiteLLM proxy config that makes local decisions take effect (SPEC §10)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import typer

from oc_cli import output, runtime
from oc_cli.commands._common import OutputOpt, backend, flush_notes
from oc_cli.domain.words import plural
from oc_cli.domain import gatewayconfig as gc
from oc_cli.errors import NotFoundError, NotSupportedError, ValidationError

app = typer.Typer(help="The LiteLLM proxy config: the registry, every skill's resolution, fallbacks.",
                  no_args_is_help=True)

REMOTE_HINT = "export a local database's config in local mode (unset OPENCRANE_URL / --url, or use a context without a url)"


def _check_format(value: str) -> str:
    if value not in gc.FORMATS:
        raise typer.BadParameter(f"expected 'yaml' or 'json', got {value!r}")
    return value


def _export(cluster_tenant: str | None, base: str | None) -> tuple[dict, dict, str | None]:
    """(export answer, config merged into --base, base text) — warnings already on stderr."""
    b = backend()
    base_text = _read(base, "--base") if base is not None else None
    base_config = gc.parse(base_text, f"--base {base}") if base_text is not None else None
    result = b.gateway_export(cluster_tenant=cluster_tenant)
    flush_notes()
    for w in result["warnings"]:
        output.warn(w)
    config = gc.merge(base_config, result["config"]) if base_config is not None else result["config"]
    return result, config, base_text


def _require_local(verb: str) -> None:
    """Checked before anything else (no token needed to learn that remote mode has no such verb)."""
    if runtime.settings().mode != "local":
        raise NotSupportedError(f"gateway {verb}: not supported by the control plane",
                                "in remote mode the OpenCrane operator writes the gateway's config",
                                hint=REMOTE_HINT)


def _read(path: str, flag: str) -> str:
    p = Path(path)
    if not p.exists():
        raise NotFoundError(f"{flag}: file '{path}' not found")
    if p.is_dir():
        raise ValidationError(f"{flag}: '{path}' is a directory", "give a config file")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{flag}: cannot read '{path}'", str(exc)) from None


def write_atomically(path: str, text: str) -> None:
    """Replace ``path`` in one rename: a proxy reading it sees the old file or the new one, never half."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ValidationError(f"--write: directory '{parent}' does not exist")
    if target.is_dir():
        raise ValidationError(f"--write: '{path}' is a directory", "give a file name")
    mode = (target.stat().st_mode & 0o777) if target.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        _fsync_dir(parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where the platform lets a directory be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@app.command("export")
def export(
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", metavar="T",
                                       help="Only T's allowlist and skills: a gateway that cannot serve anything else."),
    base: str = typer.Option(None, "--base", metavar="FILE",
                             help="Merge into this config: oc replaces model_list and the two router keys, keeps the rest."),
    write: str = typer.Option(None, "--write", metavar="FILE", help="Replace FILE atomically instead of printing."),
    fmt: str = typer.Option("yaml", "-o", "--output", metavar="yaml|json", callback=_check_format,
                            help="Output format of the config."),
) -> None:
    """Write the LiteLLM proxy config for the global scope or one ClusterTenant.

    model_list holds the models visible to the scope (api_key as os.environ/<VAR>, prices in
    model_info); router_settings.model_group_alias maps skill:<key> to the model `oc resolve`
    gives it; router_settings.fallbacks holds the defaults' and auto postures' chains. The output
    is deterministic: exporting an unchanged database gives the identical file.
    """
    _require_local("export")
    result, config, base_text = _export(cluster_tenant, base)
    if base_text is not None and gc.has_comments(base_text):
        output.warn(f"comments in {base} are dropped (oc writes YAML with PyYAML, which does not keep "
                       "them); every key and value is kept")
    text = gc.render(config, fmt, result["header"] if fmt == "yaml" else "")
    if write is None:
        sys.stdout.write(text)
        return
    write_atomically(write, text)
    router = config["router_settings"]
    output.success(f"wrote {write}: {plural(len(config['model_list']), 'model')}, "
                   f"{plural(len(router['model_group_alias']), 'skill alias', 'skill aliases')}, "
                   f"{plural(len(router['fallbacks']), 'fallback chain')}")


@app.command("diff")
def diff(
    file: str = typer.Argument(..., metavar="FILE", help="The deployed proxy config."),
    cluster_tenant: str = typer.Option(None, "--cluster-tenant", metavar="T", help="Compare with T's export."),
    base: str = typer.Option(None, "--base", metavar="FILE",
                             help="Compare with the export merged into this base (then other keys count too)."),
    fmt: str = OutputOpt(),
) -> None:
    """Show what `oc gateway export` would change in a deployed file.

    Models added, removed or changed, skills re-pointed (old → new model), fallbacks changed.
    Exit 0: no change; 1: changes (as kubectl diff); errors keep their codes.
    """
    _require_local("diff")
    deployed = gc.parse(_read(file, "FILE"), file)
    _, config, _ = _export(cluster_tenant, base)
    d = gc.diff(deployed, config, settings=base is not None)
    if fmt == "json":
        output.emit(d, "json")
    else:
        lines = gc.diff_lines(d)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
        output.message(f"{plural(len(lines), 'change')} to {file}" if lines
                       else f"no changes: {file} is what oc gateway export writes")
    if d["changed"]:
        raise typer.Exit(1)
