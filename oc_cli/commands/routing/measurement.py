"""oc routing measurement: replay a skill's eval cases through the current and a candidate model."""

from __future__ import annotations

import sys
from typing import List

import typer

from oc_cli import output, schema
from oc_cli.commands._common import OutputOpt, backend, flush_notes, show
from oc_cli.commands.routing import _skill
from oc_cli.errors import UnconfiguredError, UpstreamError, ValidationError

app = typer.Typer(help="Measurements: prove a cheaper model is good enough before anyone switches.",
                  no_args_is_help=True)


@app.command("run")
def run(
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    candidate_model: List[str] = typer.Option(
        None, "--candidate-model",
        help="A cheaper model to try; repeat it to measure several against one shared baseline."),
    current_model: str = typer.Option(None, "--current-model", help="Baseline (default: the skill's effective model)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, help="Cases in flight at once."),
    seed: int = typer.Option(None, "--seed", help="Seed of the savings test's random sign patterns (recorded; default: random)."),
    min_cases: int = typer.Option(10, "--min-cases", min=1, help="Completed cases needed before a proposal."),
    quality_margin: float = typer.Option(0.05, "--quality-margin", min=0.0, max=1.0, help="Non-inferiority margin on pass rate (at 0.05, 73+ cases are needed)."),
    resamples: int = typer.Option(10_000, "--resamples", min=1000, max=1_000_000, help="Random sign patterns of the savings test (all of them when fewer exist)."),
    timeout: float = typer.Option(60.0, "--timeout", min=1.0, help="Per-call timeout in seconds."),
    resume: str = typer.Option(None, "--resume", metavar="ID",
                              help="Resume an interrupted run (a measurement or group ID): replay only missing or failed calls."),
    reuse_baseline: bool = typer.Option(
        False, "--reuse-baseline",
        help="Take the baseline's answers and grades from the latest matching completed measurement."),
    max_baseline_age: str = typer.Option(
        "7d", "--max-baseline-age", metavar="DURATION",
        help="With --reuse-baseline: how old a reused baseline may be (e.g. 7d, 24h, 2w)."),
    allow_same_family_judge: bool = typer.Option(False, "--allow-same-family-judge", help="Allow a judge of the baseline's or candidate's model family."),
    require_configured: bool = typer.Option(False, "--require-configured", help="Exit 6 (instead of 0) when the gateway or judge is not configured."),
    require_calibrated_judge: bool = typer.Option(
        False, "--require-calibrated-judge",
        help="No proposal unless the skill's judge is calibrated against human labels"
             " (also OC_REQUIRE_CALIBRATED_JUDGE or the context's judge.require-calibrated)."),
    fmt: str = OutputOpt(),
) -> None:
    """Run a measurement. Nothing about live routing changes; a convincing result becomes a proposal.

    Before any case, one request to the gateway checks that it accepts the key and serves the
    baseline, the candidate and the judge; if not, exit 1 and nothing is recorded. A run in which
    no case completes ends failed, with exit 1 and the most common error.
    """
    params: dict = {}
    if resume:
        if candidate_model or skill or skill_name or reuse_baseline:
            raise ValidationError("--resume takes no skill, --candidate-model or --reuse-baseline",
                                  "they come from the run being resumed")
        params["resume"] = resume
    else:
        key = _skill.required(skill, skill_name, skill_scope, skill_team)
        if not candidate_model:
            raise ValidationError("--candidate-model is required", "name the cheaper model to try")
        params.update(skillName=key.name, skillScope=key.scope, skillTeam=key.team,
                      candidateModels=list(candidate_model), currentModel=current_model)
        if reuse_baseline:
            params.update(reuseBaseline=True, maxBaselineAge=max_baseline_age)
        elif max_baseline_age != "7d":
            raise ValidationError("--max-baseline-age needs --reuse-baseline",
                                  "it limits the age of a reused baseline", hint="add --reuse-baseline")
    params.update(concurrency=concurrency, seed=seed, minCases=min_cases, qualityMargin=quality_margin,
                  resamples=resamples, timeout=timeout, allowSameFamilyJudge=allow_same_family_judge)
    if require_calibrated_judge:
        params["requireCalibratedJudge"] = True
    try:
        with output.ProgressBar(output.progress_enabled() and fmt != "json", "measuring") as progress:
            result = backend().run_measurement(params, progress=progress)
    finally:
        # also on Ctrl-C: the note says how to resume the interrupted run
        flush_notes()
    if result.get("status") == "unconfigured":
        # The control plane's answer conflates three causes (opencrane-api §8.3 step 4) and names none.
        missing = (", ".join(result["missing"]) if result.get("missing") else
                   "not reported by the control plane (its gateway and judge settings, the skill's eval cases,"
                   " or a baseline: pass --current-model)")
        if require_configured:  # the error line alone says it all (one line on stderr, exit 6)
            raise UnconfiguredError("measurement not run", f"missing: {missing}",
                                    hint="set LITELLM_ENDPOINT, LITELLM_MASTER_KEY and ROUTING_JUDGE_MODEL")
        if fmt == "json":
            output.emit(result, "json")
        else:
            # the wire `note` is the control plane's own wording ("Shadow-measurement seams …");
            # people get a plain sentence
            output.message(f"status: unconfigured — nothing was run or recorded. Missing: {missing}.")
        return
    m = result.get("measurement")
    if fmt == "json":
        output.emit(result, "json")
    elif m:
        render(m)
    elif result.get("measurements"):
        render_group(result)
    else:
        output.emit_object(result)
    if result.get("status") == "failed":
        # The story (or the JSON) is on stdout; the error line says why, and the exit code is 1.
        mid = (m or {}).get("id") or result.get("groupId")
        failure = (m or {}).get("failure") or next(
            (x.get("failure") for x in result.get("measurements") or [] if x.get("failure")), None)
        raise UpstreamError(f"measurement {mid} failed", failure or "no case completed",
                            code="MEASUREMENT_FAILED",
                            hint=f"fix the cause, then retry its cases with: oc routing measurement run --resume {mid}")


@app.command("list")
def list_(
    skill: str = _skill.SkillOpt(),
    skill_name: str = _skill.NameOpt(),
    skill_scope: str = _skill.ScopeOpt(),
    skill_team: str = _skill.TeamOpt(),
    fmt: str = OutputOpt(),
) -> None:
    """List measurements, newest first."""
    b = backend()
    rows = b.list_measurements(**_skill.filters(skill, skill_name, skill_scope, skill_team))
    show(rows if fmt == "json" else [_na(r) for r in schema.MEASUREMENT.for_table(rows)], fmt,
         schema.MEASUREMENT.columns(b.mode))


@app.command("show")
def show_(
    ref: str = typer.Argument(..., metavar="ID"),
    samples: bool = typer.Option(False, "--samples", help="Also list the per-case results."),
    group: bool = typer.Option(False, "--group",
                               help="ID is a group (or one of its measurements): show every candidate and the frontier."),
    fmt: str = OutputOpt(),
) -> None:
    """Tell the story of one measurement: savings, quality, cost, failures, decision."""
    if group:
        if samples:
            raise ValidationError("--samples and --group do not go together",
                                  "per-case results belong to one measurement", hint="show a member with --samples")
        g = backend().get_group(ref)
        flush_notes()
        if fmt == "json":
            output.emit(g, "json")
        else:
            render_group(g)
        return
    m = backend().get_measurement(ref, samples=samples)
    flush_notes()
    if fmt == "json":
        output.emit(m, "json")
        return
    render(m)
    if samples:
        rows = m.get("samples") or []
        sys.stdout.write("\n")
        output.emit(rows, "table", columns=["case", "status", "baselineScore", "candidateScore", "qualityBar",
                                            "baselineCostUsd", "candidateCostUsd", "baselineLatencyMs",
                                            "candidateLatencyMs", "attempts", "error"])


#: Columns that hold a figure: empty when it was never estimated reads as "blank", so say n/a.
_FIGURES = ("pinnedSavingsPct", "pinnedCiLowPct", "pinnedCiHighPct", "candidatePassRate", "projectedSavingsPct",
            "ciLowPct", "ciHighPct", "atBarCheapFraction")


def _na(row: dict) -> dict:
    """A row's figures that were never estimated as "n/a" (table mode; JSON keeps null)."""
    return {**row, **{k: "n/a" for k in _FIGURES if k in row and row[k] is None}}


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1f}%"


