"""Benchmark: one 3-candidate measurement against three single-candidate runs; prints JSON figures.

Both sides run the real CLI in subprocesses (fresh database, ``CI=1``) against a local fake gateway
that answers every call (baseline, candidates, judge) after 100 ms, at the same ``--concurrency``
(cases in flight), in one invocation of this script:

* ``grouped``  — ``measurement run --candidate-model c1 --candidate-model c2 --candidate-model c3``:
  the baseline is answered and judged once per case (2N + 6N calls);
* ``separate`` — three runs, one per candidate, one after another (3 × 4N calls).

The figure is the wall-time ratio grouped ÷ separate; the issue expects ≤ 0.75.

    .venv/bin/python benchmarks/bench_multi.py            # 120 cases, concurrency 16
    .venv/bin/python benchmarks/bench_multi.py --cases 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import fake_gateway  # noqa: E402
from tests.support.fake_gateway import FakeGateway, Reply  # noqa: E402

# As in bench_measurement.py: Nagle + delayed ACK would add ~40 ms per reply of the test server.
fake_gateway._Handler.disable_nagle_algorithm = True

OC = str(Path(sys.executable).parent / "oc")
CANDIDATES = ("c1", "c2", "c3")
TARGET_RATIO = 0.75


def _env(work: Path, gateway: FakeGateway) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OC_", "LITELLM_", "ROUTING_", "OPENCRANE_"))}
    env.update(OC_DB=str(work / "oc.db"), OC_CONFIG=str(work / "config.toml"), CI="1", HOME=str(work),
               LITELLM_ENDPOINT=gateway.url, LITELLM_MASTER_KEY=gateway.api_key or "", ROUTING_JUDGE_MODEL="judge",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return env


def _oc(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([OC, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"oc {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _prepare(env: dict[str, str], work: Path, cases: int) -> None:
    _oc(env, "model", "add", "--name", "base", "--upstream", "openai/gpt-4o")
    _oc(env, "model", "add", "--name", "judge", "--upstream", "gemini/gemini-1.5-pro")
    for name in CANDIDATES:
        _oc(env, "model", "add", "--name", name, "--upstream", "anthropic/claude-3-haiku")
    path = work / "cases.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(cases):
            fh.write(json.dumps({"skillName": "bench", "skillScope": "org", "input": f"Summarise document {i}.",
                                 "expected": f"A short summary of document {i}.", "qualityBar": 0.8}) + "\n")
    _oc(env, "routing", "eval-case", "import", str(path))


def _timed(env: dict[str, str], concurrency: int, *candidates: str) -> tuple[float, dict[str, Any]]:
    args = ["routing", "measurement", "run", "--skill", "bench", "--current-model", "base", "--seed", "1",
            "--concurrency", str(concurrency), "-o", "json"]
    for name in candidates:
        args += ["--candidate-model", name]
    started = time.perf_counter()
    out = _oc(env, *args)
    return time.perf_counter() - started, json.loads(out)


def bench(cases: int, concurrency: int, latency_ms: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="oc-bench-") as tmp, FakeGateway() as gateway:
        gateway.add_model("base", Reply.slow(latency_ms), prices=(10.0, 30.0))
        gateway.add_model("judge", Reply.slow(latency_ms, '{"score": 0.9}'), prices=(2.0, 6.0))
        for i, name in enumerate(CANDIDATES, 1):
            gateway.add_model(name, Reply.slow(latency_ms), prices=(float(i), 3.0 * i))
        env = _env(Path(tmp), gateway)
        _prepare(env, Path(tmp), cases)

        before = sum(gateway.call_counts().values())
        grouped_s, grouped = _timed(env, concurrency, *CANDIDATES)
        grouped_calls = sum(gateway.call_counts().values()) - before
        separate_s, separate = 0.0, []
        for name in CANDIDATES:
            seconds, result = _timed(env, concurrency, name)
            separate_s += seconds
            separate.append(result["measurement"])
        separate_calls = sum(gateway.call_counts().values()) - before - grouped_calls
    same = all(g["pinnedSavingsPct"] == s["pinnedSavingsPct"] and g["candidatePassRate"] == s["candidatePassRate"]
               for g, s in zip(grouped["measurements"], separate))
    ratio = grouped_s / separate_s
    return {
        "benchmark": "measurement-multi-candidate",
        "cases": cases,
        "candidates": len(CANDIDATES),
        "concurrency": concurrency,
        "callLatencyMs": latency_ms,
        "groupedCalls": grouped_calls,
        "separateCalls": separate_calls,
        "groupedSeconds": round(grouped_s, 3),
        "separateSeconds": round(separate_s, 3),
        "ratio": round(ratio, 3),
        "sameFigures": same,
        "targetRatio": TARGET_RATIO,
        "meetsTarget": ratio <= TARGET_RATIO and same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    figures = bench(args.cases, args.concurrency, args.latency_ms)
    print(json.dumps(figures, indent=2))
    return 0 if figures["meetsTarget"] else 1


if __name__ == "__main__":
    sys.exit(main())
