"""What every command module shares: the ``-o`` option, JSON flags, printing results."""

from __future__ import annotations

from typing import Any, Sequence

import typer

from oc_cli import output, runtime
from oc_cli.domain import skillkey
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import ValidationError


def _check_format(value: str) -> str:
    if value not in output.FORMATS:
        raise typer.BadParameter(f"expected one of {', '.join(output.FORMATS)}, got {value!r}")
    return value


def OutputOpt() -> Any:  # noqa: N802 - reads like a type in signatures
    return typer.Option("table", "-o", "--output", metavar="table|wide|json", callback=_check_format,
                        help="Output format: table (for people; fits the terminal), wide (every column) "
                             "or json (the API's wire shape).")


def backend():
    return runtime.backend()


def flush_notes() -> None:
    b = runtime._state.get("backend")
    if b is not None and getattr(b, "notices", None):
        for note in b.notices:
            output.message(f"note: {note}")
        b.notices.clear()


def show(data: Any, fmt: str, columns: Sequence[str] | None = None, **kw: Any) -> None:
    flush_notes()
    output.emit(data, fmt, columns=columns, **kw)


def removed(result: dict, fmt: str, what: str) -> None:
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.success(f'{what} "{result.get("id")}" removed')


def skill_key(key: str | None, name: str | None = None, scope: str | None = None, team: str | None = None,
              *, prefix: str = "--") -> SkillKey:
    """A skill from the positional key or from --name/--scope/--team (not both)."""
    if key and (name or scope or team):
        raise ValidationError(f"give either a skill key or {prefix}name/{prefix}scope/{prefix}team, not both")
    if key:
        return skillkey.parse(key, "SKILL_KEY")
    if not name:
        raise ValidationError("a skill is required",
                              f"give a skill key (NAME, SCOPE/NAME or SCOPE/TEAM/NAME) or {prefix}name")
    return skillkey.from_parts(name, scope, team, prefix=prefix)
