"""Local backend: eval cases (opencrane-api §7), with import that writes all rows or none."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from oc_cli import schema
from oc_cli.domain import skillkey
from oc_cli.domain import validation as v
from oc_cli.domain.ids import new_id, now_iso
from oc_cli.domain.skillkey import SkillKey
from oc_cli.domain.words import plural
from oc_cli.errors import ForbiddenError, NotFoundError, ValidationError
from oc_cli.local.base import Json, dumps, skill_where
from oc_cli.local.routing import RoutingMixin

MAX_JSON_BYTES = 100_000  # the control plane's JSON body limit; an eval case is one such body


def eval_case_row(r: sqlite3.Row) -> Json:
    return schema.EVAL_CASE.from_row(r)


def _bounded(value: Any, flag: str) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_JSON_BYTES:
        raise ValidationError(f"{flag} is too large", f"{len(text.encode()):,} bytes; the limit is {MAX_JSON_BYTES:,}")
    return text


def validate_case(body: Json, *, partial: bool = False, where: str = "") -> Json:
    """Normalise one eval case body; raise ValidationError naming the field."""
    p = where
    out: Json = {}
    if not partial or any(k in body for k in ("skillName", "skillScope", "skillTeam")):
        name = body.get("skillName")
        scope = body.get("skillScope")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"{p}--skill-name is required")
        if not isinstance(scope, str) or not scope.strip():
            raise ValidationError(f"{p}--skill-scope is required")
        team = body.get("skillTeam")
        team = team.strip() if isinstance(team, str) else ""
        key = skillkey.from_parts(name.strip(), scope.strip(), team, prefix=f"{p}--skill-")
        out.update(skillName=key.name, skillScope=key.scope, skillTeam=key.team)
    if not partial or "input" in body:
        if body.get("input") is None:
            raise ValidationError(f"{p}--input is required", "give the case's input (JSON, or plain text)")
        out["input"] = body["input"]
        _bounded(body["input"], f"{p}--input")
    if "expected" in body:
        out["expected"] = body["expected"]
        _bounded(body["expected"], f"{p}--expected")
    if "qualityBar" in body and body["qualityBar"] is not None:
        out["qualityBar"] = v.quality_bar(body["qualityBar"], f"{p}--quality-bar")
    return out


class EvalMixin(RoutingMixin):
    def _case(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM eval_cases WHERE id = ?", (ref,)).fetchone()
        if r is None or not self.skill_visible(r["skill_team"]):
            raise NotFoundError(f"eval case '{ref}' not found", code="NOT_FOUND",
                                hint="list them with: oc routing eval-case list")
        return r

    def list_eval_cases(self, *, skill_name: str | None = None, skill_scope: str | None = None,
                        skill_team: str | None = None) -> list[Json]:
        where, args = skill_where(skill_name, skill_scope, skill_team)
        sql = "SELECT * FROM eval_cases" + where
        rows = self.conn.execute(sql + " ORDER BY created_at DESC, id DESC", args).fetchall()
        return [eval_case_row(r) for r in rows if self.skill_visible(r["skill_team"])]

    def get_eval_case(self, ref: str) -> Json:
        return eval_case_row(self._case(self.conn, ref))

    def _insert_case(self, c: sqlite3.Connection, case: Json) -> str:
        key = SkillKey(case["skillName"], case["skillScope"], case["skillTeam"])
        self.ensure_skill(c, key)
        cid, now = new_id(), now_iso()
        # seq: insertion order (an import's line order), the stable order a measurement replays
        # cases in, so the same cases and --seed give the same figures in any database.
        c.execute("INSERT INTO eval_cases (id, skill_name, skill_scope, skill_team, input, expected, quality_bar,"
                  " created_at, updated_at, seq) VALUES (?,?,?,?,?,?,?,?,?,"
                  " (SELECT ifnull(max(seq), 0) + 1 FROM eval_cases))",
                  (cid, key.name, key.scope, key.team, dumps(case["input"]), dumps(case.get("expected")),
                   case.get("qualityBar", 0.8), now, now))
        return cid

    def create_eval_case(self, body: Json) -> Json:
        case = validate_case(body)
        key = SkillKey(case["skillName"], case["skillScope"], case["skillTeam"])
        self.require_skill_owner(key, "eval-case add")
        with self.store.write() as c:
            cid = self._insert_case(c, case)
            row = eval_case_row(self._case(c, cid))
            self.audit(c, "EvalCaseCreated", f"RoutingEvalCase/{cid}", f"Eval case {cid} added to skill {key}",
                       tenant=key.tenant, after=row)
        return row

    def update_eval_case(self, ref: str, patch: Json) -> Json:
        if not patch:
            raise ValidationError("eval-case update: nothing to change",
                                  "give --input, --expected, --quality-bar or the skill flags")
        changes = validate_case(patch, partial=True)
        with self.store.write() as c:
            cur = self._case(c, ref)
            old_key = SkillKey(cur["skill_name"], cur["skill_scope"], cur["skill_team"])
            self.require_skill_owner(old_key, f"eval-case update {ref}")
            before = eval_case_row(cur)
            new = {**before, **changes}
            new_key = SkillKey(new["skillName"], new["skillScope"], new["skillTeam"])
            if new_key != old_key:
                self.require_skill_owner(new_key, f"eval-case update {ref}")
                self.ensure_skill(c, new_key)
            c.execute("UPDATE eval_cases SET skill_name=?, skill_scope=?, skill_team=?, input=?, expected=?,"
                      " quality_bar=?, updated_at=? WHERE id=?",
                      (new_key.name, new_key.scope, new_key.team, dumps(new["input"]), dumps(new["expected"]),
                       new["qualityBar"], now_iso(), ref))
            after = eval_case_row(self._case(c, ref))
            self.audit(c, "EvalCaseUpdated", f"RoutingEvalCase/{ref}", f"Eval case {ref} of skill {new_key} updated",
                       tenant=new_key.tenant, before=before, after=after)
        return after

    def delete_eval_case(self, ref: str) -> Json:
        with self.store.write() as c:
            cur = self._case(c, ref)
            key = SkillKey(cur["skill_name"], cur["skill_scope"], cur["skill_team"])
            self.require_skill_owner(key, f"eval-case remove {ref}")
            c.execute("DELETE FROM eval_cases WHERE id = ?", (ref,))
            self.audit(c, "EvalCaseDeleted", f"RoutingEvalCase/{ref}", f"Eval case {ref} of skill {key} removed",
                       tenant=key.tenant, before=eval_case_row(cur))
        return {"id": ref, "status": "deleted"}

    def import_eval_cases(self, rows: list[Json]) -> Json:
        """Validate every row first (collecting every bad line), then insert all in one transaction."""
        cases: list[Json] = []
        bad: list[str] = []
        forbidden: ForbiddenError | None = None
        for i, body in enumerate(rows, 1):
            where = f"line {body.get('_line', i) if isinstance(body, dict) else i}: "
            if not isinstance(body, dict):
                bad.append(f"{where}expected a JSON object")
                continue
            if "_error" in body:  # the file reader's verdict on this line (not JSON, not UTF-8, …)
                bad.append(where + body["_error"])
                continue
            try:
                case = validate_case({k: val for k, val in body.items() if k != "_line"}, where=where)
                key = SkillKey(case["skillName"], case["skillScope"], case["skillTeam"])
                self.require_skill_owner(key, where + "eval-case import")
                cases.append(case)
            except Exception as exc:  # OcError: collect, report together ("what — why", no code)
                bad.append(" ".join(str(exc).split()))
                if isinstance(exc, ForbiddenError) and forbidden is None:
                    forbidden = exc
        if bad:
            # A line the identity may not write makes the whole import forbidden (exit 5), not invalid.
            what, shown = v.bad_lines("eval-case import", bad)
            if forbidden is not None:
                raise ForbiddenError(what, shown, code=forbidden.code)
            raise ValidationError(what, shown)
        if not cases:
            raise ValidationError("eval-case import: the file has no cases")
        # The entry belongs to the tenant whose skills the cases are for, when there is exactly one,
        # so that tenant sees its own import in `oc audit list`.
        teams = {case["skillTeam"] for case in cases}
        tenant = teams.pop() if len(teams) == 1 else ""
        with self.store.write() as c:
            ids = [self._insert_case(c, case) for case in cases]
            self.audit(c, "EvalCasesImported", "RoutingEvalCase/*", f"Imported {plural(len(ids), 'eval case')}",
                       tenant=tenant or None, after={"ids": ids})
        return {"imported": len(ids), "ids": ids}
