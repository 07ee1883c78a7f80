"""Never lose work: kills at any moment, faults, replicas, reruns, shards."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import orjson
import pytest

from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run


def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def batch_args(base_url: str, output: str = "out.jsonl") -> list[str]:
    """cases.jsonl -> output against one endpoint, one plain turn per case (no tools)."""
    return ["cases.jsonl", output, "--base-url", base_url, "--tools", "none"]


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def assert_exactly_once(path: Path, ids: set[str]) -> None:
    raw = path.read_bytes().splitlines()
    records = [orjson.loads(line) for line in raw if line.strip()]  # no broken line
    seen = [r["id"] for r in records]
    assert sorted(seen) == sorted(ids), (
        f"missing {ids - set(seen)}, dup {len(seen) - len(set(seen))}"
    )
    assert all("error" not in r["response"] for r in records)


@pytest.mark.slow
def test_sigkill_at_several_points_then_rerun_gives_every_case_once(
    workdir: Path, start_batch
) -> None:
    ids = {f"case-{i:03d}" for i in range(60)}
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": f"q {i}"} for i in sorted(ids)])
    out = workdir / "out.jsonl"
    with running_simulator(latency_s=0.02) as sim:
        args = [*batch_args(sim.base_url), "--concurrency", "4"]
        for kill_after in (3, 17, 31, 45):
            proc = start_batch("batch_nonstream.py", *args)
            deadline = time.monotonic() + 30
            while count_lines(out) < kill_after and proc.poll() is None:
                assert time.monotonic() < deadline, "batch made no progress"
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # Simulate the worst moment: the kill cut a record in half.
            with open(out, "ab") as fh:
                fh.write(b'{"id": "case-torn", "response": {"full_re')
        done = start_batch("batch_nonstream.py", *args, capture=True)
        stdout, stderr = done.communicate(timeout=120)
    assert done.returncode == 0, stdout + stderr
    assert "broken line" in stdout
    assert_exactly_once(out, ids)
    assert (workdir / "out.jsonl.corrupt").exists()
    assert not (workdir / "out.jsonl.lock").exists()


@pytest.mark.slow
def test_sigint_keeps_finished_cases_and_prints_the_resume_command(
    workdir: Path, start_batch
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": f"c{i}", "question": f"q{i}"} for i in range(40)])
    with running_simulator(latency_s=0.1) as sim:
        proc = start_batch(
            "batch_stream.py", *batch_args(sim.base_url), "--concurrency", "2", capture=True
        )
        deadline = time.monotonic() + 30
        while count_lines(workdir / "out.jsonl") < 4:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stdout + stderr
    assert "to resume: python3" in stdout and "batch_stream.py cases.jsonl out.jsonl" in stdout
    kept = read_jsonl(workdir / "out.jsonl")
    assert len(kept) >= 4 and len({r["id"] for r in kept}) == len(kept)
    assert not (workdir / "out.jsonl.lock").exists()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nonstream", "stream"])
def test_every_case_completes_under_errors_drops_hangs_and_rate_limits(
    workdir: Path, mode: str
) -> None:
    ids = {f"f{i}" for i in range(40)}
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": f"q {i}"} for i in sorted(ids)])
    faults = {"error_rate": 0.2, "drop_rate": 0.1, "hang_rate": 0.05, "rate_limit": 200.0}
    with running_simulator(seed=3, **faults) as sim:
        code = run(
            [
                *batch_args(sim.base_url),
                "--timeout",
                "1",
                "--max-retries",
                "12",
                "--concurrency",
                "8",
            ],
            mode,
        )
        injected = dict(sim.counters)
    assert code == 0
    assert_exactly_once(workdir / "out.jsonl", ids)
    records = read_jsonl(workdir / "out.jsonl")
    assert sum(r["meta"]["attempts"] for r in records) > len(records)  # retries happened
    assert sum(injected.values()) > 0, injected


def test_adaptive_concurrency_completes_against_a_rate_limited_server(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": f"r{i}", "question": f"q{i}"} for i in range(30)])
    with running_simulator(rate_limit=40.0, latency_s=0.01) as sim:
        code = run(
            [
                *batch_args(sim.base_url),
                "--concurrency",
                "auto",
                "--max-concurrency",
                "32",
                "--max-retries",
                "20",
            ]
        )
    assert code == 0
    assert_exactly_once(workdir / "out.jsonl", {f"r{i}" for i in range(30)})


def test_two_replicas_one_down_all_cases_complete_on_the_other(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": f"p{i}", "question": f"q{i}"} for i in range(20)])
    dead = closed_port_url()
    with running_simulator() as sim:
        code = run(
            [
                "cases.jsonl",
                "out.jsonl",
                "--base-url",
                dead,
                "--base-url",
                sim.base_url,
                "--tools",
                "none",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0
    assert_exactly_once(workdir / "out.jsonl", {f"p{i}" for i in range(20)})
    assert all(
        r["meta"]["endpoint"].startswith(sim.base_url.rsplit("/v1", 1)[0])
        for r in read_jsonl(workdir / "out.jsonl")
    )
    assert f"replica {dead}" in out


def test_unreachable_endpoint_stops_early_with_one_message(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"question": f"q{i}"} for i in range(50)])
    started = time.monotonic()
    code = run(["cases.jsonl", "out.jsonl", "--base-url", closed_port_url(), "--tools", "none"])
    err = capsys.readouterr().err
    assert code == 2 and "stopped:" in err
    assert time.monotonic() - started < 20
    assert count_lines(workdir / "out.jsonl") == 0


def test_retry_errors_reruns_only_failed_cases_and_replaces_them(workdir: Path) -> None:
    ids = {f"e{i}" for i in range(12)}
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": f"q {i}"} for i in sorted(ids)])
    with running_simulator(error_rate=0.5, seed=11) as sim:
        assert run([*batch_args(sim.base_url), "--max-retries", "0"]) == 1  # some failed
    first = read_jsonl(workdir / "out.jsonl")
    failed = {r["id"] for r in first if "error" in r["response"]}
    assert failed and failed != ids
    with running_simulator() as sim:
        # Nothing runs, and the exit code still says the file holds failed cases.
        assert run([*batch_args(sim.base_url)]) == 1
        assert len(sim.requests) == 0  # without --retry-errors failed cases stay as they are
        assert (
            run(
                [
                    *batch_args(sim.base_url),
                    "--retry-errors",
                ]
            )
            == 0
        )
        assert len(sim.requests) == len(failed)
    assert_exactly_once(workdir / "out.jsonl", ids)


def test_shards_and_merge_round_trip(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = {f"s{i}" for i in range(25)}
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": f"q {i}"} for i in sorted(ids)])
    with running_simulator() as sim:
        for k in (1, 2, 3):
            assert (
                run(
                    [
                        "cases.jsonl",
                        f"part{k}.jsonl",
                        "--base-url",
                        sim.base_url,
                        "--tools",
                        "none",
                        "--shard",
                        f"{k}/3",
                    ]
                )
                == 0
            )
    parts = [read_jsonl(workdir / f"part{k}.jsonl") for k in (1, 2, 3)]
    assert all(parts) and sum(map(len, parts)) == 25
    from r1v4.cli import main as r1v4_main

    assert r1v4_main(["merge", "-o", "all.jsonl", "part1.jsonl", "part2.jsonl", "part3.jsonl"]) == 0
    assert_exactly_once(workdir / "all.jsonl", ids)
    assert "25 cases" in capsys.readouterr().out


@pytest.mark.slow
def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(
    workdir: Path, start_batch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": f"l{i}", "question": f"q{i}"} for i in range(30)])
    with running_simulator(latency_s=0.1) as sim:
        first = start_batch("batch_nonstream.py", *batch_args(sim.base_url), "--concurrency", "1")
        deadline = time.monotonic() + 30
        while count_lines(workdir / "out.jsonl") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = run([*batch_args(sim.base_url)])
        first.send_signal(signal.SIGINT)
        first.wait(timeout=30)
    err = capsys.readouterr().err
    assert second == 2 and f"is being written by process {first.pid}" in err
    ids = [r["id"] for r in read_jsonl(workdir / "out.jsonl")]
    assert len(ids) == len(set(ids))  # nothing interleaved or doubled
