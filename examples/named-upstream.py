#!/usr/bin/env python3
"""A tiny OpenAI-compatible upstream that answers every chat completion with its own name.

    python3 examples/named-upstream.py NAME PORT

Point a model's --api-base at http://127.0.0.1:PORT/v1 and the answer tells which upstream served
a request. Standard library only; stops on SIGTERM / Ctrl-C.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME, PORT = sys.argv[1], int(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        data = json.dumps({
            "id": f"chatcmpl-{NAME}", "object": "chat.completion", "created": 0, "model": body.get("model", NAME),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": NAME}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


try:
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
except KeyboardInterrupt:
    pass
