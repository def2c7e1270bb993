"""oc skill-posture: pin a skill to a model or put it on auto."""

from __future__ import annotations

import typer

from oc_cli import schema
from oc_cli.commands._common import OutputOpt, backend, show, skill_key
from oc_cli.domain.validation import parse_json_flag
from oc_cli.errors import ValidationError

app = typer.Typer(help="Pin a skill to a model, or put it on auto so the scope default decides.",
                  no_args_is_help=True)

KEY_HELP = "Skill key: NAME, SCOPE/NAME or SCOPE/TEAM/NAME (as `list` prints it)."


@app.command("set")
def set_(
    key: str = typer.Argument(None, metavar="SKILL_KEY", help=KEY_HELP),
    pinned_model: str = typer.Option(None, "--pinned-model", help="Always use this model."),
    auto: bool = typer.Option(False, "--auto", help="Let the platform choose (the scope default's model)."),
    auto_config: str = typer.Option(None, "--auto-config", metavar="JSON", help="AutoRoutingConfig for --auto (default: cheapest-passing-bar, sessionPin true, explorationRate 0)."),
    mode: str = typer.Option(None, "--mode", metavar="pinned|auto|null", help="Reference-CLI style mode."),
    name: str = typer.Option(None, "--name", help="Skill name (instead of SKILL_KEY)."),
    scope: str = typer.Option(None, "--scope", help="Skill scope (default org)."),
    team: str = typer.Option(None, "--team", help="Skill team = owning ClusterTenant ('' for none)."),
    fmt: str = OutputOpt(),
) -> None:
    """Set a skill's model posture."""
    k = skill_key(key, name, scope, team)
    if mode is not None:
        if mode not in ("pinned", "auto", "null"):
            raise ValidationError(f"--mode: invalid value {mode!r}", "expected pinned, auto or null")
        if (mode == "auto" and pinned_model) or (mode == "pinned" and auto):
            raise ValidationError("--mode contradicts --pinned-model/--auto")
        chosen = None if mode == "null" else mode
    elif pinned_model is not None and auto:
        raise ValidationError("--pinned-model and --auto are mutually exclusive", "choose one")
    elif pinned_model is not None:
        chosen = "pinned"
    elif auto:
        chosen = "auto"
    else:
        raise ValidationError("nothing to set", "give --pinned-model MODEL or --auto (or clear it with `oc skill-posture clear`)")
    if chosen == "pinned" and not pinned_model:
        raise ValidationError("--pinned-model is required with --mode pinned")
    if auto_config is not None and chosen != "auto":
        raise ValidationError("--auto-config applies only with --auto")
    cfg = parse_json_flag(auto_config, "--auto-config")
    if auto_config is not None and cfg is None:
        raise ValidationError("--auto-config must be a JSON object", "got null")
    show(backend().set_posture(k, mode=chosen, pinned_model=pinned_model, auto_config=cfg), fmt)


@app.command("clear")
def clear(
    key: str = typer.Argument(None, metavar="SKILL_KEY", help=KEY_HELP),
    name: str = typer.Option(None, "--name"),
    scope: str = typer.Option(None, "--scope"),
    team: str = typer.Option(None, "--team"),
    fmt: str = OutputOpt(),
) -> None:
    """Clear a skill's posture: it falls through to the scope defaults."""
    show(backend().set_posture(skill_key(key, name, scope, team), mode=None), fmt)


@app.command("list")
def list_(fmt: str = OutputOpt()) -> None:
    """List skills and their postures."""
    b = backend()
    show(b.list_postures(), fmt, schema.POSTURE.columns(b.mode))


@app.command("show")
def show_(
    key: str = typer.Argument(None, metavar="SKILL_KEY", help=KEY_HELP),
    name: str = typer.Option(None, "--name"),
    scope: str = typer.Option(None, "--scope"),
    team: str = typer.Option(None, "--team"),
    fmt: str = OutputOpt(),
) -> None:
    """Show one skill's posture."""
    show(backend().get_posture(skill_key(key, name, scope, team)), fmt)
