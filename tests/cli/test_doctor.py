"""oc doctor: one verdict per check, warnings that do not fail, failures that exit 1."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from oc_cli.app import main
from oc_cli.domain import skillkey
from tests.support.fake_gateway import FakeGateway, Reply

SEAMS = ("LITELLM_ENDPOINT", "LITELLM_MASTER_KEY", "ROUTING_JUDGE_MODEL")
ISOLATED = SEAMS + ("OPENCRANE_URL", "OPENCRANE_TOKEN", "OC_CONTEXT", "OC_AS_TENANT", "OC_CA_BUNDLE")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config, home and database path (the database itself is not created)."""
    for var in ISOLATED:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OC_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "oc.db"
    monkeypatch.setenv("OC_DB", str(path))
    return path


def seed(path: Path, models: dict[str, str], pins: dict[str, str] | None = None) -> None:
    """Register ``models`` (public name -> upstream) and pin skills (key -> model)."""
    from oc_cli.local.backend import LocalControlPlane

    backend = LocalControlPlane(path, actor="test")
    try:
        for name, upstream in models.items():
            backend.create_model({"publicModelName": name, "upstreamModel": upstream})
        for key, model in (pins or {}).items():
            backend.set_posture(skillkey.parse(key), mode="pinned", pinned_model=model)
    finally:
        backend.close()


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    """Run ``oc doctor -o json``; the exit code and the parsed report."""
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "-o", "json", *args])
    out = capsys.readouterr().out
    return exited.value.code, json.loads(out)


