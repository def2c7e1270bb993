"""GatewayClient: request shape, cost sources, retries and backoff, failures as values.

Most tests drive the client through ``httpx.MockTransport`` with an injected ``sleep`` that only
records delays, so retry schedules are asserted exactly and nothing waits. The last group runs
over real sockets against ``tests.support.fake_gateway`` for faults a mock cannot fake honestly
(a server that hangs, a connection closed mid-request).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from oc_cli.errors import UpstreamError, ValidationError
from oc_cli.gateway.client import (
    COST_HEADER,
    CallResult,
    GatewayClient,
    gather_bounded,
    messages_from_input,
    parse_retry_after,
    resolve_cost,
)
from tests.support.fake_gateway import FakeGateway, Reply

KEY = "sk-test"
USER = [{"role": "user", "content": "What is 2+2?"}]


class Sleeps:
    """An injected ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def completion(content: Any = "GOOD: 4", *, prompt: int | None = 12, completion_tokens: int | None = 3,
               extra_usage: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    if prompt is not None:
        usage["prompt_tokens"] = prompt
    if completion_tokens is not None:
        usage["completion_tokens"] = completion_tokens
    usage.update(extra_usage or {})
    body = {"id": "x", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}], "usage": usage}
    body.update(top)
    return body


def ok_response(body: dict[str, Any] | None = None, cost: str | None = None) -> httpx.Response:
    headers = {COST_HEADER: cost} if cost is not None else {}
    return httpx.Response(200, json=body if body is not None else completion(), headers=headers)


def litellm_error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"message": message, "type": "x", "param": None, "code": str(status)}}
    return httpx.Response(status, json=body, headers=headers or {})


Step = httpx.Response | Exception | Callable[[httpx.Request], Any]


class Script:
    """A MockTransport handler answering with ``steps`` in order (the last one repeats)."""

    def __init__(self, *steps: Step) -> None:
        self.steps = steps
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        step = self.steps[min(len(self.requests), len(self.steps) - 1)]
        self.requests.append(request)
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return await step(request)
        return step


def call(script: Script, model: str = "cheap", messages: list[dict[str, Any]] = USER, *,
         sleeps: Sleeps | None = None, rng: random.Random | None = None, **kwargs: Any) -> CallResult:
    chat_kwargs = {k: kwargs.pop(k) for k in ("prices", "temperature", "max_tokens") if k in kwargs}

    async def go() -> CallResult:
        async with GatewayClient("http://gw.test", KEY, transport=httpx.MockTransport(script),
                                 sleep=sleeps or Sleeps(), rng=rng or random.Random(7), **kwargs) as gateway:
            return await gateway.chat(model, messages, **chat_kwargs)

    return asyncio.run(go())


# -- request shape and a successful call --------------------------------------------------------

def test_success_sends_openai_request_and_reads_output_tokens_and_header_cost() -> None:
    script = Script(ok_response(cost="0.00042"))
    result = call(script, "cheap", USER)

    request = script.requests[0]
    assert request.method == "POST"
    assert str(request.url) == "http://gw.test/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {"model": "cheap", "messages": USER}
    assert result == CallResult(output="GOOD: 4", prompt_tokens=12, completion_tokens=3, cost_usd=0.00042,
                                cost_source="header", latency_ms=result.latency_ms, attempts=1, status_code=200,
                                error=None, ok=True, model="cheap")
    assert result.latency_ms >= 0


def test_optional_sampling_parameters_are_sent_only_when_given() -> None:
    script = Script(ok_response())
    call(script, temperature=0.0, max_tokens=64)
    assert json.loads(script.requests[0].content) == {"model": "cheap", "messages": USER,
                                                      "temperature": 0.0, "max_tokens": 64}


@pytest.mark.parametrize("base", ["http://gw.test", "http://gw.test/", "http://gw.test/v1", "http://gw.test/v1/"])
def test_base_url_is_the_proxy_root_with_or_without_v1(base: str) -> None:
    script = Script(ok_response())

    async def go() -> None:
        async with GatewayClient(base, KEY, transport=httpx.MockTransport(script)) as gateway:
            await gateway.chat("m", USER)

    asyncio.run(go())
    assert str(script.requests[0].url) == "http://gw.test/v1/chat/completions"


