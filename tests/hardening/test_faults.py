"""Faults of the gateway and of the control plane: never a traceback, never a proposal from a broken run.

Measurement faults, one kind each, through ``oc routing measurement run`` against the scripted
gateway (``tests/support/fake_gateway.py``). What existing tests cover is not repeated here:
``tests/integration/test_measurement_faults.py`` retries a transient 429/503 through the real
LiteLLM proxy and fails one *candidate* call that hangs, closes or garbles;
``tests/gateway/test_client.py`` checks the retry schedule call by call. Here every fault is
persistent, so the run cannot complete, and it strikes the other roles (baseline, judge), the
transport (nothing listening, a wrong key) and the cost (no cost anywhere). A run with no completed
case ends ``failed`` (exit 1, one error line naming the cause); a gateway that cannot be reached or
refuses the key is caught by the preflight before anything is recorded. The runs start together
in one fixture, so the slow ones (a hang waits out five timeouts) overlap.

Remote faults, through the CLI where a flag reaches them and through ``RemoteControlPlane``
where none does (there is no flag for the remote timeout): a 500 on a write, a hang beyond a
short timeout, a TLS failure against a real self-signed server (and the ``--ca-bundle`` /
``--insecure`` ways out), and 2xx/5xx bodies that are not JSON. ``tests/cli/test_remote_cli.py``
and ``tests/remote/test_remote_backend.py`` cover the JSON error envelopes, 429/502 pages,
retries of GETs and refused connections.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from oc_cli.errors import UpstreamError
from oc_cli.local.backend import LocalControlPlane
from oc_cli.remote.backend import RemoteControlPlane
from tests.conftest import NULL_KEYRING, UNSET_VARS, OcResult, subprocess_env
from tests.support.cp_server import API, ControlPlaneServer
from tests.support.fake_gateway import FakeGateway, Reply

CASES = 3
GATEWAY_KEY = "sk-faults-gateway-key-0123456789"
WRONG_KEY = "sk-faults-wrong-key-9876543210"
RETRY_AFTER_S = 0.2


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sealed_env(root: Path, **extra: str) -> dict[str, str]:
    """An environment like ``oc_env``'s for processes a module fixture starts."""
    env = subprocess_env({name: None for name in UNSET_VARS})
    env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "xdg-config"), XDG_DATA_HOME=str(root / "xdg-data"),
               OC_DB=str(root / "oc.db"), OC_CONFIG=str(root / "config.toml"), PYTHON_KEYRING_BACKEND=NULL_KEYRING,
               CI="1", **extra)
    return env


def assert_one_error_line(result: OcResult, exit_code: int, code: str, *fragments: str) -> str:
    assert result.code == exit_code, f"exit {result.code}, expected {exit_code}: {result.err}"
    assert result.out == ""
    assert "Traceback" not in result.err
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"[{code}]" in lines[0], result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ===== measurement faults ==========================================================================

@dataclass(frozen=True)
class Fault:
    """One run: which models play which role, how the gateway is reached, what must come out."""

    candidate: str = "cand"
    baseline: str = "base"
    judge: str = "judge"
    listening: bool = True  # False: LITELLM_ENDPOINT is a loopback port nobody listens on
    key: str = GATEWAY_KEY
    completes: bool = False  # every case gets a result (the fault is elsewhere than the calls)
    error: str = ""  # what each failed case's error says
    preflight: str = ""  # the error code when the gateway preflight refuses the run


