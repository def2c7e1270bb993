"""Start and stop a real LiteLLM proxy on 127.0.0.1 whose upstream models are deterministic fakes.

The proxy is the ``litellm`` CLI installed next to the running interpreter, run as::

    litellm --config <dir>/config.yaml --host 127.0.0.1 --port <free port> --num_workers 1

with this environment on top of the caller's:

* ``LITELLM_LOCAL_MODEL_COST_MAP=True`` — use the bundled price map, never fetch one (no network);
* ``PYTHONPATH=<tests/integration>`` — so ``custom_handler: fake_upstreams.handler`` imports;
* ``FAKE_UPSTREAM_LOG=<dir>/upstream-calls.jsonl`` — one line per upstream call (``Proxy.calls``);
* ``DATABASE_URL`` removed — no database, the master key is the only key.

The config (JSON, which YAML readers accept) has the caller's ``model_list``, the master key in
``general_settings``, the ``fake`` provider in ``litellm_settings.custom_provider_map``, and
``num_retries: 0`` plus ``disable_cooldowns`` so that every client request is exactly one upstream
call and failures reach the client untouched (the client's retries are what is under test).
Readiness is ``GET /health/liveliness``; the proxy's output goes to ``<dir>/proxy.log``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_MASTER_KEY = "sk-oc-integration-master"
_PORT_ATTEMPTS = 3


def model_entry(
    name: str,
    kind: str,
    *,
    input_per_mtok: float | None = None,
    output_per_mtok: float | None = None,
    **fake_options: Any,
) -> dict[str, Any]:
    """One ``model_list`` entry: public ``name`` served by the fake ``kind``.

    Prices are USD per million tokens, like the registry's; LiteLLM wants per-token values in
    ``model_info``. ``fake_options`` become ``fake_<option>`` litellm_params (see fake_upstreams).
    """
    params: dict[str, Any] = {"model": f"fake/{kind}"}
    params.update({f"fake_{key}": value for key, value in fake_options.items()})
    entry: dict[str, Any] = {"model_name": name, "litellm_params": params}
    if input_per_mtok is not None and output_per_mtok is not None:
        entry["model_info"] = {
            "input_cost_per_token": input_per_mtok / 1e6,
            "output_cost_per_token": output_per_mtok / 1e6,
        }
    return entry


#: Prices (USD per million tokens: input, output) of the standard models.
STANDARD_PRICES: dict[str, tuple[float, float]] = {
    "strong-baseline": (10.0, 30.0),
    "cheap-candidate": (1.0, 3.0),
    "flaky-candidate": (0.5, 1.5),
    "judge": (2.0, 6.0),
    "mixed-baseline": (10.0, 30.0),
    "mixed-candidate": (1.0, 3.0),
    "biased-judge": (2.0, 6.0),
    "rate-limited": (1.0, 3.0),
    "unavailable": (1.0, 3.0),
    "always-unavailable": (1.0, 3.0),
    "slow": (1.0, 3.0),
}


def standard_models() -> list[dict[str, Any]]:
    """The models every integration test can rely on.

    * ``strong-baseline`` / ``cheap-candidate``: both answer ``GOOD: …``; prices 10x apart.
    * ``flaky-candidate``: ``BAD: …`` for a deterministic third of inputs.
    * ``judge``: grades the CANDIDATE OUTPUT section (0.95 for GOOD…, 0.1 otherwise).
    * ``mixed-baseline`` / ``mixed-candidate``: the same answers (a quarter wrong, half of them
      padded with empty words), prices 10x apart; ``biased-judge`` passes any padded answer.
    * ``rate-limited``: 429 + ``Retry-After: 1`` on the first call of ~20 % of inputs.
    * ``unavailable``: 503 on the first call of ~20 % of inputs.
    * ``always-unavailable``: 503 on every call.
    * ``slow``: answers after 100 ms.
    * ``unpriced``: answers, but has no price, so the proxy sends no cost header.
    """
    def priced(name: str, kind: str, **options: Any) -> dict[str, Any]:
        inp, out = STANDARD_PRICES[name]
        return model_entry(name, kind, input_per_mtok=inp, output_per_mtok=out, **options)

    return [
        priced("strong-baseline", "answer"),
        priced("cheap-candidate", "answer"),
        priced("flaky-candidate", "flaky-quality"),
        priced("judge", "judge"),
        priced("mixed-baseline", "mixed"),
        priced("mixed-candidate", "mixed"),
        priced("biased-judge", "length-judge"),
        priced("rate-limited", "rate-limit", fault_every=5, fail_times=1, retry_after="1"),
        priced("unavailable", "unavailable", fault_every=5, fail_times=1),
        priced("always-unavailable", "unavailable", fault_every=1, fail_times=1_000_000),
        priced("slow", "answer", latency_ms=100),
        model_entry("unpriced", "answer"),
    ]


def proxy_config(models: list[dict[str, Any]], master_key: str) -> dict[str, Any]:
    return {
        "model_list": models,
        "litellm_settings": {
            "num_retries": 0,
            "request_timeout": 30,
            "telemetry": False,
            "custom_provider_map": [{"provider": "fake", "custom_handler": "fake_upstreams.handler"}],
        },
        "router_settings": {"num_retries": 0, "retry_after": 0, "disable_cooldowns": True},
        "general_settings": {"master_key": master_key},
    }


def litellm_executable() -> str | None:
    """The ``litellm`` CLI of this interpreter's environment (else one on PATH)."""
    beside = Path(sys.executable).parent / "litellm"
    if beside.exists():
        return str(beside)
    return shutil.which("litellm")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proxy:
    """A running proxy. ``url`` is the proxy root (what ``GatewayClient`` takes)."""

    url: str
    master_key: str
    process: subprocess.Popen[bytes]
    directory: Path
    config_path: Path
    log_path: Path
    calls_path: Path
    started_in_s: float
    models: list[dict[str, Any]] = field(default_factory=list)

    def call_log(self) -> list[dict[str, Any]]:
        """Every upstream call so far, oldest first (``model``, ``kind``, ``input_hash``, ``outcome``)."""
        if not self.calls_path.exists():
            return []
        lines = self.calls_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def calls(self, model: str | None = None, *, input_hash: str | None = None) -> int:
        """How many upstream calls were made, optionally for one public model and/or one input."""
        return sum(
            1
            for entry in self.call_log()
            if (model is None or entry["model"] == model) and (input_hash is None or entry["input_hash"] == input_hash)
        )

    def call_counts(self) -> Counter[str]:
        return Counter(entry["model"] for entry in self.call_log())

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the proxy, then SIGKILL it if it has not exited within ``timeout``."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health/liveliness", timeout=1.0) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