def test_no_key_sends_no_authorization_header() -> None:
    script = Script(ok_response())

    async def go() -> None:
        async with GatewayClient("http://gw.test", None, transport=httpx.MockTransport(script)) as gateway:
            await gateway.chat("m", USER)

    asyncio.run(go())
    assert "authorization" not in script.requests[0].headers


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, ""), ("", ""), ([{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}], "ab")],
)
def test_output_is_first_choice_content_as_text(content: Any, expected: str) -> None:
    result = call(Script(ok_response(completion(content))))
    assert result.ok and result.output == expected


def test_missing_or_invalid_token_counts_are_none_not_zero() -> None:
    body = completion(prompt=None, completion_tokens=None)
    body["usage"] = {"prompt_tokens": "12", "completion_tokens": True}
    result = call(Script(ok_response(body, cost="0.1")))
    assert result.ok and result.prompt_tokens is None and result.completion_tokens is None


def test_calling_a_closed_client_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(GatewayClient("http://gw.test", KEY).chat("m", USER))


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": float("nan")}, {"max_attempts": 0},
                                    {"backoff_base": -1}, {"retry_after_cap": -0.1}])
def test_invalid_settings_are_validation_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GatewayClient("http://gw.test", KEY, **kwargs)


def test_empty_base_url_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="gateway URL"):
        GatewayClient("  ", KEY)


# -- cost ----------------------------------------------------------------------------------------

PRICES = (2.0, 8.0)  # USD per million tokens
PRICED = (12 * 2.0 + 3 * 8.0) / 1e6


@pytest.mark.parametrize(
    ("header", "body", "prices", "expected"),
    [
        ("0.5", completion(extra_usage={"cost": 0.25}), PRICES, (0.5, "header")),
        ("0", completion(extra_usage={"cost": 0.25}), PRICES, (0.0, "header")),
        (None, completion(extra_usage={"cost": 0.25}), PRICES, (0.25, "body")),
        (None, completion(extra_usage={"response_cost": "0.125"}), PRICES, (0.125, "body")),
        (None, completion(_hidden_params={"response_cost": 0.0625}), PRICES, (0.0625, "body")),
        (None, completion(), PRICES, (pytest.approx(PRICED), "prices")),
        (None, completion(), None, (None, None)),
        (None, completion(prompt=None), PRICES, (None, None)),
        ("nan", completion(), PRICES, (pytest.approx(PRICED), "prices")),
        ("inf", completion(), None, (None, None)),
        ("-0.01", completion(extra_usage={"cost": -1}), None, (None, None)),
        ("None", completion(extra_usage={"cost": True}), None, (None, None)),
        ("abc", completion(extra_usage={"cost": "NaN"}), PRICES, (pytest.approx(PRICED), "prices")),
    ],
)
def test_cost_comes_from_header_then_body_then_prices_else_unknown(
    header: str | None, body: dict[str, Any], prices: tuple[float, float] | None, expected: tuple[Any, Any]
) -> None:
    result = call(Script(ok_response(body, cost=header)), prices=prices)
    assert result.ok
    assert (result.cost_usd, result.cost_source) == expected


def test_unknown_cost_is_none_never_zero() -> None:
    result = call(Script(ok_response(completion())))
    assert result.cost_usd is None and result.cost_source is None


