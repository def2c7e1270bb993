"""``RemoteControlPlane``: the ControlPlane protocol over the OpenCrane REST API (opencrane-api §2–§12).

Remote is thin: every method is one endpoint (or a read and a write where the API forces it),
answers are returned as the server's JSON once they have passed their declaration in
``oc_cli.schema`` (a 2xx answer of the wrong shape is an upstream error, UNEXPECTED_RESPONSE;
derived fields such as a posture's ``key`` are filled in there), and the server's errors come
back as ``OcError`` through ``oc_cli.remote.client``. Where the API differs from what the protocol promises, the
difference is handled here, in the open:

* **Full-replacement writes.** ``PUT /models/{id}``, ``PUT /providers/credentials/{id}`` and
  ``PUT …/eval-cases/{id}`` replace every field (omitted ``scope`` resets a row to global), and
  ``PUT /model-routing/defaults`` overwrites both ``defaultModel`` and ``autoConfig``. Updates
  therefore read the current row, merge the change, and send the whole body (fixing the
  reference CLI's always-400 ``update``, opencrane-api §18.9/§18.11). Between the read and the
  write another writer can slip in; the API offers no precondition to prevent that.
* **Verbs the API lacks** (ClusterTenants and allowlists, resolution, audit verification, usage)
  raise ``NotSupportedError``; they never do something else instead.
* **Eval-case import** has no bulk endpoint: rows are POSTed one by one and, if one is refused,
  the rows already created are deleted again, so an import is all-or-nothing as far as the API
  allows (a failure of that clean-up is reported with the ids left behind).
* **Local-only knobs.** Model prices (``inputCostPerMtok``/``outputCostPerMtok``), measurement
  samples, resuming a run and metrics groupings exist only in local mode; asking for them here
  is an error. The measurement tuning knobs (concurrency, seed, margins) are not sent: the
  server applies its own rules (§8.3, §17.6).
* ``force`` on ``delete_model``/``approve_proposal`` overrides local-mode safety checks that the
  control plane does not perform, so it has nothing to override here.
* **Measurements name their proposal.** The API's measurement row does not say which proposal
  it produced; ``measurement list``/``show`` read the proposals once and join them by
  ``measurementId``, and a run's answer carries its top-level ``proposalId`` into the row.
* **Models by name.** The API looks models up by id only; a ref that is not an id is matched
  against ``publicModelName`` in the listing (ambiguous names are refused with the ids).
"""

from __future__ import annotations

import json
from typing import Any, Iterable
from urllib.parse import quote

import httpx

from oc_cli import schema
from oc_cli.controlplane import Json, Progress
from oc_cli.domain.skillkey import SkillKey
from oc_cli.errors import (NotFoundError, NotSupportedError, OcError, UnconfiguredError, UpstreamError,
                           ValidationError)
from oc_cli.remote.client import ApiClient

# Documented default for `--auto` without `--auto-config` (SPEC §4.5).
DEFAULT_AUTO_CONFIG: Json = {"objective": "cheapest-passing-bar", "sessionPin": True, "explorationRate": 0}

# The server runs a measurement synchronously inside the request (§8.3, §18.19); the reference CLI
# was bounded only by Node's 300 s header timeout, so give a run at least that long.
MEASUREMENT_TIMEOUT_S = 300.0

MODEL_WRITE_FIELDS = ("publicModelName", "upstreamModel", "scope", "clusterTenant", "apiBase",
                      "isDefault", "providerCredentialId")
MODEL_LOCAL_ONLY_FIELDS = ("inputCostPerMtok", "outputCostPerMtok")
CREDENTIAL_WRITE_FIELDS = ("provider", "secretRef", "scope", "clusterTenant", "litellmCredentialName")
EVAL_CASE_WRITE_FIELDS = ("skillName", "skillScope", "skillTeam", "input", "expected", "qualityBar")
MEASUREMENT_RUN_FIELDS = ("skillName", "skillScope", "skillTeam", "candidateModel", "currentModel")