def _launch(
    directory: Path, config_path: Path, log_path: Path, calls_path: Path, port: int,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    executable = litellm_executable()
    if executable is None:
        raise RuntimeError("the litellm CLI is not installed (pip install 'litellm[proxy]')")
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["FAKE_UPSTREAM_LOG"] = str(calls_path)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra_env or {})
    command = [
        executable, "--config", str(config_path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
    ]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def start_proxy(
    tmp_path: Path,
    models: list[dict[str, Any]],
    *,
    port: int | None = None,
    master_key: str = DEFAULT_MASTER_KEY,
    startup_timeout: float = 90.0,
) -> Proxy:
    """Start a proxy serving ``models`` and wait until it answers; raise with its log if it cannot.

    Without ``port`` a free ephemeral port is picked (and another one tried if it was taken
    between the pick and the bind).
    """
    directory = Path(tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    config_path.write_text(json.dumps(proxy_config(models, master_key), indent=2), encoding="utf-8")
    return start_proxy_from_config(directory, config_path, master_key=master_key, port=port,
                                   startup_timeout=startup_timeout, models=models)


def start_proxy_from_config(
    directory: Path,
    config_path: Path,
    *,
    master_key: str = DEFAULT_MASTER_KEY,
    port: int | None = None,
    startup_timeout: float = 90.0,
    env: dict[str, str] | None = None,
    models: list[dict[str, Any]] | None = None,
) -> Proxy:
    """Start a proxy on an existing config file (``env``: extra variables, e.g. the ones its
    ``os.environ/<VAR>`` keys name); its log and call log go to ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "proxy.log"
    calls_path = directory / "upstream-calls.jsonl"
    calls_path.write_text("", encoding="utf-8")

    attempts = 1 if port is not None else _PORT_ATTEMPTS
    failure = ""
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        url = f"http://127.0.0.1:{chosen}"
        started = time.monotonic()
        process = _launch(directory, config_path, log_path, calls_path, chosen, env)
        proxy = Proxy(url, master_key, process, directory, config_path, log_path, calls_path, 0.0, list(models or []))
        deadline = started + startup_timeout
        while time.monotonic() < deadline and process.poll() is None:
            if _alive(url):
                proxy.started_in_s = time.monotonic() - started
                return proxy
            time.sleep(0.1)
        if process.poll() is None:
            proxy.stop()
            raise RuntimeError(
                f"LiteLLM proxy did not become ready within {startup_timeout:g}s; log {log_path}:\n{proxy.log_tail()}"
            )
        failure = proxy.log_tail()
        if "address already in use" not in failure.lower():
            break
    raise RuntimeError(f"LiteLLM proxy exited during start-up; log {log_path}:\n{failure}")
