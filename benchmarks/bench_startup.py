"""Start-up benchmark: how much slower than ``import typer`` is ``oc``?

Measures, in one run and interleaved round by round (so drift in machine load hits every command
alike), the median wall time of:

- ``python -c "import typer"`` — the floor any Typer CLI pays;
- ``oc model list -o json`` over a database of 100 models — the call CI scripts make in loops;
- ``oc --help``.

Targets (SPEC §9): model list ≤ 1.5 × import typer; --help ≤ 2 × import typer. It also runs
``python -X importtime oc model list -o json`` and reports whether any of rich, httpx, pydantic or
numpy was imported on that path.

Usage::

    .venv/bin/python benchmarks/bench_startup.py [--runs 15] [--warmups 2] [--venv .venv] [--check]

Prints a human summary and, as the last line, one JSON object. With ``--check`` the exit status is 1
when a target is missed or a heavy module is imported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("rich", "httpx", "pydantic", "numpy")
TARGETS = {"model_list_json": 1.5, "help": 2.0}

SEED = """
import sys
from oc_cli.local.backend import LocalControlPlane
cp = LocalControlPlane(sys.argv[1], actor="bench")
for i in range(int(sys.argv[2])):
    cp.create_model({"publicModelName": f"model-{i:03d}", "upstreamModel": f"openai/model-{i:03d}"})
cp.close()
"""


def venv_tools(venv: Path) -> tuple[Path, Path]:
    """The venv's python and its installed ``oc`` entry point."""
    python, oc = venv / "bin" / "python", venv / "bin" / "oc"
    for tool in (python, oc):
        if not tool.exists():
            raise SystemExit(f"bench_startup: {tool} not found (install with: pip install -e .)")
    return python, oc


def sealed_env(root: Path) -> dict[str, str]:
    """An environment where ``oc`` uses a scratch database and config and no remote settings.

    Bytecode caching is on, in a scratch directory: an installed ``oc`` runs from cached bytecode
    like the libraries it is compared with, so a ``PYTHONDONTWRITEBYTECODE`` in the caller's
    environment (common in containers) must not make ``oc`` alone recompile its sources every run.
    """
    drop = ("OPENCRANE_URL", "OPENCRANE_TOKEN", "OC_CONTEXT", "OC_AS_TENANT", "OC_DB", "OC_CONFIG",
            "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(OC_DB=str(root / "oc.db"), OC_CONFIG=str(root / "config.toml"), HOME=str(root),
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", PYTHONPYCACHEPREFIX=str(root / "pycache"))
    return env


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed


def heavy_imports(python: Path, oc: Path, env: dict[str, str]) -> dict[str, list[str]]:
    """Modules of each heavy package that ``oc model list -o json`` imports, from ``-X importtime``."""
    proc = subprocess.run([str(python), "-X", "importtime", str(oc), "model", "list", "-o", "json"], env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict[str, list[str]] = {h: [] for h in HEAVY}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") < 2:
            continue
        module = line.rsplit("|", 1)[1].strip()
        top = module.split(".")[0]
        if top in found:
            found[top].append(module)
    return {k: v for k, v in found.items() if v}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (at least 15)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed runs per command first")
    parser.add_argument("--models", type=int, default=100, help="models in the database")
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="virtualenv with oc installed")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.runs < 15:
        parser.error("--runs must be at least 15 for a stable median")

    python, oc = venv_tools(args.venv)
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp:
        root = Path(tmp)
        env = sealed_env(root)
        subprocess.run([str(python), "-c", SEED, str(root / "oc.db"), str(args.models)], env=env, check=True)
        commands = {
            "import_typer": [str(python), "-c", "import typer"],
            "model_list_json": [str(oc), "model", "list", "-o", "json"],
            "help": [str(oc), "--help"],
        }
        for _ in range(args.warmups):
            for cmd in commands.values():
                timed(cmd, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
        heavy = heavy_imports(python, oc, env)

    medians = {name: statistics.median(times) for name, times in samples.items()}
    base = medians["import_typer"]
    ratios = {name: medians[name] / base for name in TARGETS}
    passed = {name: ratios[name] <= limit for name, limit in TARGETS.items()}

    print(f"oc start-up benchmark: {args.runs} runs each after {args.warmups} warm-ups, "
          f"{args.models} models, {python}")
    for name, cmd in commands.items():
        times = samples[name]
        print(f"  {name:<16} median {medians[name] * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms   "
              f"max {max(times) * 1000:7.1f} ms   ({' '.join(Path(cmd[0]).name if i == 0 else a for i, a in enumerate(cmd))})")
    for name, limit in TARGETS.items():
        print(f"  {name} / import_typer = {ratios[name]:.2f}x (target <= {limit}x): "
              f"{'ok' if passed[name] else 'MISSED'}")
    print("  heavy imports on `oc model list -o json`: "
          + (", ".join(f"{k} ({len(v)} modules)" for k, v in heavy.items()) if heavy else "none"))
    result = {
        "runs": args.runs,
        "warmups": args.warmups,
        "models": args.models,
        "medianMs": {name: round(m * 1000, 2) for name, m in medians.items()},
        "ratios": {name: round(r, 3) for name, r in ratios.items()},
        "targets": TARGETS,
        "passed": passed,
        "heavyImports": sorted(heavy),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, separators=(",", ":")))
    ok = all(passed.values()) and not heavy
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
