"""The wire schema: every object `oc` prints or reads from the control plane, declared once.

Each object (credential, model, posture, default, eval case, measurement, proposal, …) is one
``Obj``: an ordered tuple of ``Field`` declarations. Everything else is derived from it:

* **local rows** — ``Obj.from_row(sqlite_row)`` builds the wire dict from the SQLite row (the column
  is the field name in snake_case; booleans and JSON columns are converted by the field's type);
* **derived fields** — ``Obj.derive(row)`` computes them (a skill's ``key``) in both modes, so
  they are computed here and nowhere else;
* **validation** — ``model(obj)`` builds a pydantic model from the same declarations, lazily:
  pydantic costs more start-up time than ``oc model list -o json`` may spend, so this module
  imports it only inside ``model()``. The remote backend validates every control-plane answer
  with ``validate()``; the contract test validates every command's ``-o json`` in both modes;
* **table columns** — ``Obj.columns(mode)`` picks the declared table columns the mode's rows
  actually carry: a field the control plane does not report is dropped (or replaced by the
  declared alternative) in remote mode instead of being printed blank. ``drop`` lists the
  columns a narrow terminal may leave out, least valuable first (``output.fit``); ``-o wide``
  and piped output keep them all.

Field origins:

``API``      in the OpenCrane wire object (opencrane-api.md); required in control-plane answers.
``LOCAL``    only local mode has it (the control plane does not report it); may be absent.
``JOINED``   not in the API object, but the client fills it in both modes from another read
             (a measurement's ``proposalId`` comes from the proposals that cite it).
``DERIVED``  computed by ``derive`` from other fields, in both modes, and printed in JSON.
``TABLE``    computed by ``derive(..., table=True)`` for table rows only (a ``skill`` column).

Adding a field: one ``Field`` line in the object below (with its origin); local rows built by
``from_row`` need a column of the same name in snake_case, hand-built rows set the key themselves.
Objects marked ``open`` (measurements, recommendations, their ``decision`` and ``bootstrap``
parts, run answers) accept undeclared additive fields, so a new statistic does not break an
older client; every other object is closed in the contract test, which keeps the declarations honest.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, NamedTuple

API, LOCAL, JOINED, DERIVED, TABLE = "api", "local", "joined", "derived", "table"
NOT_REPORTED = "n/a (not reported by the control plane)"

# Field types: str, int, number (int or float, never bool), bool, json (any JSON value),
# object (a JSON object), strings / numbers / objects (arrays), or the name of another Obj.
_JSON_TYPES = ("json", "object", "strings", "numbers", "objects")


class Field(NamedTuple):
    name: str
    type: str = "str"
    null: bool = False  # may be null
    origin: str = API
    optional: bool = False  # an API field the server may omit (audit `tenant`)

    @property
    def column(self) -> str:
        return "".join("_" + ch.lower() if ch.isupper() else ch for ch in self.name)


class Obj:
    def __init__(self, name: str, fields: Iterable[Field], *, table: Iterable[str] = (),
                 drop: Iterable[str] = (), open: bool = False, doc: str = "") -> None:
        self.name = name
        self.fields = tuple(fields)
        self.by_name = {f.name: f for f in self.fields}
        self.table = tuple(table)
        self.drop = tuple(drop)  # table specs (as in ``table``), least valuable first
        unknown = [d for d in self.drop if d not in self.table]
        if unknown:
            raise ValueError(f"{name}: drop names columns not in its table: {unknown}")
        self.open = open
        self.doc = doc

    def __repr__(self) -> str:
        return f"Obj({self.name})"

    # -- local rows ----------------------------------------------------------------------------
    def from_row(self, r: Any) -> dict[str, Any]:
        """The wire dict of a SQLite row: API and local fields from their columns, then derived."""
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.origin in (API, LOCAL):
                value = r[f.column]
                if value is not None:
                    if f.type == "bool":
                        value = bool(value)
                    elif f.type in _JSON_TYPES:
                        value = json.loads(value)
                out[f.name] = value
            elif f.origin == DERIVED:
                out[f.name] = None  # keeps the declared order; filled by derive()
        return self.derive(out)

    # -- derived fields --------------------------------------------------------------------------
    def derive(self, row: dict[str, Any], *, table: bool = False) -> dict[str, Any]:
        """``row`` with its derived fields (and, for tables, its table-only fields) filled in, in
        their declared place (a control-plane row has no place for them yet: it is rebuilt)."""
        wanted = [f for f in self.fields if f.origin == DERIVED or (table and f.origin == TABLE)]
        if not wanted:
            return row
        values = {f.name: _DERIVATIONS[(self.name, f.name)](row) for f in wanted}
        if all(name in row for name in values):
            row.update(values)
            return row
        ordered = {f.name: values[f.name] if f.name in values else row[f.name]
                   for f in self.fields if f.name in values or f.name in row}
        return ordered | {k: v for k, v in row.items() if k not in ordered}

    def for_table(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self.derive(dict(r), table=True) for r in rows]

    # -- tables ----------------------------------------------------------------------------------
    def reported(self, name: str, mode: str) -> bool:
        """Does a row from ``mode`` carry field ``name``?"""
        f = self.by_name.get(name)
        return mode == "local" or f is None or f.origin != LOCAL

    def columns(self, mode: str) -> list[str]:
        """The table columns for ``mode``: ``a|b`` is ``a`` where the mode reports it, else ``b``;
        a column the mode does not report is left out rather than printed blank. The answer is an
        ``output.Columns``: it also carries which of them a narrow terminal may drop."""
        from oc_cli.output import Columns

        out, chosen = [], {}
        for spec in self.table:
            for name in spec.split("|"):
                if self.reported(name, mode):
                    out.append(name)
                    chosen[spec] = name
                    break
        return Columns(out, drop=[chosen[spec] for spec in self.drop if spec in chosen])

    def api_fields(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.origin == API)

    def remote_fields(self) -> frozenset[str]:
        """Every field a control-plane row may carry once it has passed through the client."""
        return frozenset(f.name for f in self.fields if f.origin in (API, JOINED, DERIVED))


F = Field  # reads better in the long declarations below


def _local(*fields: Field) -> list[Field]:
    return [f._replace(origin=LOCAL) for f in fields]


_STAMPS = (F("createdAt"), F("updatedAt"))
_SCOPED = (F("id"), F("scope"), F("clusterTenant", null=True))
_SKILL = (F("skillName"), F("skillScope"), F("skillTeam"))
_FIGURES = (F("projectedSavingsPct", "number"), F("ciLowPct", "number"), F("ciHighPct", "number"))
_PINNED = _local(F("pinnedSavingsPct", "number", null=True), F("pinnedCiLowPct", "number", null=True),
                 F("pinnedCiHighPct", "number", null=True))


CREDENTIAL = Obj("credential", [
    *_SCOPED, F("provider"), F("secretRef"), F("litellmCredentialName", null=True),
    *_local(F("envVar", null=True)), *_STAMPS,
], table=("id", "scope", "clusterTenant", "provider", "secretRef", "litellmCredentialName"),
    drop=("litellmCredentialName", "scope", "clusterTenant"), doc="ProviderCredential (opencrane-api §3.1)")

MODEL = Obj("model", [
    *_SCOPED, F("publicModelName"), F("litellmModelId", null=True), F("upstreamModel"), F("apiBase", null=True),
    F("isDefault", "bool"), F("providerCredentialId", null=True),
    *_local(F("inputCostPerMtok", "number", null=True), F("outputCostPerMtok", "number", null=True)),
    *_STAMPS,
], table=("id", "scope", "clusterTenant", "publicModelName", "upstreamModel", "isDefault"),
    drop=("scope", "isDefault", "clusterTenant"), doc="ModelDefinition (§2.1); prices are local mode's cost fallback")

TENANT = Obj("tenant", [
    F("id"), F("name"), F("description", null=True), F("grantAllGlobal", "bool"), F("ownedModels", "int"),
    F("allowedModels", "strings"), *_STAMPS,
], table=("name", "grantAllGlobal", "ownedModels", "allowedModels", "createdAt"),
    drop=("createdAt", "grantAllGlobal", "ownedModels"), doc="A ClusterTenant and its allowlist (local mode; the public API has none)")

TENANT_MODELS = Obj("tenant-models", [
    F("clusterTenant", origin=LOCAL), F("models", "strings"), F("defaultModel", null=True),
    *_local(F("defaultSource", null=True), F("sources", "object"), F("grantAllGlobal", "bool"),
            F("note", null=True)),
], open=True, doc="TenantModelSet (§13) plus where each model comes from")

POSTURE = Obj("posture", [
    F("key", origin=DERIVED), F("name"), F("scope"), F("team"), F("path"), F("modelMode", null=True),
    F("pinnedModel", null=True), F("autoConfig", "object", null=True), *_STAMPS,
], table=("key", "modelMode", "pinnedModel", "autoConfig", "updatedAt"), drop=("updatedAt", "autoConfig"),
    doc="SkillModelPostureView (§4.1); `key` is the skill key NAME, SCOPE/NAME or SCOPE/TEAM/NAME")

DEFAULT = Obj("default", [
    *_SCOPED, F("defaultModel", null=True), F("autoConfig", "object", null=True), *_STAMPS,
], table=("id", "scope", "clusterTenant", "defaultModel", "autoConfig"), drop=("autoConfig", "scope"),
    doc="ModelRoutingDefault (§6.1)")

EVAL_CASE = Obj("eval-case", [
    F("id"), *_SKILL, F("input", "json"), F("expected", "json", null=True), F("qualityBar", "number"),
    *_STAMPS, F("skill", origin=TABLE),
], table=("id", "skill", "qualityBar", "input", "expected", "createdAt"),
    drop=("createdAt", "qualityBar", "expected"), doc="RoutingEvalCase (§7.1)")

DECISION = Obj("decision", [
    F("propose", "bool"), F("reasons", "strings"), F("checks", "object"),
    # how many cases would settle an inconclusive measurement (docs/statistics.md §9)
    F("casesNeeded", "int", null=True, optional=True), F("advice", null=True, optional=True),
], open=True, doc="Why a measurement did or did not propose a switch (local mode)")

MEASUREMENT = Obj("measurement", [
    F("id"), *_SKILL, F("candidateModel", null=True), F("sampledCalls", "int"),
    F("atBarCheapFraction", "number", null=True), *[f._replace(null=True) for f in _FIGURES],
    F("overheadPct", "number", null=True), F("skillContentHash", null=True), F("skillDigest", null=True),
    F("candidateModelId", null=True), F("candidateUpstreamModel", null=True), F("runAt"),
    *_local(F("status"), F("currentModel", null=True), F("baselineUpstreamModel", null=True),
            F("judgeModel", null=True), F("casesTotal", "int"), F("casesCompleted", "int"),
            F("casesFailed", "int"), F("casesPending", "int"), F("overheadUsd", "number", null=True),
            F("finishedAt", null=True), F("params", "object"), F("errors", "strings"),
            F("samples", "objects"), *_PINNED,
            F("baselinePassRate", "number", null=True), F("baselinePassRateCi", "numbers", null=True),
            F("candidatePassRate", "number", null=True), F("candidatePassRateCi", "numbers", null=True),
            F("passRateDiff", "number", null=True), F("passRateDiffCiLow", "number", null=True),
            F("passRateDiffCiHigh", "number", null=True), F("mcnemarP", "number", null=True),
            F("savingsP", "number", null=True), F("discordant", "object"), F("baselineCostUsd", "number", null=True),
            F("candidateCostUsd", "number", null=True), F("bootstrap", "object"),
            F("decision", "decision", null=True), F("judgeCalibration", "judge-correction"),
            F("groupId", null=True), F("baselineReusedFrom", null=True),
            F("failure", null=True, optional=True)),
    F("proposalId", null=True, origin=JOINED), F("proposalStatus", null=True, origin=JOINED),
    F("skill", origin=TABLE),
], open=True, table=("id", "skill", "currentModel", "candidateModel", "status", "sampledCalls",
                     "pinnedSavingsPct|projectedSavingsPct", "pinnedCiLowPct|ciLowPct",
                     "pinnedCiHighPct|ciHighPct", "candidatePassRate|atBarCheapFraction", "proposalId", "runAt"),
    drop=("pinnedCiLowPct|ciLowPct", "pinnedCiHighPct|ciHighPct", "runAt", "sampledCalls",
          "candidatePassRate|atBarCheapFraction", "proposalId", "currentModel", "pinnedSavingsPct|projectedSavingsPct"),
    doc="RoutingMeasurement (§8.1); local mode adds the run's status, baseline, judge and statistics")

PROPOSAL = Obj("proposal", [
    F("id"), *_SKILL, F("fromModel", null=True), F("proposedModel"), *_FIGURES,
    F("skillContentHash", null=True), F("skillDigest", null=True), F("proposedModelId", null=True),
    F("measurementId", null=True), F("status"), F("decidedBy", null=True), F("decidedAt", null=True),
    F("createdAt"), *_PINNED, F("skill", origin=TABLE),
], table=("id", "skill", "fromModel", "proposedModel", "projectedSavingsPct", "pinnedSavingsPct", "status",
          "createdAt"), drop=("createdAt", "projectedSavingsPct", "pinnedSavingsPct", "fromModel"),
    doc="RoutingProposal (§9.1)")

RECOMMENDATION = Obj("recommendation", [
    *_SKILL, F("modelMode", null=True), F("currentModel", null=True), F("recommendedModel", null=True),
    F("recommendedModelId", null=True), F("skillContentHash", null=True), F("skillDigest", null=True),
    *[f._replace(null=True) for f in _FIGURES], F("hasOpenProposal", "bool"), F("proposalId", null=True),
    F("measurementId"), F("runAt"), F("skill", origin=DERIVED), F("applied", "bool", origin=DERIVED), *_PINNED,
    *_local(F("candidatePassRate", "number", null=True), F("baselinePassRate", "number", null=True),
            F("decision", "decision", null=True), F("observedMonthlySpendUsd", "number", null=True),
            F("projectedMonthlySavingsUsd", "number", null=True)),
], open=True, doc="SavingsRecommendation (§10)")

USAGE_ROW = Obj("usage-row", [
    F("requestId"), F("source"), F("kind"), F("model", null=True), F("modelGroup", null=True),
    F("upstreamModel", null=True), F("skill", null=True), F("clusterTenant", null=True),
    F("promptTokens", "int", null=True), F("completionTokens", "int", null=True),
    F("spendUsd", "number", null=True), F("latencyMs", "number", null=True), F("status", null=True),
    F("startTime", null=True), F("endTime", null=True), F("measurementId", null=True),
    F("passed", "bool", null=True),
], table=("startTime", "source", "kind", "model", "skill", "clusterTenant", "promptTokens", "completionTokens",
          "spendUsd", "latencyMs", "status", "requestId"),
    drop=("source", "requestId", "completionTokens", "promptTokens", "clusterTenant", "kind", "latencyMs"),
    doc="One gateway call: imported LiteLLM spend log or oc's own measurement call (local mode)")

AUDIT_ENTRY = Obj("audit-entry", [
    F("seq", "int", origin=LOCAL), F("timestamp"), F("actor", origin=LOCAL),
    F("tenant", null=True, optional=True), F("action"), F("resource"), F("message"),
    *_local(F("before", "json", null=True), F("after", "json", null=True)),
], table=("timestamp", "actor", "tenant", "action", "resource", "message"),
    drop=("resource", "tenant", "actor"), doc="An audit entry (§12); the API omits `tenant` when there is none, oc always prints it (null)")

PAGINATION = Obj("pagination", [F("limit", "int"), F("hasMore", "bool"), F("nextCursor", optional=True)])

AUDIT_PAGE = Obj("audit-page", [F("data", "audit-entry[]"), F("pagination", "pagination")],
                 doc="GET /audit: {data, pagination}")

DELETED = Obj("deleted", [F("id"), F("status")], doc="The answer of every remove: {id, status: deleted}")

DECIDED = Obj("decided", [F("id"), F("status"), F("appliedModel", null=True)],
              doc="The answer of proposal approve/reject (§9.2)")

FRONTIER_POINT = Obj("frontier-point", [
    F("role"), F("label"), F("model", null=True), F("measurementId", null=True),
    F("costPerCaseUsd", "number", null=True), F("costPerCaseCi", "numbers", null=True),
    F("passRate", "number", null=True), F("passRateCi", "numbers", null=True), F("nonInferior", "bool", null=True),
    F("qualifies", "bool", null=True), F("proposed", "bool"), F("cases", "int"), F("paretoOptimal", "bool"),
    F("pinnedSavingsPct", "number", null=True, optional=True), F("decision", "decision", null=True, optional=True),
], doc="One point of a multi-candidate run's frontier: the baseline or a candidate (oc_cli.domain.frontier)")

GROUP = Obj("measurement-group", [
    F("groupId", null=True), F("proposalId", null=True), F("measurements", "measurement[]"),
    F("frontier", "frontier-point[]"),
], doc="`measurement show --group`: every record of a multi-candidate run and its frontier (local mode)")

RUN_ANSWER = Obj("run-answer", [
    F("status"), F("note", optional=True), F("missing", "strings", origin=LOCAL),
    F("measurement", "measurement", null=True, optional=True), F("proposalId", null=True, optional=True),
    F("groupId", null=True, optional=True), F("measurements", "measurement[]", optional=True),
    F("frontier", "frontier-point[]", optional=True), F("sharedBaseline", "bool", optional=True),
    F("proposalIds", "json", optional=True),
], open=True, doc="POST …/measurements/run: {status: unconfigured, note} or {status: measured, measurement, proposalId};"
                  " with several candidates {status, groupId, proposalId, measurements, frontier} instead of measurement")

IMPORTED = Obj("imported", [F("imported", "int"), F("ids", "strings")],
               doc="eval-case import: how many rows, and their ids")

RESOLUTION = Obj("resolution", [
    F("skill"), F("clusterTenant", null=True), F("model", null=True), F("source"), F("auto", "bool"),
    F("autoConfig", "object", null=True), F("blocked", "bool"), F("blockedModel", null=True), F("reason"),
    F("rungs", "objects", optional=True),
], open=True, doc="`oc resolve`: the winning model and, with --explain, every rung")

GATEWAY_DIFF_MODELS = Obj("gateway-diff-models", [F("added", "strings"), F("removed", "strings"),
                                                   F("changed", "objects")],
                          doc="models added/removed by name; changed: [{model, fields}]")
GATEWAY_DIFF_SKILLS = Obj("gateway-diff-skills", [F("added", "objects"), F("removed", "objects"),
                                                   F("repointed", "objects")],
                          doc="`skill:` aliases: added/removed [{alias, model}], repointed [{alias, from, to}]")
GATEWAY_DIFF_FALLBACKS = Obj("gateway-diff-fallbacks", [F("added", "objects"), F("removed", "objects"),
                                                         F("changed", "objects")],
                             doc="chains by key: added [{model, to}], removed [{model, from}], changed [{model, from, to}]")
GATEWAY_DIFF = Obj("gateway-diff", [
    F("changed", "bool"), F("models", "gateway-diff-models"), F("skills", "gateway-diff-skills"),
    F("fallbacks", "gateway-diff-fallbacks"), F("settings", "strings"),
], doc="`oc gateway diff`: what an export would change in a deployed proxy config (local mode only)")

JUDGE_ANSWER = Obj("judge-answer", [
    F("measurementId"), F("case", "int"), F("side"), F("skill"), F("model"), F("judgeModel"), F("input", "json"),
    F("expected", "json", null=True), F("answer"), F("judgeScore", "number"), F("judgePass", "bool"),
    F("qualityBar", "number"), F("humanPass", "bool", null=True), F("humanScore", "number", null=True),
    F("labeler", null=True),
], table=("case", "side", "model", "judgeScore", "judgePass", "answer"),
    doc="One line of a labelling file (`judge sample`); people fill in humanPass (local mode only)")

JUDGE_SAMPLE = Obj("judge-sample", [
    F("seed", "int"), F("measurementId"), F("answers", "int"), F("rows", "judge-answer[]"),
], doc="`judge sample -o json`: the draw's seed, how many answers there were, the rows")

LABELS_IMPORTED = Obj("labels-imported", [
    F("imported", "int"), F("created", "int"), F("updated", "int"), F("skippedUnlabelled", "int"),
    F("measurements", "strings"), F("file"),
], doc="`judge label FILE`: how many labels were new or overwritten, how many lines were left unlabelled")

JUDGE_CALIBRATION = Obj("judge-calibration", [
    F("judgeModel"), F("skill"), *_SKILL, F("labels", "int"), F("agreement", "number", null=True),
    F("kappa", "number", null=True), F("kappaCi", "numbers", null=True), F("sensitivity", "number", null=True),
    F("sensitivityCi", "numbers", null=True), F("specificity", "number", null=True),
    F("specificityCi", "numbers", null=True), F("confusion", "object"), F("judgePassRate", "number", null=True),
    F("humanPassRate", "number", null=True), F("bias", "number", null=True), F("verbosity", "object"),
    F("verdict"), F("reasons", "strings"), F("thresholds", "object"), F("orderSensitivity", "object", null=True),
], open=True, doc="`judge calibration`: one judge model on one skill against people's labels (docs/judge.md)")

JUDGE_CORRECTION = Obj("judge-correction", [
    F("judgeModel"), F("skill"), F("labels", "int"), F("verdict"),
    *_local(F("note"), F("hint"), F("reasons", "strings"), F("kappa", "number", null=True),
            F("sensitivity", "number", null=True), F("sensitivityCi", "numbers", null=True),
            F("specificity", "number", null=True), F("specificityCi", "numbers", null=True),
            F("bias", "number", null=True), F("correctedPassRates", "object", null=True), F("method", "object")),
], open=True, doc="A measurement's judge calibration and human-corrected pass rates (`measurement show`)")

OBJECTS: dict[str, Obj] = {o.name: o for o in (
    CREDENTIAL, MODEL, TENANT, TENANT_MODELS, POSTURE, DEFAULT, EVAL_CASE, DECISION, MEASUREMENT, PROPOSAL,
    RECOMMENDATION, USAGE_ROW, AUDIT_ENTRY, PAGINATION, AUDIT_PAGE, DELETED, DECIDED, FRONTIER_POINT, GROUP,
    RUN_ANSWER, IMPORTED, RESOLUTION, GATEWAY_DIFF_MODELS, GATEWAY_DIFF_SKILLS, GATEWAY_DIFF_FALLBACKS, GATEWAY_DIFF,
    JUDGE_ANSWER, JUDGE_SAMPLE, LABELS_IMPORTED, JUDGE_CALIBRATION, JUDGE_CORRECTION)}


# -- derived fields: computed here and nowhere else -------------------------------------------------

def _skill_key(name: str, scope: str, team: str) -> str:
    from oc_cli.domain.skillkey import SkillKey

    return str(SkillKey(name, scope, team))


def _applied(r: dict[str, Any]) -> bool:
    """Whether a recommendation's switch is made: its skill is pinned to the recommended model.

    The local backend knows the skill and says so; a control-plane row shows it by naming, with no
    open proposal, the now-pinned model as both its current and its recommended model (§10).
    """
    if isinstance(r.get("applied"), bool):
        return r["applied"]
    current = r.get("currentModel")
    return bool(not r.get("hasOpenProposal") and r.get("modelMode") == "pinned" and current
                and current == r.get("recommendedModel"))


_DERIVATIONS = {
    ("recommendation", "applied"): _applied,
    ("posture", "key"): lambda r: _skill_key(r["name"], r["scope"], r["team"]),
    ("recommendation", "skill"): lambda r: _skill_key(r["skillName"], r["skillScope"], r["skillTeam"]),
    ("eval-case", "skill"): lambda r: _skill_key(r["skillName"], r["skillScope"], r["skillTeam"]),
    ("measurement", "skill"): lambda r: _skill_key(r["skillName"], r["skillScope"], r["skillTeam"]),
    ("proposal", "skill"): lambda r: _skill_key(r["skillName"], r["skillScope"], r["skillTeam"]),
}


# -- pydantic, built lazily from the declarations ------------------------------------------------

_MODELS: dict[tuple[str, bool], Any] = {}


def model(obj: Obj | str, *, closed: bool = False) -> Any:
    """The pydantic model of ``obj``. ``closed``: undeclared fields are an error (except in
    ``open`` objects) — the contract test's setting; answers from the server are read with
    ``closed=False`` so that an additive server change never breaks the client."""
    obj = OBJECTS[obj] if isinstance(obj, str) else obj
    cache_key = (obj.name, closed)
    if cache_key not in _MODELS:
        from pydantic import ConfigDict, create_model

        extra = "forbid" if closed and not obj.open else "allow"
        definitions: dict[str, Any] = {}
        for f in obj.fields:
            if f.origin == TABLE:
                continue
            annotation = _annotation(f.type, closed)
            if f.null:
                annotation = annotation | None
            required = f.origin == API and not f.optional
            definitions[f.name] = (annotation, ... if required else None)
        _MODELS[cache_key] = create_model(
            "Wire_" + obj.name.replace("-", "_"), __config__=ConfigDict(extra=extra, strict=True), **definitions)
    return _MODELS[cache_key]


def _annotation(type_name: str, closed: bool) -> Any:
    from typing import Any as AnyType, Union

    from pydantic import StrictBool, StrictFloat, StrictInt, StrictStr

    number = Union[StrictInt, StrictFloat]
    simple = {"str": StrictStr, "int": StrictInt, "number": number, "bool": StrictBool, "json": AnyType,
              "object": dict[str, AnyType], "strings": list[StrictStr], "numbers": list[number],
              "objects": list[dict[str, AnyType]]}
    if type_name in simple:
        return simple[type_name]
    if type_name.endswith("[]"):
        return list[model(type_name[:-2], closed=closed)]
    return model(type_name, closed=closed)


class WireError(ValueError):
    """A value that does not match its declaration; ``str()`` names the first problem."""


def check(obj: Obj | str, value: Any, *, many: bool = False, closed: bool = False) -> None:
    """Raise ``WireError`` unless ``value`` is one ``obj`` (or, with ``many``, a list of them)."""
    from pydantic import ValidationError

    obj = OBJECTS[obj] if isinstance(obj, str) else obj
    if many and not isinstance(value, list):
        raise WireError(f"expected a JSON array of {obj.name} objects, got {_kind(value)}")
    m = model(obj, closed=closed)
    for index, item in enumerate(value if many else [value]):
        if not isinstance(item, dict):
            where = f"item {index}: " if many else ""
            raise WireError(f"{where}expected a {obj.name} object, got {_kind(item)}")
        try:
            m.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            where = f"item {index}: " if many else ""
            raise WireError(f"{where}{obj.name} field {loc!r}: {first['msg'].lower()}") from None


def _kind(value: Any) -> str:
    return "nothing" if value is None else {dict: "an object", list: "an array", str: "a string",
                                            bool: "a boolean"}.get(type(value), type(value).__name__)