def test_invalid_prices_do_not_invent_a_cost() -> None:
    body = {"usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    assert resolve_cost({}, body, 1, 1, (float("nan"), 1.0)) == (None, None)
    assert resolve_cost({}, body, 1, 1, (-1.0, 1.0)) == (None, None)
    assert resolve_cost({}, body, 1, 1, (1.0, 1.0)) == (2e-6, "prices")


# -- retries -------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_until_success(status: int) -> None:
    sleeps = Sleeps()
    script = Script(litellm_error(status, "busy"), litellm_error(status, "busy"), ok_response(cost="0.01"))
    result = call(script, sleeps=sleeps)
    assert result.ok and result.attempts == 3 and result.status_code == 200 and result.cost_usd == 0.01
    assert len(script.requests) == 3 and len(sleeps.delays) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_client_errors_are_not_retried(status: int) -> None:
    sleeps = Sleeps()
    script = Script(litellm_error(status, "Invalid model name passed in\nmodel=nope"), ok_response())
    result = call(script, sleeps=sleeps)
    assert not result.ok
    assert result.attempts == 1 and len(script.requests) == 1 and sleeps.delays == []
    assert result.status_code == status
    assert result.error == f"HTTP {status} from gateway: Invalid model name passed in model=nope"
    assert result.output == "" and result.cost_usd is None


def test_exhausted_retries_report_the_last_failure_and_the_attempt_count() -> None:
    sleeps = Sleeps()
    script = Script(litellm_error(503, "upstream down"))
    result = call(script, sleeps=sleeps, max_attempts=4)
    assert not result.ok and result.attempts == 4 and len(script.requests) == 4 and len(sleeps.delays) == 3
    assert result.status_code == 503
    assert result.error == "HTTP 503 from gateway: upstream down (4 attempts)"


def test_backoff_is_exponential_with_full_jitter() -> None:
    sleeps = Sleeps()
    result = call(Script(litellm_error(502, "x")), sleeps=sleeps, rng=random.Random(42),
                  max_attempts=6, backoff_base=0.5, backoff_max=3.0)
    assert not result.ok
    twin = random.Random(42)
    expected = [min(3.0, 0.5 * 2**k) * twin.random() for k in range(5)]
    assert sleeps.delays == pytest.approx(expected)


class Ceiling(random.Random):
    def random(self) -> float:
        return 0.999999


def test_backoff_never_exceeds_backoff_max() -> None:
    sleeps = Sleeps()
    call(Script(litellm_error(500, "x")), sleeps=sleeps, rng=Ceiling(), max_attempts=10,
         backoff_base=1.0, backoff_max=4.0)
    assert max(sleeps.delays) <= 4.0
    assert sleeps.delays[:3] == pytest.approx([1.0, 2.0, 4.0], rel=1e-5)
    assert sleeps.delays[3:] == pytest.approx([4.0] * 6, rel=1e-5)


def test_retry_after_seconds_is_honoured_instead_of_backoff() -> None:
    sleeps = Sleeps()
    script = Script(litellm_error(429, "slow down", {"Retry-After": "2"}), ok_response())
    result = call(script, sleeps=sleeps)
    assert result.ok and result.attempts == 2 and sleeps.delays == [2.0]


def test_retry_after_is_capped() -> None:
    sleeps = Sleeps()
    call(Script(litellm_error(503, "x", {"Retry-After": "3600"}), ok_response()), sleeps=sleeps, retry_after_cap=5.0)
    assert sleeps.delays == [5.0]


def test_retry_after_http_date_is_honoured() -> None:
    sleeps = Sleeps()
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=20), usegmt=True)
    call(Script(litellm_error(429, "x", {"Retry-After": when}), ok_response()), sleeps=sleeps)
    assert len(sleeps.delays) == 1 and 17.0 <= sleeps.delays[0] <= 20.0


def test_unusable_retry_after_falls_back_to_backoff() -> None:
    sleeps = Sleeps()
    call(Script(litellm_error(429, "x", {"Retry-After": "soon"}), ok_response()), sleeps=sleeps,
         rng=random.Random(3), backoff_base=0.5)
    assert sleeps.delays == pytest.approx([0.5 * random.Random(3).random()])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (" 1.5 ", 1.5), ("0", 0.0), ("-4", 0.0), ("nan", None), ("", None), (None, None),
     ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0), ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0), ("tomorrow", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=timezone.utc)
    assert parse_retry_after(value, now=now) == expected


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.RemoteProtocolError("Server disconnected"), httpx.ReadError("reset")],
)
def test_connection_errors_are_retried(error: Exception) -> None:
    script = Script(error, ok_response())
    result = call(script)
    assert result.ok and result.attempts == 2


def test_connection_failure_after_all_attempts_is_reported_not_raised() -> None:
    result = call(Script(httpx.ConnectError("[Errno 111] Connection refused")), max_attempts=3)
    assert not result.ok and result.attempts == 3 and result.status_code is None
    assert result.error == "gateway connection failed: [Errno 111] Connection refused (3 attempts)"


def test_timeouts_are_retried_and_reported_with_the_attempt_count() -> None:
    result = call(Script(httpx.ReadTimeout("read timed out")), max_attempts=5, timeout=30.0)
    assert not result.ok and result.attempts == 5
    assert result.error == "timed out after 30.0s (5 attempts)"


