"""Skill selection flags shared by eval cases and measurements."""

from __future__ import annotations

from typing import Any

import typer

from oc_cli.domain import skillkey
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import ValidationError


def SkillOpt() -> Any:  # noqa: N802
    return typer.Option(None, "--skill", metavar="SKILL_KEY", help="The skill as a key (NAME, SCOPE/NAME, SCOPE/TEAM/NAME).")


def NameOpt() -> Any:  # noqa: N802
    return typer.Option(None, "--skill-name", help="Skill name.")


def ScopeOpt(default_help: str = "") -> Any:  # noqa: N802
    return typer.Option(None, "--skill-scope", help="Skill scope (default org)." + default_help)


def TeamOpt() -> Any:  # noqa: N802
    return typer.Option(None, "--skill-team", help="Skill team = owning ClusterTenant ('' = none).")


def required(skill: str | None, name: str | None, scope: str | None, team: str | None) -> SkillKey:
    if skill and (name or scope or team):
        raise ValidationError("give either --skill or --skill-name/--skill-scope/--skill-team, not both")
    if skill:
        return skillkey.parse(skill, "--skill")
    if not name:
        raise ValidationError("--skill-name is required", "or give the skill as --skill KEY")
    return skillkey.from_parts(name, scope, team, prefix="--skill-")


def filters(skill: str | None, name: str | None, scope: str | None, team: str | None) -> dict[str, Any]:
    """List filters: only what was given; an empty --skill-team is a real filter (org skills)."""
    if skill:
        k = required(skill, name, scope, team)
        return {"skill_name": k.name, "skill_scope": k.scope, "skill_team": k.team}
    return {"skill_name": name or None, "skill_scope": scope or None, "skill_team": team}
