"""Benchmark: importing LiteLLM spend logs and computing routing metrics (SPEC §6).

Generates a realistic ``LiteLLM_SpendLogs`` JSONL export in a temporary directory (default
1,000,000 rows, about 1.3 KB each, over the last 7 days in roughly the time order LiteLLM stores
them: several models with their own latency profiles, tenants, skill tags, 2% failures, metadata
as objects and as JSON strings, times naive, with Z and with offsets), then times, through the
real ``oc`` command line:

1. ``oc usage import FILE -o json`` into a fresh database (target: 1,000,000 rows <= 30 s);
2. the same import again, which must add nothing (idempotent by request_id);
3. ``oc routing metrics --by model -o json`` (target: <= 1.5 s), the table mode, the other
   groupings and a tenant identity's view.

Prints one JSON object with the figures. Usage::

    .venv/bin/python benchmarks/bench_usage.py [--rows N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

OC = Path(sys.executable).with_name("oc")

# public name -> (upstream model, provider, $ per 1M input tokens, $ per 1M output tokens, median latency ms)
MODELS = {
    "gpt-4o": ("gpt-4o-2024-08-06", "openai", 2.5, 10.0, 1800),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", "openai", 0.15, 0.6, 900),
    "claude-sonnet": ("claude-3-5-sonnet-20241022", "anthropic", 3.0, 15.0, 2200),
    "claude-haiku": ("claude-3-5-haiku-20241022", "anthropic", 0.8, 4.0, 1100),
    "gemini-flash": ("gemini-2.0-flash", "vertex_ai", 0.1, 0.4, 700),
    "llama-70b": ("meta-llama/Llama-3.3-70B-Instruct", "together_ai", 0.88, 0.88, 1500),
}
MODEL_WEIGHTS = [18, 35, 12, 15, 12, 8]
TENANTS = [f"tenant-{i:02d}" for i in range(20)]
SKILLS = ["summarise", "classify", "extract", "translate", "draft-reply", "triage", "sql-helper",
          "team/{t}/support-bot", "team/{t}/report-writer", "org/code-review"]


def _stamp(d: datetime, style: int) -> str:
    """LiteLLM writes naive UTC with microseconds; exports through other tools add Z or offsets."""
    if style == 0:
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if style == 1:
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    local = d + timedelta(hours=2)
    return local.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"


def generate(path: Path, rows: int, *, days: float = 7.0, seed: int = 7) -> None:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    names = list(MODELS)
    api_keys = [f"{rng.getrandbits(256):064x}" for _ in range(40)]
    # Rows are written roughly in time order, as LiteLLM stores them, with concurrent requests
    # interleaved (a few seconds of jitter).
    span = days * 86400 - 180
    first = now - timedelta(seconds=span + 120)
    step = span / max(rows, 1)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            name = rng.choices(names, MODEL_WEIGHTS)[0]
            upstream, provider, cin, cout, median = MODELS[name]
            tenant = rng.choice(TENANTS)
            skill = rng.choice(SKILLS).format(t=tenant)
            start = first + timedelta(seconds=i * step + rng.random() * 5)
            latency = median * rng.lognormvariate(0.0, 0.5)
            end = start + timedelta(milliseconds=latency)
            prompt = int(rng.lognormvariate(6.5, 0.8))
            completion = int(rng.lognormvariate(5.0, 0.7))
            failed = rng.random() < 0.02
            spend = 0.0 if failed else (prompt * cin + completion * cout) / 1e6
            request_id = f"chatcmpl-{rng.getrandbits(128):032x}"
            tags = [f"skill:{skill}", "env:prod"] if rng.random() < 0.9 else ["env:prod"]
            metadata = {
                "user_api_key": api_keys[i % len(api_keys)],
                "user_api_key_alias": f"{tenant}-key",
                "user_api_key_team_id": tenant,
                "user_api_key_team_alias": tenant,
                "user_api_key_user_id": f"user-{rng.randrange(500)}",
                "tags": tags,
                "requester_metadata": {"clusterTenant": tenant, "trace_id": f"{rng.getrandbits(64):016x}"},
                "model_map_information": {"model_map_key": upstream, "model_map_value": None},
                "additional_usage_values": {"prompt_tokens_details": None, "completion_tokens_details": None},
            }
            style = i % 10
            row = {
                "request_id": request_id,
                "call_type": "acompletion",
                "api_key": api_keys[i % len(api_keys)],
                "spend": spend,
                "total_tokens": prompt + completion,
                "prompt_tokens": prompt,
                "completion_tokens": 0 if failed else completion,
                "startTime": _stamp(start, 0 if style < 7 else (1 if style < 9 else 2)),
                "endTime": _stamp(end, 0 if style < 7 else (1 if style < 9 else 2)),
                "completionStartTime": _stamp(end, 0),
                "model": upstream,
                "model_id": f"{rng.getrandbits(128):032x}",
                "model_group": name,
                "custom_llm_provider": provider,
                "api_base": f"https://api.{provider}.example/v1",
                "user": "",
                "metadata": json.dumps(metadata) if style == 3 else metadata,
                "cache_hit": "False",
                "cache_key": "Cache OFF",
                "request_tags": json.dumps(tags) if style == 5 else tags,
                "team_id": tenant if style != 4 else None,
                "end_user": "",
                "requester_ip_address": "",
                "messages": {},
                "response": {},
                "status": "failure" if failed else ("success" if style != 6 else None),
            }
            if row["status"] is None:
                del row["status"]
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")


def _run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(OC), *args], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"oc {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files (default: a temp dir)")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="oc-bench-usage-") as tmp:
        work = Path(opts.keep) if opts.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OC_DB": str(work / "oc.db"), "OC_CONFIG": str(work / "config.toml"),
               "NO_COLOR": "1", "CI": "1"}
        for name in ("OPENCRANE_URL", "OC_AS_TENANT", "OC_CONTEXT"):
            env.pop(name, None)
        log = work / "spendlogs.jsonl"
        t0 = time.perf_counter()
        generate(log, opts.rows)
        generated = time.perf_counter() - t0
        load_before = os.getloadavg()[0]  # other work on the machine slows everything below

        import_s, first = _run(["usage", "import", str(log), "-o", "json"], env)
        reimport_s, again = _run(["usage", "import", str(log), "-o", "json"], env)
        first_report, again_report = json.loads(first.stdout), json.loads(again.stdout)

        metrics: dict[str, float] = {}
        for by in ("model", "skill", "tenant", "day"):
            metrics[f"by{by.capitalize()}JsonS"], out = _run(["routing", "metrics", "--by", by, "-o", "json"], env)
            if by == "model":
                by_model = json.loads(out.stdout)
        metrics["byModelTableS"], table = _run(["routing", "metrics", "--by", "model"], env)
        metrics["byModelAsTenantJsonS"], _ = _run(
            ["--as-tenant", TENANTS[0], "routing", "metrics", "--by", "model", "-o", "json"], env)
        print(json.dumps({
            "rows": opts.rows,
            "fileMiB": round(log.stat().st_size / (1 << 20), 1),
            "cpus": os.cpu_count(),
            "loadAverage1mBefore": round(load_before, 2),
            "generateS": round(generated, 2),
            "importS": round(import_s, 2),
            "importRowsPerS": round(opts.rows / import_s),
            "imported": first_report["imported"],
            "bad": first_report["bad"],
            "reimportS": round(reimport_s, 2),
            "reimportImported": again_report["imported"],
            "reimportSkipped": again_report["skipped"],
            "metrics": {k: round(v, 3) for k, v in metrics.items()},
            "requestsInDefaultWindow": by_model["totals"]["requests"],
            "dbMiB": round((work / "oc.db").stat().st_size / (1 << 20), 1),
            "tablePreview": table.stdout.splitlines()[:3],
        }, indent=2))


if __name__ == "__main__":
    main()
