"""Local backend: the judge checked against people (SPEC §5.8).

People grade measured answers (``judge_labels``: one row per measurement, case and side). A
*calibration* pools every label of one judge model on one skill and compares the judge's verdicts
(its score against the case's quality bar, as the measurement recorded it) with the people's:
``oc_cli.domain.calibration`` has the statistics. A measurement whose skill and judge have labels
shows pass rates corrected for the judge's errors, and ``--require-calibrated-judge`` makes a
judge that is not ``calibrated`` block a proposal.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable

from oc_cli.domain.ids import now_iso
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import UnconfiguredError, ValidationError
from oc_cli.local.base import Json
from oc_cli.local.measure import MeasurementMixin

SIDES = ("baseline", "candidate")
DEFAULT_SAMPLE_SIZE = 50
#: Resamples of the corrected pass-rate bootstrap, and its fixed seed: the figures a person sees
#: are the same every time the measurement is shown.
CORRECTION_RESAMPLES = 10_000
CORRECTION_SEED = 0
_LABEL_KEYS = ("measurementId", "case", "side", "humanPass")

_LABELS_SQL = """
    SELECT l.measurement_id, l.position, l.side, l.human_pass, l.human_score, l.labeler,
           m.judge_model, m.skill_name, m.skill_scope, m.skill_team,
           mc.quality_bar, mc.input, mc.expected,
           CASE l.side WHEN 'baseline' THEN mc.baseline_score ELSE mc.candidate_score END AS score,
           CASE l.side WHEN 'baseline' THEN mc.baseline_output ELSE mc.candidate_output END AS answer
    FROM judge_labels l
    JOIN measurements m ON m.id = l.measurement_id
    JOIN measurement_cases mc ON mc.measurement_id = l.measurement_id AND mc.position = l.position
"""


def _random():
    import random  # imported where used: every `oc` call pays for module imports

    return random


def _label(row: sqlite3.Row):
    from oc_cli.domain.calibration import Label

    return Label(judge=row["score"] >= row["quality_bar"], human=bool(row["human_pass"]), score=row["score"],
                 length=len(row["answer"] or ""))


def calibration_labels(c: sqlite3.Connection, key: SkillKey, judge_model: str) -> list[sqlite3.Row]:
    """Every label of ``judge_model`` on skill ``key`` whose answer has a judge score."""
    return c.execute(_LABELS_SQL + " WHERE m.skill_name = ? AND m.skill_scope = ? AND m.skill_team = ?"
                     " AND m.judge_model = ? AND mc.status = 'completed' AND score IS NOT NULL"
                     " ORDER BY l.measurement_id, l.position, l.side",
                     (key.name, key.scope, key.team, judge_model)).fetchall()


def calibration_command(key: SkillKey, judge_model: str) -> str:
    return f"oc routing judge calibration --skill {key} --judge {judge_model}"


def require_calibrated_judge(c: sqlite3.Connection, m: sqlite3.Row, decision: Json) -> None:
    """The ``--require-calibrated-judge`` gate: a judge that is not ``calibrated`` for the
    measurement's skill blocks the proposal; the reason names what is missing."""
    from oc_cli.domain import calibration as cal

    key = SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"])
    labels = [_label(r) for r in calibration_labels(c, key, m["judge_model"])]
    result = cal.calibration(labels)
    decision.setdefault("checks", {})["calibratedJudge"] = result["verdict"] == cal.CALIBRATED
    if result["verdict"] == cal.CALIBRATED:
        return
    decision["propose"] = False
    if not labels:
        why = (f"judge {m['judge_model']} is not calibrated for skill {key} (no human labels);"
               f" start one with: oc routing judge sample {m['id']}")
    else:
        why = (f"judge {m['judge_model']} is {result['verdict']} for skill {key}: "
               + "; ".join(result["reasons"]) + f" (see: {calibration_command(key, m['judge_model'])})")
    decision["reasons"] = [*decision.get("reasons", []), f"judge: {why}"]