FAULTS: dict[str, Fault] = {
    "429 with Retry-After": Fault(candidate="rate-limited",
                                  error="candidate rate-limited: HTTP 429 from gateway: scripted HTTP 429 (5 attempts)"),
    "503": Fault(baseline="unavailable",
                 error="baseline unavailable: HTTP 503 from gateway: scripted HTTP 503 (5 attempts)"),
    "judge hangs past the timeout": Fault(judge="judge-hangs",
                                          error="judge (baseline answer) judge-hangs: timed out after 1.0s (5 attempts)"),
    "connection closed": Fault(baseline="base-closes", error="baseline base-closes: gateway connection failed"),
    "malformed JSON": Fault(judge="judge-garbled", error="judge-garbled: malformed reply "
                                                         "from gateway (HTTP 200): body is not valid JSON (5 attempts)"),
    "judge gives no score": Fault(judge="judge-rambles",
                                  error="judge (baseline answer) gave no score: 'I would rate it highly.'"),
    "no cost header": Fault(candidate="unpriced", completes=True),
}
#: Faults the preflight catches: the run is refused before any case, and nothing is recorded.
PREFLIGHT_FAULTS: dict[str, Fault] = {
    "nothing listening": Fault(listening=False, preflight="GATEWAY_UNREACHABLE", error="cannot reach gateway"),
    "wrong gateway key": Fault(key=WRONG_KEY, preflight="GATEWAY_KEY_REJECTED",
                               error="refused the key — HTTP 401: Authentication Error"),
}
#: The control run: no cost header either, but the registry knows the candidate's prices.
PRICED_LOCALLY = Fault(candidate="priced-locally", completes=True)
#: Registry entries: name -> upstream (the judge must be of another family than the models it grades).
MODELS = {"base": "openai/gpt-4o", "cand": "anthropic/claude-3-haiku", "rate-limited": "anthropic/claude-3-5-haiku",
          "unavailable": "openai/gpt-4.1", "base-closes": "openai/gpt-4o-mini", "unpriced": "anthropic/claude-instant",
          "priced-locally": "anthropic/claude-2", "judge": "gemini/gemini-1.5-pro",
          "judge-hangs": "gemini/gemini-1.5-flash", "judge-garbled": "gemini/gemini-2.0", "judge-rambles": "gemini/gemini-1.0"}


