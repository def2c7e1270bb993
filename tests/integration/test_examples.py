"""The offline example loop in examples/ runs end to end against a real LiteLLM proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.integration


@pytest.mark.skipif(not (BIN / "litellm").exists(), reason="the litellm proxy is installed by the test extra")
def test_run_loop_script_switches_the_skill_to_the_cheap_model(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LITELLM_ENDPOINT", "LITELLM_MASTER_KEY", "ROUTING_JUDGE_MODEL", "OPENCRANE_URL",
                        "OC_CONTEXT", "OC_AS_TENANT", "OC_DB")}
    env.update(OC=str(BIN / "oc"), LITELLM=str(BIN / "litellm"), HOME=str(tmp_path),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),  # this tree's oc_cli
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    proc = subprocess.run(["bash", str(ROOT / "examples" / "run-loop.sh")], env=env, capture_output=True,
                          text=True, timeout=600)  # 120 cases; minutes when the machine is busy
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "120 of 120 cases completed, 0 failed" in out
    assert "is waiting for approval" in out
    assert "save up to 90%" in out
    assert "team/acme/summarise now runs on cheap-model" in out


@pytest.mark.skipif(not (BIN / "litellm").exists(), reason="the litellm proxy is installed by the test extra")
def test_gateway_script_serves_the_resolved_model_before_and_after_a_switch(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LITELLM_ENDPOINT", "LITELLM_MASTER_KEY", "ROUTING_JUDGE_MODEL", "OPENCRANE_URL",
                        "OC_CONTEXT", "OC_AS_TENANT", "OC_DB")}
    env.update(OC=str(BIN / "oc"), LITELLM=str(BIN / "litellm"), HOME=str(tmp_path),
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
    proc = subprocess.run(["bash", str(ROOT / "examples" / "gateway.sh")], env=env, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "skill:team/acme/summarise was served by: strong" in out
    assert "~ skill:team/acme/summarise: strong-model → cheap-model" in out
    assert "skill:team/acme/summarise was served by: cheap" in out
    assert "example-upstream-value" not in out  # the key stays in the environment