class JudgeMixin(MeasurementMixin):
    # ===== the answers of a measurement ============================================================
    def _answers(self, c: sqlite3.Connection, m: sqlite3.Row) -> list[Json]:
        """Every graded answer of a measurement: one per completed case and side."""
        key = str(SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"]))
        out = []
        for x in c.execute("SELECT * FROM measurement_cases WHERE measurement_id = ? AND status = 'completed'"
                           " ORDER BY position", (m["id"],)):
            for side in SIDES:
                score, answer = x[f"{side}_score"], x[f"{side}_output"]
                if score is None or answer is None:
                    continue
                out.append({
                    "measurementId": m["id"],
                    "case": x["position"] + 1,
                    "side": side,
                    "skill": key,
                    "model": m["current_model"] if side == "baseline" else m["candidate_model"],
                    "judgeModel": m["judge_model"],
                    "input": json.loads(x["input"]),
                    "expected": json.loads(x["expected"]) if x["expected"] is not None else None,
                    "answer": answer,
                    "judgeScore": score,
                    "judgePass": score >= x["quality_bar"],
                    "qualityBar": x["quality_bar"],
                    "humanPass": None,
                    "humanScore": None,
                    "labeler": None,
                })
        return out

    @staticmethod
    def _sample_order(answers: list[Json], size: int, seed: int) -> list[Json]:
        """Disagreements first, then a seeded random draw of the rest that holds both judge verdicts.

        A case where the judge passed one model's answer and failed the other's is where a wrong
        verdict changes the comparison, so both of its answers come first (in case order). The
        rest is a simple random draw; if it misses one judge verdict that the rest contains, its
        last pick is swapped for a random answer of the missing verdict.
        """
        verdicts: dict[int, set[bool]] = {}
        for a in answers:
            verdicts.setdefault(a["case"], set()).add(a["judgePass"])
        first = [a for a in answers if len(verdicts[a["case"]]) == 2]
        rest = [a for a in answers if len(verdicts[a["case"]]) < 2]
        rng = _random().Random(seed)
        rng.shuffle(rest)
        room = max(0, size - len(first))
        drawn, left = rest[:room], rest[room:]
        for verdict in (True, False):
            if drawn and not any(a["judgePass"] is verdict for a in drawn):
                missing = [a for a in left if a["judgePass"] is verdict]
                if missing:
                    drawn[-1] = rng.choice(missing)
        return (first + drawn)[:size]

    def judge_sample(self, ref: str, *, size: int = DEFAULT_SAMPLE_SIZE, seed: int | None = None) -> Json:
        """The labelling file's rows for measurement ``ref`` (``{seed, rows}``)."""
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1_000_000:
            raise ValidationError(f"--size must be between 1 and 1000000, got {size!r}")
        if seed is None:
            seed = _random().SystemRandom().randrange(2**31)
        elif not 0 <= seed < 2**63:
            raise ValidationError(f"--seed must be between 0 and 2**63-1, got {seed!r}")
        with self.store.read() as c:
            m = self._measurement(c, ref)
            answers = self._answers(c, m)
        if not answers:
            raise ValidationError(f"measurement {ref} has no graded answers to label",
                                  "no case completed with a judge score", code="NOTHING_TO_LABEL",
                                  hint=f"finish it with: oc routing measurement run --resume {ref}")
        return {"seed": seed, "measurementId": ref, "answers": len(answers),
                "rows": self._sample_order(answers, size, seed)}

    def judge_label_queue(self, ref: str) -> list[Json]:
        """The answers of ``ref`` nobody has labelled yet, in the order a sample would list them."""
        with self.store.read() as c:
            m = self._measurement(c, ref)
            answers = self._answers(c, m)
            done = {(r[0] + 1, r[1]) for r in c.execute(
                "SELECT position, side FROM judge_labels WHERE measurement_id = ?", (ref,))}
        ordered = self._sample_order(answers, len(answers), CORRECTION_SEED)
        return [a for a in ordered if (a["case"], a["side"]) not in done]

    # ===== importing labels ========================================================================
    def import_judge_labels(self, path: str) -> Json:
        """Import people's grades from a JSONL file: all lines or none (a bad line names its number)."""
        try:
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"cannot read label file {path}", str(exc), code="LABEL_FILE_UNREADABLE",
                                  hint="to grade a measurement's answers in the terminal:"
                                       " oc routing judge label MEASUREMENT --interactive") from None
        items: list[tuple[int, Json]] = []
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise self._bad_line(path, number, f"not valid JSON ({exc})") from None
            items.append((number, self._parse_label(path, number, obj)))
        result = self._store_labels(path, items)
        result["file"] = path
        return result

    @staticmethod
    def _bad_line(path: str, number: int, why: str) -> ValidationError:
        return ValidationError(f"label file {path} line {number}", f"{why}; nothing was imported",
                               code="INVALID_LABEL",
                               hint="each line holds measurementId, case, side and humanPass (true, false or null)")

    def _parse_label(self, path: str, number: int, obj: Any) -> Json:
        if not isinstance(obj, dict):
            raise self._bad_line(path, number, "expected a JSON object")
        for key in _LABEL_KEYS:
            if key not in obj:
                raise self._bad_line(path, number, f"'{key}' is missing")
        mid, case, side, passed = (obj[k] for k in _LABEL_KEYS)
        if not isinstance(mid, str) or not mid:
            raise self._bad_line(path, number, "'measurementId' must be a measurement id")
        if isinstance(case, bool) or not isinstance(case, int) or case < 1:
            raise self._bad_line(path, number, f"'case' must be a case number from 1, got {case!r}")
        if side not in SIDES:
            raise self._bad_line(path, number, f"'side' must be baseline or candidate, got {side!r}")
        if passed is not None and not isinstance(passed, bool):
            raise self._bad_line(path, number, f"'humanPass' must be true, false or null, got {passed!r}")
        score = obj.get("humanScore")
        if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                                  or not 0 <= score <= 1):
            raise self._bad_line(path, number, f"'humanScore' must be a number from 0 to 1, got {score!r}")
        labeler = obj.get("labeler")
        if labeler is not None and (not isinstance(labeler, str) or len(labeler) > 200):
            raise self._bad_line(path, number, "'labeler' must be a name of at most 200 characters")
        return {"measurementId": mid, "case": case, "side": side, "humanPass": passed,
                "humanScore": None if score is None else float(score), "labeler": labeler}

    def _store_labels(self, path: str, items: list[tuple[int, Json]]) -> Json:
        """Check every label against the database and upsert them in one transaction."""
        created = updated = skipped = 0
        seen: dict[tuple, int] = {}
        touched: dict[str, int] = {}
        with self.store.write() as c:
            measurements: dict[str, sqlite3.Row] = {}
            for number, item in items:
                mid = item["measurementId"]
                if mid not in measurements:
                    m = c.execute("SELECT * FROM measurements WHERE id = ?", (mid,)).fetchone()
                    if m is None or not self.skill_visible(m["skill_team"]):
                        raise self._bad_line(path, number, f"measurement '{mid}' not found")
                    self.require_skill_owner(SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"]),
                                             "routing judge label")
                    measurements[mid] = m
                m = measurements[mid]
                if item["case"] > m["cases_total"]:
                    raise self._bad_line(path, number, f"case {item['case']} is out of range: measurement {mid}"
                                                       f" has {m['cases_total']} case(s)")
                x = c.execute("SELECT status, baseline_score, candidate_score FROM measurement_cases"
                              " WHERE measurement_id = ? AND position = ?", (mid, item["case"] - 1)).fetchone()
                if x is None or x["status"] != "completed" or x[f"{item['side']}_score"] is None:
                    raise self._bad_line(path, number, f"case {item['case']} of measurement {mid} has no graded"
                                                       f" {item['side']} answer to label")
                ident = (mid, item["case"], item["side"])
                if ident in seen:
                    raise self._bad_line(path, number, f"case {item['case']} {item['side']} of {mid} is labelled"
                                                       f" again (first on line {seen[ident]})")
                seen[ident] = number
                if item["humanPass"] is None:
                    skipped += 1
                    continue
                if self._upsert_label(c, item):
                    created += 1
                else:
                    updated += 1
                touched[mid] = touched.get(mid, 0) + 1
            for mid, count in touched.items():
                m = measurements[mid]
                self.audit(c, "JudgeLabelsImported", f"RoutingMeasurement/{mid}",
                           f"{count} human label(s) of measurement {mid} imported from {path}",
                           tenant=m["skill_team"] or None, after={"labels": count})
        return {"imported": created + updated, "created": created, "updated": updated,
                "skippedUnlabelled": skipped, "measurements": sorted(touched)}

    def _upsert_label(self, c: sqlite3.Connection, item: Json) -> bool:
        """Insert or overwrite one label; True when it is new."""
        now = now_iso()
        key = (item["measurementId"], item["case"] - 1, item["side"])
        exists = c.execute("SELECT 1 FROM judge_labels WHERE measurement_id = ? AND position = ? AND side = ?",
                           key).fetchone()
        c.execute("INSERT INTO judge_labels (measurement_id, position, side, human_pass, human_score, labeler,"
                  " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (measurement_id, position, side)"
                  " DO UPDATE SET human_pass = excluded.human_pass, human_score = excluded.human_score,"
                  " labeler = excluded.labeler, updated_at = excluded.updated_at",
                  (*key, int(item["humanPass"]), item.get("humanScore"), item.get("labeler") or self.actor, now, now))
        return exists is None

    def set_judge_label(self, ref: str, case: int, side: str, human_pass: bool) -> Json:
        """One label given at the terminal (``judge label --interactive``), stored and audited at once."""
        item = {"measurementId": ref, "case": case, "side": side, "humanPass": bool(human_pass),
                "humanScore": None, "labeler": self.actor}
        with self.store.write() as c:
            m = self._measurement(c, ref)
            self.require_skill_owner(SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"]),
                                     "routing judge label")
            created = self._upsert_label(c, item)
            self.audit(c, "JudgeLabelSet", f"RoutingMeasurement/{ref}",
                       f"case {case} {side} of measurement {ref} labelled {'pass' if human_pass else 'fail'}",
                       tenant=m["skill_team"] or None, after={"case": case, "side": side, "humanPass": human_pass})
        return {**item, "created": created}

    # ===== calibration ===========================================================================
    def judge_calibration(self, *, skill: SkillKey | None = None, judge_model: str | None = None,
                          swap_check: int = 0, seed: int | None = None) -> list[Json]:
        """One calibration per (judge model, skill) with labels, filtered by ``skill``/``judge_model``."""
        from oc_cli.domain import calibration as cal

        if isinstance(swap_check, bool) or not isinstance(swap_check, int) or not 0 <= swap_check <= 10_000:
            raise ValidationError(f"--swap-check must be between 0 and 10000, got {swap_check!r}")
        where, args = ["mc.status = 'completed'", "score IS NOT NULL"], []
        if skill is not None:
            where.append("m.skill_name = ? AND m.skill_scope = ? AND m.skill_team = ?")
            args += [skill.name, skill.scope, skill.team]
        if judge_model:
            where.append("m.judge_model = ?")
            args.append(judge_model)
        with self.store.read() as c:
            rows = c.execute(_LABELS_SQL + " WHERE " + " AND ".join(where)
                             + " ORDER BY m.judge_model, m.skill_scope, m.skill_team, m.skill_name,"
                               " l.measurement_id, l.position, l.side", args).fetchall()
        groups: dict[tuple, list[sqlite3.Row]] = {}
        for r in rows:
            if self.skill_visible(r["skill_team"]):
                groups.setdefault((r["judge_model"], r["skill_name"], r["skill_scope"], r["skill_team"]), []).append(r)
        if skill is not None and judge_model and not groups:  # asked about one judge and skill: say so
            groups[(judge_model, skill.name, skill.scope, skill.team)] = []
        out = []
        for (judge, name, scope, team), members in groups.items():
            key = SkillKey(name, scope, team)
            result = cal.calibration([_label(r) for r in members])
            checked = swap_check and members
            result["orderSensitivity"] = self._swap_check(judge, members, swap_check, seed) if checked else None
            out.append({"judgeModel": judge, "skill": str(key), "skillName": name, "skillScope": scope,
                        "skillTeam": team, **result})
        return out

    def _swap_check(self, judge_model: str, members: list[sqlite3.Row], count: int, seed: int | None) -> Json:
        """Re-judge ``count`` labelled answers with the sections swapped; count verdict flips."""
        import asyncio

        from oc_cli.domain import calibration as cal
        from oc_cli.settings import gateway_settings

        seams = gateway_settings(self.settings) if self.settings is not None else {"missing": ["settings"]}
        missing = [name for name in seams["missing"] if name != "ROUTING_JUDGE_MODEL"]
        if missing:
            raise UnconfiguredError("--swap-check needs the gateway", f"missing: {', '.join(missing)}",
                                    hint="set LITELLM_ENDPOINT and LITELLM_MASTER_KEY (or the context's gateway)")
        chosen = list(members)
        _random().Random(0 if seed is None else seed).shuffle(chosen)
        chosen = chosen[:count]
        started = now_iso()
        outcomes = asyncio.run(_rejudge_swapped(seams, judge_model, chosen))
        ended, token = now_iso(), _random().getrandbits(48)
        with self.store.write() as c:  # every gateway call oc makes is recorded (SPEC §6)
            c.executemany(
                "INSERT OR IGNORE INTO usage (request_id, source, kind, model, model_group, skill, tenant,"
                " prompt_tokens, completion_tokens, spend_usd, latency_ms, status, start_time, end_time,"
                " measurement_id, passed) VALUES (?,'oc','judge',?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                [(f"oc:swap-check:{token:012x}:{i}", reply.model, reply.model,
                  str(SkillKey(r["skill_name"], r["skill_scope"], r["skill_team"])), r["skill_team"] or None,
                  reply.prompt_tokens, reply.completion_tokens, reply.cost_usd, reply.latency_ms,
                  "success" if reply.ok else "failure", started, ended, r["measurement_id"])
                 for i, (r, (_, reply)) in enumerate(zip(chosen, outcomes))])
        flips = sum(1 for flipped, _ in outcomes if flipped is True)
        errors = sum(1 for flipped, _ in outcomes if flipped is None)
        return {**cal.flip_rate(flips, len(outcomes) - errors), "errors": errors}

    # ===== measurements, corrected ================================================================
    def get_measurement(self, ref: str, *, samples: bool = False) -> Json:
        view = super().get_measurement(ref, samples=samples)
        if view.get("casesCompleted"):
            view["judgeCalibration"] = self._corrected(ref)
        return view

    def _corrected(self, ref: str) -> Json:
        """The judge's calibration for this measurement's skill and the human-corrected pass rates."""
        from oc_cli.domain import calibration as cal

        with self.store.read() as c:
            m = self._measurement(c, ref)
            key = SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"])
            labels = [_label(r) for r in calibration_labels(c, key, m["judge_model"])]
            cases = c.execute("SELECT baseline_score >= quality_bar, candidate_score >= quality_bar"
                              " FROM measurement_cases WHERE measurement_id = ? AND status = 'completed'"
                              " AND baseline_score IS NOT NULL AND candidate_score IS NOT NULL", (ref,)).fetchall()
        out: Json = {"judgeModel": m["judge_model"], "skill": str(key), "labels": len(labels)}
        if not labels:
            out.update(verdict="uncalibrated", note="judge not calibrated for this skill",
                       hint=f"oc routing judge sample {ref}")
            return out
        result = cal.calibration(labels)
        out.update({k: result[k] for k in ("verdict", "reasons", "kappa", "sensitivity", "sensitivityCi",
                                           "specificity", "specificityCi", "bias")})
        n = len(cases)
        rates = {}
        for i, side in enumerate(SIDES):
            rates[side] = cal.corrected_pass_rate(sum(1 for row in cases if row[i]), n, labels,
                                                  resamples=CORRECTION_RESAMPLES, seed=CORRECTION_SEED)
        out["correctedPassRates"] = rates if all(rates.values()) else None
        if out["correctedPassRates"] is None:
            out["note"] = ("no correction: the labels do not identify the judge's sensitivity and specificity,"
                           " or it is no better than chance")
        out["method"] = cal.correction_method(CORRECTION_RESAMPLES, CORRECTION_SEED)
        return out


async def _rejudge_swapped(seams: Json, judge_model: str, members: Iterable[sqlite3.Row]) -> list[tuple[bool | None, Any]]:
    """For each labelled answer: did the verdict flip with the sections swapped (None: no grade),
    and the gateway's reply."""
    from oc_cli.domain import judge
    from oc_cli.gateway.client import GatewayClient, gather_bounded

    async with GatewayClient(seams["url"], seams["key"]) as gw:
        async def one(r: sqlite3.Row) -> tuple[bool | None, Any]:
            expected = json.loads(r["expected"]) if r["expected"] is not None else None
            messages = judge.build_judge_messages(json.loads(r["input"]), r["answer"], expected, swapped=True)
            reply = await gw.chat(judge_model, messages)
            score = judge.parse_score(reply.output) if reply.ok else None
            if score is None:
                return None, reply
            return (score >= r["quality_bar"]) != (r["score"] >= r["quality_bar"]), reply

        return await gather_bounded([lambda r=r: one(r) for r in members], 8)

