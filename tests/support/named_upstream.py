"""OpenAI-compatible fake upstreams on loopback that answer every chat completion with their own name.

A LiteLLM proxy reaches each one through ``api_base`` (``NamedUpstream.api_base``), exactly as it
reaches a real provider, so a test can tell which upstream served a request from the answer
alone. Each server records the calls it received (``calls``: the ``model`` field the proxy sent
and the ``Authorization`` header it used).

``reply`` replaces the name as the answer (a judge upstream answers ``{"score": 0.95}``). Usage is
fixed (``PROMPT_TOKENS`` / ``COMPLETION_TOKENS``) so the proxy's cost of a call is known exactly.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT_TOKENS = 10
COMPLETION_TOKENS = 5


class NamedUpstream:
    def __init__(self, name: str, *, reply: str | None = None) -> None:
        self.name = name
        self.reply = reply if reply is not None else name
        self.calls: list[dict[str, Any]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                upstream.calls.append({"model": body.get("model"),
                                       "authorization": self.headers.get("authorization")})
                self._send(200, {
                    "id": f"chatcmpl-{upstream.name}-{len(upstream.calls)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model") or upstream.name,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": upstream.reply}}],
                    "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                              "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
                })

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"upstream-{name}", daemon=True)
        self.thread.start()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def refused_api_base() -> str:
    """An ``api_base`` on a loopback port nothing listens on: every call is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/v1"
