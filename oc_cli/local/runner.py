"""The asynchronous part of a measurement: gateway calls with bounded concurrency.

A fixed pool of workers pulls cases from a queue (memory stays flat however many cases there
are). Each case calls the baseline and the candidate, then the judge on both answers, and hands
the outcome to the backend, which stores it at once: a crash loses at most the cases in flight.

Each worker has a gateway client (a connection pool) of its own, holding at most the two
connections of its case. One pool shared by every worker holds 2 × concurrency connections, and
httpcore rescans all of them, idle ones quadratically, on every request it queues or releases:
with 32 workers that scan took half the process's CPU (2,000 cases against an instant gateway:
17 s of CPU with one pool, 7–9 s with a pool per worker). The workers share one TLS context,
since building one per client loads the CA bundle each time (~30 ms).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any, Callable

from oc_cli.domain.ids import now_iso


async def run_cases(backend: Any, m: sqlite3.Row, pending: list[sqlite3.Row], done: int, seams: dict,
                    options: dict, prices: dict, progress: Callable[[int, int, str], None] | None) -> None:
    import httpx

    from oc_cli.gateway.client import GatewayClient

    total = m["cases_total"]
    state = {"done": done, "failed": 0}
    if progress:
        progress(done, total, f"measuring {m['candidate_model']} vs {m['current_model']}")
    queue: asyncio.Queue = asyncio.Queue()
    for case in pending:
        queue.put_nowait(case)
    tls = httpx.create_ssl_context()

    async def worker() -> None:
        transport = httpx.AsyncHTTPTransport(verify=tls)
        async with GatewayClient(seams["url"], seams["key"], timeout=options["timeout"], transport=transport) as gw:
            while True:
                try:
                    case = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                result, usage = await run_case(gw, m, case, prices)
                backend.record_case(m["id"], case["position"], result, usage)
                state["done"] += 1
                if result["status"] != "completed":
                    state["failed"] += 1
                if progress:
                    note = f", {state['failed']} failed" if state["failed"] else ""
                    progress(state["done"], total, f"measuring{note}")

    workers = [asyncio.create_task(worker()) for _ in range(min(options["concurrency"], max(1, len(pending))))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise


async def run_case(gw: Any, m: sqlite3.Row, case: sqlite3.Row, prices: dict) -> tuple[dict, list[tuple]]:
    """One eval case: baseline and candidate in parallel, then the judge on both answers."""
    from oc_cli.domain import judge
    from oc_cli.gateway.client import messages_from_input

    data_in = json.loads(case["input"])
    expected = json.loads(case["expected"]) if case["expected"] is not None else None
    messages = messages_from_input(data_in)
    base_model, cand_model, judge_model = m["current_model"], m["candidate_model"], m["judge_model"]
    started = now_iso()
    base, cand = await asyncio.gather(
        gw.chat(base_model, messages, prices=prices.get(base_model)),
        gw.chat(cand_model, messages, prices=prices.get(cand_model)),
    )
    result: dict[str, Any] = {
        "attempts": base.attempts + cand.attempts,
        "baselineOutput": base.output if base.ok else None,
        "candidateOutput": cand.output if cand.ok else None,
        "baselineCostUsd": base.cost_usd, "candidateCostUsd": cand.cost_usd,
        "baselineCostSource": base.cost_source, "candidateCostSource": cand.cost_source,
        "baselineLatencyMs": base.latency_ms, "candidateLatencyMs": cand.latency_ms,
    }
    calls = [("measurement", base, None), ("measurement", cand, None)]
    errors = [f"{role} {r.model}: {r.error}" for role, r in (("baseline", base), ("candidate", cand)) if not r.ok]
    if not errors:
        jb, jc = await asyncio.gather(
            gw.chat(judge_model, judge.build_judge_messages(data_in, base.output, expected), prices=prices.get(judge_model)),
            gw.chat(judge_model, judge.build_judge_messages(data_in, cand.output, expected), prices=prices.get(judge_model)),
        )
        result["attempts"] += jb.attempts + jc.attempts
        known = [r.cost_usd for r in (jb, jc) if r.cost_usd is not None]
        result["judgeCostUsd"] = sum(known) if known else None
        result["judgeLatencyMs"] = max(jb.latency_ms, jc.latency_ms)
        calls += [("judge", jb, None), ("judge", jc, None)]
        for label, r in (("baseline", jb), ("candidate", jc)):
            if not r.ok:
                errors.append(f"judge ({label} answer) {r.model}: {r.error}")
                continue
            score = judge.parse_score(r.output)
            if score is None:
                excerpt = " ".join(r.output.split())[:80]
                errors.append(f"judge ({label} answer) gave no score: {excerpt!r}")
            result[f"{label}Score"] = score
    result["status"] = "failed" if errors else "completed"
    result["error"] = "; ".join(errors) if errors else None
    bar = case["quality_bar"]
    passed = {
        id(base): None if result.get("baselineScore") is None else int(result["baselineScore"] >= bar),
        id(cand): None if result.get("candidateScore") is None else int(result["candidateScore"] >= bar),
    }
    ended = now_iso()
    skill = str_key(m)
    tenant = m["skill_team"] or None
    usage = []
    for i, (kind, r, _) in enumerate(calls):
        usage.append((
            f"oc:{m['id']}:{case['position']}:{case['tries']}:{i}", kind, r.model, r.model, skill, tenant,
            r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms, "success" if r.ok else "failure",
            started, ended, m["id"], passed.get(id(r)),
        ))
    return result, usage


def str_key(m: sqlite3.Row) -> str:
    from oc_cli.domain.skillkey import SkillKey

    return str(SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"]))