def test_a_slow_reply_is_cut_at_the_per_call_timeout() -> None:
    async def too_slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return ok_response()

    started = time.perf_counter()
    result = call(Script(too_slow), timeout=0.05, max_attempts=2)
    assert time.perf_counter() - started < 2.0
    assert not result.ok and result.attempts == 2 and result.error == "timed out after 0.05s (2 attempts)"


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, content=b"{not json"),
        httpx.Response(200, json=["a list"]),
        httpx.Response(200, json={"choices": []}),
        httpx.Response(200, json={"choices": [{"index": 0}]}),
        httpx.Response(200, json={"choices": [{"message": {"content": 7}}]}),
    ],
)
def test_malformed_success_bodies_count_as_failed_attempts(bad: httpx.Response) -> None:
    script = Script(bad, ok_response(cost="0.2"))
    result = call(script)
    assert result.ok and result.attempts == 2 and result.cost_usd == 0.2


def test_persistently_malformed_replies_fail_the_call() -> None:
    result = call(Script(httpx.Response(200, content=b"<html>oops</html>")), max_attempts=2)
    assert not result.ok and result.attempts == 2 and result.status_code == 200
    assert result.error == "malformed reply from gateway (HTTP 200): body is not valid JSON (2 attempts)"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(400, json={"detail": "bad thing"}), "HTTP 400 from gateway: bad thing"),
        (httpx.Response(400, json={"error": "plain string"}), "HTTP 400 from gateway: plain string"),
        (httpx.Response(400, text="Bad\n  Request body"), "HTTP 400 from gateway: Bad Request body"),
        (httpx.Response(404, text=""), "HTTP 404 from gateway: Not Found"),
    ],
)
def test_error_messages_are_one_line(response: httpx.Response, message: str) -> None:
    assert call(Script(response)).error == message


def test_very_long_error_messages_are_truncated() -> None:
    result = call(Script(litellm_error(400, "x" * 5000)))
    assert result.error is not None and len(result.error) < 400 and result.error.endswith("…")


# -- messages ------------------------------------------------------------------------------------

def test_messages_from_input_follows_the_reference() -> None:
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert messages_from_input("hello") == [{"role": "user", "content": "hello"}]
    assert messages_from_input({"messages": conversation, "other": 1}) == conversation
    assert messages_from_input({"question": "é?", "n": 2}) == [{"role": "user", "content": '{"question":"é?","n":2}'}]
    assert messages_from_input({"messages": "not a list"}) == [
        {"role": "user", "content": '{"messages":"not a list"}'}]
    assert messages_from_input([1, 2]) == [{"role": "user", "content": "[1,2]"}]
    assert messages_from_input(None) == [{"role": "user", "content": "null"}]


# -- list_models ---------------------------------------------------------------------------------

def list_models(script: Script, key: str | None = KEY) -> list[str]:
    async def go() -> list[str]:
        async with GatewayClient("http://gw.test/v1", key, transport=httpx.MockTransport(script)) as gateway:
            return await gateway.list_models()

    return asyncio.run(go())


def test_list_models_returns_ids() -> None:
    script = Script(httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}, {"no": "id"}], "object": "list"}))
    assert list_models(script) == ["a", "b"]
    assert str(script.requests[0].url) == "http://gw.test/v1/models"


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        (litellm_error(401, "Authentication Error"), "refused the key"),
        (litellm_error(500, "boom"), "failed to list models"),
        (httpx.Response(200, content=b"nope"), "unreadable model list"),
        (httpx.Response(200, json={"models": []}), "unreadable model list"),
        (httpx.ConnectError("refused"), "cannot reach"),
        (httpx.ConnectTimeout("slow"), "did not answer"),
    ],
)
def test_list_models_failures_raise_upstream_errors(step: Step, fragment: str) -> None:
    script = Script(step)
    with pytest.raises(UpstreamError) as caught:
        list_models(script)
    assert fragment in caught.value.line()
    assert len(script.requests) == 1


# -- served_models and the preflight --------------------------------------------------------------

