"""Many slow streams at once, cheaply: a paced OpenAI-compatible server and an SSE client, both on asyncio.

    provider = SlowOpenAI(tokens=120, interval=0.5).start()     # one token every 0.5 s: a 60 s answer
    ... OPENAI_BASE_URL=provider.url ...
    result = asyncio.run(chat_stream("127.0.0.1", port, session_id, token))   # StreamResult
    provider.stop()

tests/openai_server.py is the fake for behaviour (failures, cut streams); this one only streams slowly, for
hundreds of clients at once, which a thread per connection would make costly for the machine being measured.
The provider can also cut every stream after `cut_after` tokens, as a provider that dies mid-answer.
"""

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field


class SlowOpenAI:
    def __init__(self, *, tokens: int = 120, interval: float = 0.5, host: str = "127.0.0.1", port: int = 0):
        self.tokens, self.interval, self.host, self.port = tokens, interval, host, port
        self.cut_after: int | None = None
        self.open_streams = 0
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "SlowOpenAI":
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, self.host, self.port, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: the SDK reuses its connections
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = json.loads(await reader.readexactly(length) or b"{}")
                self.requests += 1
                await self._answer(body, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, body: dict, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        base = {"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", "slow")}
        self.open_streams += 1
        try:
            for n in range(self.tokens):
                await asyncio.sleep(self.interval)
                if self.cut_after is not None and n >= self.cut_after:
                    writer.write(b"40\r\ndata: {\"trunc")  # half a chunk, then the connection drops
                    await writer.drain()
                    writer.transport.abort()
                    return
                delta = {"index": 0, "delta": {"content": f"word{n} "}, "finish_reason": None}
                await _chunk(writer, {**base, "choices": [delta]})
            await _chunk(writer, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            if (body.get("stream_options") or {}).get("include_usage"):
                await _chunk(writer, {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens":
                                                                        self.tokens, "total_tokens": self.tokens + 10}})
            writer.write(_frame(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
        finally:
            self.open_streams -= 1


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _chunk(writer: asyncio.StreamWriter, payload: dict) -> None:
    writer.write(_frame(f"data: {json.dumps(payload)}\n\n".encode()))
    await writer.drain()


# --- the client side ------------------------------------------------------------------------------
@dataclass
class StreamResult:
    status: int = 0
    content_type: str = ""
    tokens: int = 0
    events: list[str] = field(default_factory=list)
    last: dict = field(default_factory=dict)  # the data of the last event
    seconds: float = 0.0
    error: str = ""

    @property
    def ended(self) -> str:
        return self.events[-1] if self.events else ""


async def request(host: str, port: int, method: str, path: str, *, token: str = "", body: dict | None = None,
                  accept: str = "application/json", timeout: float = 30.0) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request on its own connection: (status, headers, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(_request_bytes(host, port, method, path, token, body, accept))
        status, headers = await asyncio.wait_for(_read_head(reader), timeout)
        data = b"".join([part async for part in _body_parts(reader, headers)])
        return status, headers, data
    finally:
        writer.close()


async def chat_stream(host: str, port: int, session_id: str, token: str, *, message: str = "Tell me a story.",
                      retry: bool = False, timeout: float = 180.0) -> StreamResult:
    """POST a chat turn with Accept: text/event-stream and read its events to the end."""
    result = StreamResult()
    started = time.monotonic()
    body = {"retry": True} if retry else {"message": message}
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        try:
            writer.write(_request_bytes(host, port, "POST", f"/api/sessions/{session_id}/chat", token, body,
                                        "text/event-stream"))
            result.status, headers = await asyncio.wait_for(_read_head(reader), timeout)
            result.content_type = headers.get("content-type", "")
            buffer = b""
            async with asyncio.timeout(timeout):
                async for part in _body_parts(reader, headers):
                    buffer += part
                    while b"\n\n" in buffer:
                        event, buffer = buffer.split(b"\n\n", 1)
                        _take_event(result, event.decode())
        finally:
            writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = f"{exc.__class__.__name__}: {exc}"
    result.seconds = time.monotonic() - started
    return result


def _take_event(result: StreamResult, text: str) -> None:
    name, data = "message", ""
    for line in text.splitlines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
    result.events.append(name)
    result.last = json.loads(data) if data else {}
    if name == "token":
        result.tokens += 1


def _request_bytes(host, port, method, path, token, body, accept) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Accept: {accept}", "Connection: close"]
    if token:
        lines.append(f"Authorization: Token {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _body_parts(reader: asyncio.StreamReader, headers: dict):
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data