def by_name(report: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_healthy_database_without_gateway_warns_and_exits_0(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db, {"cheap": "openai/gpt-4o-mini"})
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0 and report["ok"] is True
    for name in ("config", "context", "database", "schema", "integrity", "journal"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "WAL" in checks["journal"]["detail"]
    assert checks["gateway"]["status"] == "warn"
    assert "LITELLM_ENDPOINT" in checks["gateway"]["detail"] and "no-op" in checks["gateway"]["detail"]
    assert checks["judge"]["status"] == "warn" and "ROUTING_JUDGE_MODEL" in checks["judge"]["detail"]
    assert "gateway-models" not in checks  # nothing to compare without a gateway
    assert all(set(c) == {"name", "status", "detail", "hint"} for c in report["checks"])


def test_table_output_is_one_line_per_check(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db, {})
    with pytest.raises(SystemExit) as exited:
        main(["doctor"])
    captured = capsys.readouterr()
    assert exited.value.code == 0
    lines = captured.out.splitlines()
    assert [line.split()[1] for line in lines] == [
        "config", "context", "database", "schema", "integrity", "journal", "keyring", "gateway", "judge"]
    gateway = next(line for line in lines if line.split()[1] == "gateway")
    assert gateway.startswith("warn") and "(hint: export LITELLM_ENDPOINT" in gateway
    assert "0 failures" in captured.err


def test_missing_database_is_a_warning_and_is_not_created(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0
    assert checks["database"]["status"] == "warn" and "oc init" in checks["database"]["hint"]
    assert "schema" not in checks and "integrity" not in checks
    assert not db.exists()


def test_gateway_missing_a_registered_model_is_named(db: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, {"cheap": "openai/gpt-4o-mini", "frontier": "anthropic/claude-sonnet-4", "local": "ollama/llama3"})
    with FakeGateway() as gw:
        gw.add_model("cheap", Reply.ok())
        gw.add_model("local", Reply.ok())
        gw.add_model("grader", Reply.ok())
        monkeypatch.setenv("LITELLM_ENDPOINT", gw.url)
        monkeypatch.setenv("LITELLM_MASTER_KEY", gw.api_key)
        monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader")
        code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0 and report["ok"] is True
    assert checks["gateway"]["status"] == "ok" and "serves 3 models" in checks["gateway"]["detail"]
    missing = checks["gateway-models"]
    assert missing["status"] == "warn"
    assert "frontier" in missing["detail"] and "cheap" not in missing["detail"] and "local" not in missing["detail"]
    assert "2 of 3 served" in missing["detail"]
    assert checks["judge"]["status"] == "ok"
    assert gw.api_key not in json.dumps(report)


def test_gateway_serving_everything_is_ok(db: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, {"cheap": "openai/gpt-4o-mini"})
    with FakeGateway() as gw:
        gw.add_model("cheap", Reply.ok())
        monkeypatch.setenv("LITELLM_ENDPOINT", gw.url)
        monkeypatch.setenv("LITELLM_MASTER_KEY", gw.api_key)
        monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader")
        code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0
    assert checks["gateway-models"]["status"] == "ok"
    assert checks["judge"]["status"] == "warn" and "does not serve" in checks["judge"]["detail"]


def test_wrong_gateway_key_fails(db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, {})
    with FakeGateway() as gw:
        monkeypatch.setenv("LITELLM_ENDPOINT", gw.url)
        monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-not-the-key")
        monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader")
        code, report = doctor(capsys)
    gateway = by_name(report)["gateway"]
    assert code == 1 and report["ok"] is False
    assert gateway["status"] == "fail" and "refused the key" in gateway["detail"]
    assert "sk-not-the-key" not in json.dumps(report)


def test_unreachable_gateway_fails_with_exit_1(db: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, {"cheap": "openai/gpt-4o-mini"})
    url = closed_port_url()
    monkeypatch.setenv("LITELLM_ENDPOINT", url)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-anything")
    monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader")
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 1 and report["ok"] is False
    assert checks["gateway"]["status"] == "fail" and url in checks["gateway"]["detail"]
    assert checks["gateway"]["hint"]
    assert checks["database"]["status"] == "ok"  # one failure does not hide the other checks


def test_judge_of_a_pinned_models_family_warns(db: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    models = {"fast": "openai/gpt-4o-mini", "grader-oai": "openai/gpt-4.1",
              "grader-claude": "anthropic/claude-sonnet-4"}
    seed(db, models, pins={"summarise": "fast"})
    monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader-oai")
    _, report = doctor(capsys)
    judge = by_name(report)["judge"]
    assert judge["status"] == "warn"
    assert "openai" in judge["detail"] and "fast" in judge["detail"]
    assert "--allow-same-family-judge" in judge["hint"]

    monkeypatch.setenv("ROUTING_JUDGE_MODEL", "grader-claude")
    code, report = doctor(capsys)
    assert code == 0 and by_name(report)["judge"]["status"] == "ok"


def test_garbage_database_file_fails(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db.write_bytes(b"this is not an SQLite database\n" * 200)
    code, report = doctor(capsys)
    database = by_name(report)["database"]
    assert code == 1 and report["ok"] is False
    assert database["status"] == "fail" and "not a usable SQLite database" in database["detail"]
    assert database["hint"]


def test_damaged_page_fails_the_integrity_check(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db, {"cheap": "openai/gpt-4o-mini"})
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'models'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:  # overwrite the b-tree page header of the models table
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * 64)
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 1
    assert checks["database"]["status"] == "ok"
    assert checks["integrity"]["status"] == "fail"


def test_config_naming_a_missing_context_fails(db: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OC_CONTEXT", "nowhere")
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 1
    assert checks["context"]["status"] == "fail" and "nowhere" in checks["context"]["detail"]
    assert "keyring" in checks  # still checked


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        status = 200 if self.path == "/healthz" else 404
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def control_plane() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_remote_mode_checks_health_and_token(db: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch, control_plane: str) -> None:
    monkeypatch.setenv("OPENCRANE_URL", control_plane)
    monkeypatch.setenv("OPENCRANE_TOKEN", "ocp_secret_value")
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0
    assert checks["control-plane"]["status"] == "ok" and "HTTP 200" in checks["control-plane"]["detail"]
    assert checks["token"] == {"name": "token", "status": "ok", "detail": "found in OPENCRANE_TOKEN", "hint": None}
    assert "database" not in checks and "gateway" not in checks
    assert "ocp_secret_value" not in json.dumps(report)

    monkeypatch.delenv("OPENCRANE_TOKEN")
    code, report = doctor(capsys)
    assert code == 1 and by_name(report)["token"]["status"] == "fail"
    assert "oc auth login" in by_name(report)["token"]["hint"]


def test_remote_mode_unreachable_control_plane_fails(db: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCRANE_URL", closed_port_url())
    monkeypatch.setenv("OPENCRANE_TOKEN", "ocp_secret_value")
    code, report = doctor(capsys)
    assert code == 1 and by_name(report)["control-plane"]["status"] == "fail"


def test_context_from_the_config_file_is_named(db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tomli_w

    monkeypatch.delenv("OC_DB")
    config = {"current-context": "dev",
              "contexts": {"dev": {"db": str(db), "tenant": "acme", "judge": {"model": "grader"}}}}
    (tmp_path / "config.toml").write_bytes(tomli_w.dumps(config).encode())
    seed(db, {})
    code, report = doctor(capsys)
    checks = by_name(report)
    assert code == 0
    assert checks["config"]["detail"].endswith("(1 context: dev)")
    assert checks["context"]["detail"] == (
        "dev (from current-context): local mode, database from context dev, "
        "acting as ClusterTenant acme (from context dev)")
    assert checks["judge"] == {"name": "judge", "status": "ok", "detail": "grader (from context dev)", "hint": None}
