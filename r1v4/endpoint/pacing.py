"""How often a streamed response is read, and the watch on a silent server.

A token arrives every 10–50 ms per stream. Waking the reading task for each one (a future,
a loop callback, a trip up the whole agent's coroutine stack) cost more than everything the
client does with the token. So once tokens flow, `StreamPacer.pause` lets the stream gather
for `READ_TICK_S` before the next read, and one read then serves every event that arrived
meanwhile (aiohttp buffers them; a listener gets them as one piece). The time to the first
token is not paced (it is read at once, it feeds the adaptive limiter), and the end of the
body wakes the reader at once, so pacing adds no latency to a finished stream.

aiohttp's `sock_read` timeout re-arms a loop timer on every network read. For the body of a
stream it is switched off and replaced by `StreamPacer`'s own watch: one timer every quarter
of the read timeout, which fails the read (`aiohttp.ServerTimeoutError`, as `sock_read`
would) once no byte has arrived for the whole read timeout. So a silence is caught after
between 1 and 1.25 read timeouts, and no timer is touched per token.
"""

from __future__ import annotations

import asyncio

import aiohttp

__all__ = ["READ_TICK_S", "StreamPacer"]

#: Once tokens flow, a stream is read at most this often (a live view refreshes 20 times a
#: second; the end of the body is read at once).
READ_TICK_S = 0.05


class StreamPacer:
    """Paces the reads of one streamed body and watches it for silence. Call `stop` when
    the body is done with (whatever happened)."""

    __slots__ = ("_loop", "_content", "_waiter", "_watch", "_period", "_limit", "_seen", "_quiet")

    def __init__(self, resp: aiohttp.ClientResponse, read_timeout_s: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._content = resp.content
        self._waiter: asyncio.Future[None] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._period = self._limit = 0.0
        self._seen = self._content.total_bytes
        self._quiet = 0.0
        self._content.on_eof(self._wake)
        conn = resp.connection
        protocol = conn.protocol if conn is not None else None
        if read_timeout_s and protocol is not None:
            protocol.read_timeout = None  # aiohttp's per-read timer off for this body
            self._limit = read_timeout_s
            self._period = read_timeout_s / 4
            self._watch = self._loop.call_later(self._period, self._check)

    async def pause(self) -> None:
        """Wait `READ_TICK_S`, or less if the body ends (or the watch fails it) meanwhile."""
        content = self._content
        if content.is_eof() or content.exception() is not None:
            return
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(READ_TICK_S, self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            timer.cancel()

    def stop(self) -> None:
        """The body is read (or given up): no more watching."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check(self) -> None:
        """Every quarter of the read timeout: has the server sent anything since?"""
        total = self._content.total_bytes
        if total != self._seen:
            self._seen = total
            self._quiet = 0.0
        else:
            self._quiet += self._period
            if self._quiet >= self._limit * 0.999:  # four quiet quarters (float-safe)
                self._watch = None
                self._content.set_exception(
                    aiohttp.ServerTimeoutError("Timeout on reading data from socket")
                )
                self._wake()
                return
        self._watch = self._loop.call_later(self._period, self._check)