def _rate(x) -> str:
    return "n/a" if x is None else f"{x * 100:.0f}%"


def _pts(x) -> str:
    return "n/a" if x is None else f"{x * 100:+.1f}"


def _p(x) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _usd(x) -> str:
    return "unknown" if x is None else f"${x:,.4f}"


def render(m: dict) -> None:
    """The human story of a measurement (stdout, plain text)."""
    from oc_cli.domain.skillkey import SkillKey

    if "status" not in m:  # a control-plane row: it reports no run status (see oc_cli.schema)
        render_reported(m)
        return
    key = SkillKey(m["skillName"], m["skillScope"], m["skillTeam"])
    lines = [f"Measurement {m['id']} — skill {key}: {m.get('currentModel')} → {m.get('candidateModel')}"
             f" (judge {m.get('judgeModel')})"]
    if m.get("groupId"):
        lines.append(f"  group      {m['groupId']}: oc routing measurement show --group {m['groupId']}")
    if m.get("baselineReusedFrom"):
        lines.append(f"  baseline   answers and grades reused from measurement {m['baselineReusedFrom']}")
    total, done, failed = m.get("casesTotal"), m.get("casesCompleted"), m.get("casesFailed")
    lines.append(f"  status     {m.get('status')}: {done} of {total} cases completed, {failed} failed")
    if m.get("failure"):
        lines.append(f"  cause      {m['failure']}")
    if m.get("sampledCalls"):
        lines.append(f"  saving     {_pct(m.get('pinnedSavingsPct'))} if approved (95% CI {_pct(m.get('pinnedCiLowPct'))}"
                     f" to {_pct(m.get('pinnedCiHighPct'))})")
        lines.append(f"             reference estimate {_pct(m.get('projectedSavingsPct'))} (95% CI"
                     f" {_pct(m.get('ciLowPct'))} to {_pct(m.get('ciHighPct'))}; assumes perfect routing)")
        bci = m.get("baselinePassRateCi") or [None, None]
        cci = m.get("candidatePassRateCi") or [None, None]
        lines.append(f"  quality    baseline passes {_rate(m.get('baselinePassRate'))} (CI {_rate(bci[0])}–{_rate(bci[1])}),"
                     f" candidate {_rate(m.get('candidatePassRate'))} (CI {_rate(cci[0])}–{_rate(cci[1])})")
        diff = m.get("passRateDiff")
        if diff is not None:
            lines.append(f"             difference {diff * 100:+.1f} pts (95% CI {_pts(m.get('passRateDiffCiLow'))} to"
                         f" {_pts(m.get('passRateDiffCiHigh'))}), McNemar p = {_p(m.get('mcnemarP'))}")
        lines.append(f"  cost       baseline {_usd(m.get('baselineCostUsd'))}, candidate {_usd(m.get('candidateCostUsd'))}"
                     f" over these cases; the measurement itself spent {_usd(m.get('overheadUsd'))}")
        boot = m.get("bootstrap") or {}
        if boot.get("method") == "sign-flip":
            draws = f"all {boot.get('draws')}" if boot.get("exact") else f"{boot.get('draws')} random"
            lines.append(f"  method     saving: paired sign-flip test ({draws} sign patterns, seed {boot.get('seed')}),"
                         f" p = {_p(m.get('savingsP'))}; quality: Tango score interval")
        elif boot:
            lines.append(f"  method     paired bootstrap, {boot.get('resamples')} resamples, {boot.get('method')},"
                         f" seed {boot.get('seed')}")
    elif m.get("casesCompleted") or m.get("casesFailed"):
        # No estimate (every cost unknown, every case failed, or not finished): the spend still counts.
        lines.append(f"  cost       the measurement itself spent {_usd(m.get('overheadUsd'))}")
    lines += calibration_lines(m)
    decision = m.get("decision") or {}
    if m.get("proposalId") and m.get("proposalStatus", "pending") == "pending":
        lines.append(f"  decision   proposal {m['proposalId']} is waiting for approval:"
                     f" oc routing proposal approve {m['proposalId']}")
    elif m.get("proposalId"):
        lines.append(f"  decision   proposal {m['proposalId']} was {m['proposalStatus']}")
    elif decision:
        reasons = decision.get("reasons") or []
        lines.append("  decision   no proposal: " + ("; ".join(reasons) if reasons else "conditions not met"))
        if decision.get("advice"):
            lines.append(f"  next       {decision['advice']}")
    if m.get("status") in ("interrupted", "running") or failed:
        lines.append(f"  resume     oc routing measurement run --resume {m['id']}")
    errors = m.get("errors") or []
    for e in errors[:5]:
        lines.append(f"  failure    {e}")
    sys.stdout.write("\n".join(lines) + "\n")