MODEL_INFO = {"data": [
    {"model_name": "judge", "litellm_params": {"model": "openai/gpt-4o"}, "model_info": {"id": "1"}},
    {"model_name": "cheap", "litellm_params": {"model": "anthropic/claude-3-haiku"}},
    {"model_name": "cheap", "litellm_params": {"model": "bedrock/anthropic.claude-3-haiku"}},  # a second deployment
    {"model_name": "bare"},
    {"no": "name"},
]}


def served(script: Script, key: str | None = KEY):
    async def go():
        async with GatewayClient("http://gw.test", key, transport=httpx.MockTransport(script)) as gateway:
            return await gateway.served_models()

    return asyncio.run(go())


def test_served_models_reads_names_and_upstreams_from_one_model_info_request() -> None:
    script = Script(httpx.Response(200, json=MODEL_INFO))
    answer = served(script)
    assert answer.names == ["judge", "cheap", "bare"]
    assert answer.upstreams == {"judge": "openai/gpt-4o", "cheap": "anthropic/claude-3-haiku"}
    assert [str(r.url) for r in script.requests] == ["http://gw.test/model/info"]
    assert script.requests[0].headers["Authorization"] == f"Bearer {KEY}"


def test_served_models_falls_back_to_the_openai_model_list_without_upstreams() -> None:
    script = Script(litellm_error(404, "Not Found"), httpx.Response(200, json={"data": [{"id": "a"}, {"id": "b"}]}))
    answer = served(script)
    assert (answer.names, answer.upstreams) == (["a", "b"], {})
    assert [r.url.path for r in script.requests] == ["/model/info", "/v1/models"]


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_refused_key_is_named_whatever_the_status(status: int) -> None:
    # a LiteLLM proxy without a database answers an unknown key with 400 "No connected db."
    script = Script(litellm_error(status, "No connected db." if status == 400 else "Authentication Error"))
    with pytest.raises(UpstreamError) as caught:
        served(script)
    assert caught.value.code == "GATEWAY_KEY_REJECTED" and "refused the key" in caught.value.line()
    assert "LITELLM_MASTER_KEY" in caught.value.line() and len(script.requests) == 1


def test_preflight_names_every_model_the_gateway_does_not_serve(gateway: FakeGateway) -> None:
    from oc_cli.gateway.preflight import preflight

    gateway.add_model("base")
    seams = {"url": gateway.url, "key": KEY}
    assert preflight(seams, ["base"]).names == ["base"]  # /model/info is missing here: /v1/models answers
    with pytest.raises(UpstreamError) as caught:
        preflight(seams, ["base", "cand", "judge", "cand"])
    line = caught.value.line()
    assert line.startswith(f"error: gateway {gateway.url} does not serve models cand, judge — it serves base")
    assert "[MODEL_NOT_SERVED]" in line and gateway.call_counts() == {"base": 0}
    with pytest.raises(UpstreamError) as refused:
        preflight({"url": gateway.url, "key": "sk-wrong"}, ["base"])
    assert "refused the key" in refused.value.line() and "[GATEWAY_KEY_REJECTED]" in refused.value.line()


# -- gather_bounded ------------------------------------------------------------------------------

def test_gather_bounded_keeps_order_and_never_exceeds_the_limit() -> None:
    in_flight = 0
    peak = 0

    async def work(i: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (i % 3))
        in_flight -= 1
        return i * i

    results = asyncio.run(gather_bounded([lambda i=i: work(i) for i in range(30)], limit=4))
    assert results == [i * i for i in range(30)]
    assert peak == 4


def test_gather_bounded_accepts_coroutines_and_factories() -> None:
    async def value(v: int) -> int:
        return v

    assert asyncio.run(gather_bounded([value(1), lambda: value(2)], limit=1)) == [1, 2]


def test_gather_bounded_cancels_the_rest_when_one_raises() -> None:
    started: list[int] = []

    async def work(i: int) -> int:
        started.append(i)
        if i == 1:
            raise KeyError("broken")
        await asyncio.sleep(10)
        return i

    async def go() -> None:
        await gather_bounded([lambda i=i: work(i) for i in range(20)], limit=2)

    begun = time.perf_counter()
    with pytest.raises(KeyError):
        asyncio.run(go())
    assert time.perf_counter() - begun < 5
    assert len(started) < 20


def test_gather_bounded_rejects_a_zero_limit() -> None:
    with pytest.raises(ValidationError):
        asyncio.run(gather_bounded([], limit=0))


