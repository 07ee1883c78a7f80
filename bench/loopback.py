"""An independent OpenAI-compatible loopback endpoint for the client benchmarks.

Not the toolkit's simulator: a few dozen lines of raw asyncio that answer every chat request
with the same ~60-word reply, so the server costs as little CPU as possible and every client
measured against it (the runner, a minimal aiohttp client, the official `openai` client)
gets byte-identical answers. It speaks HTTP/1.1 keep-alive, JSON and SSE (one event per
token, the shape vLLM sends), waits `--latency` seconds before answering, and paces tokens
at `--tokens-per-s` (0: all at once). `GET /stats` returns the monotonic time of the first
request and the last response since the last `POST /reset` (CLOCK_MONOTONIC is system-wide
on Linux, so a client process can compare it with its own `time.monotonic()`).

    python bench/loopback.py --port 0 --latency 0.5    # prints "listening on http://…/v1"
"""

from __future__ import annotations

import argparse
import asyncio
import time

import orjson

MODEL = "loopback"
THINK = (
    "The question asks about the small square in the corner of the picture. Looking at "
    "the image, the square in the lower left corner is filled with a solid colour that "
    "reads clearly as red, with no gradient or border."
)
ANSWER = "The small square in the corner is red. \\boxed{red}"
# The reply a server sends when generation stopped at "</answer>": the stop string trimmed.
TEXT = f"<think>{THINK}</think><answer>{ANSWER}"


def _tokens(text: str) -> list[str]:
    """Word-sized tokens (a word and the space after it), the tags as tokens of their own."""
    out: list[str] = []
    for piece in text.replace("<", "\0<").replace(">", ">\0").split("\0"):
        if piece.startswith("<"):
            out.append(piece)
            continue
        words = piece.split(" ")
        out += [w + " " for w in words[:-1]] + ([words[-1]] if words[-1] else [])
    return [t for t in out if t]


TOKENS = _tokens(TEXT)
USAGE = {"prompt_tokens": 120, "completion_tokens": len(TOKENS), "total_tokens": 120 + len(TOKENS)}
HEAD = {"id": "chatcmpl-loopback", "created": 1700000000, "model": MODEL}


def json_body() -> bytes:
    return orjson.dumps(
        {
            **HEAD,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT},
                    "finish_reason": "stop",
                    "stop_reason": "</answer>",
                }
            ],
            "usage": USAGE,
        }
    )


def _event(obj: object) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _sse_events() -> list[bytes]:
    chunk = {**HEAD, "object": "chat.completion.chunk"}
    first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
    events = [_event({**chunk, "choices": [first]})]
    for tok in TOKENS:
        choice = {"index": 0, "delta": {"content": tok}, "logprobs": None, "finish_reason": None}
        events.append(_event({**chunk, "choices": [choice]}))
    last = {"index": 0, "delta": {}, "finish_reason": "stop", "stop_reason": "</answer>"}
    events.append(_event({**chunk, "choices": [last]}))
    events.append(_event({**chunk, "choices": [], "usage": USAGE}))
    events.append(b"data: [DONE]\n\n")
    return events


def _response(status: str, ctype: str, body: bytes, length: int | None = None) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body


JSON_RESPONSE = _response("200 OK", "application/json", json_body())
EVENTS = _sse_events()
SSE_HEAD = _response("200 OK", "text/event-stream", b"", sum(map(len, EVENTS)))
MODELS = _response(
    "200 OK", "application/json", orjson.dumps({"object": "list", "data": [{"id": MODEL}]})
)


class Stats:
    """First request and last response since the last reset (monotonic seconds)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.requests = 0

    def body(self) -> bytes:
        data = {"first_request": self.first, "last_response": self.last}
        return orjson.dumps({**data, "requests": self.requests})


class Connection(asyncio.Protocol):
    """One keep-alive connection: requests are answered in order, one at a time."""

    def __init__(self, opts: argparse.Namespace, stats: Stats) -> None:
        self.opts = opts
        self.stats = stats
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.handle(head.split(" ", 2), body)

    def handle(self, request: list[str], body: bytes) -> None:
        method, path = request[0], request[1]
        if method == "GET" and path.endswith("/models"):
            self.write(MODELS)
        elif method == "GET" and path == "/stats":
            self.write(_response("200 OK", "application/json", self.stats.body()))
        elif method == "POST" and path == "/reset":
            self.stats.reset()
            self.write(_response("200 OK", "application/json", b"{}"))
        elif method == "POST" and path.endswith("/chat/completions"):
            now = time.monotonic()
            if self.stats.first is None:
                self.stats.first = now
            self.stats.requests += 1
            stream = bool(orjson.loads(body).get("stream"))
            self.loop.call_later(self.opts.latency, self.answer, stream)
        else:
            self.write(_response("404 Not Found", "application/json", b'{"error": "not found"}'))

    def answer(self, stream: bool) -> None:
        if not stream:
            self.write(JSON_RESPONSE)
            self.stats.last = time.monotonic()
            return
        self.write(SSE_HEAD)
        if self.opts.tokens_per_s <= 0:
            for event in EVENTS:
                self.write(event)
            self.stats.last = time.monotonic()
        else:
            self.send_events(0)

    def send_events(self, index: int) -> None:
        self.write(EVENTS[index])
        if index + 1 < len(EVENTS):
            self.loop.call_later(1.0 / self.opts.tokens_per_s, self.send_events, index + 1)
        else:
            self.stats.last = time.monotonic()

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


async def serve(opts: argparse.Namespace) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(opts, stats), "127.0.0.1", opts.port, backlog=4096
    )
    port = server.sockets[0].getsockname()[1]
    print(f"loopback endpoint listening on http://127.0.0.1:{port}/v1", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds before answering")
    p.add_argument("--tokens-per-s", type=float, default=0.0, help="SSE pacing (0: at once)")
    opts = p.parse_args()
    try:
        asyncio.run(serve(opts))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