def render_reported(m: dict) -> None:
    """The story of a measurement from the control plane, told from the fields it reports (§8.1).

    Its row has no run status, baseline, judge, pass rates or pinned saving; those are named as
    not reported rather than printed empty. The proposal is the one that cites the measurement.
    """
    from oc_cli.domain.skillkey import SkillKey

    key = SkillKey(m["skillName"], m["skillScope"], m["skillTeam"])
    missing = schema.NOT_REPORTED
    lines = [f"Measurement {m['id']} — skill {key}: candidate {m.get('candidateModel') or 'n/a'}",
             f"  cases      {m['sampledCalls']} sampled; status, baseline and judge: {missing}"]
    if m["sampledCalls"]:
        lines.append(f"  saving     {_pct(m['projectedSavingsPct'])} reference estimate (95% CI"
                     f" {_pct(m['ciLowPct'])} to {_pct(m['ciHighPct'])}; assumes perfect routing);"
                     f" saving if approved: {missing}")
        lines.append(f"  quality    the candidate cleared the quality bar in {_rate(m['atBarCheapFraction'])}"
                     f" of cases; pass rates: {missing}")
    proposal, state = m.get("proposalId"), m.get("proposalStatus")
    if proposal and state == "pending":
        lines.append(f"  decision   proposal {proposal} is waiting for approval: oc routing proposal approve {proposal}")
    elif proposal:
        lines.append(f"  decision   proposal {proposal} was {state}")
    elif (m.get("ciLowPct") or 0) > 0:
        lines.append("  decision   no proposal cites this measurement")
    else:
        lines.append("  decision   no proposal: the control plane proposes only when the interval's lower"
                     " bound is above 0%")
    lines.append(f"  run at     {m['runAt']}")
    sys.stdout.write("\n".join(lines) + "\n")


