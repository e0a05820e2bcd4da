"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests: the real `openai` SDK talks to it over real HTTP.

It answers POST /v1/chat/completions (plain and streamed) and POST /v1/embeddings, records every request,
and can be told what to do with the next requests:

    server.reply = "Paris is the capital [1]."       # or a function body -> text
    server.fail(429)                                  # next request answers 429 (times=N for more)
    server.fail(500, times=99)                        # every request answers 500
    server.slow(5.0)                                  # next request waits 5 s before answering
    server.cut_stream(after_tokens=3)                 # next stream breaks after 3 tokens (no end of body)
    server.hold_stream(after_tokens=3)                # next stream sends 3 tokens, then waits for release()
    server.configure(settings, chat=True, embeddings=True)   # point ragchat at it (pytest `settings`)

Streams use chunked transfer encoding, so a cut stream is a truly broken HTTP body (the client sees an
incomplete chunked read), as when a provider's connection drops.
"""

import base64
import hashlib
import json
import socket
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, dims: int = 16):
        self.dims = dims
        self.reply = "This is the model's answer, from the sources [1]."
        self.requests: list[dict] = []
        self._plan: deque[dict] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    # --- what the next requests do ----------------------------------------------------------------
    def fail(self, status: int, times: int = 1, message: str = "fake failure") -> None:
        self._queue({"kind": "status", "status": status, "message": message}, times)

    def slow(self, seconds: float, times: int = 1) -> None:
        self._queue({"kind": "slow", "seconds": seconds}, times)

    def cut_stream(self, after_tokens: int, times: int = 1) -> None:
        self._queue({"kind": "cut", "after": after_tokens}, times)

    def hold_stream(self, after_tokens: int, times: int = 1) -> None:
        """A model that pauses mid-answer: the stream sends `after_tokens` tokens, then waits for release()."""
        self._released.clear()
        self._queue({"kind": "hold", "after": after_tokens}, times)

    def release(self) -> None:
        self._released.set()

    def _queue(self, step: dict, times: int) -> None:
        with self._lock:
            self._plan.extend(dict(step) for _ in range(times))

    def _next_step(self) -> dict | None:
        with self._lock:
            return self._plan.popleft() if self._plan else None

    # --- what tests read --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def chat_requests(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def embedding_requests(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["path"].endswith("/embeddings")]

    def configure(self, settings, *, chat: bool = True, embeddings: bool = False,
                  timeout: float = 5.0, max_retries: int = 0) -> None:
        """Point ragchat's provider settings (the pytest-django `settings` fixture) at this server."""
        settings.OPENAI_BASE_URL = self.url
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_TIMEOUT = timeout
        settings.OPENAI_MAX_RETRIES = max_retries
        if chat:
            settings.CHAT_BACKEND = "openai"
        if embeddings:
            settings.EMBEDDING_BACKEND = "openai"

    # --- answers ----------------------------------------------------------------------------------
    def reply_text(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    def embedding(self, text: str) -> list[float]:
        """A deterministic vector per text: the same text always gives the same embedding."""
        seed = hashlib.sha256(text.encode()).digest()
        values = [((seed[i % 32] + 31 * i) % 251) / 125.0 - 1.0 for i in range(self.dims)]
        return values

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, port: int = 0) -> "FakeOpenAI":
        """Serve on 127.0.0.1:`port` (0: any free port; benchmarks pass one of their own)."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()  # wakes any request that is "slow", so shutdown is immediate
        self._released.set()  # and any stream that is held
        self._httpd.shutdown()
        self._httpd.server_close()


def _tokens(text: str) -> list[str]:
    """Split an answer into stream deltas: words with their following space."""
    parts, current = [], ""
    for ch in text:
        current += ch
        if ch == " ":
            parts.append(current)
            current = ""
    return parts + ([current] if current else [])


def _limited(body: dict, text: str) -> tuple[str, str]:
    """The answer cut at the request's max_tokens (one token per word here), and its finish reason."""
    limit, tokens = body.get("max_tokens"), _tokens(text)
    if isinstance(limit, int) and len(tokens) > limit:
        return "".join(tokens[:limit]), "length"
    return text, "stop"


def _handler_for(server: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output clean
            pass

        def handle(self):
            # A client that gives up (a timeout test, a stream the app closes early) is normal here.
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                return self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            server.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            step = server._next_step()
            if step and step["kind"] == "slow":
                if server._stopped.wait(step["seconds"]):
                    return
                step = None
            if step and step["kind"] == "status":
                return self._json(step["status"], {"error": {"message": step["message"], "type": "server_error",
                                                              "code": step["status"]}})
            if self.path.endswith("/embeddings"):
                return self._embeddings(body)
            if self.path.endswith("/chat/completions"):
                if body.get("stream"):
                    return self._stream(body, cut_after=step["after"] if step and step["kind"] == "cut" else None,
                                        hold_after=step["after"] if step and step["kind"] == "hold" else None)
                return self._completion(body)
            return self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def _json(self, status: int, payload: dict):
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _embeddings(self, body: dict):
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
            base64_format = body.get("encoding_format") == "base64"
            data = []
            for index, text in enumerate(inputs):
                vector = server.embedding(str(text))
                if base64_format:
                    vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                data.append({"object": "embedding", "index": index, "embedding": vector})
            tokens = sum(len(str(t).split()) for t in inputs)
            self._json(200, {"object": "list", "data": data, "model": body.get("model", ""),
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

        def _usage(self, body: dict, text: str) -> dict:
            prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
            completion = len(text.split())
            return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

        def _completion(self, body: dict):
            text, finish_reason = _limited(body, server.reply_text(body))
            self._json(200, {
                "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish_reason}],
                "usage": self._usage(body, text),
            })

        def _stream(self, body: dict, cut_after: int | None, hold_after: int | None = None):
            text, finish_reason = _limited(body, server.reply_text(body))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model", "")}
            for sent, token in enumerate(_tokens(text)):
                if sent == hold_after:
                    server._released.wait()
                    if server._stopped.is_set():
                        return
                if cut_after is not None and sent >= cut_after:
                    # Half a chunk, then the connection drops: an incomplete body, as in a real outage.
                    self.wfile.write(b"40\r\ndata: {\"trunc")
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self._event({**base, "choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]})
            self._event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                self._event({**base, "choices": [], "usage": self._usage(body, text)})
            self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _event(self, payload: dict):
            self._chunk(f"data: {json.dumps(payload)}\n\n".encode())

        def _chunk(self, data: bytes):
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
