"""--request-timeout / OC_REQUEST_TIMEOUT bound every control-plane request in remote mode."""

from __future__ import annotations

import socket
import threading
import time

import pytest


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn, _ in held:
        conn.close()
    srv.close()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_silent_control_plane_times_out_quickly_with_one_line(run_oc, silent_server, how):
    args = ["--url", silent_server]
    env = {"OPENCRANE_TOKEN": "test-token"}
    if how == "flag":
        args += ["--request-timeout", "0.5"]
    else:
        env["OC_REQUEST_TIMEOUT"] = "0.5"
    started = time.monotonic()
    result = run_oc(*args, "model", "list", env=env)
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert elapsed < 10  # the default would wait 30 s per attempt
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "[TIMEOUT]" in lines[0]
    assert "Traceback" not in result.err


@pytest.mark.parametrize("value", ["0", "-1", "abc", "99999"])
def test_a_bad_timeout_is_a_usage_error(run_oc, value):
    result = run_oc("--url", "http://127.0.0.1:9", "model", "list",
                    env={"OPENCRANE_TOKEN": "t", "OC_REQUEST_TIMEOUT": value})
    assert result.code == 2
    assert "OC_REQUEST_TIMEOUT" in result.err
