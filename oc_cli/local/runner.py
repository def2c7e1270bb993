"""The asynchronous part of a measurement: gateway calls with bounded concurrency.

A fixed pool of workers pulls cases from a queue (memory stays flat however many cases there
are). A case is answered by the baseline and by every candidate of the run at once, each answer
then graded by the judge; the baseline is answered and graded once however many candidates share
it. Each answer-and-grade is a *part* stored on its own, so a resumed run repeats only the parts
that have no result. The outcome is handed to the backend, which stores it at once: a crash loses
at most the cases in flight.

Each worker has a gateway client (a connection pool) of its own, holding at most the connections
of its case. One pool shared by every worker holds them all, and httpcore rescans all of them,
idle ones quadratically, on every request it queues or releases: with 32 workers that scan took
half the process's CPU (2,000 cases against an instant gateway: 17 s of CPU with one pool, 7–9 s
with a pool per worker). The workers share one TLS context, since building one per client loads
the CA bundle each time (~30 ms).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from oc_cli.domain.ids import now_iso


@dataclass
class Member:
    """One candidate's record in a run: its measurement id, model and the case row's ``tries``."""

    mid: str
    model: str
    tries: int
    todo: bool  # the candidate part of this case has no result yet


@dataclass
class Slot:
    """One eval case of a run: what it asks and which parts still need gateway calls."""

    position: int
    input: str
    expected: str | None
    quality_bar: float
    baseline_todo: bool
    members: list[Member] = field(default_factory=list)

    @property
    def todo(self) -> bool:
        return self.baseline_todo or any(x.todo for x in self.members)


@dataclass
class Run:
    """What every case of a run shares."""

    skill: str
    tenant: str | None
    baseline_model: str
    judge_model: str
    lead: str  # the measurement id the baseline's gateway calls are recorded under
    label: str


async def run_cases(backend: Any, run: Run, slots: list[Slot], done: int, total: int, seams: dict,
                    options: dict, prices: dict, progress: Callable[[int, int, str], None] | None) -> None:
    import httpx

    from oc_cli.gateway.client import GatewayClient

    state = {"done": done, "failed": 0}
    if progress:
        progress(done, total, f"measuring {run.label}")
    queue: asyncio.Queue = asyncio.Queue()
    for slot in slots:
        queue.put_nowait(slot)
    tls = httpx.create_ssl_context()

    async def worker() -> None:
        transport = httpx.AsyncHTTPTransport(verify=tls)
        async with GatewayClient(seams["url"], seams["key"], timeout=options["timeout"], transport=transport) as gw:
            while True:
                try:
                    slot = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                baseline, candidates, usage = await run_case(gw, run, slot, prices)
                backend.record_case(slot, baseline, candidates, usage)
                state["done"] += 1
                parts = ([baseline] if baseline else []) + list(candidates.values())
                if any(p["status"] != "completed" for p in parts):
                    state["failed"] += 1
                if progress:
                    note = f", {state['failed']} failed" if state["failed"] else ""
                    progress(state["done"], total, f"measuring{note}")

    workers = [asyncio.create_task(worker()) for _ in range(min(options["concurrency"], max(1, len(slots))))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise


async def answer_and_grade(gw: Any, role: str, model: str, judge_model: str, data_in: Any, expected: Any,
                           messages: list, prices: dict) -> tuple[dict, list]:
    """One part of a case: ``model`` answers, the judge grades the answer. Returns (result, calls)."""
    from oc_cli.domain import judge

    ans = await gw.chat(model, messages, prices=prices.get(model))
    part: dict[str, Any] = {
        "output": ans.output if ans.ok else None, "costUsd": ans.cost_usd, "costSource": ans.cost_source,
        "latencyMs": ans.latency_ms, "attempts": ans.attempts, "score": None, "judgeCostUsd": None,
        "judgeLatencyMs": None, "error": None,
    }
    calls = [("measurement", ans)]
    if not ans.ok:
        part.update(status="failed", error=f"{role} {ans.model}: {ans.error}")
        return part, calls
    graded = await gw.chat(judge_model, judge.build_judge_messages(data_in, ans.output, expected),
                           prices=prices.get(judge_model))
    calls.append(("judge", graded))
    part.update(attempts=ans.attempts + graded.attempts, judgeCostUsd=graded.cost_usd,
                judgeLatencyMs=graded.latency_ms)
    if not graded.ok:
        part["error"] = f"judge ({role} answer) {graded.model}: {graded.error}"
    else:
        part["score"] = judge.parse_score(graded.output)
        if part["score"] is None:
            excerpt = " ".join(graded.output.split())[:80]
            part["error"] = f"judge ({role} answer) gave no score: {excerpt!r}"
    part["status"] = "failed" if part["error"] else "completed"
    return part, calls


async def run_case(gw: Any, run: Run, slot: Slot, prices: dict) -> tuple[dict | None, dict[str, dict], list[tuple]]:
    """The missing parts of one eval case, all at once. Returns (baseline part, {mid: candidate part}, usage rows)."""
    from oc_cli.gateway.client import messages_from_input

    data_in = json.loads(slot.input)
    expected = json.loads(slot.expected) if slot.expected is not None else None
    messages = messages_from_input(data_in)
    started = now_iso()
    jobs: list[tuple[str | None, str, str]] = []  # (member id or None for the baseline, role, model)
    if slot.baseline_todo:
        jobs.append((None, "baseline", run.baseline_model))
    jobs += [(x.mid, "candidate", x.model) for x in slot.members if x.todo]
    outcomes = await asyncio.gather(*(answer_and_grade(gw, role, model, run.judge_model, data_in, expected,
                                                       messages, prices) for _, role, model in jobs))
    ended = now_iso()
    baseline, candidates, usage = None, {}, []
    tries = {x.mid: x.tries for x in slot.members}
    for (mid, _, _), (part, calls) in zip(jobs, outcomes):
        if mid is None:
            baseline, owner, first = part, run.lead, 0
        else:
            candidates[mid], owner, first = part, mid, 1
        passed = None if part["score"] is None else int(part["score"] >= slot.quality_bar)
        # Request ids as a single-candidate run always numbered its calls: baseline 0, candidate 1,
        # their grades 2 and 3; a baseline shared by a group is recorded once, under the lead's id.
        for i, (kind, r) in enumerate(calls):
            usage.append((
                f"oc:{owner}:{slot.position}:{tries[owner]}:{first + 2 * i}", kind, r.model, r.model, run.skill,
                run.tenant, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms,
                "success" if r.ok else "failure", started, ended, owner, passed if kind == "measurement" else None,
            ))
    return baseline, candidates, usage


def str_key(m: Any) -> str:
    from oc_cli.domain.skillkey import SkillKey

    return str(SkillKey(m["skill_name"], m["skill_scope"], m["skill_team"]))
