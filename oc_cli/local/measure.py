"""Local backend: measurements (SPEC §5), proposals (§4.7) and recommendations.

A run replays every eval case of a skill through the baseline and the candidate via the LiteLLM
gateway, has the judge grade both answers, and writes each case's result as it completes. The
statistics are computed from what is stored, so a run that was interrupted (Ctrl-C, kill -9)
resumes with ``--resume`` and replays only the missing or failed cases, ending with the same
numbers as an uninterrupted run with the same seed. A run never changes a posture or a default;
a convincing result becomes a *pending* proposal that a person approves or rejects.
"""

from __future__ import annotations

import os
import sqlite3

from oc_cli import schema
from oc_cli.domain import validation as v
from oc_cli.domain.ids import new_id, now_iso
from oc_cli.domain.skillkey import SkillKey, from_parts
from oc_cli.domain.words import plural
from oc_cli.errors import ConflictError, NotFoundError, ValidationError
from oc_cli.local.base import Json, dumps, litellm_id, loads, skill_where
from oc_cli.local.evals import EvalMixin

#: The figures a measurement estimates from its completed cases. With none to estimate from (a
#: run that failed, is still running, or whose every cost is unknown) they are None ("n/a"),
#: never 0: a 0% saving is a finding, and this is the absence of one.
ESTIMATES = ("projectedSavingsPct", "ciLowPct", "ciHighPct", "pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct",
             "atBarCheapFraction", "baselinePassRate", "baselinePassRateCi", "candidatePassRate",
             "candidatePassRateCi", "passRateDiff", "passRateDiffCiLow", "passRateDiffCiHigh", "mcnemarP",
             "baselineCostUsd", "candidateCostUsd")

UNCONFIGURED_NOTE = "Shadow-measurement seams are not configured; nothing was recorded."



def _hostname() -> str:
    import socket  # imported where used: every `oc` call pays for module imports

    return socket.gethostname()


def _secrets():
    import secrets

    return secrets


def _hashlib():
    import hashlib

    return hashlib

def _pid_alive(pid: int | None) -> bool:
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _shown_status(r: sqlite3.Row) -> str:
    """The run's status as a reader should see it.

    A run killed outright (kill -9, power loss) cannot mark itself interrupted, so its row still
    says ``running``; when its process on this host is gone, it is shown as ``interrupted``.
    A run that finished without completing a single case is stored as finished (``completed``,
    the schema's word for it) with a ``failure`` in its summary, and shown as ``failed``.
    """
    if r["status"] == "completed" and (loads(r["summary"]) or {}).get("failure"):
        return "failed"
    if (r["status"] == "running" and r["runner_host"] == _hostname() and r["runner_pid"] != os.getpid()
            and not _pid_alive(r["runner_pid"])):
        return "interrupted"
    return r["status"]


def failure_cause(errors: list[str | None]) -> str:
    """The most common call error among failed cases, with how many cases it hit.

    A case's error lists each failed call (``baseline m: HTTP 400 from gateway: …; candidate …``);
    the call errors are counted once per case, so a wrong key or an unknown model (every call of
    every case) shows as what it is rather than as ten different lines.
    """
    from collections import Counter

    counts: Counter[str] = Counter()
    for error in errors:
        counts.update(list(dict.fromkeys(part.strip() for part in (error or "").split("; ") if part.strip())))
    if not counts:
        return "no case completed"
    top, hits = counts.most_common(1)[0]
    return f"{top} ({hits} of {len(errors)} case{'s' if len(errors) != 1 else ''})"


def _rank(rec: Json) -> tuple[bool, float]:
    """Recommendation order: switches the evidence supports first, then by the saving approval delivers.

    A candidate that failed its checks (worse quality, failures, unknown costs) saves nothing anyone
    should act on, however cheap it is, so it never outranks one that passed.
    """
    saving = rec["pinnedSavingsPct"]
    return bool((rec.get("decision") or {}).get("propose")), float("-inf") if saving is None else saving


def _frontier(views: list[Json]) -> list[Json]:
    from oc_cli.domain.frontier import frontier  # only multi-candidate runs and groups draw one

    return frontier(views)


def choose_proposal(members: dict[str, sqlite3.Row], summaries: dict[str, Json]) -> str | None:
    """Which record of a run becomes the skill's pending proposal (at most one per run).

    The rule (docs/measurements.md): among the candidates that pass every check of the decision,
    the one with the largest saving if pinned; ties go to the higher lower bound of that saving,
    then to the model name. The other passing candidates' decisions say they also qualify and
    which one was proposed instead; the failing ones keep the reasons they failed.
    """
    passing = [mid for mid, s in summaries.items() if s["decision"]["propose"]]
    if not passing:
        return None
    chosen = min(passing, key=lambda mid: (-summaries[mid]["pinnedSavingsPct"], -summaries[mid]["pinnedCiLowPct"],
                                           members[mid]["candidate_model"]))
    best = summaries[chosen]
    for mid in passing:
        if mid != chosen:
            s = summaries[mid]
            s["decision"] = {**s["decision"], "propose": False, "alsoQualifies": True, "reasons": [
                f"also qualifies, but {members[chosen]['candidate_model']} was proposed: it saves more if pinned"
                f" ({best['pinnedSavingsPct']:.1f}% vs {s['pinnedSavingsPct']:.1f}%)"]}
    return chosen


def proposal_row(r: sqlite3.Row) -> Json:
    row = schema.PROPOSAL.from_row(r)
    row["proposedModelId"] = litellm_id(row["proposedModelId"])
    return row


