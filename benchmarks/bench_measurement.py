"""Benchmarks of ``oc routing measurement run`` against a local fake gateway; prints JSON figures.

Two figures, each from the real CLI in a subprocess (fresh database, ``CI=1``):

* ``latency`` — 200 cases at ``--concurrency 16`` with every call (baseline, candidate, judge)
  taking 100 ms at the gateway. The target is stated per call: 800 calls × 0.1 s ÷ 16 = 5.0 s,
  and the run's wall time must stay within 1.25 × that (6.25 s). A case is baseline ∥ candidate,
  then judge ∥ judge, so 16 cases in flight keep 32 calls in flight and the true floor is
  200 ÷ 16 × 0.2 s = 2.5 s (``pipelineFloorSeconds``). Wall time is reported twice: the whole
  process (interpreter start-up and the bootstrap included) and the run alone (the measurement's
  ``runAt`` to ``finishedAt``).
* ``memory`` — 10,000 cases at ``--concurrency 32`` against an instant gateway: the peak RSS of
  the ``oc`` process (``ru_maxrss`` of that child once it exits). Target: ≤ 300 MB.

    .venv/bin/python benchmarks/bench_measurement.py            # both
    .venv/bin/python benchmarks/bench_measurement.py latency    # one
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import fake_gateway  # noqa: E402
from tests.support.fake_gateway import FakeGateway, Reply  # noqa: E402

# The fake gateway writes a response's headers and body in two sends; with Nagle's algorithm on,
# the body then waits for the client's delayed ACK, adding ~40 ms to every call on a kept-alive
# connection. That is a cost of the test server, not of oc (LiteLLM's server sets TCP_NODELAY),
# so the benchmark turns Nagle off as the stdlib handler allows.
fake_gateway._Handler.disable_nagle_algorithm = True

OC = str(Path(sys.executable).parent / "oc")
JUDGE_REPLY = '{"score": 0.9}'
LATENCY_TARGET_RATIO = 1.25
RSS_TARGET_MB = 300.0


def _env(work: Path, gateway: FakeGateway) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OC_", "LITELLM_", "ROUTING_", "OPENCRANE_"))}
    env.update(OC_DB=str(work / "oc.db"), OC_CONFIG=str(work / "config.toml"), CI="1",
               LITELLM_ENDPOINT=gateway.url, LITELLM_MASTER_KEY=gateway.api_key or "", ROUTING_JUDGE_MODEL="judge")
    return env


def _oc(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([OC, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"oc {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _prepare(env: dict[str, str], work: Path, cases: int) -> None:
    """Three models of three providers and ``cases`` eval cases for the skill ``bench``."""
    _oc(env, "model", "add", "--name", "base", "--upstream", "openai/gpt-4o")
    _oc(env, "model", "add", "--name", "cand", "--upstream", "anthropic/claude-3-haiku")
    _oc(env, "model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
    path = work / "cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(cases):
            line = {"skillName": "bench", "skillScope": "org", "input": f"Summarise document number {i}.",
                    "expected": f"A short summary of document {i}.", "qualityBar": 0.8}
            fh.write(json.dumps(line) + "\n")
    _oc(env, "routing", "eval-case", "import", str(path))


def _run(env: dict[str, str], concurrency: int) -> tuple[dict[str, Any], float, float]:
    """Run the measurement; return its JSON, the process's wall seconds and its peak RSS in MB."""
    command = [OC, "routing", "measurement", "run", "--skill", "bench", "--candidate-model", "cand",
               "--current-model", "base", "--concurrency", str(concurrency), "--seed", "1", "-o", "json"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"measurement run exited {proc.returncode}: {err.decode(errors='replace').strip()}")
    # The largest child so far is this run: the set-up commands before it are far smaller.
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out), wall, peak_kb / 1024.0


def _seconds_between(start: str, end: str) -> float:
    def parse(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def bench_latency(cases: int = 200, concurrency: int = 16, latency_ms: float = 100.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp, FakeGateway() as gateway:
        gateway.add_model("base", Reply.slow(latency_ms), prices=(10.0, 30.0))
        gateway.add_model("cand", Reply.slow(latency_ms), prices=(1.0, 3.0))
        gateway.add_model("judge", Reply.slow(latency_ms, JUDGE_REPLY), prices=(2.0, 6.0))
        env = _env(Path(tmp), gateway)
        _prepare(env, Path(tmp), cases)
        result, wall, _ = _run(env, concurrency)
        m = result["measurement"]
        calls = sum(gateway.call_counts().values())
    ideal = calls * latency_ms / 1000.0 / concurrency
    floor = math.ceil(cases / concurrency) * 2 * latency_ms / 1000.0
    run_s = _seconds_between(m["runAt"], m["finishedAt"])
    return {
        "benchmark": "measurement-latency",
        "cases": cases,
        "concurrency": concurrency,
        "callLatencyMs": latency_ms,
        "gatewayCalls": calls,
        "casesCompleted": m["casesCompleted"],
        "idealSeconds": round(ideal, 3),
        "processWallSeconds": round(wall, 3),
        "runSeconds": round(run_s, 3),
        "pipelineFloorSeconds": round(floor, 3),
        "processRatio": round(wall / ideal, 3),
        "runRatio": round(run_s / ideal, 3),
        "runToFloorRatio": round(run_s / floor, 3),
        "targetRatio": LATENCY_TARGET_RATIO,
        "meetsTarget": wall / ideal <= LATENCY_TARGET_RATIO,
    }


def bench_memory(cases: int = 10_000, concurrency: int = 32) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp, FakeGateway() as gateway:
        gateway.add_model("base", Reply.ok(), prices=(10.0, 30.0))
        gateway.add_model("cand", Reply.ok(), prices=(1.0, 3.0))
        gateway.add_model("judge", Reply.ok(JUDGE_REPLY), prices=(2.0, 6.0))
        env = _env(Path(tmp), gateway)
        _prepare(env, Path(tmp), cases)
        result, wall, peak_mb = _run(env, concurrency)
        m = result["measurement"]
    return {
        "benchmark": "measurement-memory",
        "cases": cases,
        "concurrency": concurrency,
        "casesCompleted": m["casesCompleted"],
        "processWallSeconds": round(wall, 3),
        "peakRssMb": round(peak_mb, 1),
        "targetMb": RSS_TARGET_MB,
        "meetsTarget": peak_mb <= RSS_TARGET_MB,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", metavar="latency|memory", help="which benchmarks (default: both)")
    args = parser.parse_args(argv)
    chosen = args.which or ["latency", "memory"]
    unknown = sorted(set(chosen) - {"latency", "memory"})
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    figures = []
    if "latency" in chosen:
        figures.append(bench_latency())
    if "memory" in chosen:
        # In a fresh interpreter, so ru_maxrss of the children is the memory run's alone.
        if "latency" in chosen:
            done = subprocess.run([sys.executable, __file__, "memory"], capture_output=True, text=True, check=True)
            figures.extend(json.loads(done.stdout))
        else:
            figures.append(bench_memory())
    print(json.dumps(figures, indent=2))
    return 0 if all(f["meetsTarget"] for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
