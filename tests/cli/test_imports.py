"""Start-up cost (SPEC §9): the machine-readable paths import none of the heavy libraries.

``oc model list -o json`` is what CI scripts call in loops; it must not pay for rich (tables on a
terminal), httpx (remote mode), pydantic or numpy (measurements). The command runs in a fresh
interpreter that writes the names of every loaded module to a file when it exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OcEnv, subprocess_env

HEAVY = ("rich", "httpx", "pydantic", "numpy")

PROBE = """
import json, sys
from oc_cli.app import main
try:
    main(sys.argv[2:])
finally:
    with open(sys.argv[1], "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""


def loaded_modules(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """Run ``oc ARGS`` in a fresh interpreter; returns (exit code, loaded module names, stdout)."""
    dump = tmp_path / "modules.json"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(dump), *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=subprocess_env(), timeout=60)
    assert dump.exists(), proc.stderr
    return proc.returncode, set(json.loads(dump.read_text())), proc.stdout


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.fixture
def hundred_models(oc_env: OcEnv, local_cp) -> None:
    cp = local_cp()
    for i in range(100):
        cp.create_model({"publicModelName": f"model-{i:03d}", "upstreamModel": f"openai/m{i}"})
    cp.close()


def test_the_probe_sees_what_the_command_loads(tmp_path, hundred_models):
    code, modules, out = loaded_modules(tmp_path, "model", "list", "-o", "json")
    assert code == 0
    assert len(json.loads(out)) == 100
    assert {"oc_cli.app", "oc_cli.commands.model", "oc_cli.local.backend", "sqlite3"} <= modules


@pytest.mark.parametrize("heavy", HEAVY)
def test_model_list_json_imports_no_heavy_library(tmp_path, hundred_models, heavy):
    code, modules, _ = loaded_modules(tmp_path, "model", "list", "-o", "json")
    assert code == 0
    assert heavy not in top_level(modules), sorted(m for m in modules if m.split(".")[0] == heavy)[:10]


@pytest.mark.parametrize("heavy", HEAVY)
def test_a_piped_table_imports_neither_rich_nor_the_remote_or_measurement_stack(tmp_path, hundred_models, heavy):
    code, modules, out = loaded_modules(tmp_path, "model", "list")
    assert code == 0 and "model-099" in out
    assert heavy not in top_level(modules)


@pytest.mark.parametrize("args", [("model", "list", "-o", "json"), ("model", "list"),
                                  ("skill-posture", "list", "-o", "json"), ("credential", "list")])
def test_local_rows_come_from_the_wire_schema_without_pydantic(tmp_path, hundred_models, args):
    """Local rows are built from oc_cli.schema's declarations; only validation needs pydantic."""
    code, modules, _ = loaded_modules(tmp_path, *args)
    assert code == 0
    assert "oc_cli.schema" in modules
    assert "pydantic" not in top_level(modules) and "pydantic_core" not in top_level(modules)


def test_other_command_groups_are_not_loaded(tmp_path, hundred_models):
    _, modules, _ = loaded_modules(tmp_path, "model", "list", "-o", "json")
    others = {"oc_cli.commands.routing", "oc_cli.commands.auth", "oc_cli.commands.doctor", "oc_cli.remote",
              "oc_cli.gateway", "oc_cli.commands.credential"}
    assert not (others & modules)
