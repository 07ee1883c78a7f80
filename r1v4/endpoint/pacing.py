"""How often a streamed response is read, and the watch on a silent server.

A token arrives every 10–50 ms per stream, most often in a network packet of its own.
Reading each one as it comes costs, per token, a trip through the event loop's socket
handling and aiohttp's parser and buffers, then a wake-up of the reading task (a future, a
loop callback, a trip up the whole agent's coroutine stack): more than everything the
client does with the token. So once tokens flow, `StreamPacer.pace` stops reading the
socket for `interval_s` (`EndpointSettings.stream_read_interval_s`, 0.05 s by default): the
kernel gathers the packets meanwhile, and the reader's next read (already waiting) then
brings every event that arrived (a listener gets them as one piece): one wake-up per
interval, not one per token. The time to the first token is not paced (it is read at
once, and feeds the adaptive limiter). The price: the end of a stream is seen up to one
interval late (half of one on average). An interval of 0 turns pacing off.

aiohttp's `sock_read` timeout re-arms a loop timer on every network read. For a paced body
it is switched off and replaced by the pacer's own watch: one timer every quarter of the
read timeout, which fails the read (`aiohttp.ServerTimeoutError`, as `sock_read` would) once
no byte has arrived for the whole read timeout. So a silence is caught after between 1 and
1.25 read timeouts (never under two intervals), and no timer is touched per token. With no
read timeout shorter than the total one (the default), there is neither: the total timeout
bounds the body.
(The protocol's settable `read_timeout` is aiohttp's since 3.10, the lowest version
pyproject.toml allows.)
"""

from __future__ import annotations

import asyncio

import aiohttp

__all__ = ["StreamPacer"]


class StreamPacer:
    """Paces the reads of one streamed body and watches it for silence. Call `stop` when
    the body is done with (whatever happened)."""

    __slots__ = (
        "_loop",
        "_content",
        "_transport",
        "_interval",
        "_resume",
        "_watch",
        "_period",
        "_limit",
        "_seen",
        "_quiet",
    )

    def __init__(
        self, resp: aiohttp.ClientResponse, read_timeout_s: float | None, interval_s: float
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._content = resp.content
        self._interval = interval_s
        self._resume: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._period = self._limit = 0.0
        self._seen = self._content.total_bytes
        self._quiet = 0.0
        conn = resp.connection
        self._transport = conn.transport if conn is not None else None
        protocol = conn.protocol if conn is not None else None
        if read_timeout_s and protocol is not None:
            protocol.read_timeout = None  # aiohttp's per-read timer off for this body
            # A paused socket shows no bytes: a read timeout under two intervals would
            # count the pauses themselves as silence.
            self._limit = max(read_timeout_s, 2 * interval_s)
            self._period = self._limit / 4
            self._watch = self._loop.call_later(self._period, self._check)

    def pace(self) -> None:
        """Leave the socket unread for one interval (the kernel keeps what arrives), so the
        reader's next read, which waits for it, brings all of it at once. Only a socket that
        is being read is paused (aiohttp may have paused it for its own flow control)."""
        transport = self._transport
        if transport is None or self._resume is not None or not transport.is_reading():
            return
        transport.pause_reading()
        self._resume = self._loop.call_later(self._interval, self._read_again)

    def stop(self) -> None:
        """The body is read (or given up): no more pausing or watching."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._resume is not None:
            self._resume.cancel()
            self._read_again()

    def _read_again(self) -> None:
        self._resume = None
        transport = self._transport
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

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
                return
        self._watch = self._loop.call_later(self._period, self._check)
