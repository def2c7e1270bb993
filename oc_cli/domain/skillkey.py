"""Skill keys: how a skill ``(name, scope, team)`` is written on the command line.

``NAME`` means scope ``org`` with no team; ``SCOPE/NAME`` a scope without a team;
``SCOPE/TEAM/NAME`` a team skill. A non-empty team *is* the owning ClusterTenant.
``str(key)`` is the canonical spelling that ``list`` prints, and ``parse`` accepts it back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oc_cli.errors import ValidationError

DEFAULT_SCOPE = "org"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")


@dataclass(frozen=True, order=True)
class SkillKey:
    name: str
    scope: str = DEFAULT_SCOPE
    team: str = ""

    def __str__(self) -> str:
        if self.team:
            return f"{self.scope}/{self.team}/{self.name}"
        if self.scope == DEFAULT_SCOPE:
            return self.name
        return f"{self.scope}/{self.name}"

    @property
    def tenant(self) -> str | None:
        """The owning ClusterTenant, or None for an org/global skill (operator-only)."""
        return self.team or None

    def as_query(self) -> dict[str, str]:
        return {"name": self.name, "scope": self.scope, "team": self.team}


def check_segment(value: str, what: str, flag: str | None = None) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        shown = value if isinstance(value, str) and len(value) <= 60 else (str(value)[:57] + "...")
        where = f"{flag}: " if flag else ""
        raise ValidationError(
            f"{where}invalid skill {what} {shown!r}",
            "expected 1-128 characters from letters, digits and . _ : @ + - (starting with a letter or digit)",
        )
    return value


def parse(text: str, flag: str = "skill key") -> SkillKey:
    """Parse ``NAME``, ``SCOPE/NAME`` or ``SCOPE/TEAM/NAME``."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{flag}: a skill key is required", "expected NAME, SCOPE/NAME or SCOPE/TEAM/NAME")
    parts = text.strip().split("/")
    if len(parts) > 3:
        raise ValidationError(f"{flag}: invalid skill key {text!r}", "expected NAME, SCOPE/NAME or SCOPE/TEAM/NAME")
    if len(parts) == 1:
        name, scope, team = parts[0], DEFAULT_SCOPE, ""
    elif len(parts) == 2:
        scope, name = parts
        team = ""
    else:
        scope, team, name = parts
    check_segment(name, "name", flag)
    check_segment(scope, "scope", flag)
    if team:
        check_segment(team, "team", flag)
    elif len(parts) == 3:
        raise ValidationError(f"{flag}: invalid skill key {text!r}", "the team segment is empty; write SCOPE/NAME")
    return SkillKey(name=name, scope=scope, team=team)


def from_parts(name: str | None, scope: str | None, team: str | None, *, prefix: str = "--") -> SkillKey:
    """Build a key from ``--name/--scope/--team`` style flags (team may be empty)."""
    if not name:
        raise ValidationError(f"{prefix}name is required", "give the skill name (or a skill key argument)")
    check_segment(name, "name", f"{prefix}name")
    scope = scope if scope else DEFAULT_SCOPE
    check_segment(scope, "scope", f"{prefix}scope")
    team = (team or "").strip()
    if team:
        check_segment(team, "team", f"{prefix}team")
    return SkillKey(name=name, scope=scope, team=team)
