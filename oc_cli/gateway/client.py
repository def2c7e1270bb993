"""Chat completions through an OpenAI-compatible gateway (a LiteLLM proxy), measured per call.

A measurement replays many eval cases; one bad call must not sink the run. So ``chat`` never
raises for a per-call failure: it retries what is worth retrying and returns a ``CallResult``
that says what happened (output, tokens, cost and where the cost came from, latency, attempts,
status, error). The caller records it against its case.

What is retried: HTTP 429, 500, 502, 503, 504; timeouts; connection errors (refused, reset,
closed without a response); and 2xx replies whose body is not a usable completion. Nothing else:
other 4xx answers (bad model name, bad key, bad request) will not change on a second try.
Backoff is exponential with full jitter, ``min(backoff_max, backoff_base * 2**k) * U(0, 1)``
for the k-th retry, unless the gateway sent ``Retry-After`` (seconds or an HTTP date), which is
honoured up to ``retry_after_cap`` seconds.

Cost of a call, first that applies: the proxy's ``x-litellm-response-cost`` header; a cost in the
body (``usage.cost``, ``usage.response_cost``, ``_hidden_params.response_cost``); tokens times the
caller's registered prices; else unknown (``None``). Never a silent 0: a LiteLLM proxy omits the
header for a model it has no price for, and an unknown cost must block a savings claim rather than
make a model look free. A header of exactly 0 is trusted (the proxy priced the model at 0).

Concurrency is the caller's choice: ``gather_bounded`` runs many calls with a limit; the client's
connection pool is unbounded so that the limit is the only one.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from oc_cli import __version__
from oc_cli.errors import UpstreamError, ValidationError

CostSource = Literal["header", "body", "prices"]

COST_HEADER = "x-litellm-response-cost"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MODEL_INFO_PATH = "/model/info"
_MAX_ERROR_CHARS = 300

T = TypeVar("T")


@dataclass(frozen=True)
class CallResult:
    """The outcome of one logical call (all its attempts).

    ``latency_ms`` is the duration of the last attempt (what the model took to answer, without
    the backoff spent between attempts); ``attempts`` counts every request sent.
    ``status_code`` is the last HTTP status seen (``None`` when no response arrived).
    """

    output: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    cost_source: CostSource | None
    latency_ms: float
    attempts: int
    status_code: int | None
    error: str | None
    ok: bool
    model: str


@dataclass(frozen=True)
class ServedModels:
    """The models a gateway serves to a key: public names, and the upstream of each when known.

    ``upstreams`` maps a public name to its LiteLLM ``litellm_params.model`` (``openai/gpt-4o``);
    it is empty when the gateway only answered ``/v1/models``.
    """

    names: list[str]
    upstreams: dict[str, str]


@dataclass(frozen=True)
class _Completion:
    output: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    cost_source: CostSource | None
    status_code: int


@dataclass(frozen=True)
class _Failure:
    message: str
    status_code: int | None
    retryable: bool
    retry_after: float | None = None


class _Malformed(ValueError):
    """A 2xx body that is not a usable chat completion."""


def messages_from_input(value: Any) -> list[dict[str, Any]]:
    """Chat messages for an eval case's ``input``, exactly as the reference builds them.

    A string is one user message; an object with a ``messages`` list is that list verbatim;
    anything else becomes one user message holding its compact JSON.
    """
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        return list(value["messages"])
    return [{"role": "user", "content": json.dumps(value, ensure_ascii=False, separators=(",", ":"))}]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date), else None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _non_negative_number(value: Any) -> float | None:
    """A finite, non-negative cost from a JSON number or a numeric string; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _token_count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def resolve_cost(
    headers: Mapping[str, str],
    body: Mapping[str, Any],
    prompt_tokens: int | None,
    completion_tokens: int | None,
    prices: tuple[float, float] | None,
) -> tuple[float | None, CostSource | None]:
    """The cost of one completion and where it came from (see the module docstring)."""
    header = _non_negative_number(headers.get(COST_HEADER))
    if header is not None:
        return header, "header"
    usage = body.get("usage")
    hidden = body.get("_hidden_params")
    candidates: list[Any] = []
    if isinstance(usage, Mapping):
        candidates += [usage.get("cost"), usage.get("response_cost")]
    if isinstance(hidden, Mapping):
        candidates.append(hidden.get("response_cost"))
    for candidate in candidates:
        cost = _non_negative_number(candidate)
        if cost is not None:
            return cost, "body"
    if prices is not None and prompt_tokens is not None and completion_tokens is not None:
        input_per_mtok = _non_negative_number(prices[0])
        output_per_mtok = _non_negative_number(prices[1])
        if input_per_mtok is not None and output_per_mtok is not None:
            return (prompt_tokens * input_per_mtok + completion_tokens * output_per_mtok) / 1e6, "prices"
    return None, None


def _content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping)]
        return "".join(p for p in parts if isinstance(p, str))
    raise _Malformed(f"message content is {type(content).__name__}, not text")


