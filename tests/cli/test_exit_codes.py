"""Exit codes and summaries tell the truth, through the real entry scripts.

0: every case done and succeeded, no input line rejected; 1: some cases failed or some
input lines were rejected; 2: usage or configuration error, or the run stopped (endpoint
refuses us, results cannot be written); 130: interrupted. After a resume the summary and
the code cover the whole output file. The other commands (`merge`, `report`, `parse`,
`import`, `check`) are non-zero when they fail, too.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1v4.sim import running_simulator
from tests.helpers import ROOT, read_jsonl, write_jsonl

pytestmark = pytest.mark.slow  # every test starts real processes


def batch(
    workdir: Path, env: dict[str, str], *args: str, script: str = "batch_nonstream.py"
) -> subprocess.CompletedProcess[str]:
    """`python3 <script> args… --no-progress` in `workdir`, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args, "--no-progress"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def command(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m r1v4 <command> args…` in `workdir`."""
    return subprocess.run(
        [sys.executable, "-m", "r1v4", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def cases(n: int, text: str = "question") -> list[dict]:
    return [{"id": f"c{i}", "image": "", "question": f"{text} {i}"} for i in range(n)]


# -------------------------------------------------------------------- the batch scripts


def test_every_case_done_exits_0(workdir: Path, subprocess_env: dict[str, str]) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(2))
    with running_simulator() as sim:
        done = batch(
            workdir, subprocess_env, "cases.jsonl", "out.jsonl", "--base-url", sim.base_url
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cases: 2  succeeded: 2  failed: 0" in done.stdout
    assert "to rerun" not in done.stdout and "to resume" not in done.stdout


def test_a_batch_with_one_failed_case_exits_1(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(3))
    doomed = {"id": "c1", "turns": ["<answer>never sent</answer>"], "faults": ["500", "500"]}
    with running_simulator(scripts=[doomed]) as sim:
        done = batch(
            workdir,
            subprocess_env,
            *("cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-retries", "1"),
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cases: 3  succeeded: 2  failed: 1" in done.stdout
    assert "HTTP 500" in done.stdout and "--retry-errors" in done.stdout
    failed = [r for r in read_jsonl(workdir / "out.jsonl") if "error" in r["response"]]
    assert [r["id"] for r in failed] == ["c1"]


def test_a_rejected_input_line_exits_1(workdir: Path, subprocess_env: dict[str, str]) -> None:
    write_jsonl(workdir / "cases.jsonl", [*cases(2), '{"question": "no closing brace"'])
    with running_simulator() as sim:
        done = batch(
            workdir, subprocess_env, "cases.jsonl", "out.jsonl", "--base-url", sim.base_url
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad input lines: 1" in done.stdout and "cases.jsonl:3" in done.stdout
    assert "cases: 2  succeeded: 2  failed: 0" in done.stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:8000/v1", "must start with http:// or https://"),
        ("http://[::1/v1", "is not a valid URL"),
        ("http://gpu1:port/v1", "is not a valid URL"),
    ],
)
def test_a_malformed_base_url_is_one_line_and_exits_2(
    workdir: Path, subprocess_env: dict[str, str], url: str, message: str
) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(1))
    done = batch(workdir, subprocess_env, "cases.jsonl", "out.jsonl", "--base-url", url)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: base URL {url!r} {message}")
    assert "--base-url" in lines[0]
    assert not (workdir / "out.jsonl").exists()


def test_a_wrong_key_stops_the_batch_with_2_and_no_resume_hint(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(2))
    with running_simulator(api_key="right-key") as sim:
        done = batch(
            workdir,
            subprocess_env,
            *("cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--api-key", "wrong"),
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "stopped:" in done.stderr and "401" in done.stderr
    assert "to resume" not in done.stderr + done.stdout  # the same command would fail again
    assert "fix the endpoint settings" in done.stderr


def test_an_unreachable_endpoint_stops_with_2_and_no_resume_hint(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(1))
    done = batch(
        workdir, subprocess_env, "cases.jsonl", "out.jsonl", "--base-url", "http://127.0.0.1:9/v1"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot reach" in done.stderr and "to resume" not in done.stderr


def test_a_full_disk_stops_the_batch_with_2_keeping_what_was_written(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    """The file size limit (`ulimit -f`) makes the second record's write fail as a full disk
    would (EFBIG, like ENOSPC): the batch stops at once, says where, keeps the first record,
    and the same command resumes once there is room."""
    write_jsonl(workdir / "cases.jsonl", cases(4, text="x" * 1500))  # ~3 KB per record
    env = {**subprocess_env, "PYTHONDONTWRITEBYTECODE": "1"}
    with running_simulator() as sim:
        args = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--concurrency", "1"]
        limited = subprocess.run(
            ["bash", "-c", 'ulimit -f 8 && exec "$@"', "bash", sys.executable,
             str(ROOT / "batch_nonstream.py"), *args, "--no-progress"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert limited.returncode == 2, limited.stdout + limited.stderr
        assert "stopped: cannot append to out.jsonl: File too large" in limited.stderr
        assert "Traceback" not in limited.stderr
        assert "to resume:" in limited.stderr
        kept = [line for line in (workdir / "out.jsonl").read_bytes().splitlines() if line]
        assert 1 <= len(kept) < 4  # the records written before the disk filled are there
        assert json.loads(kept[0])["id"] == "c0"
        resumed = batch(workdir, subprocess_env, *args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    records = read_jsonl(workdir / "out.jsonl")
    assert sorted(r["id"] for r in records) == ["c0", "c1", "c2", "c3"]  # each once
    assert "cases: 4  succeeded: 4  failed: 0" in resumed.stdout


def test_sigterm_exits_130_and_the_same_command_resumes(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", cases(30))
    with running_simulator(latency_s=0.1) as sim:
        args = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--concurrency", "2"]
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "batch_nonstream.py"), *args, "--no-progress"],
            cwd=workdir, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (workdir / "out.jsonl").exists() or not (workdir / "out.jsonl").read_bytes():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, out + err
        assert "not run:" in out and "to resume:" in out
        resumed = batch(workdir, subprocess_env, *args)
    assert resumed.returncode == 0
    assert "cases: 30  succeeded: 30  failed: 0" in resumed.stdout


def test_after_a_resume_the_summary_and_the_code_cover_the_whole_file(
    workdir: Path, subprocess_env: dict[str, str]
) -> None:
    first = [
        {"id": "ok1", "image": "", "question": "q1", "answer": "Paris"},
        {"id": "bad", "image": "", "question": "q2", "answer": "Oslo"},
    ]
    later = [
        {"id": "ok2", "image": "", "question": "q3", "answer": "Rome"},
        {"id": "wrong", "image": "", "question": "q4", "answer": "Lima"},
    ]
    scripts = [
        {"id": "ok1", "turns": ["<answer>Paris</answer>"]},
        {"id": "bad", "turns": ["<answer>Oslo</answer>"], "faults": ["500"]},
        {"id": "ok2", "turns": ["<answer>Rome</answer>"]},
        {"id": "wrong", "turns": ["<answer>Quito</answer>"]},
    ]
    write_jsonl(workdir / "cases.jsonl", first)
    with running_simulator(scripts=scripts) as sim:
        args = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-retries", "0"]
        one = batch(workdir, subprocess_env, *args)
        assert one.returncode == 1
        write_jsonl(workdir / "cases.jsonl", first + later)
        two = batch(workdir, subprocess_env, *args)
        three = batch(workdir, subprocess_env, *args, "--retry-errors")
    # The second run did two cases, but the file holds four and one of them failed.
    assert two.returncode == 1, two.stdout + two.stderr
    assert "cases: 4  succeeded: 3  failed: 1" in two.stdout
    assert "this run: 2 done (succeeded: 2  failed: 0)  skipped (already done): 2" in two.stdout
    assert "accuracy: 2/3 = 66.7%" in two.stdout  # ok1 (run one), ok2 and wrong (run two)
    assert "error x1: HTTP 500" in two.stdout
    # Rerunning the failed case makes the whole file good, and the code says so.
    assert three.returncode == 0, three.stdout + three.stderr
    assert "cases: 4  succeeded: 4  failed: 0" in three.stdout
    assert "this run: 1 done (succeeded: 1  failed: 0)" in three.stdout
    assert "accuracy: 3/4 = 75.0%" in three.stdout


def test_help_documents_the_exit_codes(subprocess_env: dict[str, str], tmp_path: Path) -> None:
    done = batch(tmp_path, subprocess_env, "--help")
    assert done.returncode == 0
    codes = done.stdout.split("exit codes:", 1)[1]
    for code in ("0 ", "1 ", "2 ", "130 "):
        assert f"\n  {code}" in codes
    assert "interrupted" in codes and "refused" in codes


# -------------------------------------------------------------------- the other commands


def good_and_broken_results(folder: Path) -> tuple[Path, Path]:
    record = {
        "id": "a",
        "image": "",
        "question": "q",
        "response": {"full_response": "<answer>x</answer>"},
    }
    good = write_jsonl(folder / "good.jsonl", [record])
    broken = write_jsonl(folder / "broken.jsonl", [{**record, "id": "b"}, '{"id": "cut off'])
    return good, broken


def test_parse_report_and_merge_exit_0_1_2(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    good, broken = good_and_broken_results(tmp_path)
    expected = {
        ("parse", str(good), "--stats"): 0,
        ("parse", str(broken), "--stats"): 1,
        ("parse", "missing.jsonl"): 2,
        ("report", str(good)): 0,
        ("report", str(broken)): 1,
        ("report", "missing.jsonl"): 2,
        ("merge", "-o", "m1.jsonl", str(good)): 0,
        ("merge", "-o", "m2.jsonl", str(good), str(broken)): 1,
        ("merge", "-o", "m3.jsonl", "missing.jsonl"): 2,
        ("merge", "-o", str(good), str(good)): 2,
    }
    got = {args: command(tmp_path, subprocess_env, *args) for args in expected}
    for args, done in got.items():
        assert done.returncode == expected[args], (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, args
    assert len(read_jsonl(tmp_path / "m2.jsonl")) == 2  # broken lines left out, said so
    assert "broken lines skipped" in got[("merge", "-o", "m2.jsonl", str(good), str(broken))].stderr


def test_import_exits_0_1_2(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"question": "q", "image": None, "answer": "a"}) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "q", "image": None}) + "\n{not json\n")
    assert command(tmp_path, subprocess_env, "import", str(good), "o1.jsonl").returncode == 0
    assert command(tmp_path, subprocess_env, "import", str(bad), "o2.jsonl").returncode == 1
    missing = command(tmp_path, subprocess_env, "import", "missing.parquet", "o3.jsonl")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_check_exits_0_for_a_ready_endpoint_1_for_problems_2_for_usage(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    with running_simulator(model="r1v4-sim") as sim:
        ready = command(
            tmp_path, subprocess_env, "check", "--base-url", sim.base_url, "--model", "r1v4-sim"
        )
        wrong_model = command(
            tmp_path, subprocess_env, "check", "--base-url", sim.base_url, "--model", "other"
        )
    assert ready.returncode == 0, ready.stdout + ready.stderr
    assert "simulated endpoint (not a model) looks ready" in ready.stdout
    assert wrong_model.returncode == 1
    refused = command(tmp_path, subprocess_env, "check", "--base-url", "http://127.0.0.1:9/v1")
    assert refused.returncode == 1 and "FAIL" in refused.stdout
    usage = command(tmp_path, subprocess_env, "check", "--base-url", "gpu1:8000/v1")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    assert (
        usage.stderr.strip() == "error: base URL 'gpu1:8000/v1' must start with http:// or https://"
    )
