"""The baselines `bench_runner.py` measures the runner against, doing the same requests.

* `minimal_client`: what a careful user would write by hand with aiohttp and orjson, about
  forty lines: one pooled session, a semaphore, the request body dumped once per request,
  the JSON or the SSE lines read, the text joined, one result line appended per case. It
  has no retries, no snapshots, no parsing of the answer: the floor a full client is
  compared with.
* `openai_client`: the official `openai.AsyncOpenAI` client, the same requests, the same
  result line.

Both take the messages the runner sends (system prompt and question), so the three send
byte-for-byte comparable bodies to the same loopback endpoint.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson


async def minimal_client(
    url: str, body: dict[str, Any], n: int, conc: int, stream: bool, out: Path
) -> float:
    """N requests at concurrency `conc`; returns the seconds from first send to last answer."""
    sem = asyncio.Semaphore(conc)
    payload = {**body, "stream": stream}
    if stream:
        payload["stream_options"] = {"include_usage": True}
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=0)
    with open(out, "ab") as sink:
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                async with sem:
                    data = orjson.dumps(payload)
                    async with session.post(url, data=data, headers=headers) as resp:
                        resp.raise_for_status()
                        if not stream:
                            text = orjson.loads(await resp.read())["choices"][0]["message"][
                                "content"
                            ]
                        else:
                            parts = []
                            async for line in resp.content:
                                if not line.startswith(b"data: "):
                                    continue
                                if line.startswith(b"data: [DONE]"):
                                    break
                                choices = orjson.loads(line[6:])["choices"]
                                if choices and choices[0]["delta"].get("content"):
                                    parts.append(choices[0]["delta"]["content"])
                            text = "".join(parts)
                    sink.write(orjson.dumps({"id": i, "response": text}) + b"\n")

            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.perf_counter() - t0


async def openai_client(
    url: str, body: dict[str, Any], n: int, conc: int, stream: bool, out: Path
) -> float:
    """The same requests through `openai.AsyncOpenAI`; returns the wall seconds."""
    from openai import AsyncOpenAI

    sem = asyncio.Semaphore(conc)
    extra = {k: v for k, v in body.items() if k not in ("model", "messages")}
    with open(out, "ab") as sink:
        async with AsyncOpenAI(
            base_url=url.removesuffix("/chat/completions"),
            api_key="sk-bench",
            max_retries=0,
        ) as client:

            async def one(i: int) -> None:
                async with sem:
                    if stream:
                        parts = []
                        resp = await client.chat.completions.create(
                            model=body["model"],
                            messages=body["messages"],
                            stream=True,
                            stream_options={"include_usage": True},
                            extra_body=extra,
                        )
                        async for ch in resp:
                            if ch.choices and ch.choices[0].delta.content:
                                parts.append(ch.choices[0].delta.content)
                        text = "".join(parts)
                    else:
                        r = await client.chat.completions.create(
                            model=body["model"], messages=body["messages"], extra_body=extra
                        )
                        text = r.choices[0].message.content or ""
                    sink.write(orjson.dumps({"id": i, "response": text}) + b"\n")

            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.perf_counter() - t0