class MeasurementMixin(EvalMixin):
    # ===== reading ===============================================================================
    def _measurement(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM measurements WHERE id = ?", (ref,)).fetchone()
        if r is None or not self.skill_visible(r["skill_team"]):
            raise NotFoundError(f"measurement '{ref}' not found", code="NOT_FOUND",
                                hint="list them with: oc routing measurement list")
        return r

    def _measurement_view(self, c: sqlite3.Connection, r: sqlite3.Row, *, samples: bool = False) -> Json:
        counts = {row[0]: row[1] for row in c.execute(
            "SELECT status, count(*) FROM measurement_cases WHERE measurement_id = ? GROUP BY status", (r["id"],))}
        costs = c.execute(
            "SELECT sum(ifnull(baseline_cost_usd,0) + ifnull(candidate_cost_usd,0) + ifnull(judge_cost_usd,0)),"
            " sum(judge_cost_usd), sum(baseline_cost_usd), sum(candidate_cost_usd)"
            " FROM measurement_cases WHERE measurement_id = ? AND status != 'pending'", (r["id"],)).fetchone()
        summary = loads(r["summary"]) or {}
        params = loads(r["params"]) or {}
        spent = costs[0] or 0.0
        judge_spent = costs[1] or 0.0
        model_spent = (costs[2] or 0.0) + (costs[3] or 0.0)
        view: Json = {
            "id": r["id"],
            "skillName": r["skill_name"],
            "skillScope": r["skill_scope"],
            "skillTeam": r["skill_team"],
            "candidateModel": r["candidate_model"],
            "sampledCalls": summary.get("sampledCalls", 0),
            "atBarCheapFraction": summary.get("atBarCheapFraction", 0.0),
            "projectedSavingsPct": summary.get("projectedSavingsPct", 0.0),
            "ciLowPct": summary.get("ciLowPct", 0.0),
            "ciHighPct": summary.get("ciHighPct", 0.0),
            "overheadPct": (100.0 * judge_spent / model_spent) if model_spent > 0 else None,
            "skillContentHash": r["skill_content_hash"],
            "skillDigest": r["skill_digest"],
            "candidateModelId": litellm_id(r["candidate_model_id"]),
            "candidateUpstreamModel": r["candidate_upstream_model"],
            "runAt": r["run_at"],
            # beyond the API
            "status": _shown_status(r),
            "currentModel": r["current_model"],
            "baselineUpstreamModel": r["baseline_upstream_model"],
            "judgeModel": r["judge_model"],
            "casesTotal": r["cases_total"],
            "casesCompleted": counts.get("completed", 0),
            "casesFailed": counts.get("failed", 0),
            "casesPending": counts.get("pending", 0),
            "overheadUsd": spent,
            "proposalId": r["proposal_id"],
            "finishedAt": r["finished_at"],
            "groupId": r["group_id"],
            "baselineReusedFrom": r["baseline_reused_from"],
            "params": params,
        }
        for k, val in summary.items():
            view.setdefault(k, val)
        if not view["sampledCalls"]:
            view.update(dict.fromkeys(ESTIMATES))  # nothing was estimated: no figure, not a zero
        errors = [f"case {row[0] + 1}: {row[1]}" for row in c.execute(
            "SELECT position, error FROM measurement_cases WHERE measurement_id = ? AND status = 'failed'"
            " ORDER BY position LIMIT 20", (r["id"],))]
        view["errors"] = errors
        if r["proposal_id"]:
            decided = c.execute("SELECT status FROM proposals WHERE id = ?", (r["proposal_id"],)).fetchone()
            view["proposalStatus"] = decided["status"] if decided else None
        if samples:
            view["samples"] = [self._sample_view(x) for x in c.execute(
                "SELECT * FROM measurement_cases WHERE measurement_id = ? ORDER BY position", (r["id"],))]
        return view

    @staticmethod
    def _sample_view(x: sqlite3.Row) -> Json:
        return {
            "case": x["position"] + 1,
            "evalCaseId": x["case_id"],
            "status": x["status"],
            "qualityBar": x["quality_bar"],
            "baselineScore": x["baseline_score"],
            "candidateScore": x["candidate_score"],
            "baselinePassed": None if x["baseline_score"] is None else x["baseline_score"] >= x["quality_bar"],
            "candidatePassed": None if x["candidate_score"] is None else x["candidate_score"] >= x["quality_bar"],
            "baselineCostUsd": x["baseline_cost_usd"],
            "candidateCostUsd": x["candidate_cost_usd"],
            "judgeCostUsd": x["judge_cost_usd"],
            "baselineCostSource": x["baseline_cost_source"],
            "candidateCostSource": x["candidate_cost_source"],
            "baselineLatencyMs": x["baseline_latency_ms"],
            "candidateLatencyMs": x["candidate_latency_ms"],
            "judgeLatencyMs": x["judge_latency_ms"],
            "attempts": x["attempts"],
            "baselineOutput": x["baseline_output"],
            "candidateOutput": x["candidate_output"],
            "error": x["error"],
        }

    def list_measurements(self, *, skill_name: str | None = None, skill_scope: str | None = None,
                          skill_team: str | None = None) -> list[Json]:
        where, args = skill_where(skill_name, skill_scope, skill_team)
        sql = "SELECT * FROM measurements" + where
        with self.store.read() as c:
            rows = c.execute(sql + " ORDER BY run_at DESC, id DESC", args).fetchall()
            return [self._measurement_view(c, r) for r in rows if self.skill_visible(r["skill_team"])]

    def get_measurement(self, ref: str, *, samples: bool = False) -> Json:
        with self.store.read() as c:
            return self._measurement_view(c, self._measurement(c, ref), samples=samples)

    def get_group(self, ref: str) -> Json:
        """Every record of a multi-candidate run (by group id, or the id of any member) and its frontier."""
        with self.store.read() as c:
            views = [self._measurement_view(c, r) for r in self._members(c, ref)]
        return {"groupId": views[0]["groupId"], "proposalId": next((x["proposalId"] for x in views if x["proposalId"]),
                                                                  None),
                "measurements": views, "frontier": _frontier(views)}

    # ===== running ===============================================================================
    def run_measurement(self, params: Json, *, progress=None) -> Json:
        from oc_cli.settings import gateway_settings

        if params.get("resume"):  # a run that does not exist is not found, whatever the gateway
            with self.store.read() as c:
                self._members(c, params["resume"])
        seams = gateway_settings(self.settings) if self.settings is not None else {"missing": ["settings"]}
        if seams["missing"]:
            return {"status": "unconfigured", "note": UNCONFIGURED_NOTE, "missing": seams["missing"]}
        from oc_cli.settings import require_calibrated_judge

        required = params.get("requireCalibratedJudge")
        if self.settings is not None:  # the flag, else OC_REQUIRE_CALIBRATED_JUDGE, else the context
            required = require_calibrated_judge(self.settings, required)[0]
        params = {**params, "requireCalibratedJudge": bool(required)}
        options = self._run_options(params)
        if params.get("resume"):
            mids = self._prepare_resume(params["resume"], seams,
                                        require_calibrated_judge=options["requireCalibratedJudge"])
        else:
            mids = self._prepare_run(params, options, seams)
        return self._execute(mids, seams, progress)

    @staticmethod
    def _run_options(params: Json) -> Json:
        def number(key, lo, hi, kind=float):
            val = params.get(key)
            if val is None:
                return None
            if isinstance(val, bool) or not isinstance(val, (int, float)) or not lo <= val <= hi:
                raise ValidationError(f"--{''.join('-' + ch.lower() if ch.isupper() else ch for ch in key)} "
                                      f"must be between {lo} and {hi}, got {val!r}")
            return kind(val)

        return {
            "concurrency": number("concurrency", 1, 256, int) or 8,
            "seed": number("seed", 0, 2**63 - 1, int),
            "minCases": number("minCases", 1, 1_000_000, int) or 10,
            "qualityMargin": 0.05 if params.get("qualityMargin") is None else number("qualityMargin", 0, 1),
            "resamples": number("resamples", 1000, 1_000_000, int) or 10_000,
            "timeout": number("timeout", 1, 3600) or 60.0,
            "allowSameFamilyJudge": bool(params.get("allowSameFamilyJudge")),
            "requireCalibratedJudge": bool(params.get("requireCalibratedJudge")),
        }

    def _model_for(self, c: sqlite3.Connection, name: str, tenant: str | None) -> sqlite3.Row | None:
        """The registry row a tenant's call to ``name`` reaches (its own model shadows a global one)."""
        rows = c.execute("SELECT * FROM models WHERE public_model_name = ? AND (scope = 'global' OR cluster_tenant = ?)"
                         " ORDER BY scope = 'global'", (name, tenant or "")).fetchall()
        return rows[0] if rows else None

    @staticmethod
    def _candidates(params: Json) -> list[str]:
        """The candidate models of a run: ``candidateModels`` (a list) or ``candidateModel`` (one)."""
        raw = params.get("candidateModels")
        if raw is None:
            raw = [params.get("candidateModel")]
        if isinstance(raw, str) or not isinstance(raw, list) or not raw:
            raise ValidationError("--candidate-model is required", "name the cheaper model(s) to try")
        names = [v.name(x, "--candidate-model", what="model name") for x in raw]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValidationError(f"--candidate-model {name} is given twice",
                                      "each candidate is measured once per run", code="DUPLICATE_CANDIDATE")
            seen.add(name)
        return names

    @staticmethod
    def _max_baseline_age(params: Json) -> int:
        from oc_cli.local.usage import duration_seconds

        raw = params.get("maxBaselineAge")
        seconds = duration_seconds(raw) if isinstance(raw, str) else None
        if raw is None:
            return 7 * 86400
        if not seconds:
            raise ValidationError(f"--max-baseline-age: cannot read {raw!r}",
                                  "expected a positive duration like 7d, 24h, 30m or 2w")
        return seconds

    @staticmethod
    def cases_hash(cases: list[sqlite3.Row]) -> str:
        """The fingerprint of a skill's eval cases, in run order: what each asks, expects and needs to pass."""
        h = _hashlib().sha256()
        for x in cases:
            h.update(dumps([x["input"], x["expected"], x["quality_bar"]]).encode())
            h.update(b"\n")
        return h.hexdigest()

    def _run_preconditions(self, c: sqlite3.Connection, key: SkillKey, candidates: list[str], current: str | None,
                           params: Json) -> tuple[str, list[sqlite3.Row]]:
        """The checks a new run must pass before it is recorded; returns the baseline and the cases."""
        tenant = key.tenant
        if tenant:
            self.require_tenant_exists(c, tenant, "skill team")
        cases = c.execute("SELECT * FROM eval_cases WHERE skill_name = ? AND skill_scope = ? AND skill_team = ?"
                          " ORDER BY seq", (key.name, key.scope, key.team)).fetchall()
        if not cases:
            raise ValidationError(f"skill {key} has no eval cases", "a measurement replays the skill's eval cases",
                                  code="NO_EVAL_CASES",
                                  hint=f"add some with: oc routing eval-case add --skill {key} --input …")
        if current is None:
            res = self._resolve(c, key, tenant, None)
            if res["blocked"]:
                raise ValidationError(f"skill {key} has no usable current model",
                                      res["reason"], code="NO_BASELINE",
                                      hint="fix the routing, or give the baseline with --current-model")
            current = res["model"]
            if not current:
                raise ValidationError(f"skill {key} resolves to no model",
                                      "no posture or default names one, so there is no baseline to compare with",
                                      code="NO_BASELINE", hint="give the baseline with --current-model")
        for candidate in candidates:
            if candidate == current:
                raise ValidationError(f"--candidate-model {candidate} is the current model",
                                      "a measurement compares two different models", code="CANDIDATE_IS_BASELINE")
        for candidate in candidates:
            self.check_model_usable(c, candidate, tenant, "--candidate-model")
        self.check_model_usable(c, current, tenant, "--current-model" if params.get("currentModel") else "current model")
        return current, cases

    def _prepare_run(self, params: Json, options: Json, seams: Json) -> list[str]:
        from oc_cli.domain import judge
        from oc_cli.gateway.preflight import preflight

        key = from_parts(params.get("skillName"), params.get("skillScope"), params.get("skillTeam"), prefix="--skill-")
        self.require_skill_owner(key, "measurement run")
        candidates = self._candidates(params)
        current = params.get("currentModel")
        if current is not None:
            current = v.name(current, "--current-model", what="model name")
        reuse = bool(params.get("reuseBaseline"))
        max_age = self._max_baseline_age(params)
        tenant = key.tenant
        judge_model = seams["judgeModel"]
        # Local checks first, then one request to the gateway (outside any write lock), then the
        # checks again with the lock held, so that what is recorded is what was checked.
        with self.store.read() as c:
            current, _ = self._run_preconditions(c, key, candidates, current, params)
        served = preflight(seams, [current, *candidates, judge_model])
        with self.store.write() as c:
            current, cases = self._run_preconditions(c, key, candidates, current, params)
            cand_rows = {name: self._model_for(c, name, tenant) for name in candidates}
            base_row = self._model_for(c, current, tenant)
            judge_row = self._model_for(c, judge_model, tenant)
            judge_upstream = judge.judge_upstreams(judge_model, [judge_row["upstream_model"]] if judge_row else (),
                                                   served.upstreams)[0]
            judge_family = judge.model_family(judge_upstream)
            if not options["allowSameFamilyJudge"]:
                for role, row in [("baseline", base_row), *(("candidate", r) for r in cand_rows.values())]:
                    fam = judge.model_family(row["upstream_model"])
                    if fam == judge_family:
                        seen = "" if judge_upstream == judge_model else f" (it runs {judge_upstream})"
                        raise ValidationError(
                            f"judge {judge_model}{seen} is of the {role}'s model family ({fam})",
                            "a model graded by a sibling of itself scores too highly",
                            code="JUDGE_NOT_INDEPENDENT",
                            hint="set ROUTING_JUDGE_MODEL to another provider's model, or pass --allow-same-family-judge")
            seed = options["seed"] if options["seed"] is not None else _secrets().randbelow(2**31)
            options = {**options, "seed": seed}
            skill = self.ensure_skill(c, key)
            content_hash = skill["content_hash"] or _hashlib().sha256(
                "\n".join(f"{x['id']}:{x['input']}:{x['expected']}:{x['quality_bar']}" for x in cases).encode()
            ).hexdigest()
            cases_hash = self.cases_hash(cases)
            source = self._reusable_baseline(c, key, current, judge_model, cases_hash, max_age) if reuse else None
            group = new_id() if len(candidates) > 1 else None
            now = now_iso()
            mids = []
            for candidate in candidates:
                mid, cand_row = new_id(), cand_rows[candidate]
                mids.append(mid)
                c.execute(
                    "INSERT INTO measurements (id, skill_name, skill_scope, skill_team, current_model, candidate_model,"
                    " candidate_model_id, candidate_upstream_model, baseline_upstream_model, judge_model,"
                    " skill_content_hash, skill_digest, status, params, cases_total, runner_pid, runner_host, run_at,"
                    " updated_at, group_id, cases_hash, baseline_reused_from)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (mid, key.name, key.scope, key.team, current, candidate, cand_row["litellm_model_id"],
                     cand_row["upstream_model"], base_row["upstream_model"], judge_model, content_hash, None, "running",
                     dumps(options), len(cases), os.getpid(), _hostname(), now, now, group, cases_hash, source))
                c.executemany(
                    "INSERT INTO measurement_cases (measurement_id, position, case_id, input, expected, quality_bar,"
                    " status, updated_at) VALUES (?,?,?,?,?,?,'pending',?)",
                    [(mid, i, x["id"], x["input"], x["expected"], x["quality_bar"], now) for i, x in enumerate(cases)])
                if source:
                    self._copy_baseline(c, source, mid)
                in_group = f" (group {group}, {len(candidates)} candidates)" if group else ""
                self.audit(c, "MeasurementStarted", f"RoutingMeasurement/{mid}",
                           f"Measurement {mid} of skill {key}: {current} vs {candidate} over {plural(len(cases), 'case')}"
                           f" (judge {judge_model}, seed {seed}){in_group}", tenant=tenant,
                           after={"currentModel": current, "candidateModel": candidate, "params": options,
                                  **({"groupId": group} if group else {}),
                                  **({"baselineReusedFrom": source} if source else {})})
        if reuse:
            self.note(f"baseline reused from measurement {source}: its {current} answers and grades, no baseline calls"
                      if source else
                      f"no completed measurement of skill {key} matched for baseline reuse (same baseline {current},"
                      f" judge {judge_model} and eval cases, within --max-baseline-age); the baseline is measured")
        if len(candidates) > 1:
            self.note(f"measuring {len(candidates)} candidates against one shared baseline: group {group}")
        return mids

    def _reusable_baseline(self, c: sqlite3.Connection, key: SkillKey, current: str, judge_model: str,
                           cases_hash: str, max_age: int) -> str | None:
        """The latest completed measurement whose baseline this run may take as its own, or None.

        Same skill (so the same tenant), baseline model, judge and eval-case contents, finished
        within ``max_age`` seconds, with every case's baseline part answered and graded.
        """
        row = c.execute(
            "SELECT m.id FROM measurements m WHERE m.skill_name = ? AND m.skill_scope = ? AND m.skill_team = ?"
            " AND m.current_model = ? AND m.judge_model = ? AND m.cases_hash = ? AND m.status = 'completed'"
            " AND m.finished_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)"
            " AND NOT EXISTS (SELECT 1 FROM measurement_cases x WHERE x.measurement_id = m.id"
            "                 AND ifnull(x.baseline_status, '') != 'completed')"
            " ORDER BY m.finished_at DESC, m.id DESC LIMIT 1",
            (key.name, key.scope, key.team, current, judge_model, cases_hash, f"-{max_age} seconds")).fetchone()
        return row[0] if row else None

    @staticmethod
    def _copy_baseline(c: sqlite3.Connection, source: str, mid: str) -> None:
        c.execute(
            "UPDATE measurement_cases AS t SET baseline_status = s.baseline_status, baseline_output = s.baseline_output,"
            " baseline_score = s.baseline_score, baseline_cost_usd = s.baseline_cost_usd,"
            " baseline_cost_source = s.baseline_cost_source, baseline_latency_ms = s.baseline_latency_ms,"
            " baseline_judge_cost_usd = s.baseline_judge_cost_usd, baseline_judge_latency_ms = s.baseline_judge_latency_ms,"
            " baseline_error = NULL FROM measurement_cases AS s"
            " WHERE s.measurement_id = ? AND t.measurement_id = ? AND s.position = t.position", (source, mid))

    def _members(self, c: sqlite3.Connection, ref: str) -> list[sqlite3.Row]:
        """The records of the run ``ref`` names: a measurement id (all of its group) or a group id."""
        r = c.execute("SELECT * FROM measurements WHERE id = ?", (ref,)).fetchone()
        group = r["group_id"] if r is not None else ref
        if r is not None and not group:
            rows = [r]
        else:
            rows = c.execute("SELECT * FROM measurements WHERE group_id = ? ORDER BY run_at, rowid", (group,)).fetchall()
        if not rows or not self.skill_visible(rows[0]["skill_team"]):
            raise NotFoundError(f"measurement '{ref}' not found", code="NOT_FOUND",
                                hint="list them with: oc routing measurement list")
        return rows

    def _resume_checks(self, c: sqlite3.Connection, ref: str) -> tuple[list[sqlite3.Row], int, str]:
        """The checks a resume must pass; returns the run's records, how many cases are left, and its name."""
        rows = self._members(c, ref)
        first = rows[0]
        self.require_skill_owner(SkillKey(first["skill_name"], first["skill_scope"], first["skill_team"]),
                                 "measurement run --resume")
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        todo = c.execute(f"SELECT count(DISTINCT position) FROM measurement_cases WHERE measurement_id IN ({marks})"
                         " AND status != 'completed'", ids).fetchone()[0]
        what = f"group {first['group_id']}" if first["group_id"] else f"measurement {ref}"
        if all(r["status"] == "completed" for r in rows) and todo == 0:
            raise ConflictError(f"{what} is already complete", "every case has a result; nothing to resume",
                                code="NOTHING_TO_RESUME")
        for r in rows:
            if r["status"] == "running" and _pid_alive(r["runner_pid"]) and r["runner_host"] == _hostname():
                raise ConflictError(f"{what} is still running", f"in process {r['runner_pid']}",
                                    code="MEASUREMENT_RUNNING")
        return rows, todo, what

    def _prepare_resume(self, ref: str, seams: Json, *, require_calibrated_judge: bool = False) -> list[str]:
        from oc_cli.gateway.preflight import preflight

        with self.store.read() as c:  # as for a new run: local checks, the preflight, the checks again
            rows, _, _ = self._resume_checks(c, ref)
        first = rows[0]
        preflight(seams, [first["current_model"], *(r["candidate_model"] for r in rows), first["judge_model"]])
        with self.store.write() as c:
            rows, todo, _ = self._resume_checks(c, ref)
            first = rows[0]
            ids = [r["id"] for r in rows]
            now = now_iso()
            for mid in ids:
                c.execute("UPDATE measurements SET status = 'running', runner_pid = ?, runner_host = ?, updated_at = ?"
                          " WHERE id = ?", (os.getpid(), _hostname(), now, mid))
                if require_calibrated_judge:  # a gate asked for now applies to the resumed run's decision too
                    c.execute("UPDATE measurements SET params = json_set(params, '$.requireCalibratedJudge',"
                              " json('true')) WHERE id = ?", (mid,))
                self.audit(c, "MeasurementResumed", f"RoutingMeasurement/{mid}",
                           f"Measurement {mid} resumed: {todo} case(s) to run"
                           + (f" (group {first['group_id']})" if first["group_id"] else ""),
                           tenant=first["skill_team"] or None)
        return ids

    def _execute(self, mids: list[str], seams: Json, progress) -> Json:
        import asyncio

        from oc_cli.local.runner import Member, Run, Slot, run_cases, str_key

        marks = ",".join("?" * len(mids))
        with self.store.read() as c:
            members = {r["id"]: r for r in c.execute(f"SELECT * FROM measurements WHERE id IN ({marks})", mids)}
            lead = members[mids[0]]
            slots: dict[int, Slot] = {}
            for x in c.execute(f"SELECT * FROM measurement_cases WHERE measurement_id IN ({marks}) ORDER BY position",
                               mids):
                slot = slots.get(x["position"])
                if slot is None:
                    slot = slots[x["position"]] = Slot(x["position"], x["input"], x["expected"], x["quality_bar"], False)
                slot.baseline_todo = slot.baseline_todo or x["baseline_status"] != "completed"
                slot.members.append(Member(x["measurement_id"], members[x["measurement_id"]]["candidate_model"],
                                           x["tries"], x["candidate_status"] != "completed"))
            for slot in slots.values():  # the lead first: the shared baseline's calls are recorded under it
                slot.members.sort(key=lambda x: mids.index(x.mid))
            pending = [s for s in slots.values() if s.todo]
            tenant = lead["skill_team"] or None
            models = [lead["current_model"], *(members[mid]["candidate_model"] for mid in mids), lead["judge_model"]]
            prices = {}
            for name in models:
                row = self._model_for(c, name, tenant)
                if row is not None and row["input_cost_per_mtok"] is not None and row["output_cost_per_mtok"] is not None:
                    prices[name] = (row["input_cost_per_mtok"], row["output_cost_per_mtok"])
        options = loads(lead["params"])
        label = f"{', '.join(members[mid]['candidate_model'] for mid in mids)} vs {lead['current_model']}"
        run = Run(str_key(lead), tenant, lead["current_model"], lead["judge_model"], lead["id"], label)
        try:
            asyncio.run(run_cases(self, run, pending, len(slots) - len(pending), len(slots), seams, options, prices,
                                  progress))
        except BaseException:
            # Ctrl-C or a crash of our own: the finished cases are stored; mark the run resumable.
            try:
                with self.store.write() as c:
                    c.execute(f"UPDATE measurements SET status = 'interrupted', updated_at = ? WHERE id IN ({marks})"
                              " AND status = 'running'", (now_iso(), *mids))
            finally:
                ref = lead["group_id"] or lead["id"]
                self.note(f"measurement {ref} interrupted; finish it with: oc routing measurement run --resume {ref}")
            raise
        return self._finish(mids)

    def record_case(self, slot, baseline: Json | None, candidates: dict[str, Json], usage_rows: list[tuple]) -> None:
        """Persist one case's new parts in every record of the run, and their gateway calls (one transaction)."""
        ids = [x.mid for x in slot.members]
        marks = ",".join("?" * len(ids))
        now = now_iso()
        with self.store.write() as c:
            for role, mids, part in ([("baseline", ids, baseline)] if baseline else []) + [
                    ("candidate", [mid], part) for mid, part in candidates.items()]:
                c.executemany(
                    f"UPDATE measurement_cases SET {role}_status=?, {role}_output=?, {role}_score=?, {role}_cost_usd=?,"
                    f" {role}_cost_source=?, {role}_latency_ms=?, {role}_judge_cost_usd=?, {role}_judge_latency_ms=?,"
                    f" {role}_error=?, attempts=attempts+? WHERE measurement_id=? AND position=?",
                    [(part["status"], part["output"], part["score"], part["costUsd"], part["costSource"],
                      part["latencyMs"], part["judgeCostUsd"], part["judgeLatencyMs"], part["error"], part["attempts"],
                      mid, slot.position) for mid in mids])
            # The case as a whole, as a single-candidate run always stored it.
            c.execute(
                "UPDATE measurement_cases SET"
                " status = CASE WHEN baseline_status = 'completed' AND candidate_status = 'completed' THEN 'completed'"
                "   WHEN baseline_status = 'failed' OR candidate_status = 'failed' THEN 'failed' ELSE 'pending' END,"
                " error = nullif(ifnull(baseline_error, '')"
                "   || CASE WHEN baseline_error IS NOT NULL AND candidate_error IS NOT NULL THEN '; ' ELSE '' END"
                "   || ifnull(candidate_error, ''), ''),"
                " judge_cost_usd = CASE WHEN baseline_judge_cost_usd IS NULL AND candidate_judge_cost_usd IS NULL"
                "   THEN NULL ELSE ifnull(baseline_judge_cost_usd, 0) + ifnull(candidate_judge_cost_usd, 0) END,"
                " judge_latency_ms = max(ifnull(baseline_judge_latency_ms, candidate_judge_latency_ms),"
                "   ifnull(candidate_judge_latency_ms, baseline_judge_latency_ms)),"
                f" tries = tries + 1, updated_at = ? WHERE measurement_id IN ({marks}) AND position = ?",
                (now, *ids, slot.position))
            c.executemany(
                "INSERT OR IGNORE INTO usage (request_id, source, kind, model, model_group, skill, tenant, prompt_tokens,"
                " completion_tokens, spend_usd, latency_ms, status, start_time, end_time, measurement_id, passed)"
                " VALUES (?,'oc',?,?,?,?,?,?,?,?,?,?,?,?,?,?)", usage_rows)

    def _summary(self, c: sqlite3.Connection, m: sqlite3.Row) -> Json:
        """A record's statistics and decision, from its stored cases alone."""
        from oc_cli.domain import stats

        rows = c.execute("SELECT * FROM measurement_cases WHERE measurement_id = ? ORDER BY position",
                         (m["id"],)).fetchall()
        options = loads(m["params"])
        samples, failed, unknown = [], 0, 0
        for x in rows:
            if x["status"] != "completed":
                failed += 1
            elif x["baseline_cost_usd"] is None or x["candidate_cost_usd"] is None:
                unknown += 1
            else:
                samples.append(stats.Sample(baseline_cost=x["baseline_cost_usd"],
                                            candidate_cost=x["candidate_cost_usd"],
                                            baseline_score=x["baseline_score"],
                                            candidate_score=x["candidate_score"],
                                            quality_bar=x["quality_bar"]))
        summary = stats.summarize_run(samples, options, failed_cases=failed, unknown_cost_cases=unknown)
        if options.get("requireCalibratedJudge"):
            from oc_cli.local.judging import require_calibrated_judge

            require_calibrated_judge(c, m, summary["decision"])
        return summary

    def _finish(self, mids: list[str]) -> Json:
        marks = ",".join("?" * len(mids))
        with self.store.write() as c:
            members = {r["id"]: r for r in c.execute(f"SELECT * FROM measurements WHERE id IN ({marks})", mids)}
            summaries = {mid: self._summary(c, members[mid]) for mid in mids}
            cases = {mid: c.execute("SELECT * FROM measurement_cases WHERE measurement_id = ? ORDER BY position",
                                    (mid,)).fetchall() for mid in mids}
            # a record none of whose cases completed failed: nothing estimated, never a proposal
            failed = [mid for mid in mids if not any(x["status"] == "completed" for x in cases[mid])]
            chosen = choose_proposal(members, {mid: summaries[mid] for mid in mids if mid not in failed})
            for mid in mids:
                if mid in failed:
                    self._fail_run(c, members[mid], cases[mid], summaries[mid])
                else:
                    self._conclude(c, members[mid], summaries[mid], mid == chosen)
            views = [self._measurement_view(c, c.execute("SELECT * FROM measurements WHERE id = ?", (mid,)).fetchone())
                     for mid in mids]
        proposal_id = next((x["proposalId"] for x in views if x["proposalId"]), None)
        status = "failed" if len(failed) == len(mids) else "measured"
        if len(mids) == 1:
            return {"status": status, "measurement": views[0], "proposalId": proposal_id}
        return {"status": status, "groupId": views[0]["groupId"], "proposalId": proposal_id,
                "measurements": views, "frontier": _frontier(views)}

    def _conclude(self, c: sqlite3.Connection, m: sqlite3.Row, summary: Json, propose: bool) -> None:
        """Store one record's result; ``propose`` says whether it becomes its skill's pending proposal."""
        mid = m["id"]
        key = SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"])
        proposal_id = None
        if propose:
            proposal_id = new_id()
            c.execute(
                "INSERT INTO proposals (id, skill_name, skill_scope, skill_team, from_model, proposed_model,"
                " projected_savings_pct, ci_low_pct, ci_high_pct, pinned_savings_pct, pinned_ci_low_pct,"
                " pinned_ci_high_pct, skill_content_hash, skill_digest, proposed_model_id, measurement_id, status,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'pending',?)",
                (proposal_id, key.name, key.scope, key.team, m["current_model"], m["candidate_model"],
                 summary["projectedSavingsPct"], summary["ciLowPct"], summary["ciHighPct"],
                 summary["pinnedSavingsPct"], summary["pinnedCiLowPct"], summary["pinnedCiHighPct"],
                 m["skill_content_hash"], m["skill_digest"], m["candidate_model_id"], mid, now_iso()))
        now = now_iso()
        c.execute("UPDATE measurements SET status = 'completed', summary = ?, proposal_id = ?, finished_at = ?,"
                  " updated_at = ? WHERE id = ?", (dumps(summary), proposal_id, now, now, mid))
        verdict = (f"proposal {proposal_id} created" if proposal_id
                   else "no proposal: " + "; ".join(summary["decision"]["reasons"]))
        saving = summary["pinnedSavingsPct"]
        saving_text = "no saving estimated" if saving is None else f"saving {saving:.1f}% if approved"
        self.audit(c, "MeasurementCompleted", f"RoutingMeasurement/{mid}",
                   f"Measurement {mid} of skill {key} completed: {plural(summary['sampledCalls'], 'case')}, {saving_text};"
                   f" {verdict}",
                   tenant=key.tenant, after={"proposalId": proposal_id, "decision": summary["decision"]})
        if proposal_id:
            self.audit(c, "RoutingProposalCreated", f"RoutingProposal/{proposal_id}",
                       f"Routing proposal {proposal_id}: pin {key} to {m['candidate_model']}"
                       f" (from {m['current_model']})", tenant=key.tenant)
            # One open proposal per skill: newer evidence replaces an older pending proposal
            # (the control plane lets them pile up; approving a stale one would be a mistake).
            older = [r[0] for r in c.execute(
                "SELECT id FROM proposals WHERE skill_name = ? AND skill_scope = ? AND skill_team = ?"
                " AND status = 'pending' AND id != ?", (key.name, key.scope, key.team, proposal_id))]
            for old_id in older:
                c.execute("UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ?"
                          " WHERE id = ? AND status = 'pending'", (f"superseded by {proposal_id}", now, old_id))
                self.audit(c, "RoutingProposalSuperseded", f"RoutingProposal/{old_id}",
                           f"Routing proposal {old_id} ({key}) superseded by {proposal_id}", tenant=key.tenant)

    def _fail_run(self, c: sqlite3.Connection, m: sqlite3.Row, rows: list[sqlite3.Row], summary: Json) -> None:
        """No case completed: the run failed. Nothing is estimated and nothing is proposed.

        (A run where some cases completed and some failed is not this: it ends ``completed``,
        with its figures, and the proposal rule refuses to propose while any case failed.)
        """
        mid = m["id"]
        key = SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"])
        cause = failure_cause([x["error"] for x in rows])
        summary = {**summary, "failure": cause}  # the decision (no proposal) says why, check by check
        now = now_iso()
        # Stored as finished; the summary's "failure" is what makes it read as failed (see _shown_status).
        c.execute("UPDATE measurements SET status = 'completed', summary = ?, proposal_id = NULL, finished_at = ?,"
                  " updated_at = ? WHERE id = ?", (dumps(summary), now, now, mid))
        self.audit(c, "MeasurementFailed", f"RoutingMeasurement/{mid}",
                   f"Measurement {mid} of skill {key} failed: none of {len(rows)} cases completed; {cause}",
                   tenant=key.tenant, after={"failure": cause})

    # ===== proposals =============================================================================
    def _proposal(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        r = c.execute("SELECT * FROM proposals WHERE id = ?", (ref,)).fetchone()
        if r is None or not self.skill_visible(r["skill_team"]):
            raise NotFoundError(f"proposal '{ref}' not found", code="NOT_FOUND",
                                hint="list them with: oc routing proposal list")
        return r

    def list_proposals(self, *, status: str | None = None) -> list[Json]:
        sql, args = "SELECT * FROM proposals", []
        if status:
            sql += " WHERE status = ?"
            args.append(status)
        rows = self.conn.execute(sql + " ORDER BY created_at DESC, id DESC", args).fetchall()
        return [proposal_row(r) for r in rows if self.skill_visible(r["skill_team"])]

    def get_proposal(self, ref: str) -> Json:
        return proposal_row(self._proposal(self.conn, ref))

    def _decide(self, ref: str, approve: bool, force: bool) -> Json:
        with self.store.write() as c:
            p = self._proposal(c, ref)
            key = SkillKey(p["skill_name"], p["skill_scope"], p["skill_team"])
            self.require_skill_owner(key, f"proposal {'approve' if approve else 'reject'} {ref}")
            if p["status"] != "pending":
                raise ConflictError(f"proposal {ref} is already {p['status']}", code="PROPOSAL_ALREADY_DECIDED")
            if approve:
                if self._skill(c, key) is None:
                    raise NotFoundError(f"target skill {key} not found", code="SKILL_NOT_FOUND")
                self.check_model_usable(c, p["proposed_model"], key.tenant, "proposed model")
                now_model = self._resolve(c, key, key.tenant, None)
                effective = now_model["model"] or now_model["blockedModel"]
                if effective != p["from_model"] and not force:
                    raise ConflictError(
                        f"proposal {ref} is stale",
                        f"skill {key} now resolves to {effective or 'no model'}, but the measurement compared against"
                        f" {p['from_model']}", code="STALE_PROPOSAL",
                        hint="measure again, or approve anyway with --force")
            now = now_iso()
            status = "applied" if approve else "rejected"
            cur = c.execute("UPDATE proposals SET status = ?, decided_by = ?, decided_at = ? WHERE id = ? AND"
                            " status = 'pending'", (status, self.actor, now, ref))
            if cur.rowcount != 1:  # compare-and-set lost (cannot happen under BEGIN IMMEDIATE, kept as a guard)
                raise ConflictError(f"proposal {ref} was decided concurrently", code="PROPOSAL_ALREADY_DECIDED")
            if approve:
                before = self._skill(c, key)
                c.execute("UPDATE skills SET model_mode = 'pinned', pinned_model = ?, auto_config = NULL, updated_at = ?"
                          " WHERE name = ? AND scope = ? AND team = ?",
                          (p["proposed_model"], now, key.name, key.scope, key.team))
                self.audit(c, "RoutingProposalApplied", f"RoutingProposal/{ref}",
                           f"Routing proposal {ref} approved by {self.actor}: {key} pinned to {p['proposed_model']}",
                           tenant=key.tenant,
                           before={"modelMode": before["model_mode"], "pinnedModel": before["pinned_model"],
                                   "autoConfig": loads(before["auto_config"])},
                           after={"modelMode": "pinned", "pinnedModel": p["proposed_model"], "autoConfig": None,
                                  "forced": force})
            else:
                self.audit(c, "RoutingProposalRejected", f"RoutingProposal/{ref}",
                           f"Routing proposal {ref} ({key}) rejected by {self.actor}", tenant=key.tenant)
        return {"id": ref, "status": status, "appliedModel": p["proposed_model"] if approve else None}

    def approve_proposal(self, ref: str, *, force: bool = False) -> Json:
        return self._decide(ref, True, force)

    def reject_proposal(self, ref: str) -> Json:
        return self._decide(ref, False, False)

    # ===== recommendations =======================================================================
    def list_recommendations(self, *, cluster_tenant: str | None = None, skill_scope: str | None = None,
                             only_open: bool = False) -> list[Json]:
        out: list[Json] = []
        with self.store.read() as c:
            where, args = ["status = 'completed'"], []
            if cluster_tenant:
                where.append("skill_team = ?")
                args.append(cluster_tenant)
            if skill_scope:
                where.append("skill_scope = ?")
                args.append(skill_scope)
            latest: dict[tuple, sqlite3.Row] = {}
            by_id: dict[str, sqlite3.Row] = {}
            for r in c.execute("SELECT * FROM measurements WHERE " + " AND ".join(where) + " ORDER BY run_at, id", args):
                if not (loads(r["summary"]) or {}).get("sampledCalls"):
                    continue  # nothing was estimated (every cost unknown): no saving to recommend
                latest[(r["skill_name"], r["skill_scope"], r["skill_team"])] = r
                by_id[r["id"]] = r
            pending: dict[tuple, sqlite3.Row] = {}
            for p in c.execute("SELECT * FROM proposals WHERE status = 'pending' ORDER BY created_at, id"):
                pending[(p["skill_name"], p["skill_scope"], p["skill_team"])] = p
            monthly = self._monthly_spend(c)
            for triple, m in latest.items():
                if not self.skill_visible(m["skill_team"]):
                    continue
                p = pending.get(triple)
                if only_open and p is None:
                    continue
                # An open proposal is what a person can act on: show the evidence behind it, even
                # when a later measurement (of another candidate) exists, so that the model and
                # the saving on one row always come from the same measurement.
                m = by_id.get(p["measurement_id"], m) if p is not None else m
                summary = loads(m["summary"]) or {}
                skill = self._skill(c, SkillKey(*triple))
                key = str(SkillKey(*triple))
                rec: Json = {
                    "skillName": m["skill_name"],
                    "skillScope": m["skill_scope"],
                    "skillTeam": m["skill_team"],
                    "modelMode": skill["model_mode"] if skill is not None else None,
                    "currentModel": (p["from_model"] if p else None) or m["current_model"],
                    "recommendedModel": (p["proposed_model"] if p else None) or m["candidate_model"],
                    "recommendedModelId": litellm_id((p["proposed_model_id"] if p else None) or m["candidate_model_id"]),
                    "skillContentHash": m["skill_content_hash"],
                    "skillDigest": m["skill_digest"],
                    "projectedSavingsPct": summary.get("projectedSavingsPct", 0.0),
                    "ciLowPct": summary.get("ciLowPct", 0.0),
                    "ciHighPct": summary.get("ciHighPct", 0.0),
                    "hasOpenProposal": p is not None,
                    "proposalId": p["id"] if p else None,
                    "measurementId": m["id"],
                    "runAt": m["run_at"],
                    "skill": None,  # derived below, as for the control plane's rows
                    "pinnedSavingsPct": summary.get("pinnedSavingsPct", 0.0),
                    "pinnedCiLowPct": summary.get("pinnedCiLowPct", 0.0),
                    "pinnedCiHighPct": summary.get("pinnedCiHighPct", 0.0),
                    "candidatePassRate": summary.get("candidatePassRate"),
                    "baselinePassRate": summary.get("baselinePassRate"),
                    "decision": summary.get("decision"),
                    # the switch is made: the skill is pinned to the recommended model already
                    "applied": bool(skill is not None and skill["model_mode"] == "pinned"
                                    and skill["pinned_model"] == ((p["proposed_model"] if p else None)
                                                                  or m["candidate_model"])),
                }
                rec = schema.RECOMMENDATION.derive(rec)
                spend = monthly.get((key, m["current_model"]))
                rec["observedMonthlySpendUsd"] = spend
                rec["projectedMonthlySavingsUsd"] = (
                    None if spend is None or rec["pinnedSavingsPct"] is None
                    else spend * max(0.0, rec["pinnedSavingsPct"]) / 100.0)
                out.append(rec)
        out.sort(key=_rank, reverse=True)
        return out

    def _monthly_spend(self, c: sqlite3.Connection) -> dict[tuple[str, str], float]:
        """Observed production spend per (skill, model) over the last 30 days, from usage."""
        rows = c.execute(
            "SELECT skill, model, sum(spend_usd) FROM usage WHERE kind = 'traffic' AND skill IS NOT NULL"
            " AND spend_usd IS NOT NULL AND start_time >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')"
            " GROUP BY skill, model").fetchall()
        return {(r[0], r[1]): r[2] for r in rows}