def _parse_completion(response: httpx.Response, prices: tuple[float, float] | None) -> _Completion:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Malformed("body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise _Malformed("body is not a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _Malformed("no choices in the completion")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise _Malformed("the first choice has no message")
    output = _content_text(message.get("content"))
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
    prompt_tokens = _token_count(usage.get("prompt_tokens"))
    completion_tokens = _token_count(usage.get("completion_tokens"))
    cost, source = resolve_cost(response.headers, body, prompt_tokens, completion_tokens, prices)
    return _Completion(output, prompt_tokens, completion_tokens, cost, source, response.status_code)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def error_message(response: httpx.Response) -> str:
    """The gateway's own error message (OpenAI/LiteLLM ``{"error": {"message": …}}`` shape)."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    message: Any = None
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message")
        elif isinstance(error, str):
            message = error
        message = message or body.get("detail") or body.get("message")
    if not isinstance(message, str) or not message.strip():
        message = response.text if response.text.strip() else response.reason_phrase
    return _one_line(str(message)) or f"HTTP {response.status_code}"


def _describe_transport_error(exc: httpx.TransportError) -> str:
    detail = str(exc).strip()
    return _one_line(detail) if detail else type(exc).__name__


class GatewayClient:
    """An async client for one gateway. Use as ``async with GatewayClient(...) as gateway:``.

    ``base_url`` is the proxy root (``http://127.0.0.1:4000``); a trailing ``/v1`` is accepted
    and dropped, since people often copy the OpenAI-style base URL. ``transport``, ``sleep`` and
    ``rng`` exist so tests can drive the client without a network or real waiting.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        retry_after_cap: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.strip():
            raise ValidationError("gateway URL is empty", hint="set LITELLM_ENDPOINT or the context's gateway.url")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValidationError(f"invalid gateway timeout {timeout!r}", "expected a positive number of seconds")
        if max_attempts < 1:
            raise ValidationError(f"invalid attempt count {max_attempts!r}", "expected at least 1")
        if backoff_base < 0 or backoff_max < 0 or retry_after_cap < 0:
            raise ValidationError("invalid backoff settings", "backoff and Retry-After caps must be >= 0")
        root = base_url.strip().rstrip("/")
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        self.base_url = root
        self.timeout = float(timeout)
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry_after_cap = retry_after_cap
        self._api_key = api_key
        self._transport = transport
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> GatewayClient:
        headers = {"User-Agent": f"oc/{__version__}", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.timeout),
            transport=self._transport,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("GatewayClient is not open: use it as 'async with GatewayClient(...)'")
        return self._http

    def backoff_delay(self, retry_index: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0 for the first retry)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return min(self.backoff_max, self.backoff_base * 2**retry_index) * self._rng.random()

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        prices: tuple[float, float] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> CallResult:
        """One chat completion with retries; never raises for a failed call (see ``CallResult``).

        ``prices`` is the model's registered (input, output) USD per million tokens, used only
        when the gateway reports no cost.
        """
        body: dict[str, Any] = {"model": model, "messages": list(messages)}
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["max_tokens"] = max_tokens

        attempt = 0
        latency_ms = 0.0
        failure: _Failure | None = None
        while attempt < self.max_attempts:
            if attempt > 0 and failure is not None:
                await self._sleep(self.backoff_delay(attempt - 1, failure.retry_after))
            attempt += 1
            started = time.perf_counter()
            outcome = await self._attempt(body, prices)
            latency_ms = (time.perf_counter() - started) * 1000.0
            if isinstance(outcome, _Completion):
                return CallResult(
                    output=outcome.output,
                    prompt_tokens=outcome.prompt_tokens,
                    completion_tokens=outcome.completion_tokens,
                    cost_usd=outcome.cost_usd,
                    cost_source=outcome.cost_source,
                    latency_ms=latency_ms,
                    attempts=attempt,
                    status_code=outcome.status_code,
                    error=None,
                    ok=True,
                    model=model,
                )
            failure = outcome
            if not failure.retryable:
                break

        assert failure is not None  # the loop ran at least once and did not return
        error = failure.message
        if failure.retryable:
            error += f" ({attempt} attempt{'s' if attempt != 1 else ''})"
        return CallResult(
            output="",
            prompt_tokens=None,
            completion_tokens=None,
            cost_usd=None,
            cost_source=None,
            latency_ms=latency_ms,
            attempts=attempt,
            status_code=failure.status_code,
            error=error,
            ok=False,
            model=model,
        )

    async def _attempt(self, body: dict[str, Any], prices: tuple[float, float] | None) -> _Completion | _Failure:
        client = self._client()
        try:
            # httpx's timeout bounds each phase; this bounds the whole attempt, so a server
            # that trickles bytes cannot hold a call open past the per-call timeout.
            async with asyncio.timeout(self.timeout):
                response = await client.post(CHAT_PATH, json=body)
        except (TimeoutError, httpx.TimeoutException):
            return _Failure(f"timed out after {self.timeout}s", None, retryable=True)
        except httpx.TransportError as exc:
            return _Failure(f"gateway connection failed: {_describe_transport_error(exc)}", None, retryable=True)

        status = response.status_code
        if 200 <= status < 300:
            try:
                return _parse_completion(response, prices)
            except _Malformed as exc:
                return _Failure(f"malformed reply from gateway (HTTP {status}): {exc}", status, retryable=True)
        message = f"HTTP {status} from gateway: {error_message(response)}"
        if status in RETRYABLE_STATUS:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return _Failure(message, status, retryable=True, retry_after=retry_after)
        return _Failure(message, status, retryable=False)

    async def list_models(self) -> list[str]:
        """The model names the gateway serves to this key (``GET /v1/models``)."""
        return (await self._served(MODELS_PATH)).names

    async def served_models(self) -> ServedModels:
        """What the gateway serves to this key, with each model's upstream when it says.

        One request in the usual case: LiteLLM's ``GET /model/info`` lists every public name
        with its ``litellm_params.model``. A gateway without that route (404/405) is asked
        ``GET /v1/models`` instead, which names the models but not their upstreams. One attempt
        each: a check should report what it sees, not wait out a backoff.
        """
        try:
            return await self._served(MODEL_INFO_PATH)
        except _NoSuchRoute:
            return await self._served(MODELS_PATH)

    async def _served(self, path: str) -> ServedModels:
        client = self._client()
        where = f"gateway {self.base_url}"
        try:
            async with asyncio.timeout(self.timeout):
                response = await client.get(path)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamError(f"{where} did not answer", f"timed out after {self.timeout}s",
                                code="GATEWAY_UNREACHABLE") from exc
        except httpx.TransportError as exc:
            raise UpstreamError(f"cannot reach {where}", _describe_transport_error(exc),
                                code="GATEWAY_UNREACHABLE",
                                hint="start the LiteLLM proxy, or fix LITELLM_ENDPOINT / the context's gateway.url",
                                ) from exc
        # A listing takes no input, so a 400 can only be about the caller: a LiteLLM proxy without a
        # database answers an unknown key with 400 "No connected db." (401 with one).
        if response.status_code in (400, 401, 403):
            raise UpstreamError(
                f"{where} refused the key",
                f"HTTP {response.status_code}: {error_message(response)}",
                code="GATEWAY_KEY_REJECTED",
                hint="check LITELLM_MASTER_KEY or the context's gateway.key",
            )
        if response.status_code in (404, 405) and path != MODELS_PATH:
            raise _NoSuchRoute(path)
        if not 200 <= response.status_code < 300:
            raise UpstreamError(f"{where} failed to list models", f"HTTP {response.status_code}: {error_message(response)}")
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise UpstreamError(f"{where} sent an unreadable model list", "body is not valid JSON") from exc
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise UpstreamError(f"{where} sent an unreadable model list", "no 'data' list in the reply")
        names: list[str] = []
        seen: set[str] = set()
        upstreams: dict[str, str] = {}
        for e in entries:
            if not isinstance(e, Mapping):
                continue
            name = e.get("id") if path == MODELS_PATH else e.get("model_name")
            if not isinstance(name, str) or not name:
                continue
            if name not in seen:
                seen.add(name)
                names.append(name)
            params = e.get("litellm_params")
            upstream = params.get("model") if isinstance(params, Mapping) else None
            if isinstance(upstream, str) and upstream and name not in upstreams:
                upstreams[name] = upstream  # several deployments of one name: the first one's
        return ServedModels(names, upstreams)


class _NoSuchRoute(Exception):
    """The gateway has no such route (not a LiteLLM proxy, or an old one)."""


async def gather_bounded(
    work: Iterable[Callable[[], Awaitable[T]] | Awaitable[T]],
    limit: int,
) -> list[T]:
    """Run awaitables (or zero-argument factories of them) with at most ``limit`` in flight.

    Results come back in input order. Pass factories for large batches so nothing starts before
    its turn. If one raises (or the caller is cancelled, e.g. Ctrl-C), the rest are cancelled and
    the exception propagates; ``GatewayClient.chat`` itself does not raise for failed calls.
    """
    if limit < 1:
        raise ValidationError(f"invalid concurrency {limit!r}", "expected at least 1")
    semaphore = asyncio.Semaphore(limit)

    async def run(item: Callable[[], Awaitable[T]] | Awaitable[T]) -> T:
        async with semaphore:
            return await (item() if callable(item) else item)

    items = list(work)
    tasks = [asyncio.ensure_future(run(item)) for item in items]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for item in items:  # coroutines whose turn never came: close them instead of leaking
            if inspect.iscoroutine(item) and inspect.getcoroutinestate(item) == inspect.CORO_CREATED:
                item.close()
        raise
