"""Run the simulator in a background thread with its own event loop: for tests, the demo and
benchmarks, which need an endpoint on a free loopback port while their own code runs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from r1v4.sim.scripts import script_label
from r1v4.sim.server import create_app
from r1v4.sim.settings import SimSettings
from r1v4.sim.state import STATE, SimState


@dataclass
class SimHandle:
    """A running simulator. `requests` is the live list of chat-completions bodies received,
    in order (read it after your calls have returned); `counters` a snapshot of what was
    injected and served (keys: requests, completed, faults, rate_limited, error_500, error_502,
    error_503, dropped, hung, stream_error, stream_error_no_done, choice_error, bad_request,
    unauthorized, not_found, max_in_flight; a key is absent until its count is non-zero)."""

    base_url: str  # "http://127.0.0.1:PORT/v1"
    url: str  # "http://127.0.0.1:PORT"
    port: int
    settings: SimSettings
    state: SimState

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    @property
    def counters(self) -> dict[str, int]:
        return self.state.counters()

    @property
    def unmatched(self) -> list[str]:
        """Script entries that have not matched any request so far, as `script_label`
        names them ("scripts[2] (id 'warehouse')"); read it after the run."""
        return [script_label(s) for s in self.state.unmatched()]


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start serving `app`; returns the runner and the port actually bound (for port 0)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    return runner, bound


def _wait_healthy(url: str, deadline_s: float = 10.0) -> None:
    """Poll /health until it answers 200 (never through a proxy: the URL is loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    end = time.monotonic() + deadline_s
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            with opener.open(url + "/health", timeout=1.0) as r:
                if r.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise RuntimeError(f"simulator at {url} did not answer /health within {deadline_s} s: {last}")


@contextlib.contextmanager
def running_simulator(
    settings: SimSettings | None = None, **settings_kwargs: Any
) -> Iterator[SimHandle]:
    """Serve a simulator on 127.0.0.1 (a free port) in a background thread while the block
    runs. Pass a SimSettings, or its fields as keyword arguments. Shuts down cleanly: pending
    and hanging requests are ended, the socket closed and the thread joined."""
    if settings is None:
        settings = SimSettings(**settings_kwargs)
    elif settings_kwargs:
        raise TypeError("give either a SimSettings or its fields as keywords, not both")
    app = create_app(settings)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def _start() -> None:
        box["runner"], box["port"] = await start_site(app, "127.0.0.1", 0)

    def _serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_start())
        except BaseException as exc:  # reported to the caller's thread
            box["error"] = exc
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(box["runner"].cleanup())
        loop.run_until_complete(loop.shutdown_asyncgens())

    thread = threading.Thread(target=_serve, name="r1v4-sim", daemon=True)
    thread.start()
    started.wait()
    try:
        if "error" in box:
            raise RuntimeError(f"simulator failed to start: {box['error']}") from box["error"]
        url = f"http://127.0.0.1:{box['port']}"
        _wait_healthy(url)
        yield SimHandle(url + "/v1", url, box["port"], settings, app[STATE])
    finally:
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        if not thread.is_alive():
            loop.close()
