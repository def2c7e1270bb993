"""Fixtures shared by every test: a sealed environment and ways to run the real ``oc``.

Every test gets its own database, config file, ``$HOME`` and XDG directories, and none of the
variables that would point ``oc`` at a real control plane, gateway or context. The keyring is the
null backend, so no test ever reads or writes the developer's secrets. Tests in subdirectories add
their own fixtures on top (``tests/remote``, ``tests/integration``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import pytest
from hypothesis import settings

# Property tests check pure functions; on a loaded CI machine a GC pause can exceed Hypothesis's
# default 200 ms per-example deadline, which would fail a correct test. Correctness, not speed,
# is what they assert (the benchmarks measure speed).
settings.register_profile("oc", deadline=None)
settings.load_profile("oc")

REPO_ROOT = Path(__file__).resolve().parent.parent

# Variables that select a control plane, identity, gateway or output style. A developer's shell
# (or CI) may have any of them set; a test that wants one sets it explicitly.
UNSET_VARS = (
    "OPENCRANE_URL",
    "OPENCRANE_TOKEN",
    "OC_CONTEXT",
    "OC_AS_TENANT",
    "OC_CA_BUNDLE",
    "OC_DEBUG",
    "LITELLM_ENDPOINT",
    "LITELLM_MASTER_KEY",
    "ROUTING_JUDGE_MODEL",
    "OC_REQUIRE_CALIBRATED_JUDGE",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
)

NULL_KEYRING = "keyring.backends.null.Keyring"


@dataclass(frozen=True)
class OcEnv:
    """Where the current test's ``oc`` keeps its state."""

    root: Path
    db: Path
    config: Path
    home: Path


class OcResult(NamedTuple):
    """The outcome of one ``oc`` call; unpacks as ``(code, out, err)``."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON (fails the test if stdout holds anything else)."""
        return json.loads(self.out)

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def oc_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> OcEnv:
    """Seal the environment of the test process (and so of every ``oc`` it starts)."""
    root = tmp_path_factory.mktemp("oc-env")
    home = root / "home"
    for sub in ("config", "data", "cache", "state"):
        (root / "xdg" / sub).mkdir(parents=True)
    home.mkdir()
    env = OcEnv(root=root, db=root / "oc.db", config=root / "config.toml", home=home)
    for name in UNSET_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / "xdg" / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg" / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "xdg" / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(root / "xdg" / "state"))
    monkeypatch.setenv("OC_DB", str(env.db))
    monkeypatch.setenv("OC_CONFIG", str(env.config))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL_KEYRING)
    return env


def subprocess_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The current (sealed) environment plus ``extra``; a value of None removes the variable.

    The repository root goes first on PYTHONPATH so the child runs this tree's ``oc_cli``.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_oc_subprocess(*args: Any, input: str | None = None, env: Mapping[str, str | None] | None = None,
                      timeout: float = 60) -> OcResult:
    """Run ``python -m oc_cli ARGS`` with the sealed environment; stdin is ``input`` or empty."""
    proc = subprocess.run(
        [sys.executable, "-m", "oc_cli", *[str(a) for a in args]],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=subprocess_env(env),
        timeout=timeout,
    )
    return OcResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def run_oc(oc_env: OcEnv) -> Callable[..., OcResult]:
    """``run_oc(*args, input=None, env=None)``: the real CLI in a subprocess → ``(code, out, err)``."""
    return run_oc_subprocess


@pytest.fixture
def oc_main(oc_env: OcEnv, capsys: pytest.CaptureFixture[str],
            monkeypatch: pytest.MonkeyPatch) -> Callable[..., OcResult]:
    """``oc_main(*args, input=None)``: ``oc_cli.app.main`` in this process → ``(code, out, err)``.

    Much faster than a subprocess; use it where the process boundary itself is not under test.
    """
    from oc_cli.app import main

    def run(*args: Any, input: str | None = None) -> OcResult:
        capsys.readouterr()  # drop whatever the test printed before
        monkeypatch.setattr(sys, "stdin", io.StringIO(input or ""))
        code: Any = 0
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        return OcResult(0 if code is None else int(code), captured.out, captured.err)

    return run


@pytest.fixture
def local_cp(oc_env: OcEnv) -> Iterator[Callable[..., Any]]:
    """``local_cp(tenant=None)``: a LocalControlPlane on the test's database, closed afterwards.

    With ``tenant`` it acts as that ClusterTenant's admin, like ``--as-tenant``.
    """
    from oc_cli.local.backend import LocalControlPlane

    opened: list[LocalControlPlane] = []

    def make(tenant: str | None = None, actor: str = "tester") -> LocalControlPlane:
        cp = LocalControlPlane(oc_env.db, tenant=tenant, actor=f"{actor}@{tenant}" if tenant else actor)
        opened.append(cp)
        return cp

    yield make
    for cp in opened:
        cp.close()