LOCAL_MODE_HINT = "run it in local mode (unset OPENCRANE_URL / --url, or use a context without a url)"


def _seg(value: str) -> str:
    """One path segment, percent-encoded (model names contain ``/``)."""
    return quote(str(value), safe="")


def _with_tenant(entry: Json, order: list[str]) -> Json:
    if "tenant" in entry:
        return entry
    entry = {**entry, "tenant": None}
    return {k: entry[k] for k in order if k in entry} | {k: v for k, v in entry.items() if k not in order}


def _without_nones(body: Json) -> Json:
    """The server fills omitted optional fields with their defaults (null/false/global)."""
    return {k: v for k, v in body.items() if v is not None}


def _unsupported(verb: str, hint: str = LOCAL_MODE_HINT) -> NotSupportedError:
    return NotSupportedError(verb, "not supported by the control plane", hint=hint)


def _wire(obj: schema.Obj | None, what: str, body: Any, *, many: bool = False) -> Any:
    """A control-plane answer checked against its declaration (``oc_cli.schema``), with the
    derived fields filled in. A 2xx answer of the wrong shape is an upstream failure, not data
    to print (or crash on)."""
    if obj is None:
        return body  # metrics: passed through verbatim, whatever the backend says
    try:
        schema.check(obj, body, many=many)
    except schema.WireError as exc:
        raise UpstreamError(what, f"the control plane answered with an unexpected shape: {exc}",
                            code="UNEXPECTED_RESPONSE") from None
    return [obj.derive(row) for row in body] if many else obj.derive(body)


