"""An in-process OpenCrane control plane for tests, following opencrane-api.md.

The remote backend must be tested against the *contract*, not against a mirror of itself, so
this server reproduces the reference server's observable behaviour on the public listener:
routes under ``/api/v1`` (§2–§12, §15), status codes, ``{error, code}`` envelopes with the exact
messages, the documented validation order (scope guard before validation, 404 before body
validation on PUT /models and /providers/credentials, validation before existence on PUT
/eval-cases), 201 vs 200, ``{id, status: "deleted"}``, cuid-like ids, ISO-8601 millisecond
timestamps, list orders, malformed JSON → 500 and Express's HTML 404 for unknown routes.

What the reference needs infrastructure for is replaced by Python-side hooks:

* OIDC: ``activate(user_code)`` plays the browser step of the device flow and mints an
  ``ocp_…`` token that the auth middleware then accepts.
* Identity: bearer callers are anonymous (§1.4), so outside dev mode every guarded mutation is
  403 FORBIDDEN_SCOPE; ``operator_bearer=True`` treats bearer callers as platform operators so
  tests can exercise writes in token mode.
* LiteLLM measurement seams: ``set_measurement_outcome()`` installs a canned result; without one
  ``POST …/measurements/run`` answers the §8.3 ``unconfigured`` no-op.
* Langfuse: ``set_metrics()`` installs a canned upstream answer; without one the metrics proxy
  answers 503 ``{"status":"unconfigured"}``.
* Rows the API never creates: ``add_skill``, ``add_proposal``, ``add_measurement``, ``add_audit``.
* Transport trouble: ``fail_next()`` makes the next requests under a path prefix fail (500
  envelope, plain-text 429, HTML 502/503/504, dropped connection) or hang.

Every request is recorded in ``requests`` (method, path, query, JSON body, headers with the
bearer token value redacted) for assertions.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Literal
from urllib.parse import parse_qs, unquote, urlsplit

Json = dict[str, Any]

API = "/api/v1"
MAX_BODY_BYTES = 100 * 1024  # express.json() default limit
SCOPES = ("global", "clusterTenant")
OBJECTIVES = ("cheapest-passing-bar", "best-quality-within-budget", "balanced")
PROPOSAL_STATUSES = ("pending", "approved", "rejected", "applied")
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REDACTED = "<redacted>"

FaultKind = Literal["error", "rate_limit", "bad_gateway", "unavailable", "gateway_timeout", "hang", "drop"]

_HTML = "text/html; charset=utf-8"
_JSON = "application/json; charset=utf-8"


# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


class HttpError(Exception):
    """A finished HTTP answer raised from deep inside a handler (mirrors Express's early returns)."""

    def __init__(self, status: int, body: Any, content_type: str = _JSON,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _envelope(status: int, message: str, code: str | None = None) -> HttpError:
    body: Json = {"error": message}
    if code is not None:
        body["code"] = code
    return HttpError(status, body)


def _invalid(message: str, code: str = "VALIDATION_ERROR") -> HttpError:
    return _envelope(400, message, code)


def _nonblank(value: Any) -> bool:
    """The reference's ``typeof v === "string" && v.trim() !== ""``."""
    return isinstance(value, str) and value.strip() != ""


def _truthy(value: Any) -> bool:
    """JavaScript truthiness, used where the reference writes ``if (body.x)``."""
    return value not in (None, False, 0, "") and not (isinstance(value, float) and value != value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _normalise_time(value: str | datetime | None) -> str:
    if value is None:
        return _iso(datetime.now(timezone.utc))
    if isinstance(value, datetime):
        return _iso(value)
    moment = _parse_iso(value)
    if moment is None:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    return _iso(moment)


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def _public(row: Json) -> Json:
    """A deep copy without the store's private ``_``-prefixed bookkeeping keys."""
    return {k: copy.deepcopy(v) for k, v in row.items() if not k.startswith("_")}


def _placeholder_model_id(scope: str, cluster_tenant: str | None, name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{scope}:{cluster_tenant or ''}:{name}".lower())
    slug = slug.removeprefix("-").removesuffix("-")
    return f"placeholder:{slug}"


def _auto_config_error(value: Any) -> str | None:
    """§5: the four checks the reference performs, in its order."""
    if not isinstance(value, dict):
        return "autoConfig must be an object."
    if value.get("objective") not in OBJECTIVES:
        return "autoConfig.objective must be one of: cheapest-passing-bar, best-quality-within-budget, balanced."
    if not isinstance(value.get("sessionPin"), bool):
        return "autoConfig.sessionPin must be a boolean."
    rate = value.get("explorationRate")
    if not _is_number(rate) or not 0 <= rate <= 1:
        return "autoConfig.explorationRate must be a number between 0 and 1."
    return None


_EXPRESS_404 = (
    '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Error</title>\n'
    "</head>\n<body>\n<pre>Cannot {method} {target}</pre>\n</body>\n</html>\n"
)


def _nginx_page(status_line: str) -> str:
    return (f"<html>\r\n<head><title>{status_line}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status_line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


# --------------------------------------------------------------------------------------------
# records, faults, canned outcomes
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server saw it. ``query`` keeps the first value of each parameter."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    body: Any  # parsed JSON, or None when there was no (parsable) JSON body
    headers: dict[str, str]  # lower-case names; the bearer token value is redacted


@dataclass
class _Fault:
    prefix: str
    kind: FaultKind
    remaining: int
    seconds: float
    method: str | None


@dataclass
class MeasurementOutcome:
    """What configured measurement seams would have produced for a run (§8.3, §17.6).

    ``error`` simulates a runner/judge hard failure: the run answers 500 and persists nothing.
    """

    projected_savings_pct: float = 30.0
    ci_low_pct: float = 10.0
    ci_high_pct: float = 45.0
    at_bar_cheap_fraction: float = 0.9
    error: str | None = None


@dataclass
class _Grant:
    device_code: str
    user_code: str
    expires_at: float  # time.monotonic() deadline
    token: str | None = None


@dataclass
class _Metrics:
    body: Any
    upstream_status: int | None  # None: the upstream cannot be reached


@dataclass
class _Call:
    """The parts of a request a route handler needs."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any

    def q(self, name: str) -> str | None:
        """A query parameter as Express's ``qs`` yields it when it is a plain string."""
        values = self.query.get(name)
        if not values or len(values) != 1:
            return None
        return values[0]

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default

    def has(self, name: str) -> bool:
        return isinstance(self.body, dict) and name in self.body


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


class ControlPlaneServer:
    """The control plane on ``http://127.0.0.1:<ephemeral port>``; ``url`` is the server root.

    ``api_token=None`` is dev mode (OIDC off, no ``OPENCRANE_API_TOKEN``: everything accepted,
    every caller may mutate); a string is token mode (bearer must equal it or a device-minted
    token). ``grant_lifetime``/``poll_interval`` are the device grant's ``expiresIn``/``interval``
    in seconds (the reference's 300/5), shortened by tests that exercise expiry.
    """

    def __init__(self, *, api_token: str | None = None, operator_bearer: bool = False,
                 grant_lifetime: float = 300.0, poll_interval: float = 5.0,
                 expose_detail: bool = True) -> None:
        self.api_token = api_token
        self.operator_bearer = operator_bearer
        self.grant_lifetime = grant_lifetime
        self.poll_interval = poll_interval
        self.expose_detail = expose_detail
        self.requests: list[RecordedRequest] = []
        self.metrics_upstream_queries: list[dict[str, str]] = []

        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults: list[_Fault] = []
        self._seq = 0
        self._id_counter = 0
        self._models: dict[str, Json] = {}
        self._credentials: dict[str, Json] = {}
        self._skills: dict[tuple[str, str, str], Json] = {}
        self._defaults: dict[str, Json] = {}
        self._eval_cases: dict[str, Json] = {}
        self._measurements: dict[str, Json] = {}
        self._proposals: dict[str, Json] = {}
        self._audit: list[Json] = []
        self._grants: dict[str, _Grant] = {}
        self._tokens: set[str] = set()
        self._outcome: MeasurementOutcome | None = None
        self._metrics: _Metrics | None = None
        self._routes = self._route_table()

        self._httpd = _HttpServer(("127.0.0.1", 0), _Handler, self)
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="cp-server", daemon=True)
        self._thread.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and close every open connection."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ControlPlaneServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return self.url + API

    # -- test hooks ---------------------------------------------------------------------------

    def activate(self, user_code: str) -> str:
        """The browser step of §15.2: authorize a live grant and mint an ``ocp_`` token."""
        with self._lock:
            self._prune_grants()
            for grant in self._grants.values():
                if grant.user_code == user_code:
                    grant.token = "ocp_" + secrets.token_hex(24)
                    self._tokens.add(grant.token)
                    return grant.token
        raise LookupError(f"no live device grant with user code {user_code!r}")

    @property
    def minted_tokens(self) -> set[str]:
        with self._lock:
            return set(self._tokens)

    def fail_next(self, prefix: str, kind: FaultKind = "error", *, count: int = 1,
                  seconds: float = 0.0, method: str | None = None) -> None:
        """Make the next ``count`` requests whose path starts with ``prefix`` misbehave.

        kinds: ``error`` 500 envelope · ``rate_limit`` express-rate-limit's plain-text 429 ·
        ``bad_gateway``/``unavailable``/``gateway_timeout`` an ingress's HTML 502/503/504 ·
        ``hang`` wait ``seconds`` then answer normally · ``drop`` close without answering.
        """
        with self._lock:
            self._faults.append(_Fault(prefix, kind, count, seconds, method.upper() if method else None))

    def set_measurement_outcome(self, outcome: MeasurementOutcome | None) -> None:
        """Configure (or, with None, unconfigure) the measurement seams."""
        with self._lock:
            self._outcome = outcome

    def set_metrics(self, body: Any, *, upstream_status: int | None = 200) -> None:
        """Configure Langfuse with a canned upstream answer (``upstream_status=None``: unreachable)."""
        with self._lock:
            self._metrics = _Metrics(copy.deepcopy(body), upstream_status)

    def add_skill(self, name: str, scope: str, team: str = "", *, path: str | None = None,
                  content_hash: str | None = None, model_mode: str | None = None,
                  pinned_model: str | None = None, auto_config: Json | None = None) -> Json:
        """Seed a ``skills`` row (the API never creates skills)."""
        with self._lock:
            now = _normalise_time(None)
            row: Json = {
                "name": name, "scope": scope, "team": team,
                "path": path if path is not None else f"skills/{scope}/{team + '/' if team else ''}{name}/SKILL.md",
                "modelMode": model_mode, "pinnedModel": pinned_model,
                "autoConfig": copy.deepcopy(auto_config), "createdAt": now, "updatedAt": now,
                "_contentHash": content_hash,
            }
            self._skills[(name, scope, team)] = row
            return _public(row)

    def add_proposal(self, skill_name: str, skill_scope: str, skill_team: str = "", *,
                     proposed_model: str, from_model: str | None = None,
                     projected_savings_pct: float = 30.0, ci_low_pct: float = 10.0,
                     ci_high_pct: float = 45.0, status: str = "pending",
                     proposed_model_id: str | None = None, measurement_id: str | None = None,
                     skill_content_hash: str | None = None, skill_digest: str | None = None,
                     created_at: str | datetime | None = None) -> Json:
        """Seed a routing proposal (normally emitted by a measurement)."""
        if status not in PROPOSAL_STATUSES:
            raise ValueError(f"status must be one of {PROPOSAL_STATUSES}")
        with self._lock:
            row: Json = {
                "id": self._new_id(), "skillName": skill_name, "skillScope": skill_scope,
                "skillTeam": skill_team, "fromModel": from_model, "proposedModel": proposed_model,
                "projectedSavingsPct": projected_savings_pct, "ciLowPct": ci_low_pct,
                "ciHighPct": ci_high_pct, "skillContentHash": skill_content_hash,
                "skillDigest": skill_digest, "proposedModelId": proposed_model_id,
                "measurementId": measurement_id, "status": status, "decidedBy": None,
                "decidedAt": None, "createdAt": _normalise_time(created_at), "_seq": self._next_seq(),
            }
            self._proposals[row["id"]] = row
            return _public(row)

    def add_measurement(self, skill_name: str, skill_scope: str, skill_team: str = "", *,
                        candidate_model: str | None, projected_savings_pct: float = 30.0,
                        ci_low_pct: float = 10.0, ci_high_pct: float = 45.0,
                        sampled_calls: int = 10, at_bar_cheap_fraction: float = 0.9,
                        candidate_model_id: str | None = None,
                        candidate_upstream_model: str | None = None,
                        skill_content_hash: str | None = None, skill_digest: str | None = None,
                        run_at: str | datetime | None = None) -> Json:
        """Seed a measurement row (normally written by a configured run)."""
        with self._lock:
            row = self._measurement_row(
                skill_name, skill_scope, skill_team, candidate_model, sampled_calls,
                at_bar_cheap_fraction, projected_savings_pct, ci_low_pct, ci_high_pct,
                skill_content_hash, skill_digest, candidate_model_id, candidate_upstream_model,
                _normalise_time(run_at))
            return _public(row)

    def add_audit(self, action: str, resource: str, message: str, *, tenant: str | None = None,
                  timestamp: str | datetime | None = None) -> Json:
        """Seed an audit entry."""
        with self._lock:
            row = {"timestamp": _normalise_time(timestamp), "tenant": tenant, "action": action,
                   "resource": resource, "message": message, "_seq": self._next_seq()}
            self._audit.append(row)
            return self._audit_view(row)

    # -- store internals -----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id(self) -> str:
        """A cuid-shaped id: ``c`` + time + counter + fingerprint + random (25 characters)."""
        self._id_counter += 1
        stamp = _b36(int(time.time() * 1000)).rjust(8, "0")[-8:]
        counter = _b36(self._id_counter % 36**4).rjust(4, "0")
        fingerprint = _b36(id(self) % 36**4).rjust(4, "0")
        rand = _b36(secrets.randbelow(36**8)).rjust(8, "0")
        return "c" + stamp + counter + fingerprint + rand

    @staticmethod
    def _ordered(rows: list[Json], key: str, *, descending: bool) -> list[Json]:
        return sorted(rows, key=lambda r: (r[key], r["_seq"]), reverse=descending)

    def _measurement_row(self, name: str, scope: str, team: str, candidate: str | None,
                         sampled: int, at_bar: float, savings: float, ci_low: float,
                         ci_high: float, content_hash: str | None, digest: str | None,
                         candidate_id: str | None, candidate_upstream: str | None,
                         run_at: str) -> Json:
        row: Json = {
            "id": self._new_id(), "skillName": name, "skillScope": scope, "skillTeam": team,
            "candidateModel": candidate, "sampledCalls": sampled, "atBarCheapFraction": at_bar,
            "projectedSavingsPct": savings, "ciLowPct": ci_low, "ciHighPct": ci_high,
            "overheadPct": 0, "skillContentHash": content_hash, "skillDigest": digest,
            "candidateModelId": candidate_id, "candidateUpstreamModel": candidate_upstream,
            "runAt": run_at, "_seq": self._next_seq(),
        }
        self._measurements[row["id"]] = row
        return row

    def _prune_grants(self) -> None:
        now = time.monotonic()
        for code in [c for c, g in self._grants.items() if g.expires_at <= now]:
            del self._grants[code]

    # -- request pipeline ----------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes,
               oversize: bool) -> tuple[int, str, bytes, dict[str, str]] | None:
        """Answer one request: (status, content type, body, extra headers), or None to drop it."""
        split = urlsplit(target)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        body, body_error = self._parse_body(headers, raw, oversize)
        self._record(method, path, query, split.query, raw, body, headers)

        fault = self._take_fault(method, path)
        if fault is not None:
            if fault.kind == "drop":
                return None
            if fault.kind == "hang":
                self._stopping.wait(fault.seconds)
            else:
                return self._fault_reply(fault.kind)

        with self._lock:
            try:
                if body_error is not None:
                    raise RuntimeError(body_error)
                self._authenticate(path, headers)
                status, payload = self._route(method, target, path, query, body)
                return self._reply(status, payload)
            except HttpError as err:
                return self._reply(err.status, err.body, err.content_type, err.headers)
            except Exception as exc:  # the global error handler (§1.3): anything thrown → 500
                envelope: Json = {"error": "An unexpected error occurred", "code": "INTERNAL_ERROR"}
                if self.expose_detail:
                    envelope["detail"] = str(exc)
                return self._reply(500, envelope)

    @staticmethod
    def _reply(status: int, payload: Any, content_type: str = _JSON,
               headers: dict[str, str] | None = None) -> tuple[int, str, bytes, dict[str, str]]:
        if isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload, separators=(",", ":")).encode()
        return status, content_type, data, dict(headers or {})

    @staticmethod
    def _parse_body(headers: dict[str, str], raw: bytes, oversize: bool) -> tuple[Any, str | None]:
        """express.json(): JSON content types only, strict (object/array), 100 kB."""
        if "json" not in headers.get("content-type", "").lower():
            return {}, None
        if oversize:
            return None, "request entity too large"
        if not raw.strip():
            return {}, None
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            return None, f"Unexpected token in JSON: {exc}"
        if not isinstance(parsed, (dict, list)):
            return None, "Unexpected JSON: strict mode accepts only objects and arrays"
        return parsed, None

    def _record(self, method: str, path: str, query: dict[str, list[str]], raw_query: str,
                raw: bytes, body: Any, headers: dict[str, str]) -> None:
        shown = dict(headers)
        if "authorization" in shown:
            scheme, _, value = shown["authorization"].partition(" ")
            shown["authorization"] = f"{scheme} {REDACTED}" if value else REDACTED
        with self._lock:
            self.requests.append(RecordedRequest(
                method=method, path=path, query={k: v[0] for k, v in query.items()},
                raw_query=raw_query, body=copy.deepcopy(body) if raw.strip() else None,
                headers=shown))

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.prefix) and (fault.method is None or fault.method == method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_reply(self, kind: FaultKind) -> tuple[int, str, bytes, dict[str, str]]:
        if kind == "error":
            return self._reply(500, {"error": "An unexpected error occurred", "code": "INTERNAL_ERROR"})
        if kind == "rate_limit":
            return self._reply(429, "Too many requests, please try again later.", _HTML, {"Retry-After": "60"})
        if kind == "bad_gateway":
            return self._reply(502, _nginx_page("502 Bad Gateway"), _HTML)
        if kind == "unavailable":
            return self._reply(503, _nginx_page("503 Service Temporarily Unavailable"), _HTML)
        return self._reply(504, _nginx_page("504 Gateway Time-out"), _HTML)

    # -- authentication and authorization (§1.4, §1.5) -----------------------------------------

    @property
    def dev_mode(self) -> bool:
        return not (self.api_token or "").strip()

    def _authenticate(self, path: str, headers: dict[str, str]) -> None:
        if path.startswith(API + "/auth"):
            return
        header = headers.get("authorization")
        token = header[7:].strip() if header and header[:7].lower() == "bearer " else None
        if token and (token == (self.api_token or "").strip() or token in self._tokens):
            return
        if self.dev_mode:
            return
        if not header:
            raise _envelope(401, "Missing Authorization header")
        raise _envelope(403, "Invalid token")

    @property
    def _caller_is_operator(self) -> bool:
        """Dev mode, or bearer callers promoted by ``operator_bearer`` (no session exists here)."""
        return self.dev_mode or self.operator_bearer

    def _guard(self) -> None:
        """§1.5 for a caller without a session: allow in dev mode, otherwise fail closed."""
        if not self._caller_is_operator:
            raise _envelope(403, "Not authorized for this resource scope.", "FORBIDDEN_SCOPE")

    # -- routing -------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Callable[[_Call], tuple[int, Any]]]]:
        table = [
            ("GET", "/models", self._list_models),
            ("POST", "/models", self._create_model),
            ("GET", "/models/{id}", self._get_model),
            ("PUT", "/models/{id}", self._update_model),
            ("DELETE", "/models/{id}", self._delete_model),
            ("GET", "/providers/credentials", self._list_credentials),
            ("POST", "/providers/credentials", self._create_credential),
            ("GET", "/providers/credentials/{id}", self._get_credential),
            ("PUT", "/providers/credentials/{id}", self._update_credential),
            ("DELETE", "/providers/credentials/{id}", self._delete_credential),
            ("GET", "/skills/posture", self._list_postures),
            ("GET", "/skills/posture/skill", self._get_posture),
            ("PUT", "/skills/posture/skill", self._set_posture),
            ("GET", "/model-routing/defaults", self._list_defaults),
            ("PUT", "/model-routing/defaults", self._put_default),
            ("GET", "/model-routing/defaults/{id}", self._get_default),
            ("DELETE", "/model-routing/defaults/{id}", self._delete_default),
            ("GET", "/model-routing/eval-cases", self._list_eval_cases),
            ("POST", "/model-routing/eval-cases", self._create_eval_case),
            ("GET", "/model-routing/eval-cases/{id}", self._get_eval_case),
            ("PUT", "/model-routing/eval-cases/{id}", self._update_eval_case),
            ("DELETE", "/model-routing/eval-cases/{id}", self._delete_eval_case),
            ("POST", "/model-routing/measurements/run", self._run_measurement),
            ("GET", "/model-routing/measurements", self._list_measurements),
            ("GET", "/model-routing/measurements/{id}", self._get_measurement),
            ("GET", "/model-routing/proposals", self._list_proposals),
            ("GET", "/model-routing/proposals/{id}", self._get_proposal),
            ("POST", "/model-routing/proposals/{id}/approve", self._approve_proposal),
            ("POST", "/model-routing/proposals/{id}/reject", self._reject_proposal),
            ("GET", "/model-routing/recommendations", self._recommendations),
            ("GET", "/model-routing/metrics", self._metrics_proxy),
            ("GET", "/audit", self._list_audit),
            ("POST", "/auth/device", self._device_start),
            ("GET", "/auth/device/activate", self._device_activate),
            ("GET", "/auth/device/token", self._device_token),
            ("GET", "/auth/me", self._me),
            ("POST", "/auth/logout", self._logout),
        ]
        compiled = []
        for method, template, handler in table:
            pattern = re.escape(API + template).replace(re.escape("{id}"), "(?P<id>[^/]+)")
            compiled.append((method, re.compile(pattern + "/?$"), handler))
        return compiled

    def _route(self, method: str, target: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        for route_method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and route_method == method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                return handler(_Call(method, path, params, query, body))
        raise HttpError(404, _EXPRESS_404.format(method=method, target=html.escape(target)), _HTML)

    def _unique_conflict(self) -> HttpError:
        return _envelope(409, "A resource with these unique values already exists.", "CONFLICT")

    # -- §2 models -------------------------------------------------------------------------------

    def _list_models(self, call: _Call) -> tuple[int, Any]:
        tenant = call.q("clusterTenant")
        rows = [r for r in self._models.values() if not tenant or r["clusterTenant"] == tenant]
        return 200, [_public(r) for r in self._ordered(rows, "createdAt", descending=False)]

    def _model_or_404(self, model_id: str) -> Json:
        row = self._models.get(model_id)
        if row is None:
            raise _envelope(404, "Model definition not found", "MODEL_DEFINITION_NOT_FOUND")
        return row

    def _get_model(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._model_or_404(call.params["id"]))

    def _model_fields(self, call: _Call) -> Json:
        """§2.2 validation in the documented order, then the credential checks."""
        name, upstream = call.field("publicModelName"), call.field("upstreamModel")
        if not _nonblank(name) or not _nonblank(upstream):
            raise _invalid("publicModelName and upstreamModel are required.")
        scope = call.field("scope")
        scope = "global" if scope is None else scope
        if scope not in SCOPES:
            raise _invalid("scope must be 'global' or 'clusterTenant'.")
        tenant = None
        if scope == "clusterTenant":
            tenant = call.field("clusterTenant")
            if not _nonblank(tenant):
                raise _invalid("clusterTenant is required when scope is 'clusterTenant'.")
            tenant = tenant.strip()
        api_base = call.field("apiBase")
        if api_base is not None and not isinstance(api_base, str):
            raise TypeError("Invalid value provided for apiBase: expected String")
        is_default = call.field("isDefault")
        is_default = False if is_default is None else is_default
        if not isinstance(is_default, bool):
            raise TypeError("Invalid value provided for isDefault: expected Boolean")
        credential_id = call.field("providerCredentialId")
        if _truthy(credential_id):
            if not isinstance(credential_id, str):
                raise TypeError("Invalid value provided for providerCredentialId: expected String")
            credential = self._credentials.get(credential_id)
            if credential is None:
                raise _invalid("providerCredentialId does not reference an existing credential.")
            if credential["scope"] == "clusterTenant" and credential["clusterTenant"] != tenant:
                raise _invalid("providerCredentialId is owned by a different ClusterTenant.",
                               "CREDENTIAL_SCOPE_MISMATCH")
        else:
            credential_id = None
        return {
            "scope": scope, "clusterTenant": tenant, "publicModelName": name.strip(),
            "upstreamModel": upstream.strip(), "apiBase": (api_base or "").strip() or None,
            "isDefault": is_default, "providerCredentialId": credential_id,
        }

    def _check_model_unique(self, fields: Json, litellm_id: str, own_id: str | None) -> None:
        for other in self._models.values():
            if other["id"] == own_id:
                continue
            same_key = (fields["clusterTenant"] is not None and other["scope"] == fields["scope"]
                        and other["clusterTenant"] == fields["clusterTenant"]
                        and other["publicModelName"] == fields["publicModelName"])
            if same_key or other["litellmModelId"] == litellm_id:
                raise self._unique_conflict()

    def _create_model(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        fields = self._model_fields(call)
        litellm_id = _placeholder_model_id(fields["scope"], fields["clusterTenant"], fields["publicModelName"])
        self._check_model_unique(fields, litellm_id, None)
        now = _normalise_time(None)
        row = {"id": self._new_id(), "scope": fields["scope"], "clusterTenant": fields["clusterTenant"],
               "publicModelName": fields["publicModelName"], "litellmModelId": litellm_id,
               "upstreamModel": fields["upstreamModel"], "apiBase": fields["apiBase"],
               "isDefault": fields["isDefault"], "providerCredentialId": fields["providerCredentialId"],
               "createdAt": now, "updatedAt": now, "_seq": self._next_seq()}
        self._models[row["id"]] = row
        return 201, _public(row)

    def _update_model(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._model_or_404(call.params["id"])
        fields = self._model_fields(call)
        self._check_model_unique(fields, row["litellmModelId"], row["id"])
        row.update(fields, updatedAt=_normalise_time(None))
        return 200, _public(row)

    def _delete_model(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._model_or_404(call.params["id"])
        del self._models[row["id"]]
        return 200, {"id": row["id"], "status": "deleted"}

    # -- §3 credentials --------------------------------------------------------------------------

    def _list_credentials(self, call: _Call) -> tuple[int, Any]:
        tenant = call.q("clusterTenant")
        rows = [r for r in self._credentials.values() if not tenant or r["clusterTenant"] == tenant]
        return 200, [_public(r) for r in self._ordered(rows, "createdAt", descending=False)]

    def _credential_or_404(self, credential_id: str) -> Json:
        row = self._credentials.get(credential_id)
        if row is None:
            raise _envelope(404, "Provider credential not found", "PROVIDER_CREDENTIAL_NOT_FOUND")
        return row

    def _get_credential(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._credential_or_404(call.params["id"]))

    def _credential_fields(self, call: _Call) -> Json:
        for raw_field in ("apiKey", "keyValue", "key"):
            if call.has(raw_field):
                raise _invalid(f"Raw key field '{raw_field}' is not accepted; pass 'secretRef' instead "
                               "(the key lives in a k8s Secret).", "RAW_KEY_REJECTED")
        provider, secret_ref = call.field("provider"), call.field("secretRef")
        if not _nonblank(provider) or not _nonblank(secret_ref):
            raise _invalid("provider and secretRef are required.")
        scope = call.field("scope")
        scope = "global" if scope is None else scope
        tenant = call.field("clusterTenant")
        if scope == "clusterTenant" and not _nonblank(tenant):
            raise _invalid("clusterTenant is required when scope is 'clusterTenant'.")
        if scope not in SCOPES:
            raise _invalid("scope must be 'global' or 'clusterTenant'.")
        name = call.field("litellmCredentialName")
        if name is not None and not isinstance(name, str):
            raise TypeError("Invalid value provided for litellmCredentialName: expected String")
        return {"scope": scope, "clusterTenant": tenant.strip() if scope == "clusterTenant" else None,
                "provider": provider.strip(), "secretRef": secret_ref.strip(),
                "litellmCredentialName": (name or "").strip() or None}

    def _check_credential_unique(self, fields: Json, own_id: str | None) -> None:
        if fields["clusterTenant"] is None:
            return  # NULL clusterTenant rows are not bounded by the unique index
        for other in self._credentials.values():
            if (other["id"] != own_id and other["scope"] == fields["scope"]
                    and other["clusterTenant"] == fields["clusterTenant"]
                    and other["provider"] == fields["provider"]):
                raise self._unique_conflict()

    def _create_credential(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        fields = self._credential_fields(call)
        self._check_credential_unique(fields, None)
        now = _normalise_time(None)
        row = {"id": self._new_id(), **fields, "createdAt": now, "updatedAt": now, "_seq": self._next_seq()}
        self._credentials[row["id"]] = row
        return 201, _public(row)

    def _update_credential(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._credential_or_404(call.params["id"])
        fields = self._credential_fields(call)
        self._check_credential_unique(fields, row["id"])
        row.update(fields, updatedAt=_normalise_time(None))
        return 200, _public(row)

    def _delete_credential(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._credential_or_404(call.params["id"])
        del self._credentials[row["id"]]
        for model in self._models.values():  # FK ON DELETE SET NULL
            if model["providerCredentialId"] == row["id"]:
                model["providerCredentialId"] = None
        return 200, {"id": row["id"], "status": "deleted"}

    # -- §4 posture ------------------------------------------------------------------------------

    def _list_postures(self, call: _Call) -> tuple[int, Any]:
        rows = sorted(self._skills.values(), key=lambda r: (r["scope"], r["team"], r["name"]))
        return 200, [_public(r) for r in rows]

    @staticmethod
    def _skill_query(call: _Call) -> tuple[str, str, str]:
        name, scope = call.q("name"), call.q("scope")
        if not name or not scope:
            raise _invalid("name and scope query params are required.")
        return name, scope, call.q("team") or ""

    def _skill_or_404(self, key: tuple[str, str, str]) -> Json:
        row = self._skills.get(key)
        if row is None:
            raise _envelope(404, "Skill not found", "SKILL_NOT_FOUND")
        return row

    def _get_posture(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._skill_or_404(self._skill_query(call)))

    def _set_posture(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        key = self._skill_query(call)
        if not call.has("modelMode") or call.field("modelMode") not in ("pinned", "auto", None):
            raise _invalid("modelMode must be 'pinned', 'auto', or null.")
        mode = call.field("modelMode")
        pinned = call.field("pinnedModel")
        auto = call.field("autoConfig")
        if mode == "pinned" and not _nonblank(pinned):
            raise _invalid("pinnedModel is required when modelMode is 'pinned'.")
        if mode == "auto":
            problem = _auto_config_error(auto)
            if problem:
                raise _invalid(problem)
        row = self._skill_or_404(key)
        if mode == "pinned":
            row.update(modelMode="pinned", pinnedModel=pinned.strip(), autoConfig=None)
        elif mode == "auto":
            row.update(modelMode="auto", pinnedModel=None, autoConfig=copy.deepcopy(auto))
        else:
            row.update(modelMode=None, pinnedModel=None, autoConfig=None)
        row["updatedAt"] = _normalise_time(None)
        return 200, _public(row)

    # -- §6 defaults -----------------------------------------------------------------------------

    def _list_defaults(self, call: _Call) -> tuple[int, Any]:
        tenant = call.q("clusterTenant")
        rows = [r for r in self._defaults.values() if not tenant or r["clusterTenant"] == tenant]
        return 200, [_public(r) for r in self._ordered(rows, "createdAt", descending=False)]

    def _default_or_404(self, default_id: str) -> Json:
        row = self._defaults.get(default_id)
        if row is None:
            raise _envelope(404, "Model routing default not found", "MODEL_ROUTING_DEFAULT_NOT_FOUND")
        return row

    def _get_default(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._default_or_404(call.params["id"]))

    def _put_default(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        scope = call.field("scope")
        scope = "global" if scope is None else scope
        if scope not in SCOPES:
            raise _invalid("scope must be 'global' or 'clusterTenant'.")
        tenant = None
        if scope == "clusterTenant":
            tenant = call.field("clusterTenant")
            if not _nonblank(tenant):
                raise _invalid("clusterTenant is required when scope is 'clusterTenant'.")
            tenant = tenant.strip()
        model = call.field("defaultModel")
        auto = call.field("autoConfig")
        if not _nonblank(model) and auto is None:
            raise _invalid("at least one of defaultModel or autoConfig is required.")
        if auto is not None:
            problem = _auto_config_error(auto)
            if problem:
                raise _invalid(problem)
        values = {"defaultModel": model.strip() if _nonblank(model) else None,
                  "autoConfig": copy.deepcopy(auto)}
        now = _normalise_time(None)
        for row in self._defaults.values():
            if row["scope"] == scope and row["clusterTenant"] == tenant:
                row.update(values, updatedAt=now)
                return 200, _public(row)
        row = {"id": self._new_id(), "scope": scope, "clusterTenant": tenant, **values,
               "createdAt": now, "updatedAt": now, "_seq": self._next_seq()}
        self._defaults[row["id"]] = row
        return 200, _public(row)

    def _delete_default(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._default_or_404(call.params["id"])
        del self._defaults[row["id"]]
        return 200, {"id": row["id"], "status": "deleted"}

    # -- §7 eval cases ---------------------------------------------------------------------------

    @staticmethod
    def _skill_filter(call: _Call, rows: list[Json]) -> list[Json]:
        """skillName/skillScope filter when non-empty; skillTeam whenever present (even "")."""
        name, scope, team = call.q("skillName"), call.q("skillScope"), call.q("skillTeam")
        return [r for r in rows
                if (not name or r["skillName"] == name)
                and (not scope or r["skillScope"] == scope)
                and (team is None or r["skillTeam"] == team)]

    def _list_eval_cases(self, call: _Call) -> tuple[int, Any]:
        rows = self._skill_filter(call, list(self._eval_cases.values()))
        return 200, [_public(r) for r in self._ordered(rows, "createdAt", descending=True)]

    def _eval_case_or_404(self, case_id: str) -> Json:
        row = self._eval_cases.get(case_id)
        if row is None:
            raise _envelope(404, "Eval case not found", "NOT_FOUND")
        return row

    def _get_eval_case(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._eval_case_or_404(call.params["id"]))

    @staticmethod
    def _eval_case_fields(call: _Call) -> Json:
        name, scope = call.field("skillName"), call.field("skillScope")
        if not _nonblank(name):
            raise _invalid("skillName is required.")
        if not _nonblank(scope):
            raise _invalid("skillScope is required.")
        if call.field("input") is None:
            raise _invalid("input is required.")
        fields: Json = {}
        if call.has("qualityBar"):
            bar = call.field("qualityBar")
            if not _is_number(bar) or not 0 <= bar <= 1:
                raise _invalid("qualityBar must be a number between 0 and 1.")
            fields["qualityBar"] = bar
        team = call.field("skillTeam")
        fields.update(skillName=name.strip(), skillScope=scope.strip(),
                      skillTeam=team.strip() if isinstance(team, str) else "",
                      input=copy.deepcopy(call.field("input")),
                      expected=copy.deepcopy(call.field("expected")))
        return fields

    def _create_eval_case(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        fields = self._eval_case_fields(call)
        now = _normalise_time(None)
        row = {"id": self._new_id(), "skillName": fields["skillName"], "skillScope": fields["skillScope"],
               "skillTeam": fields["skillTeam"], "input": fields["input"], "expected": fields["expected"],
               "qualityBar": fields.get("qualityBar", 0.8), "createdAt": now, "updatedAt": now,
               "_seq": self._next_seq()}
        self._eval_cases[row["id"]] = row
        return 201, _public(row)

    def _update_eval_case(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        fields = self._eval_case_fields(call)
        row = self._eval_case_or_404(call.params["id"])
        row.update(fields, updatedAt=_normalise_time(None))
        return 200, _public(row)

    def _delete_eval_case(self, call: _Call) -> tuple[int, Any]:
        self._guard()
        row = self._eval_case_or_404(call.params["id"])
        del self._eval_cases[row["id"]]
        return 200, {"id": row["id"], "status": "deleted"}

    # -- §8 measurements -------------------------------------------------------------------------

    def _list_measurements(self, call: _Call) -> tuple[int, Any]:
        rows = self._skill_filter(call, list(self._measurements.values()))
        return 200, [_public(r) for r in self._ordered(rows, "runAt", descending=True)]

    def _get_measurement(self, call: _Call) -> tuple[int, Any]:
        row = self._measurements.get(call.params["id"])
        if row is None:
            raise _envelope(404, "Measurement not found", "NOT_FOUND")
        return 200, _public(row)

    def _run_measurement(self, call: _Call) -> tuple[int, Any]:
        self._guard()  # always a Global resource: operator-only
        name, scope, candidate = call.field("skillName"), call.field("skillScope"), call.field("candidateModel")
        if not _nonblank(name):
            raise _invalid("skillName is required.")
        if not _nonblank(scope):
            raise _invalid("skillScope is required.")
        if not _nonblank(candidate):
            raise _invalid("candidateModel is required.")
        team = call.field("skillTeam")
        team = team.strip() if isinstance(team, str) else ""
        candidate = candidate.strip()
        current = call.field("currentModel")
        skill = self._skills.get((name, scope, team))
        baseline = current.strip() if _nonblank(current) else (skill or {}).get("pinnedModel")
        cases = [c for c in self._eval_cases.values()
                 if (c["skillName"], c["skillScope"], c["skillTeam"]) == (name, scope, team)]
        outcome = self._outcome
        if outcome is None or not cases or not baseline:
            return 200, {"status": "unconfigured",
                         "note": "Shadow-measurement seams are not configured; nothing was recorded."}
        if outcome.error:
            raise RuntimeError(outcome.error)
        deployment = next(
            (m for m in sorted(self._models.values(), key=lambda m: (SCOPES.index(m["scope"]), m["_seq"]))
             if m["publicModelName"] == candidate
             and (m["scope"] == "global" or (m["clusterTenant"] == team and team))), None)
        row = self._measurement_row(
            name, scope, team, candidate, len(cases), outcome.at_bar_cheap_fraction,
            outcome.projected_savings_pct, outcome.ci_low_pct, outcome.ci_high_pct,
            (skill or {}).get("_contentHash"), None,
            deployment["litellmModelId"] if deployment else None,
            deployment["upstreamModel"] if deployment else None, _normalise_time(None))
        proposal_id = None
        if outcome.ci_low_pct > 0:
            proposal_id = self.add_proposal(
                name, scope, team, proposed_model=candidate, from_model=baseline,
                projected_savings_pct=outcome.projected_savings_pct, ci_low_pct=outcome.ci_low_pct,
                ci_high_pct=outcome.ci_high_pct, proposed_model_id=row["candidateModelId"],
                measurement_id=row["id"], skill_content_hash=row["skillContentHash"])["id"]
        return 202, {"status": "measured", "measurement": _public(row), "proposalId": proposal_id}

    # -- §9 proposals ----------------------------------------------------------------------------

    def _list_proposals(self, call: _Call) -> tuple[int, Any]:
        status = call.q("status")
        rows = [r for r in self._proposals.values() if status not in PROPOSAL_STATUSES or r["status"] == status]
        return 200, [_public(r) for r in self._ordered(rows, "createdAt", descending=True)]

    def _proposal_or_404(self, proposal_id: str) -> Json:
        row = self._proposals.get(proposal_id)
        if row is None:
            raise _envelope(404, "Proposal not found", "NOT_FOUND")
        return row

    def _get_proposal(self, call: _Call) -> tuple[int, Any]:
        return 200, _public(self._proposal_or_404(call.params["id"]))

    def _decidable(self, call: _Call) -> Json:
        self._guard()
        row = self._proposal_or_404(call.params["id"])
        if row["status"] != "pending":
            raise _envelope(409, f"proposal {row['id']} is already {row['status']}", "PROPOSAL_ALREADY_DECIDED")
        return row

    def _approve_proposal(self, call: _Call) -> tuple[int, Any]:
        row = self._decidable(call)
        skill = self._skills.get((row["skillName"], row["skillScope"], row["skillTeam"]))
        if skill is None:
            raise _envelope(404, "Target skill not found", "SKILL_NOT_FOUND")
        now = _normalise_time(None)
        skill.update(modelMode="pinned", pinnedModel=row["proposedModel"], updatedAt=now)
        row.update(status="applied", decidedBy="system", decidedAt=now)
        self.add_audit("RoutingProposalApplied", f"RoutingProposal/{row['id']}",
                       f"Routing proposal {row['id']} approved by system: {row['skillName']} "
                       f"pinned to {row['proposedModel']}")
        return 200, {"id": row["id"], "status": "applied", "appliedModel": row["proposedModel"]}

    def _reject_proposal(self, call: _Call) -> tuple[int, Any]:
        row = self._decidable(call)
        row.update(status="rejected", decidedBy="system", decidedAt=_normalise_time(None))
        self.add_audit("RoutingProposalRejected", f"RoutingProposal/{row['id']}",
                       f"Routing proposal {row['id']} ({row['skillName']}) rejected by system")
        return 200, {"id": row["id"], "status": "rejected", "appliedModel": None}

    # -- §10 recommendations ---------------------------------------------------------------------

    def _recommendations(self, call: _Call) -> tuple[int, Any]:
        if not self._caller_is_operator:
            return 200, []  # non-operator without a resolvable ClusterTenant: fail closed
        tenant, scope = call.q("clusterTenant"), call.q("skillScope")
        only_open = call.q("onlyOpen") == "true"
        latest: dict[tuple[str, str, str], Json] = {}
        for m in sorted(self._measurements.values(), key=lambda r: r["_seq"]):
            if (tenant and m["skillTeam"] != tenant) or (scope and m["skillScope"] != scope):
                continue
            triple = (m["skillName"], m["skillScope"], m["skillTeam"])
            if triple not in latest or m["runAt"] > latest[triple]["runAt"]:
                latest[triple] = m
        pending = {(p["skillName"], p["skillScope"], p["skillTeam"]): p
                   for p in sorted(self._proposals.values(), key=lambda r: r["_seq"])
                   if p["status"] == "pending"}
        out = []
        for triple, m in latest.items():
            proposal = pending.get(triple)
            if only_open and proposal is None:
                continue
            skill = self._skills.get(triple)
            out.append({
                "skillName": m["skillName"], "skillScope": m["skillScope"], "skillTeam": m["skillTeam"],
                "modelMode": skill["modelMode"] if skill else None,
                "currentModel": (proposal or {}).get("fromModel") or (skill or {}).get("pinnedModel"),
                "recommendedModel": (proposal or {}).get("proposedModel") or m["candidateModel"],
                "recommendedModelId": (proposal or {}).get("proposedModelId") or m["candidateModelId"],
                "skillContentHash": m["skillContentHash"], "skillDigest": m["skillDigest"],
                "projectedSavingsPct": m["projectedSavingsPct"], "ciLowPct": m["ciLowPct"],
                "ciHighPct": m["ciHighPct"], "hasOpenProposal": proposal is not None,
                "proposalId": proposal["id"] if proposal else None, "measurementId": m["id"],
                "runAt": m["runAt"],
            })
        out.sort(key=lambda r: r["projectedSavingsPct"], reverse=True)
        return 200, out

    # -- §11 metrics -----------------------------------------------------------------------------

    def _metrics_proxy(self, call: _Call) -> tuple[int, Any]:
        if self._metrics is None:
            raise HttpError(503, {"status": "unconfigured"})
        if not self._caller_is_operator:
            raise _envelope(403, "Not authorized for any metrics scope.", "FORBIDDEN_SCOPE")
        self.metrics_upstream_queries.append(
            {k: v[0] for k, v in call.query.items() if len(v) == 1})
        status = self._metrics.upstream_status
        if status is None:
            raise HttpError(502, {"status": "upstream_error", "error": "Failed to reach the metrics backend."})
        if not 200 <= status < 300:
            raise HttpError(502, {"status": "upstream_error", "error": f"Metrics backend returned {status}."})
        return 200, copy.deepcopy(self._metrics.body)

    # -- §12 audit -------------------------------------------------------------------------------

    @staticmethod
    def _audit_view(row: Json) -> Json:
        view = {"timestamp": row["timestamp"]}
        if row["tenant"] is not None:
            view["tenant"] = row["tenant"]
        view.update(action=row["action"], resource=row["resource"], message=row["message"])
        return view

    @staticmethod
    def _audit_limit(raw: str | None) -> int:
        try:
            limit = int(float(raw)) if raw is not None else 100
        except ValueError:
            return 100
        return 100 if limit <= 0 else min(limit, 1000)

    @staticmethod
    def _decode_cursor(cursor: str | None) -> datetime | None:
        if not cursor:
            return None
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return _parse_iso(text)

    def _list_audit(self, call: _Call) -> tuple[int, Any]:
        tenant = call.q("tenant")
        limit = self._audit_limit(call.q("limit"))
        before = self._decode_cursor(call.q("cursor"))
        rows = [r for r in self._ordered(self._audit, "timestamp", descending=True)
                if (not tenant or r["tenant"] == tenant)
                and (before is None or _parse_iso(r["timestamp"]) < before)]
        page = rows[: limit + 1]
        has_more = len(page) > limit
        page = page[:limit]
        pagination: Json = {"limit": limit, "hasMore": has_more}
        if has_more:
            stamp = page[-1]["timestamp"].encode()
            pagination["nextCursor"] = base64.urlsafe_b64encode(stamp).decode().rstrip("=")
        return 200, {"data": [self._audit_view(r) for r in page], "pagination": pagination}

    # -- §15 auth --------------------------------------------------------------------------------

    @staticmethod
    def _number(value: float) -> int | float:
        return int(value) if float(value).is_integer() else value

    def _device_start(self, call: _Call) -> tuple[int, Any]:
        self._prune_grants()
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        user_code = f"{user_code[:4]}-{user_code[4:]}"
        grant = _Grant(secrets.token_hex(32), user_code, time.monotonic() + self.grant_lifetime)
        self._grants[grant.device_code] = grant
        return 200, {"deviceCode": grant.device_code, "userCode": user_code,
                     "verificationUri": f"{API}/auth/device/activate?userCode={user_code}",
                     "expiresIn": self._number(self.grant_lifetime),
                     "interval": self._number(self.poll_interval)}

    def _device_activate(self, call: _Call) -> tuple[int, Any]:
        raise _envelope(503, "OIDC is not configured — cannot activate device grant")

    def _device_token(self, call: _Call) -> tuple[int, Any]:
        grant = self._grants.get(call.q("deviceCode") or "")
        if grant is None or grant.expires_at <= time.monotonic():
            raise HttpError(410, {"status": "expired", "error": "Grant expired. Run `oc auth login` again."})
        if grant.token is None:
            return 202, {"status": "pending"}
        del self._grants[grant.device_code]  # one-time delivery
        return 200, {"status": "authorized", "token": grant.token}

    def _me(self, call: _Call) -> tuple[int, Any]:
        return 200, {"mode": "development" if self.dev_mode else "token", "authenticated": False, "user": None}

    def _logout(self, call: _Call) -> tuple[int, Any]:
        return 200, {"endSessionUrl": None}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hanging handler must not block stop()

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 app: ControlPlaneServer) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, sock: socket.socket, alive: bool) -> None:
        with self._open_lock:
            (self._open.add if alive else self._open.discard)(sock)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts, closed sockets) are normal in these tests: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid the 40 ms stall
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.app.handle(self.command, self.path, headers, raw, length > MAX_BODY_BYTES)
        if answer is None:  # a dropped connection
            self.close_connection = True
            return
        status, content_type, data, extra = answer
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
