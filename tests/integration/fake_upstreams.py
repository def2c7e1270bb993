"""Deterministic fake upstream models served by a real LiteLLM proxy (``custom_provider_map``).

The proxy imports this module (``custom_handler: fake_upstreams.handler``, found through
``PYTHONPATH``) and routes every ``fake/<kind>`` deployment to ``handler``. The proxy does
everything else for real: auth, routing, error mapping, usage and the ``x-litellm-response-cost``
header from each deployment's ``model_info`` prices.

Kinds (the part after ``fake/``):

* ``answer``        — replies ``"GOOD: <last user message>"``.
* ``flaky-quality`` — replies ``"BAD: …"`` for a deterministic third of inputs
  (``is_bad_quality``), ``"GOOD: …"`` otherwise.
* ``judge``         — reads the CANDIDATE OUTPUT fenced section of the judge prompt and replies
  ``{"score": 0.95}`` if it starts with ``GOOD``, ``{"score": 0.1}`` otherwise, and
  ``no candidate section`` (an unparsable grade) when the prompt has no such section.
* ``mixed``         — a wrong answer (``"BAD: …"``) for a deterministic quarter of inputs
  (``is_bad_answer``), a right one (``"GOOD: …"``) otherwise; independently of that, a long
  answer (``LONG_TAIL`` appended) for a deterministic half of inputs (``is_long_answer``).
* ``length-judge``  — a biased judge: ``{"score": 0.95}`` for any answer longer than
  ``BIASED_JUDGE_WORDS`` words, whatever it says; the honest ``judge``'s grade otherwise.
* ``rate-limit``    — HTTP 429 with ``Retry-After`` for selected inputs, then answers.
* ``unavailable``   — HTTP 503 for selected inputs, then answers.

Per-deployment options go in ``litellm_params`` (LiteLLM hands unknown params to the handler in
``optional_params``): ``fake_latency_ms`` (sleep before replying, any kind), ``fake_fault_every``
(inputs whose hash is divisible by it fail; 5 ≈ 20 %, 1 = all; default 5), ``fake_fail_times``
(how many times a selected input fails on that model before it is answered; default 1),
``fake_retry_after`` (the 429's ``Retry-After`` value; default ``"1"``).

Faults are keyed by (model, input), not by arrival order, so they are deterministic under any
concurrency: a selected input fails its first ``fake_fail_times`` calls and then succeeds, which is
exactly what a retrying client should see. The proxy runs one worker process, so the counters are
shared by every request.

How LiteLLM (1.106, observed) turns a handler exception into an HTTP status: the proxy answers with
the exception's ``status_code``, so ``litellm.RateLimitError`` → 429 and
``litellm.ServiceUnavailableError`` → 503 (a ``CustomLLMError(status_code=429 | 503, …)`` is mapped
to those same classes). ``Retry-After`` reaches the client only when passed as the exception's
``headers={"retry-after": …}``. The body is LiteLLM's ``{"error": {"message", "type", "code"}}``.
With ``num_retries: 0`` the proxy makes exactly one upstream call per request.

Every call (failed ones too) appends one JSON line ``{"model", "kind", "input_hash", "outcome"}``
to the file named by ``FAKE_UPSTREAM_LOG``; ``model`` is the public model name (LiteLLM's model
group), so tests can count calls per model.

The deterministic rules are plain functions importable without LiteLLM; the LiteLLM handler is
built on first access to ``handler`` (importing LiteLLM costs seconds the test process need not pay).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections import Counter
from typing import Any

PROVIDER = "fake"
KINDS = ("answer", "flaky-quality", "judge", "mixed", "length-judge", "rate-limit", "unavailable")
JUDGE_GOOD_REPLY = '{"score": 0.95}'
JUDGE_BAD_REPLY = '{"score": 0.1}'
JUDGE_NO_SECTION_REPLY = "no candidate section"

_CANDIDATE_SECTION = re.compile(r"^CANDIDATE OUTPUT\n(`{3,})\n(.*?)\n\1$", re.MULTILINE | re.DOTALL)


def text_of(content: Any) -> str:
    """Message content as text (a string, or the text parts of a content-part list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else json.dumps(content)


def user_text(messages: list[dict[str, Any]]) -> str:
    """The last user message's text: what the fake models answer."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def input_hash(messages: list[dict[str, Any]]) -> str:
    """A short stable hash of the whole message list (role and content only)."""
    canonical = [{"role": m.get("role"), "content": text_of(m.get("content"))} for m in messages]
    raw = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _digest(salt: str, text: str) -> int:
    return int(hashlib.sha256(f"{salt}\0{text}".encode()).hexdigest(), 16)


def is_bad_quality(text: str) -> bool:
    """Whether ``flaky-quality`` answers this user text badly (a deterministic third of inputs)."""
    return _digest("quality", text) % 3 == 0


def is_bad_answer(text: str) -> bool:
    """Whether ``mixed`` answers this user text wrongly (a deterministic quarter of inputs)."""
    return _digest("mixed-quality", text) % 4 == 0


def is_long_answer(text: str) -> bool:
    """Whether ``mixed`` pads its answer to this user text (a deterministic half, independent of quality)."""
    return _digest("mixed-length", text) % 2 == 0


#: What a long ``mixed`` answer appends: many words that add nothing.
LONG_TAIL = " To put it another way, and with a good deal more words than the question needed," * 4
#: The biased judge passes every answer with more words than this.
BIASED_JUDGE_WORDS = 40


def mixed_answer(text: str) -> str:
    answer = f"{'BAD' if is_bad_answer(text) else 'GOOD'}: {text}"
    return answer + LONG_TAIL if is_long_answer(text) else answer


def is_faulty(text: str, every: int = 5) -> bool:
    """Whether fault models fail this user text (1 in ``every`` inputs, independent of quality)."""
    return _digest("fault", text) % max(1, every) == 0


def count_words(text: str) -> int:
    return len(text.split())


def candidate_section(prompt: str) -> str | None:
    """The CANDIDATE OUTPUT fenced section of a judge prompt, or None when there is none."""
    match = _CANDIDATE_SECTION.search(prompt)
    return match.group(2) if match else None


def judge_reply(prompt: str) -> str:
    section = candidate_section(prompt)
    if section is None:
        return JUDGE_NO_SECTION_REPLY
    return JUDGE_GOOD_REPLY if section.startswith("GOOD") else JUDGE_BAD_REPLY


def biased_judge_reply(prompt: str) -> str:
    section = candidate_section(prompt)
    if section is not None and count_words(section) > BIASED_JUDGE_WORDS:
        return JUDGE_GOOD_REPLY
    return judge_reply(prompt)


def answer_for(kind: str, text: str) -> str:
    """The reply text of a successful call of ``kind`` to the user text ``text``."""
    if kind == "judge":
        return judge_reply(text)
    if kind == "length-judge":
        return biased_judge_reply(text)
    if kind == "mixed":
        return mixed_answer(text)
    if kind == "flaky-quality" and is_bad_quality(text):
        return f"BAD: {text}"
    return f"GOOD: {text}"


class _CallLog:
    """Per-(model, input) call counts plus the JSON-lines log shared with the tests."""

    def __init__(self) -> None:
        self.seen: Counter[tuple[str, str]] = Counter()

    def record(self, model: str, kind: str, digest: str, outcome: str) -> None:
        path = os.environ.get("FAKE_UPSTREAM_LOG")
        if path:
            line = json.dumps({"model": model, "kind": kind, "input_hash": digest, "outcome": outcome})
            with open(path, "a", encoding="utf-8") as log:
                log.write(line + "\n")


def _build_handler() -> Any:
    import litellm
    from litellm import CustomLLM
    from litellm.types.utils import ModelResponse, Usage

    class FakeUpstream(CustomLLM):
        """One handler for every ``fake/<kind>`` deployment."""

        def __init__(self) -> None:
            super().__init__()
            self.log = _CallLog()

        async def acompletion(  # type: ignore[override]
            self,
            model: str,
            messages: list[dict[str, Any]],
            api_base: str,
            custom_prompt_dict: dict[str, Any],
            model_response: ModelResponse,
            print_verbose: Any,
            encoding: Any,
            api_key: Any,
            logging_obj: Any,
            optional_params: dict[str, Any],
            acompletion: Any = None,
            litellm_params: dict[str, Any] | None = None,
            logger_fn: Any = None,
            headers: dict[str, Any] | None = None,
            timeout: Any = None,
            client: Any = None,
        ) -> ModelResponse:
            kind = model
            metadata = (litellm_params or {}).get("metadata") or {}
            public = metadata.get("model_group") or f"{PROVIDER}/{kind}"
            text = user_text(messages)
            digest = input_hash(messages)
            self.log.seen[(public, digest)] += 1
            seen = self.log.seen[(public, digest)]

            latency_ms = float(optional_params.get("fake_latency_ms") or 0)
            if latency_ms > 0:
                await asyncio.sleep(latency_ms / 1000.0)

            if kind not in KINDS:
                self.log.record(public, kind, digest, "400")
                raise litellm.BadRequestError(
                    message=f"unknown fake kind {kind!r}; expected one of {', '.join(KINDS)}",
                    model=model,
                    llm_provider=PROVIDER,
                )
            every = int(optional_params.get("fake_fault_every") or 5)
            fail_times = int(optional_params.get("fake_fail_times") or 1)
            if kind in ("rate-limit", "unavailable") and is_faulty(text, every) and seen <= fail_times:
                if kind == "rate-limit":
                    self.log.record(public, kind, digest, "429")
                    retry_after = str(optional_params.get("fake_retry_after", "1"))
                    raise litellm.RateLimitError(
                        message=f"fake rate limit ({seen}/{fail_times})",
                        llm_provider=PROVIDER,
                        model=model,
                        headers={"retry-after": retry_after},
                    )
                self.log.record(public, kind, digest, "503")
                raise litellm.ServiceUnavailableError(
                    message=f"fake outage ({seen}/{fail_times})", llm_provider=PROVIDER, model=model
                )

            reply = answer_for(kind, text)
            self.log.record(public, kind, digest, "ok")
            prompt_tokens = sum(count_words(text_of(m.get("content"))) for m in messages)
            completion_tokens = count_words(reply)
            model_response.choices[0].message.content = reply  # type: ignore[union-attr]
            model_response.usage = Usage(  # type: ignore[attr-defined]
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            )
            return model_response

    return FakeUpstream()


def __getattr__(name: str) -> Any:
    """Build the LiteLLM handler on first use (PEP 562), so importing the rules stays cheap."""
    if name == "handler":
        built = _build_handler()
        globals()["handler"] = built
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
