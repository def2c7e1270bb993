"""A small OpenAI-compatible gateway on 127.0.0.1 with scripted, per-model behaviour.

The real LiteLLM proxy (``tests/integration``) is the reference for what a gateway says. This
server exists for the faults a real proxy cannot produce on demand: a reply that never comes, a
connection closed mid-request, a malformed body, a missing or odd cost header, a fixed latency
for benchmarks. Each model gets a script of ``Reply`` values; call *n* of a model gets the *n*-th
reply, and the last one repeats. Call counts are kept per model, safely across threads.

    with FakeGateway() as gw:
        gw.add_model("cheap", Reply.status_error(429, retry_after="1"), Reply.ok(), prices=(1.0, 2.0))
        ... GatewayClient(gw.url, gw.api_key) ...
        assert gw.calls("cheap") == 2
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Action = Literal["respond", "hang", "close", "malformed"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build with the class methods; ``replace`` fields for variants.

    ``content=None`` echoes the last user message as ``"GOOD: <text>"``. Token counts default
    to whitespace-separated words of the request's messages and of the content.
    """

    action: Action = "respond"
    status: int = 200
    content: str | None = None
    prompt_tokens: int | None = -1  # -1: count words; None: omit from usage
    completion_tokens: int | None = -1
    header_cost: float | str | None = None
    body_cost: float | None = None
    retry_after: str | None = None
    delay_s: float = 0.0
    error_message: str = "scripted failure"
    hang_s: float = 60.0

    @classmethod
    def ok(cls, content: str | None = None, **fields: Any) -> Reply:
        return cls(content=content, **fields)

    @classmethod
    def status_error(cls, status: int, *, retry_after: str | None = None, message: str | None = None) -> Reply:
        return cls(status=status, retry_after=retry_after, error_message=message or f"scripted HTTP {status}")

    @classmethod
    def hang(cls, seconds: float = 60.0) -> Reply:
        """Accept the request and answer nothing for ``seconds`` (released early by ``stop``)."""
        return cls(action="hang", hang_s=seconds)

    @classmethod
    def close(cls) -> Reply:
        """Read the request, then close the connection without a response."""
        return cls(action="close")

    @classmethod
    def malformed(cls, status: int = 200) -> Reply:
        """A 2xx whose body is not JSON."""
        return cls(action="malformed", status=status)

    @classmethod
    def slow(cls, milliseconds: float, content: str | None = None) -> Reply:
        return cls(content=content, delay_s=milliseconds / 1000.0)


@dataclass
class _Model:
    replies: tuple[Reply, ...]
    prices: tuple[float, float] | None
    calls: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else json.dumps(content)


def _words(messages: list[Any]) -> int:
    return sum(len(_text(m.get("content")).split()) for m in messages if isinstance(m, dict))


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    gateway: FakeGateway


class _Handler(BaseHTTPRequestHandler):
    # Without this, a kept-alive connection adds ~40 ms per reply (Nagle + delayed ACK), which
    # would measure this server rather than the client.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: tests read counters, not access logs."""

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self._send_raw(status, raw, headers)

    def _send_raw(self, status: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": "fake_gateway_error", "param": None, "code": str(status)}}
        self._send_json(status, body, headers)

    def _authorized(self) -> bool:
        key = self.server.gateway.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "Authentication Error: invalid or missing key")
        return False

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") == "/health/liveliness":
            self._send_json(200, "I'm alive!")
        elif self.path.rstrip("/") in ("/v1/models", "/models"):
            if self._authorized():
                names = self.server.gateway.model_names()
                self._send_json(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route {self.path}")
            return
        if not self._authorized():
            return
        try:
            body = json.loads(raw)
            model = body["model"]
            messages = body["messages"]
        except (ValueError, KeyError, TypeError):
            self._error(400, "request body must be JSON with model and messages")
            return
        gateway = self.server.gateway
        picked = gateway._next_reply(model, body)
        if picked is None:
            self._error(400, f"Invalid model name passed in model={model}")
            return
        reply, prices = picked
        self._play(reply, prices, model, messages)

    def _play(self, reply: Reply, prices: tuple[float, float] | None, model: str, messages: list[Any]) -> None:
        stop = self.server.gateway._stopping
        if reply.delay_s > 0 and stop.wait(reply.delay_s):
            self.close_connection = True
            return
        if reply.action == "hang":
            stop.wait(reply.hang_s)
            self.close_connection = True
            return
        if reply.action == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if reply.action == "malformed":
            self._send_raw(reply.status, b'{"choices": [ this is not json')
            return
        if reply.status >= 400:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else None
            self._error(reply.status, reply.error_message, headers)
            return

        content = reply.content if reply.content is not None else f"GOOD: {_last_user_text(messages)}"
        prompt_tokens = _words(messages) if reply.prompt_tokens == -1 else reply.prompt_tokens
        completion_tokens = len(content.split()) if reply.completion_tokens == -1 else reply.completion_tokens
        usage: dict[str, Any] = {}
        if prompt_tokens is not None:
            usage["prompt_tokens"] = prompt_tokens
        if completion_tokens is not None:
            usage["completion_tokens"] = completion_tokens
        if prompt_tokens is not None and completion_tokens is not None:
            usage["total_tokens"] = prompt_tokens + completion_tokens
        if reply.body_cost is not None:
            usage["cost"] = reply.body_cost
        headers: dict[str, str] = {}
        if reply.header_cost is not None:
            headers["x-litellm-response-cost"] = str(reply.header_cost)
        elif reply.body_cost is None and prices is not None and prompt_tokens is not None and completion_tokens is not None:
            headers["x-litellm-response-cost"] = repr((prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1e6)
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": usage,
        }
        self._send_json(reply.status, body, headers)


class FakeGateway:
    """The server. ``api_key=None`` accepts any caller; otherwise a Bearer key is required."""

    def __init__(self, api_key: str | None = "sk-fake-gateway") -> None:
        self.api_key = api_key
        self._models: dict[str, _Model] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------
    def add_model(self, name: str, *replies: Reply, prices: tuple[float, float] | None = None) -> None:
        """Script ``name``: call n gets ``replies[n]``, the last reply repeats (default: ``Reply.ok()``).

        With ``prices`` (USD per million tokens, input and output), successful replies without an
        explicit cost carry an ``x-litellm-response-cost`` header of tokens × price, as a priced
        LiteLLM deployment does.
        """
        with self._lock:
            self._models[name] = _Model(replies=replies or (Reply.ok(),), prices=prices)

    def calls(self, model: str) -> int:
        with self._lock:
            entry = self._models.get(model)
            return entry.calls if entry else 0

    def call_counts(self) -> Counter[str]:
        with self._lock:
            return Counter({name: m.calls for name, m in self._models.items()})

    def requests(self, model: str) -> list[dict[str, Any]]:
        """The JSON bodies received for ``model``, in arrival order."""
        with self._lock:
            entry = self._models.get(model)
            return [dict(b) for b in entry.bodies] if entry else []

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def _next_reply(self, model: str, body: dict[str, Any]) -> tuple[Reply, tuple[float, float] | None] | None:
        with self._lock:
            entry = self._models.get(model)
            if entry is None:
                return None
            index = min(entry.calls, len(entry.replies) - 1)
            entry.calls += 1
            entry.bodies.append(body)
            return entry.replies[index], entry.prices

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeGateway is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGateway:
        self._stopping.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.gateway = self
        self._server = server
        # A short poll interval keeps ``stop`` fast (shutdown waits for the next poll).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hanging handlers, stop serving and free the port."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