# -- over real sockets (tests.support.fake_gateway) ----------------------------------------------

@pytest.fixture
def gateway() -> Any:
    with FakeGateway(api_key=KEY) as server:
        yield server


def real_call(server: FakeGateway, model: str, *, key: str = KEY, sleeps: Sleeps | None = None,
              **kwargs: Any) -> CallResult:
    prices = kwargs.pop("prices", None)

    async def go() -> CallResult:
        async with GatewayClient(server.url, key, sleep=sleeps or Sleeps(), **kwargs) as client:
            return await client.chat(model, USER, prices=prices)

    return asyncio.run(go())


def test_real_server_success_with_header_cost_from_prices(gateway: FakeGateway) -> None:
    gateway.add_model("cheap", prices=(1.0, 3.0))
    result = real_call(gateway, "cheap")
    assert result.ok and result.output == "GOOD: What is 2+2?"
    assert (result.prompt_tokens, result.completion_tokens) == (3, 4)
    assert result.cost_source == "header" and result.cost_usd == pytest.approx((3 * 1.0 + 4 * 3.0) / 1e6)
    assert gateway.calls("cheap") == 1
    assert gateway.requests("cheap") == [{"model": "cheap", "messages": USER}]


def test_real_server_cost_only_in_body(gateway: FakeGateway) -> None:
    gateway.add_model("m", Reply.ok(body_cost=0.003))
    result = real_call(gateway, "m", prices=(100.0, 100.0))
    assert (result.cost_usd, result.cost_source) == (0.003, "body")


def test_real_server_without_cost_falls_back_to_prices(gateway: FakeGateway) -> None:
    gateway.add_model("m")
    result = real_call(gateway, "m", prices=(1.0, 3.0))
    assert (result.cost_usd, result.cost_source) == (pytest.approx(15 / 1e6), "prices")


def test_real_server_hang_is_a_timeout_and_each_attempt_reaches_the_server(gateway: FakeGateway) -> None:
    gateway.add_model("m", Reply.hang(30))
    started = time.perf_counter()
    result = real_call(gateway, "m", timeout=0.2, max_attempts=2)
    assert time.perf_counter() - started < 3
    assert not result.ok and result.error == "timed out after 0.2s (2 attempts)"
    assert gateway.calls("m") == 2


def test_real_server_closed_connection_is_retried(gateway: FakeGateway) -> None:
    gateway.add_model("m", Reply.close(), Reply.ok("fine"))
    result = real_call(gateway, "m")
    assert result.ok and result.output == "fine" and result.attempts == 2 and gateway.calls("m") == 2


def test_real_server_malformed_body_is_retried(gateway: FakeGateway) -> None:
    gateway.add_model("m", Reply.malformed(), Reply.ok())
    result = real_call(gateway, "m")
    assert result.ok and result.attempts == 2


def test_real_server_rate_limit_with_retry_after(gateway: FakeGateway) -> None:
    sleeps = Sleeps()
    gateway.add_model("m", Reply.status_error(429, retry_after="1"), Reply.status_error(503), Reply.ok())
    result = real_call(gateway, "m", sleeps=sleeps, rng=random.Random(1))
    assert result.ok and result.attempts == 3 and gateway.calls("m") == 3
    assert sleeps.delays[0] == 1.0 and sleeps.delays[1] == pytest.approx(1.0 * random.Random(1).random())


def test_real_server_wrong_key_is_not_retried(gateway: FakeGateway) -> None:
    gateway.add_model("m")
    result = real_call(gateway, "m", key="sk-wrong")
    assert not result.ok and result.status_code == 401 and result.attempts == 1
    assert result.error is not None and result.error.startswith("HTTP 401 from gateway: Authentication Error")


def test_real_server_fixed_latency(gateway: FakeGateway) -> None:
    gateway.add_model("m", Reply.slow(100))
    result = real_call(gateway, "m")
    assert result.ok and result.latency_ms >= 100


def test_real_server_list_models(gateway: FakeGateway) -> None:
    gateway.add_model("b")
    gateway.add_model("a")

    async def go() -> list[str]:
        async with GatewayClient(gateway.url, KEY) as client:
            return await client.list_models()

    assert asyncio.run(go()) == ["a", "b"]
