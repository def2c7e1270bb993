"""``Oc``: the real ``oc`` CLI in fresh processes, isolated on a database, config and $HOME of its own.

Shared by the measurement tests, which need a runner that outlives one test (module fixtures) and
can start processes concurrently (``popen``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

OC = str(Path(sys.executable).parent / "oc")
REPO_ROOT = Path(__file__).resolve().parents[2]


class Oc:
    """The ``oc`` CLI on a database, config and ``$HOME`` of its own (null keyring); a fresh process per call."""

    def __init__(self, home: Path, **env: str) -> None:
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("OC_", "OPENCRANE_", "LITELLM_", "ROUTING_", "FORCE_COLOR", "CLICOLOR"))}
        self.home = home
        self.db = home / "oc.db"
        # the repository root first on PYTHONPATH: the child runs this tree's oc_cli, not an installed one
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), base.get("PYTHONPATH")) if p)
        self.env = {**base, "PYTHONPATH": pythonpath, "OC_DB": str(self.db), "OC_CONFIG": str(home / "config.toml"), "CI": "1",
                    "NO_COLOR": "1", "COLUMNS": "250", "HOME": str(home),
                    "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", **env}

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([OC, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        if expect is not None:
            assert done.returncode == expect, (
                f"oc {' '.join(args)} exited {done.returncode}, expected {expect}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done

    def json(self, *args: str, expect: int = 0) -> Any:
        return json.loads(self.run(*args, "-o", "json", expect=expect).stdout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([OC, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