@dataclass
class Run:
    """A finished run: its exit code, output, wall time and the environment it ran with."""

    fault: Fault
    code: int
    out: str
    err: str
    seconds: float
    env: dict[str, str]

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.out)

    def oc(self, *args: str) -> OcResult:
        done = subprocess.run([sys.executable, "-m", "oc_cli", *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        return OcResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=GATEWAY_KEY) as gw:
        gw.add_model("base", prices=(10.0, 30.0))
        gw.add_model("cand", prices=(1.0, 3.0))
        gw.add_model("judge", Reply.ok('{"score": 0.9}'), prices=(2.0, 6.0))
        gw.add_model("rate-limited", Reply.status_error(429, retry_after=str(RETRY_AFTER_S)))
        gw.add_model("unavailable", Reply.status_error(503))
        gw.add_model("base-closes", Reply.close())
        gw.add_model("judge-hangs", Reply.hang(30.0))
        gw.add_model("judge-garbled", Reply.malformed())
        gw.add_model("judge-rambles", Reply.ok("I would rate it highly."))
        gw.add_model("unpriced")  # no prices: no cost header, no cost in the body
        gw.add_model("priced-locally")
        yield gw


@pytest.fixture(scope="module")
def runs(gateway: FakeGateway, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Every fault's run, started at once on one database; finished before any test looks."""
    root = tmp_path_factory.mktemp("faults")
    cp = LocalControlPlane(root / "oc.db", actor="tester")
    try:
        for name, upstream in MODELS.items():
            prices = {"inputCostPerMtok": 1.0, "outputCostPerMtok": 3.0} if name == "priced-locally" else {}
            cp.create_model({"publicModelName": name, "upstreamModel": upstream, **prices})
        faults = {**FAULTS, **PREFLIGHT_FAULTS, "priced locally": PRICED_LOCALLY}
        cp.import_eval_cases([{"skillName": f"fault-{i}", "skillScope": "org", "qualityBar": 0.8,
                               "input": f"Summarise incident {n} of drill {i}."}
                              for i in range(len(faults)) for n in range(CASES)])
    finally:
        cp.close()

    started: dict[str, tuple[subprocess.Popen[str], float, dict[str, str]]] = {}
    for i, (name, fault) in enumerate(faults.items()):
        endpoint = gateway.url if fault.listening else f"http://127.0.0.1:{closed_port()}"
        env = sealed_env(root, LITELLM_ENDPOINT=endpoint, LITELLM_MASTER_KEY=fault.key, ROUTING_JUDGE_MODEL=fault.judge)
        args = ["routing", "measurement", "run", "--skill", f"fault-{i}", "--candidate-model", fault.candidate,
                "--current-model", fault.baseline, "--min-cases", str(CASES), "--timeout", "1", "-o", "json"]
        proc = subprocess.Popen([sys.executable, "-m", "oc_cli", *args], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started[name] = (proc, time.monotonic(), env)

    def finish(name: str) -> Run:
        proc, t0, env = started[name]
        stdout, stderr = proc.communicate(timeout=120)
        return Run(faults[name], proc.returncode, stdout, stderr, time.monotonic() - t0, env)

    with ThreadPoolExecutor(len(started)) as pool:  # one waiter each, so each run's time is its own
        return dict(zip(started, pool.map(finish, started)))


def assert_no_proposal(run: Run) -> dict[str, Any]:
    """The run finished (JSON on stdout, no traceback) and proposed nothing.

    With no completed case it is ``failed``: exit 1 and one error line naming the cause.
    """
    assert "Traceback" not in run.err, run.err
    m = run.result["measurement"]
    if run.fault.completes:
        assert run.code == 0 and m["status"] == "completed", run.err
    else:
        assert (run.code, run.result["status"], m["status"]) == (1, "failed", "failed"), run.err
        lines = run.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: measurement {m['id']} failed — "), run.err
        assert "[MEASUREMENT_FAILED]" in lines[0] and run.fault.error in lines[0], lines[0]
        assert f"({CASES} of {CASES} cases)" in lines[0]
    assert run.result["proposalId"] is None and m["proposalId"] is None
    assert m["decision"]["propose"] is False and m["decision"]["reasons"]
    proposals = run.oc("routing", "proposal", "list", "-o", "json")
    assert proposals.code == 0 and all(p["measurementId"] != m["id"] for p in proposals.json())
    return m


@pytest.mark.slow
@pytest.mark.parametrize("name", FAULTS)
def test_a_run_that_cannot_complete_says_why_and_proposes_nothing(runs: dict[str, Run], name: str):
    run = runs[name]
    m = assert_no_proposal(run)
    # nothing was estimated from these runs: no figure is a 0
    for figure in ("pinnedSavingsPct", "pinnedCiLowPct", "projectedSavingsPct", "candidatePassRate", "mcnemarP"):
        assert m[figure] is None, (figure, m[figure])
    if run.fault.completes:
        assert (m["casesCompleted"], m["casesFailed"]) == (CASES, 0)
        return
    assert (m["casesCompleted"], m["casesFailed"]) == (0, CASES)
    assert m["decision"]["checks"]["noFailures"] is False
    assert len(m["errors"]) == CASES
    for error in m["errors"]:
        assert run.fault.error in error, error

    story = run.oc("routing", "measurement", "show", m["id"])
    assert story.code == 0 and "Traceback" not in story.err
    assert f"failed: 0 of {CASES} cases completed, {CASES} failed" in story.out
    assert "0.0%" not in story.out and "\n  saving " not in story.out
    assert "  cause      " in story.out and run.fault.error in story.out
    assert "no proposal: " in story.out and f"oc routing measurement run --resume {m['id']}" in story.out


def test_retry_after_is_honoured_and_resuming_while_the_fault_persists_proposes_nothing(runs: dict[str, Run],
                                                                                       gateway: FakeGateway):
    run = runs["429 with Retry-After"]
    mid = run.result["measurement"]["id"]
    assert run.seconds >= 4 * RETRY_AFTER_S  # four waits between five attempts

    def attempts() -> list[int]:
        return [s["attempts"] for s in run.oc("routing", "measurement", "show", mid, "--samples", "-o", "json")
                .json()["samples"]]

    # the candidate was tried five times per case; the baseline answered and was graded (two attempts,
    # one more if a call of those timed out under load: --timeout is 1 s and every fault runs at once)
    assert gateway.calls("rate-limited") == 5 * CASES
    first = attempts()
    assert all(2 + 5 <= a <= 2 + 5 + 1 for a in first), first
    again = run.oc("routing", "measurement", "run", "--resume", mid, "-o", "json")
    assert again.code == 1 and "[MEASUREMENT_FAILED]" in again.err and "Traceback" not in again.err, again.err
    m = again.json()["measurement"]
    assert (m["id"], m["casesFailed"], again.json()["proposalId"]) == (mid, CASES, None)
    # the resume replays only the failed part: five more tries of the candidate, the baseline's part is kept
    assert gateway.calls("rate-limited") == 2 * 5 * CASES
    assert attempts() == [a + 5 for a in first]


def test_unknown_costs_block_the_proposal_and_are_never_zero(runs: dict[str, Run]):
    m = runs["no cost header"].result["measurement"]
    assert m["decision"]["checks"]["costsKnown"] is False
    assert any("cost of 3 cases is unknown" in reason for reason in m["decision"]["reasons"])
    samples = runs["no cost header"].oc("routing", "measurement", "show", m["id"], "--samples", "-o", "json")
    for s in samples.json()["samples"]:
        assert (s["candidateCostUsd"], s["candidateCostSource"]) == (None, None)
        assert s["baselineCostSource"] == "header" and s["baselineCostUsd"] > 0

    control = runs["priced locally"]
    # Prices registered with `oc` make every cost known; 3 cases are too few for a proposal itself
    # (the savings test needs 6), so the check is that costs no longer block one.
    checks = control.result["measurement"]["decision"]["checks"]
    assert control.code == 0 and checks["costsKnown"] is True and checks["noFailures"] is True
    shown = control.oc("routing", "measurement", "show", control.result["measurement"]["id"], "--samples", "-o", "json")
    assert {s["candidateCostSource"] for s in shown.json()["samples"]} == {"prices"}


@pytest.mark.parametrize("name", PREFLIGHT_FAULTS)
def test_the_preflight_refuses_a_run_the_gateway_cannot_serve_and_records_nothing(runs: dict[str, Run], name: str):
    run = runs[name]
    assert_one_error_line(OcResult(run.code, run.out, run.err), 1, run.fault.preflight, run.fault.error)
    skill = f"fault-{list(runs).index(name)}"
    listed = run.oc("routing", "measurement", "list", "--skill", skill, "-o", "json")
    assert listed.code == 0 and listed.json() == []


def test_a_gateway_key_never_appears_in_what_a_run_prints(runs: dict[str, Run]):
    for run in runs.values():
        assert GATEWAY_KEY not in run.out + run.err and WRONG_KEY not in run.out + run.err


# ===== remote faults ================================================================================

class ScriptedServer:
    """A loopback HTTP server answering each path with a fixed (status, content type, body);
    with ``tls`` (a cert and key file) it speaks HTTPS."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes]], tls: tuple[Path, Path] | None = None) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                status, ctype, body = routes.get(self.path.split("?")[0], (404, "text/plain", b"no such route"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - stdlib naming

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[ScriptedServer] = []

    def start(routes: dict[str, tuple[int, str, bytes]], tls: tuple[Path, Path] | None = None) -> ScriptedServer:
        server = ScriptedServer(routes, tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def remote(run_oc, url: str, *args: str, **env: str) -> OcResult:
    return run_oc("--url", url, *args, env={"OPENCRANE_TOKEN": "fault-token", **env})


def test_remote_500_on_a_write_is_one_line_not_retried_and_changes_nothing(run_oc):
    with ControlPlaneServer() as server:
        created = remote(run_oc, server.url, "model", "add", "--name", "m", "--upstream", "openai/gpt-4o", "-o", "json")
        assert created.code == 0, created.err
        server.fail_next(f"{API}/models/", "error", method="PUT")
        before = len(server.requests)
        result = remote(run_oc, server.url, "model", "update", "m", "--upstream", "openai/gpt-4.1")
        assert_one_error_line(result, 1, "INTERNAL_ERROR", "An unexpected error occurred")
        assert [r.method for r in server.requests[before:]].count("PUT") == 1
        shown = remote(run_oc, server.url, "model", "show", created.json()["id"], "-o", "json")
        assert shown.json()["upstreamModel"] == "openai/gpt-4o"


NON_JSON = {
    "200 HTML": ((200, "text/html", b"<html><body><h1>Welcome to nginx!</h1></body></html>"), 1, "BAD_RESPONSE",
                 "non-JSON body: Welcome to nginx!"),
    "200 truncated JSON": ((200, "application/json", b'[{"id": "cm1", "publicModelName": '), 1, "BAD_RESPONSE",
                           "non-JSON body"),
    "500 plain text over two lines": ((500, "text/plain", b"upstream exploded\nat line 2"), 1, "HTTP_500",
                                      "upstream exploded at line 2"),
    "503 empty": ((503, "text/plain", b""), 1, "HTTP_503", "HTTP 503"),
    "401 HTML": ((401, "text/html", b"<h1>401 Authorization Required</h1>"), 7, "HTTP_401", "oc auth login"),
}


@pytest.mark.parametrize("case", NON_JSON.values(), ids=NON_JSON.keys())
def test_remote_bodies_that_are_not_json_become_one_line(case, serve, run_oc):
    reply, exit_code, code, fragment = case
    server = serve({f"{API}/models": reply})
    result = remote(run_oc, f"http://127.0.0.1:{server.port}", "model", "list", "-o", "json")
    line = assert_one_error_line(result, exit_code, code, fragment)
    assert "<" not in line and "fault-token" not in line


@pytest.mark.parametrize("call", ["create", "update", "list"])
def test_remote_hang_beyond_a_short_timeout_is_a_timeout_error(call: str):
    with ControlPlaneServer() as server:
        seeded = None
        if call == "update":
            with RemoteControlPlane(server.url, "t") as cp:
                seeded = cp.create_model({"publicModelName": "m", "upstreamModel": "openai/gpt-4o"})["id"]
        method = {"create": "POST", "update": "PUT", "list": "GET"}[call]
        server.fail_next(f"{API}/models", "hang", seconds=5.0, count=5, method=method)
        before = len(server.requests)
        started = time.monotonic()
        with RemoteControlPlane(server.url, "t", timeout=0.5, backoff=0) as cp:
            with pytest.raises(UpstreamError) as err:
                if call == "create":
                    cp.create_model({"publicModelName": "n", "upstreamModel": "openai/gpt-4o"})
                elif call == "update":
                    cp.update_model(seeded, {"upstreamModel": "openai/gpt-4.1"})
                else:
                    cp.list_models()
        assert time.monotonic() - started < 3.0
        assert err.value.code == "TIMEOUT" and server.url in err.value.why and "0.5s" in err.value.why
        hung = [r for r in server.requests[before:] if r.method == method]
        assert len(hung) == 1, "a timed-out request is not sent again"
        assert "\n" not in err.value.line()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and its key (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_remote_self_signed_certificate_is_refused_until_trusted(self_signed, serve, run_oc):
    server = serve({f"{API}/models": (200, "application/json", b"[]")}, tls=self_signed)
    url = f"https://127.0.0.1:{server.port}"
    refused = remote(run_oc, url, "model", "list", "-o", "json")
    assert_one_error_line(refused, 1, "TLS_VERIFY_FAILED", url, "self-signed certificate", "--ca-bundle")

    trusted = remote(run_oc, url, "--ca-bundle", str(self_signed[0]), "model", "list", "-o", "json")
    assert (trusted.code, trusted.json()) == (0, []), trusted.err
    via_env = remote(run_oc, url, "model", "list", "-o", "json", OC_CA_BUNDLE=str(self_signed[0]))
    assert (via_env.code, via_env.json()) == (0, []), via_env.err
    unverified = remote(run_oc, url, "--insecure", "model", "list", "-o", "json")
    assert (unverified.code, unverified.json()) == (0, []), unverified.err


def test_remote_https_to_a_plain_http_server_is_one_line(serve, run_oc):
    server = serve({f"{API}/models": (200, "application/json", b"[]")})
    url = f"https://127.0.0.1:{server.port}"
    assert_one_error_line(remote(run_oc, url, "model", "list"), 1, "TLS_ERROR", f"TLS handshake with {url} failed")


def test_remote_plain_http_to_a_tls_server_is_one_line(self_signed, serve, run_oc):
    server = serve({f"{API}/models": (200, "application/json", b"[]")}, tls=self_signed)
    url = f"http://127.0.0.1:{server.port}"
    assert_one_error_line(remote(run_oc, url, "model", "list"), 1, "UNREACHABLE", f"cannot reach the control plane at {url}")


def test_the_fault_runs_leave_a_consistent_database(runs: dict[str, Run]):
    any_run = next(iter(runs.values()))
    c = sqlite3.connect(any_run.env["OC_DB"])
    try:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finished = c.execute("SELECT count(*) FROM audit_log WHERE action IN ('MeasurementCompleted',"
                             " 'MeasurementFailed')").fetchone()[0]
    finally:
        c.close()
    assert finished >= len(runs) - len(PREFLIGHT_FAULTS)
    verify = any_run.oc("audit", "verify", "-o", "json")
    assert verify.code == 0 and verify.json()["ok"] is True, verify.err
