"""Fault injection: 429 with Retry-After beyond the rate limit, 5xx under error_rate, dropped
connections (streams without [DONE]), hangs that block nobody, in-body errors, seeded
reproducibility, counters."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from r1v4.sim import running_simulator
from r1v4.sim.faults import FaultInjector, TokenBucket
from r1v4.sim.sse import parse_sse

BODY = {"messages": [{"role": "user", "content": "hello there"}]}
STREAM = {**BODY, "stream": True}


def post(sim, body, timeout=10):
    return requests.post(sim.base_url + "/chat/completions", json=body, timeout=timeout)


@pytest.mark.slow
def test_rate_limit_gives_429_with_retry_after():
    with running_simulator(rate_limit=2.0) as sim:
        statuses = [post(sim, BODY) for _ in range(6)]
        limited = [r for r in statuses if r.status_code == 429]
        assert [r.status_code for r in statuses[:2]] == [200, 200]  # burst of 2
        assert len(limited) >= 3
        r = limited[0]
        assert int(r.headers["Retry-After"]) >= 1
        assert int(r.headers["retry-after-ms"]) > 0
        err = r.json()["error"]
        assert err["code"] == 429 and err["type"] == "RateLimitError"
        # Honouring the wait gets through again.
        time.sleep(int(r.headers["retry-after-ms"]) / 1000 + 0.05)
        assert post(sim, BODY).status_code == 200
        assert sim.counters["rate_limited"] == len(limited)


def test_token_bucket_refills():
    now = [0.0]
    bucket = TokenBucket(4.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [0.0] * 4
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 0.25
    assert bucket.take() == 0.0


def test_error_rate_gives_5xx_json_bodies_and_is_seeded():
    def run(seed):
        with running_simulator(error_rate=0.5, seed=seed) as sim:
            got = [post(sim, BODY) for _ in range(40)]
            return got, sim.counters

    first, counters = run(7)
    again, _ = run(7)
    codes = [r.status_code for r in first]
    assert codes == [r.status_code for r in again]  # same seed, same faults
    errors = [r for r in first if r.status_code != 200]
    assert 8 <= len(errors) <= 32
    assert {r.status_code for r in errors} <= {500, 502, 503}
    for r in errors:
        err = r.json()["error"]
        assert err["code"] == r.status_code and err["message"]
    assert sum(counters.get(f"error_{c}", 0) for c in (500, 502, 503)) == len(errors)


def test_drop_cuts_stream_without_done():
    with running_simulator(
        fault_plan=["drop"],
        scripts=[
            {
                "contains": "hello",
                "turns": ["<think>" + "word " * 60 + "</think><answer>x</answer>"],
            }
        ],
    ) as sim:
        with requests.post(
            sim.base_url + "/chat/completions", json=STREAM, stream=True, timeout=10
        ) as resp:
            assert resp.status_code == 200
            raw = b""
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                for piece in resp.iter_content(None):
                    raw += piece
        events, done = parse_sse(raw.rsplit(b"\n\n", 1)[0] + b"\n\n")
        assert not done
        assert events and events[0]["choices"][0]["delta"]["role"] == "assistant"
        assert not any(c.get("finish_reason") for e in events for c in e["choices"])
        # Next request is fine, and the drop was counted.
        ok = post(sim, STREAM)
        assert parse_sse(ok.content)[1] is True
        assert sim.counters["dropped"] == 1


def test_drop_nonstream_closes_before_body():
    with running_simulator(fault_plan=["drop"]) as sim:
        with pytest.raises(requests.exceptions.ConnectionError):
            post(sim, BODY)
        assert post(sim, BODY).status_code == 200


@pytest.mark.slow
def test_hang_blocks_nobody_and_shuts_down_cleanly():
    threads_before = set(threading.enumerate())
    with running_simulator(fault_plan=["hang", "hang"]) as sim:
        port = sim.port
        pool = ThreadPoolExecutor(2)
        hung = pool.submit(post, sim, BODY, 60)  # stays hung until shutdown
        while sim.counters.get("hung", 0) < 1:
            time.sleep(0.02)
        with pytest.raises(requests.exceptions.ReadTimeout):
            post(sim, BODY, timeout=0.5)  # the second hang: the client gives up
        assert post(sim, BODY, timeout=5).status_code == 200  # not blocked by either hang
        assert sim.counters["hung"] == 2
        assert not hung.done()
    # Shutdown closes the hanging connection (a ConnectionError, not the client's timeout).
    with pytest.raises(requests.exceptions.ConnectionError):
        hung.result(timeout=30)
    pool.shutdown()
    assert set(threading.enumerate()) <= threads_before | {threading.current_thread()}
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):  # nothing listens
        s.connect(("127.0.0.1", port))


@pytest.mark.parametrize(
    "fault, want_done, check",
    [
        ("stream_error", True, lambda e: "error" in e and "choices" not in e),
        ("stream_error_no_done", False, lambda e: "error" in e and "choices" not in e),
        (
            "choice_error",
            False,
            lambda e: e["choices"][0]["finish_reason"] == "error" and "error" in e,
        ),
    ],
)
def test_in_stream_errors(fault, want_done, check):
    with running_simulator(fault_plan=[fault]) as sim:
        resp = post(sim, STREAM)
        assert resp.status_code == 200
        events, done = parse_sse(resp.content)
        assert done is want_done
        assert check(events[-1])
        assert sim.counters[fault] == 1


def test_script_faults_apply_per_turn_attempt():
    script = {"contains": "hello", "turns": ["<answer>a</answer>"], "faults": ["503", None]}
    with running_simulator(scripts=[script]) as sim:
        assert post(sim, BODY).status_code == 503
        assert post(sim, BODY).status_code == 200
        assert post(sim, BODY).status_code == 200  # faults list exhausted


def test_fault_draws_follow_rates():
    import random

    inj = FaultInjector(rng=random.Random(1), error_rate=0.2, drop_rate=0.05, hang_rate=0.02)
    faults = [inj.decide().fault for _ in range(5000)]
    share = {f: faults.count(f) / 5000 for f in set(faults)}
    assert share["500"] + share["502"] + share["503"] == pytest.approx(0.2, abs=0.02)
    assert share["drop"] == pytest.approx(0.05, abs=0.01)
    assert share["hang"] == pytest.approx(0.02, abs=0.007)
    assert share["502"] > 0


def test_stats_endpoint_reports_counters():
    # For subprocess simulators (crash tests, benchmarks) the counters are served over HTTP.
    with running_simulator(fault_plan=["500", "ok"]) as sim:
        assert post(sim, BODY).status_code == 500
        assert post(sim, BODY).status_code == 200
        stats = requests.get(sim.url + "/sim/stats", timeout=5).json()
    assert stats["simulator"] is True
    assert stats["counters"]["error_500"] == 1 and stats["counters"]["completed"] == 1
    assert stats["counters"]["requests"] == 2 and stats["requests_recorded"] == 2


def test_fault_sequence_is_the_same_in_both_modes():
    def statuses(stream):
        with running_simulator(error_rate=0.3, drop_rate=0.1, seed=11) as sim:
            out = []
            for _ in range(30):
                try:
                    r = post(sim, STREAM if stream else BODY)
                    out.append(r.status_code)
                except requests.exceptions.RequestException:
                    out.append("cut")
            return out

    assert statuses(True) == statuses(False)


def test_retry_after_on_503_when_configured():
    with running_simulator(fault_plan=["503", "503"], error_retry_after_s=0.25) as sim:
        r = post(sim, BODY)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1" and r.headers["retry-after-ms"] == "250"
    assert r.json()["error"]["type"] == "ServiceUnavailableError"


@pytest.mark.slow
def test_max_num_seqs_queues_and_max_in_flight_is_counted():
    # 6 requests at once against 2 sequence slots: never more than 2 generate together, and
    # the queued ones finish later (their wait counts into the time to first token).
    with running_simulator(max_num_seqs=2, latency_s=0.2) as sim:
        t0 = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            done = list(pool.map(lambda _: post(sim, BODY), range(6)))
        assert time.monotonic() - t0 >= 3 * 0.2  # three waves of two (a lower bound only)
        assert all(r.status_code == 200 for r in done)
        assert sim.counters["max_in_flight"] == 2
    with running_simulator(latency_s=0.5) as sim:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda _: post(sim, BODY), range(6)))
        assert sim.counters["max_in_flight"] == 6
