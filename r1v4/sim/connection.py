"""The two things every simulator responder does to the connection itself: wait until a moment
the latency model picked, or cut the connection the way a crashed server does. Shared by the
request handler (HTTP faults, hangs) and both responders (JSON and SSE), so it sits below them."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


async def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def abort(request: web.Request) -> web.StreamResponse:
    """Cut the connection without a response (or mid-body): what a crashed server looks like."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp needs a response object; it cannot be written to a closed transport.
    raise asyncio.CancelledError
