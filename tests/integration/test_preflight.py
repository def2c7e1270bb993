"""The gateway preflight and failed runs, against a real LiteLLM proxy.

Before any case, ``measurement run`` asks the proxy once which models it serves to the key: a
gateway that serves none of the run's models, or refuses the key, is one error line (exit 1) and
nothing is recorded. The judge's family comes from the proxy's ``/model/info`` when the judge is
not registered in ``oc``. A run that passes the preflight but completes no case (every call of
the candidate fails) ends ``failed`` with exit 1, and no 0% saving appears anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.integration.litellm_proxy import Proxy, model_entry, start_proxy
from tests.support.oc_process import Oc

pytestmark = pytest.mark.integration

CASES = 4


def one_error_line(done, code: str) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"[{code}]" in lines[0], done.stderr
    return lines[0]


def world(proxy: Proxy, home, *, key: str | None = None, judge: str = "judge", **models: str) -> Oc:
    """An ``oc`` home on ``proxy`` with ``models`` (name -> upstream) registered and one skill of cases."""
    oc = Oc(home, LITELLM_ENDPOINT=proxy.url, LITELLM_MASTER_KEY=key or proxy.master_key, ROUTING_JUDGE_MODEL=judge)
    for name, upstream in models.items():
        oc.run("model", "add", "--name", name, "--upstream", upstream)
    path = home / "cases.jsonl"
    path.write_text("".join(json.dumps({"skillName": "digest", "skillScope": "org", "qualityBar": 0.8,
                                        "input": f"Summarise incident {i}."}) + "\n" for i in range(CASES)))
    oc.run("routing", "eval-case", "import", str(path))
    return oc


def assert_nothing_recorded(oc: Oc) -> None:
    assert oc.json("routing", "measurement", "list") == []
    assert not [e for e in oc.json("audit", "list", "--limit", "1000")["data"] if e["action"].startswith("Measurement")]


def test_a_gateway_serving_none_of_the_models_fails_at_once_naming_them(litellm_proxy: Proxy, tmp_path) -> None:
    oc = world(litellm_proxy, tmp_path, judge="ghost-judge", **{"ghost-baseline": "openai/gpt-4o",
                                                                "ghost-candidate": "anthropic/claude-3-haiku"})
    calls_before = len(litellm_proxy.call_log())
    started = time.monotonic()
    done = oc.run("routing", "measurement", "run", "--skill", "digest", "--current-model", "ghost-baseline",
                  "--candidate-model", "ghost-candidate", expect=1)
    elapsed = time.monotonic() - started
    line = one_error_line(done, "MODEL_NOT_SERVED")
    assert f"gateway {litellm_proxy.url} does not serve models ghost-baseline, ghost-candidate, ghost-judge" in line
    assert done.stdout == ""
    assert len(litellm_proxy.call_log()) == calls_before  # not one upstream call
    assert_nothing_recorded(oc)
    print(f"\npreflight refusal, whole `oc` process: {elapsed:.2f} s")
    assert elapsed < 10  # loose: a process start and one loopback GET, far from any case or retry


def test_a_wrong_master_key_fails_at_once_naming_the_key(litellm_proxy: Proxy, tmp_path) -> None:
    oc = world(litellm_proxy, tmp_path, key="sk-oc-not-the-master-key",
               **{"strong-baseline": "openai/gpt-4o", "cheap-candidate": "anthropic/claude-3-haiku"})
    done = oc.run("routing", "measurement", "run", "--skill", "digest", "--current-model", "strong-baseline",
                  "--candidate-model", "cheap-candidate", expect=1)
    line = one_error_line(done, "GATEWAY_KEY_REJECTED")
    assert f"gateway {litellm_proxy.url} refused the key" in line and "LITELLM_MASTER_KEY" in line
    assert "sk-oc-not-the-master-key" not in done.stderr
    assert_nothing_recorded(oc)

    doctor = oc.run("doctor", "-o", "json", expect=1)  # the same request, the same words
    gateway = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "gateway")
    assert gateway["status"] == "fail" and "refused the key" in gateway["detail"]


def test_a_run_whose_every_case_fails_ends_failed_and_shows_no_saving(litellm_proxy: Proxy, tmp_path) -> None:
    oc = world(litellm_proxy, tmp_path, **{"strong-baseline": "openai/gpt-4o",
                                           "always-unavailable": "anthropic/claude-3-haiku"})
    done = oc.run("routing", "measurement", "run", "--skill", "digest", "--current-model", "strong-baseline",
                  "--candidate-model", "always-unavailable", "-o", "json", expect=1)
    result = json.loads(done.stdout)
    m = result["measurement"]
    assert (result["status"], m["status"], result["proposalId"]) == ("failed", "failed", None)
    assert (m["casesCompleted"], m["casesFailed"], m["sampledCalls"]) == (0, CASES, 0)
    assert m["pinnedSavingsPct"] is None and m["projectedSavingsPct"] is None and m["candidatePassRate"] is None
    line = one_error_line(done, "MEASUREMENT_FAILED")
    assert f"measurement {m['id']} failed — candidate always-unavailable: HTTP 503 from gateway" in line
    assert f"({CASES} of {CASES} cases)" in line and f"--resume {m['id']}" in line

    listed = oc.run("routing", "measurement", "list").stdout
    row = next(r for r in listed.splitlines() if r.startswith(m["id"]))
    assert " failed " in row and row.count("n/a") == 4  # savings, its CI, the candidate's pass rate
    assert oc.json("routing", "measurement", "list")[0]["pinnedSavingsPct"] is None
    story = oc.run("routing", "measurement", "show", m["id"]).stdout
    assert f"status     failed: 0 of {CASES} cases completed, {CASES} failed" in story
    assert "cause      candidate always-unavailable: HTTP 503" in story and "%" not in story.split("decision")[0]
    assert oc.json("routing", "recommendation", "list", "--all") == []
    assert "save up to" not in oc.run("routing", "recommendation", "list").stdout
    audit = [e["message"] for e in oc.json("audit", "list", "--limit", "1000")["data"]
             if e["resource"] == f"RoutingMeasurement/{m['id']}"]
    assert any(msg.startswith(f"Measurement {m['id']} of skill digest failed: none of {CASES} cases completed")
               for msg in audit), audit
    assert not any("%" in msg for msg in audit), audit


# ----- the judge's family comes from the gateway when the judge is not registered ---------------------

@pytest.fixture(scope="module")
def openai_judge_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """A proxy whose model ``judge`` is really ``openai/gpt-4o`` (never called: the run is refused first)."""
    from tests.integration.conftest import LITELLM_MISSING, litellm_available

    if not litellm_available():
        pytest.skip(LITELLM_MISSING)
    models = [model_entry("strong-baseline", "answer"), model_entry("cheap-candidate", "answer"),
              {"model_name": "judge", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-never-used",
                                                         "api_base": "http://127.0.0.1:9/v1"}}]
    proxy = start_proxy(tmp_path_factory.mktemp("openai-judge-proxy"), models)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_an_unregistered_judge_takes_its_family_from_the_gateway(openai_judge_proxy: Proxy, tmp_path) -> None:
    oc = world(openai_judge_proxy, tmp_path, **{"strong-baseline": "anthropic/claude-3-opus",
                                                "cheap-candidate": "openai/gpt-4o-mini"})
    done = oc.run("routing", "measurement", "run", "--skill", "digest", "--current-model", "strong-baseline",
                  "--candidate-model", "cheap-candidate", expect=2)
    line = one_error_line(done, "JUDGE_NOT_INDEPENDENT")
    assert "judge judge (it runs openai/gpt-4o) is of the candidate's model family (openai)" in line
    assert_nothing_recorded(oc)
    assert openai_judge_proxy.call_log() == []

    # doctor reads the judge's upstream from the same answer
    oc.run("skill-posture", "set", "digest", "--pinned-model", "cheap-candidate")
    doctor = json.loads(oc.run("doctor", "-o", "json").stdout)
    judge = next(c for c in doctor["checks"] if c["name"] == "judge")
    assert judge["status"] == "warn" and "runs openai/gpt-4o" in judge["detail"]
    assert "same family (openai) as models skills are pinned to: cheap-candidate" in judge["detail"]

