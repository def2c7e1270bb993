"""oc routing eval-case: example tasks for a skill, each with a quality bar."""

from __future__ import annotations

import io
import json
import sys

import typer

from oc_cli import output, schema
from oc_cli.commands._common import OutputOpt, backend, flush_notes, removed, show
from oc_cli.commands.routing import _skill
from oc_cli.domain.validation import parse_json_flag
from oc_cli.errors import ValidationError

app = typer.Typer(help="Eval cases: example tasks for a skill, with the quality bar each answer must clear.",
                  no_args_is_help=True)

EXPORT_FIELDS = ("skillName", "skillScope", "skillTeam", "input", "expected", "qualityBar")


@app.command("add")
def add(
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    input_: str = typer.Option(..., "--input", metavar="JSON|TEXT", help='The task: JSON (e.g. {"messages":[...]}) or plain text.'),
    expected: str = typer.Option(None, "--expected", metavar="JSON|TEXT", help="Expected answer or rubric for the judge."),
    quality_bar: float = typer.Option(None, "--quality-bar", help="Judge score (0-1) an answer must reach (default 0.8)."),
    fmt: str = OutputOpt(),
) -> None:
    """Add an eval case to a skill."""
    key = _skill.required(skill, skill_name, skill_scope, skill_team)
    body = {"skillName": key.name, "skillScope": key.scope, "skillTeam": key.team,
            "input": parse_json_flag(input_, "--input", plain_text_ok=True)}
    if expected is not None:
        body["expected"] = parse_json_flag(expected, "--expected", plain_text_ok=True)
    if quality_bar is not None:
        body["qualityBar"] = quality_bar
    show(backend().create_eval_case(body), fmt)


@app.command("list")
def list_(
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    fmt: str = OutputOpt(),
) -> None:
    """List eval cases, newest first."""
    b = backend()
    rows = b.list_eval_cases(**_skill.filters(skill, skill_name, skill_scope, skill_team))
    show(rows if fmt == "json" else schema.EVAL_CASE.for_table(rows), fmt, schema.EVAL_CASE.columns(b.mode))


@app.command("show")
def show_(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Show one eval case."""
    show(backend().get_eval_case(ref), fmt)


@app.command("update")
def update(
    ref: str = typer.Argument(..., metavar="ID"),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    input_: str = typer.Option(None, "--input", metavar="JSON|TEXT"),
    expected: str = typer.Option(None, "--expected", metavar="JSON|TEXT", help="'null' clears it."),
    quality_bar: float = typer.Option(None, "--quality-bar"),
    fmt: str = OutputOpt(),
) -> None:
    """Change an eval case; fields you do not give keep their value."""
    patch: dict = {}
    if skill_name is not None or skill_scope is not None or skill_team is not None:
        cur = backend().get_eval_case(ref)
        patch.update(skillName=skill_name or cur["skillName"], skillScope=skill_scope or cur["skillScope"],
                     skillTeam=cur["skillTeam"] if skill_team is None else skill_team)
    if input_ is not None:
        patch["input"] = parse_json_flag(input_, "--input", plain_text_ok=True)
    if expected is not None:
        patch["expected"] = parse_json_flag(expected, "--expected", plain_text_ok=True)
    if quality_bar is not None:
        patch["qualityBar"] = quality_bar
    show(backend().update_eval_case(ref, patch), fmt)


@app.command("remove")
def remove(ref: str = typer.Argument(..., metavar="ID"), fmt: str = OutputOpt()) -> None:
    """Remove an eval case."""
    removed(backend().delete_eval_case(ref), fmt, "Routing eval case")


@app.command("import")
def import_(
    path: str = typer.Argument(..., metavar="FILE", help="JSONL file, one case a line ('-' = stdin)."),
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    fmt: str = OutputOpt(),
) -> None:
    """Import eval cases from JSONL. Every line is checked first; a bad line imports nothing.

    Each line is an object with input (required), expected, qualityBar and the skill fields
    (skillName, skillScope, skillTeam) — or the skill comes from --skill/--skill-name.
    """
    default_key = None
    if skill or skill_name:
        default_key = _skill.required(skill, skill_name, skill_scope, skill_team)
    # Bytes, decoded line by line: a line that is not UTF-8 is reported like any other bad line.
    try:
        if path == "-":  # a text stream without a byte buffer (a StringIO in tests) is encoded back
            fh = getattr(sys.stdin, "buffer", None) or io.BytesIO(sys.stdin.read().encode())
        else:
            fh = open(path, "rb")
    except OSError as exc:
        raise ValidationError(f"FILE: cannot read {path}", exc.strerror or str(exc)) from None
    # Lines that are not even cases are handed on marked with ``_error``, so the backend reports
    # them together with the lines its own checks refuse: every bad line at once, nothing imported.
    rows: list[dict] = []
    with fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                rows.append({"_line": number, "_error": f"not valid UTF-8 (byte {exc.start + 1})"})
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply to parse
                rows.append({"_line": number, "_error": f"not valid JSON ({str(exc).split(':')[0]})"})
                continue
            if not isinstance(obj, dict):
                rows.append({"_line": number, "_error": "expected a JSON object"})
                continue
            unknown = sorted(set(obj) - set(EXPORT_FIELDS) - {"id", "createdAt", "updatedAt"})
            if unknown:
                rows.append({"_line": number, "_error": f"unknown field(s) {', '.join(unknown)}"})
                continue
            obj = {k: v for k, v in obj.items() if k in EXPORT_FIELDS}
            if default_key is not None and "skillName" not in obj:
                obj.update(skillName=default_key.name, skillScope=default_key.scope, skillTeam=default_key.team)
            if "skillName" in obj:
                obj.setdefault("skillScope", "org")
            obj["_line"] = number
            rows.append(obj)
    result = backend().import_eval_cases(rows)
    flush_notes()
    if fmt == "json":
        output.emit(result, "json")
    else:
        output.success(f"imported {result['imported']} eval case{'s' if result['imported'] != 1 else ''}")


@app.command("export")
def export(
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    out: str = typer.Option("-", "--file", "-f", metavar="FILE", help="Write here instead of stdout."),
) -> None:
    """Export eval cases as JSONL (oldest first), ready for `import`."""
    rows = backend().list_eval_cases(**_skill.filters(skill, skill_name, skill_scope, skill_team))
    lines = [json.dumps({k: r.get(k) for k in EXPORT_FIELDS}, ensure_ascii=False) for r in reversed(rows)]
    text = "".join(line + "\n" for line in lines)
    if out == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ValidationError(f"--file: cannot write {out}", exc.strerror or str(exc)) from None
        output.success(f"exported {len(lines)} eval case{'s' if len(lines) != 1 else ''} to {out}")