class RemoteControlPlane:
    """The OpenCrane control plane at ``base_url`` (its root; ``/api/v1`` is appended)."""

    mode = "remote"

    def __init__(self, base_url: str, token: str | None, *, timeout: float = 30.0,
                 verify: bool | str = True, transport: httpx.BaseTransport | None = None,
                 retries: int = 2, backoff: float = 0.25) -> None:
        self._api = ApiClient(base_url, token, timeout=timeout, verify=verify, transport=transport,
                              retries=retries, backoff=backoff)
        self.url = self._api.root
        self.notices: list[str] = []  # human notes for stderr (printed by the command)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> "RemoteControlPlane":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------------

    def _get(self, path: str, what: str, params: dict[str, Any] | None = None, *,
             obj: schema.Obj | None, many: bool = False) -> Any:
        return _wire(obj, what, self._api.request("GET", path, what=what, params=params), many=many)

    def _list(self, path: str, what: str, obj: schema.Obj, params: dict[str, Any] | None = None) -> list[Json]:
        return self._get(path, what, params, obj=obj, many=True)

    def _send(self, method: str, path: str, what: str, body: Any = None, *, obj: schema.Obj,
              timeout: float | None = None) -> Any:
        return _wire(obj, what, self._api.request(method, path, what=what, json_body=body, timeout=timeout))

    # -- provider credentials (§3) --------------------------------------------------------------

    def list_credentials(self, *, cluster_tenant: str | None = None) -> list[Json]:
        return self._list("/providers/credentials", "credential list", schema.CREDENTIAL,
                          {"clusterTenant": cluster_tenant or None})

    def get_credential(self, ref: str) -> Json:
        return self._get(f"/providers/credentials/{_seg(ref)}", f"credential show {ref}", obj=schema.CREDENTIAL)

    def create_credential(self, body: Json) -> Json:
        return self._send("POST", "/providers/credentials", "credential add", _without_nones(body),
                          obj=schema.CREDENTIAL)

    def update_credential(self, ref: str, patch: Json) -> Json:
        what = f"credential update {ref}"
        row = self._get(f"/providers/credentials/{_seg(ref)}", what, obj=schema.CREDENTIAL)
        body = {k: row.get(k) for k in CREDENTIAL_WRITE_FIELDS} | patch
        return self._send("PUT", f"/providers/credentials/{_seg(row['id'])}", what, _without_nones(body),
                          obj=schema.CREDENTIAL)

    def delete_credential(self, ref: str) -> Json:
        return self._send("DELETE", f"/providers/credentials/{_seg(ref)}", f"credential remove {ref}",
                          obj=schema.DELETED)

    # -- model registry (§2) --------------------------------------------------------------------

    def list_models(self, *, cluster_tenant: str | None = None) -> list[Json]:
        return self._list("/models", "model list", schema.MODEL, {"clusterTenant": cluster_tenant or None})

    def get_model(self, ref: str, *, what: str | None = None) -> Json:
        """By id, else by public model name (ambiguous names list the candidates' ids).
        ``what`` names the command for errors (update and remove look the model up first)."""
        what = what or f"model show {ref}"
        not_found: NotFoundError | None = None
        if "/" not in ref:  # a name with a slash can never be a cuid; skip the doomed lookup
            try:
                return self._get(f"/models/{_seg(ref)}", what, obj=schema.MODEL)
            except NotFoundError as exc:
                not_found = exc
        matches = [m for m in self._list("/models", what, schema.MODEL) if m["publicModelName"] == ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            owners = ", ".join(f"{m['id']} ({m.get('clusterTenant') or 'global'})" for m in matches)
            raise ValidationError(what, f"{len(matches)} models are named {ref!r}: {owners}",
                                  code="AMBIGUOUS", hint="pass the model id instead of its name")
        raise not_found or NotFoundError(what, "Model definition not found", code="MODEL_DEFINITION_NOT_FOUND")

    @staticmethod
    def _model_body(body: Json, what: str) -> Json:
        local_only = [k for k in MODEL_LOCAL_ONLY_FIELDS if body.get(k) is not None]
        if local_only:
            raise _unsupported(f"{what}: {', '.join(local_only)}",
                               "model prices are a local-mode cost fallback; the control plane stores none")
        return _without_nones({k: v for k, v in body.items() if k not in MODEL_LOCAL_ONLY_FIELDS})

    def create_model(self, body: Json) -> Json:
        return self._send("POST", "/models", "model add", self._model_body(body, "model add"), obj=schema.MODEL)

    def update_model(self, ref: str, patch: Json) -> Json:
        what = f"model update {ref}"
        row = self.get_model(ref, what=what)
        body = {k: row.get(k) for k in MODEL_WRITE_FIELDS} | patch
        return self._send("PUT", f"/models/{_seg(row['id'])}", what, self._model_body(body, what), obj=schema.MODEL)

    def delete_model(self, ref: str, *, force: bool = False) -> Json:
        what = f"model remove {ref}"
        row = self.get_model(ref, what=what)
        return self._send("DELETE", f"/models/{_seg(row['id'])}", what, obj=schema.DELETED)

    # -- ClusterTenants and allowlists: not in the public API ------------------------------------

    def list_cluster_tenants(self) -> list[Json]:
        raise _unsupported("cluster-tenant list")

    def get_cluster_tenant(self, name: str) -> Json:
        raise _unsupported("cluster-tenant show")

    def create_cluster_tenant(self, name: str, *, grant_all_global: bool = False,
                              description: str | None = None) -> Json:
        raise _unsupported("cluster-tenant create")

    def delete_cluster_tenant(self, name: str, *, force: bool = False) -> Json:
        raise _unsupported("cluster-tenant remove")

    def grant_models(self, name: str, models: Iterable[str]) -> Json:
        raise _unsupported("cluster-tenant grant")

    def revoke_models(self, name: str, models: Iterable[str]) -> Json:
        raise _unsupported("cluster-tenant revoke")

    def tenant_models(self, name: str) -> Json:
        raise _unsupported(
            "cluster-tenant models",
            "the allowlist endpoint (/api/internal/tenant-models) is served only on the control "
            "plane's in-cluster listener; " + LOCAL_MODE_HINT)

    # -- skill posture (§4) ---------------------------------------------------------------------

    def list_postures(self) -> list[Json]:
        return self._list("/skills/posture", "skill-posture list", schema.POSTURE)

    def get_posture(self, key: SkillKey) -> Json:
        return self._get("/skills/posture/skill", f"skill-posture show {key}", key.as_query(), obj=schema.POSTURE)

    def set_posture(self, key: SkillKey, *, mode: str | None, pinned_model: str | None = None,
                    auto_config: Json | None = None) -> Json:
        body: Json = {"modelMode": mode}
        if mode == "pinned":
            body["pinnedModel"] = pinned_model
        elif mode == "auto":
            body["autoConfig"] = auto_config if auto_config is not None else dict(DEFAULT_AUTO_CONFIG)
        verb = "clear" if mode is None else "set"
        what = f"skill-posture {verb} {key}"
        return _wire(schema.POSTURE, what, self._api.request("PUT", "/skills/posture/skill", what=what,
                                                             params=key.as_query(), json_body=body))

    # -- model-routing defaults (§6) ------------------------------------------------------------

    def list_defaults(self, *, cluster_tenant: str | None = None) -> list[Json]:
        return self._list("/model-routing/defaults", "model-default list", schema.DEFAULT,
                          {"clusterTenant": cluster_tenant or None})

    def _default_id(self, ref: str, what: str) -> str:
        """Accept what local mode accepts: an id, ``global``, or a ClusterTenant name."""
        from oc_cli.domain.ids import looks_like_id

        if looks_like_id(ref):
            return ref
        rows = self._list("/model-routing/defaults", what, schema.DEFAULT,
                          params=None if ref == "global" else {"clusterTenant": ref})
        for row in rows or []:
            if (ref == "global" and row.get("scope") == "global") or (
                    ref != "global" and row.get("scope") == "clusterTenant" and row.get("clusterTenant") == ref):
                return row["id"]
        return ref  # not a scope name after all: let the server answer for the id

    def get_default(self, ref: str) -> Json:
        what = f"model-default show {ref}"
        return self._get(f"/model-routing/defaults/{_seg(self._default_id(ref, what))}", what, obj=schema.DEFAULT)

    def set_default(self, *, cluster_tenant: str | None, default_model: str | None,
                    auto_config: Json | None, fields: set[str]) -> Json:
        """Upsert one scope's default, keeping the field the caller did not name.

        The server overwrites both fields on every PUT, so the stored row of that scope is read
        first (list filtered by ``clusterTenant``) and its unnamed field sent back unchanged.
        """
        scope = "clusterTenant" if cluster_tenant else "global"
        what = f"model-default set ({cluster_tenant or 'global'})"
        existing = next((row for row in self._list("/model-routing/defaults", what, schema.DEFAULT,
                                                   {"clusterTenant": cluster_tenant or None})
                         if row.get("scope") == scope
                         and (row.get("clusterTenant") or None) == (cluster_tenant or None)), {})
        body: Json = {"scope": scope}
        if cluster_tenant:
            body["clusterTenant"] = cluster_tenant
        body["defaultModel"] = default_model if "defaultModel" in fields else existing.get("defaultModel")
        body["autoConfig"] = auto_config if "autoConfig" in fields else existing.get("autoConfig")
        return self._send("PUT", "/model-routing/defaults", what, _without_nones(body), obj=schema.DEFAULT)

    def delete_default(self, ref: str) -> Json:
        what = f"model-default remove {ref}"
        return self._send("DELETE", f"/model-routing/defaults/{_seg(self._default_id(ref, what))}", what,
                          obj=schema.DELETED)

    # -- resolution: not in the public API --------------------------------------------------------

    def resolve(self, key: SkillKey, *, cluster_tenant: str | None = None,
                request_model: str | None = None) -> Json:
        raise _unsupported("resolve", "the control plane resolves models only inside tenant contracts; "
                                      "inspect `oc skill-posture show` and `oc model-default list`, "
                                      "or " + LOCAL_MODE_HINT)

    def resolve_all(self) -> list[Json]:
        raise _unsupported("resolve --all", "the control plane resolves models only inside tenant "
                                            "contracts; " + LOCAL_MODE_HINT)

    # -- eval cases (§7) ------------------------------------------------------------------------

    @staticmethod
    def _skill_filters(skill_name: str | None, skill_scope: str | None, skill_team: str | None) -> Json:
        # An empty skillTeam is a real filter on the server (org/global skills), so it is sent.
        return {"skillName": skill_name or None, "skillScope": skill_scope or None, "skillTeam": skill_team}

    def list_eval_cases(self, *, skill_name: str | None = None, skill_scope: str | None = None,
                        skill_team: str | None = None) -> list[Json]:
        return self._list("/model-routing/eval-cases", "routing eval-case list", schema.EVAL_CASE,
                          self._skill_filters(skill_name, skill_scope, skill_team))

    def get_eval_case(self, ref: str) -> Json:
        return self._get(f"/model-routing/eval-cases/{_seg(ref)}", f"routing eval-case show {ref}",
                         obj=schema.EVAL_CASE)

    def create_eval_case(self, body: Json) -> Json:
        return self._send("POST", "/model-routing/eval-cases", "routing eval-case add", _without_nones(body),
                          obj=schema.EVAL_CASE)

    def update_eval_case(self, ref: str, patch: Json) -> Json:
        what = f"routing eval-case update {ref}"
        row = self._get(f"/model-routing/eval-cases/{_seg(ref)}", what, obj=schema.EVAL_CASE)
        body = {k: row.get(k) for k in EVAL_CASE_WRITE_FIELDS} | patch
        return self._send("PUT", f"/model-routing/eval-cases/{_seg(row['id'])}", what, _without_nones(body),
                          obj=schema.EVAL_CASE)

    def delete_eval_case(self, ref: str) -> Json:
        return self._send("DELETE", f"/model-routing/eval-cases/{_seg(ref)}", f"routing eval-case remove {ref}",
                          obj=schema.DELETED)

    def import_eval_cases(self, rows: list[Json]) -> Json:
        """POST each row; on the first refusal delete what was created and raise that error."""
        unreadable = [f"line {row['_line']}: {row['_error']}" for row in rows if "_error" in row]
        if unreadable:  # the server validates case by case; lines that are not even cases stop it all
            from oc_cli.domain.validation import bad_lines

            raise ValidationError(*bad_lines("eval-case import", unreadable))
        rows = [{k: val for k, val in row.items() if k != "_line"} for row in rows]
        created: list[str] = []
        for number, row in enumerate(rows, start=1):
            what = f"routing eval-case import (row {number} of {len(rows)})"
            try:
                created.append(self._send("POST", "/model-routing/eval-cases", what, _without_nones(row),
                                          obj=schema.EVAL_CASE)["id"])
            except OcError as exc:
                raise self._rolled_back(exc, created) from exc
        return {"imported": len(created), "ids": created}

    def _rolled_back(self, exc: OcError, created: list[str]) -> OcError:
        left = []
        for case_id in created:
            try:
                self._send("DELETE", f"/model-routing/eval-cases/{_seg(case_id)}",
                           f"routing eval-case import (undo {case_id})", obj=schema.DELETED)
            except OcError:
                left.append(case_id)
        if left:
            note = (f"nothing else was imported, but {len(left)} case(s) created before the failure "
                    f"could not be removed: {', '.join(left)}")
        else:
            note = "nothing was imported"
        why = f"{exc.why}; {note}" if exc.why else note
        return type(exc)(exc.what, why, code=exc.code, hint=exc.hint, details=exc.details)

    # -- measurements (§8) ----------------------------------------------------------------------

    def run_measurement(self, params: Json, *, progress: Progress | None = None) -> Json:
        """POST …/measurements/run and return the server's answer as is.

        The answer is either ``{"status":"unconfigured", note}`` (200) or
        ``{"status":"measured", measurement, proposalId}`` (202). Only the five API fields are
        sent; the server applies its own measurement rules (§8.3, §17.6), so local-mode knobs
        in ``params`` (concurrency, seed, margins) have no remote counterpart.
        """
        if params.get("requireCalibratedJudge"):
            raise _unsupported("routing measurement run --require-calibrated-judge")
        if params.get("resume"):
            raise _unsupported("routing measurement run --resume",
                               "the control plane measures inside one request and keeps no partial "
                               "runs, so there is nothing to resume; start a new run")
        if params.get("reuseBaseline"):
            raise _unsupported("routing measurement run --reuse-baseline",
                               "the control plane measures the baseline in every run and keeps no answers "
                               "to reuse; run without it")
        candidates = params.get("candidateModels") or [params.get("candidateModel")]
        if len(candidates) == 1:
            return self._run_one({**params, "candidateModel": candidates[0]}, progress)
        # The API measures one candidate per request, each against a baseline of its own: the
        # baseline is not shared, and no group links the records.
        self.notices.append(f"the control plane measures one candidate per call: running {len(candidates)}"
                            " measurements one after another, each answering and judging the baseline again")
        answers = []
        for i, candidate in enumerate(candidates, 1):
            self.notices.append(f"measuring candidate {i} of {len(candidates)} on the control plane: {candidate}")
            answer = self._run_one({**params, "candidateModel": candidate}, progress)
            if not isinstance(answer, dict) or answer.get("status") != "measured":
                return answer  # e.g. unconfigured: the same for every candidate
            answers.append(answer)
        from oc_cli.domain.frontier import frontier

        views = [a.get("measurement") or {} for a in answers]
        return {"status": "measured", "groupId": None, "sharedBaseline": False,
                "proposalId": None, "proposalIds": [a.get("proposalId") for a in answers],
                "measurements": views, "frontier": frontier(views)}

    def _run_one(self, params: Json, progress: Progress | None) -> Json:
        body = {k: params.get(k) for k in MEASUREMENT_RUN_FIELDS}
        body["skillTeam"] = body["skillTeam"] or ""
        named = body["skillName"] and body["skillScope"]
        key = SkillKey(body["skillName"], body["skillScope"], body["skillTeam"]) if named else ""
        if progress:
            progress(0, 1, "measuring on the control plane")
        answer = self._send("POST", "/model-routing/measurements/run", f"routing measurement run {key}".strip(),
                            _without_nones(body), obj=schema.RUN_ANSWER,
                            timeout=max(self._api.timeout, MEASUREMENT_TIMEOUT_S))
        if progress:
            progress(1, 1, str(answer["status"]))
        if answer.get("measurement"):
            # The run names its proposal at the top level (§8.3); the measurement row carries it too,
            # as a measurement read later does.
            proposal = answer.get("proposalId")
            answer["measurement"].update(proposalId=proposal, proposalStatus="pending" if proposal else None)
        return answer

    def _with_proposals(self, rows: list[Json], what: str) -> list[Json]:
        """Join each measurement with the proposal that cites it (``measurementId``): the API's
        measurement row does not name it, and one read of the proposals does."""
        cited = {p["measurementId"]: p for p in reversed(self._list("/model-routing/proposals", what, schema.PROPOSAL))
                 if p.get("measurementId")}
        for row in rows:
            proposal = cited.get(row["id"])
            row.update(proposalId=proposal["id"] if proposal else None,
                       proposalStatus=proposal["status"] if proposal else None)
        return rows

    def list_measurements(self, *, skill_name: str | None = None, skill_scope: str | None = None,
                          skill_team: str | None = None) -> list[Json]:
        what = "routing measurement list"
        rows = self._list("/model-routing/measurements", what, schema.MEASUREMENT,
                          self._skill_filters(skill_name, skill_scope, skill_team))
        return self._with_proposals(rows, what) if rows else rows

    def get_group(self, ref: str) -> Json:
        raise _unsupported("routing measurement show --group",
                           "the control plane measures one candidate per run and keeps no groups; "
                           "groups exist for multi-candidate runs in local mode")

    def get_measurement(self, ref: str, *, samples: bool = False) -> Json:
        if samples:
            raise _unsupported("routing measurement show --samples",
                               "the control plane keeps only a measurement's summary; per-case "
                               "samples exist for measurements run in local mode")
        what = f"routing measurement show {ref}"
        row = self._get(f"/model-routing/measurements/{_seg(ref)}", what, obj=schema.MEASUREMENT)
        return self._with_proposals([row], what)[0]

    # -- proposals and recommendations (§9, §10) ------------------------------------------------

    def list_proposals(self, *, status: str | None = None) -> list[Json]:
        return self._list("/model-routing/proposals", "routing proposal list", schema.PROPOSAL,
                          {"status": status or None})

    def get_proposal(self, ref: str) -> Json:
        return self._get(f"/model-routing/proposals/{_seg(ref)}", f"routing proposal show {ref}",
                         obj=schema.PROPOSAL)

    def approve_proposal(self, ref: str, *, force: bool = False) -> Json:
        return self._send("POST", f"/model-routing/proposals/{_seg(ref)}/approve", f"routing proposal approve {ref}",
                          obj=schema.DECIDED)

    def reject_proposal(self, ref: str) -> Json:
        return self._send("POST", f"/model-routing/proposals/{_seg(ref)}/reject", f"routing proposal reject {ref}",
                          obj=schema.DECIDED)

    def list_recommendations(self, *, cluster_tenant: str | None = None,
                             skill_scope: str | None = None, only_open: bool = False) -> list[Json]:
        return self._list("/model-routing/recommendations", "routing recommendation list", schema.RECOMMENDATION,
                          {"clusterTenant": cluster_tenant or None, "skillScope": skill_scope or None,
                           "onlyOpen": "true" if only_open else None})

    # -- usage and metrics (§11) ----------------------------------------------------------------

    def metrics(self, params: Json) -> Json:
        """The Langfuse metrics proxy; ``params["query"]`` (a JSON string or value) passes through."""
        extra = sorted(k for k, v in params.items() if k != "query" and v not in (None, "", False))
        if extra:
            raise _unsupported(f"routing metrics ({', '.join(extra)})",
                               "the control plane proxies Langfuse; pass a Langfuse metrics query "
                               "with --query JSON, or use local mode for --since/--by")
        query = params.get("query")
        if query is not None and not isinstance(query, str):
            query = json.dumps(query, separators=(",", ":"))
        try:
            return self._get("/model-routing/metrics", "routing metrics", {"query": query}, obj=None)
        except UnconfiguredError as exc:
            raise UnconfiguredError(
                "routing metrics", "the control plane has no Langfuse metrics backend configured",
                code=exc.code, hint="its operator sets LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY and "
                                    "LANGFUSE_SECRET_KEY") from exc

    def import_usage(self, path: str, *, progress: Progress | None = None) -> Json:
        raise _unsupported("usage import", "usage records live in local mode; against the control "
                                           "plane use `oc routing metrics --query JSON`")

    def list_usage(self, params: Json) -> list[Json]:
        raise _unsupported("usage list", "usage records live in local mode; against the control "
                                         "plane use `oc routing metrics --query JSON`")

    # -- audit (§12) ----------------------------------------------------------------------------

    def list_audit(self, *, tenant: str | None = None, limit: int = 100,
                   cursor: str | None = None) -> Json:
        page = self._get("/audit", "audit list", obj=schema.AUDIT_PAGE, params={"tenant": tenant or None, "limit": limit,
                                                  "cursor": cursor or None})
        if isinstance(page, dict) and isinstance(page.get("data"), list):
            # the server omits `tenant` when null; one shape for every entry, in the declared order
            order = [f.name for f in schema.AUDIT_ENTRY.fields]
            page["data"] = [_with_tenant(e, order) if isinstance(e, dict) else e for e in page["data"]]
        return page

    def verify_audit(self) -> Json:
        raise _unsupported("audit verify", "the control plane's audit log is not hash-chained; "
                                           "verification exists for the local log only")

    def gateway_export(self, *, cluster_tenant: str | None = None) -> Json:
        raise _unsupported("gateway export", "in remote mode the OpenCrane operator writes the gateway's config; "
                                             "export a local database's config with --db PATH")
