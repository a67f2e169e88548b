"""A tiny fake OpenAI-compatible chat server on 127.0.0.1 (bounded requests), for the tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

MAX_BODY = 1 << 20


class FakeChat:
    """OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1; ``answer(request_json)`` gives the reply
    text; every request body is kept in ``requests``."""

    def __init__(self, answer: Callable[[dict], str]) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                n = int(self.headers.get("Content-Length", 0))
                if self.path != "/v1/chat/completions" or n > MAX_BODY:
                    self.send_error(404 if n <= MAX_BODY else 413)
                    return
                req = json.loads(self.rfile.read(n))
                outer.requests.append(req)
                body = json.dumps({"object": "chat.completion", "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer(req)}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeChat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