def calibration_lines(m: dict) -> list[str]:
    """The judge's calibration and the human-corrected pass rates (docs/judge.md), when shown."""
    cal = m.get("judgeCalibration")
    if not cal:
        return []
    if not cal.get("labels"):
        return [f"  judge      {cal.get('note')} — start one with: {cal.get('hint')}"]

    def num(x) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lines = [f"  judge      {cal['verdict']} for this skill: {cal['labels']} human labels, kappa {num(cal.get('kappa'))},"
             f" sensitivity {num(cal.get('sensitivity'))}, specificity {num(cal.get('specificity'))}"]
    for reason in cal.get("reasons") or []:
        lines.append(f"             {reason}")
    rates = cal.get("correctedPassRates")
    if rates:
        b, c = rates["baseline"], rates["candidate"]
        lines.append(f"  corrected  baseline passes {_rate(b['corrected'])} (CI {_rate(b['ci'][0])}–{_rate(b['ci'][1])}),"
                     f" candidate {_rate(c['corrected'])} (CI {_rate(c['ci'][0])}–{_rate(c['ci'][1])})")
        lines.append("             judge's errors removed (Rogan–Gladen); intervals bootstrap the cases and the labels")
    elif cal.get("note"):
        lines.append(f"  corrected  {cal['note']}")
    return lines


def render_group(g: dict) -> None:
    """Every candidate's story, then the frontier: cost per case against pass rate."""
    from oc_cli.commands.routing import _frontier
    from oc_cli.domain.frontier import frontier

    views = g["measurements"]
    for m in views:
        render(m)
        sys.stdout.write("\n")
    from oc_cli.domain.skillkey import SkillKey

    first = views[0]
    key = SkillKey(first["skillName"], first["skillScope"], first["skillTeam"])
    title = (f"Frontier of group {g['groupId']}: skill {key}, {first.get('casesTotal')} cases" if g.get("groupId")
             else f"Frontier: skill {key}, separate runs (each measured its own baseline)")
    _frontier.render(g.get("frontier") or frontier(views), title)
