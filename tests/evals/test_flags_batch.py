"""Quality flags through the real batch path: a scripted simulator plays trajectories that
exhibit each flag, the real sandbox runs their code, and each record comes out with its
flag and the reason; a clean trajectory comes out with none. The consistency judge is a
second scripted simulator (a mocked judge: its verdicts are scripted, the requests are
real). Old files get the same flags from `python -m r1v4 flags`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl
from tests.helpers.flag_cases import (
    FLAG_CASES,
    JUDGE_SCRIPTS,
    MAX_ROUNDS_CASE,
    flag_cases,
    make_scene,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two batches over the flag cases: one with a scripted consistency judge, one (the
    max-rounds case, --max-rounds 1) without; their records by id and what they printed."""
    root = tmp_path_factory.mktemp("flags")
    make_scene(root / "scene.png")
    cases, scripts = flag_cases(str(root / "scene.png"))
    write_jsonl(root / "cases.jsonl", cases)
    write_jsonl(
        root / "max.jsonl",
        [{"id": "max_rounds", "image": str(root / "scene.png"), "question": "q", "answer": "4"}],
    )
    out, out_max = root / "out.jsonl", root / "max_out.jsonl"
    with running_simulator(scripts=JUDGE_SCRIPTS) as judge:
        with running_simulator(scripts=scripts) as sim:
            base = ["--base-url", sim.base_url, "--concurrency", "4"]
            judged = [
                "--consistency-judge-base-url",
                judge.base_url,
                "--consistency-judge-model",
                "judge-vlm",
            ]
            assert run_cli([str(root / "cases.jsonl"), str(out), *base, *judged]) == 0
        judge_requests = list(judge.requests)
    with running_simulator(scripts=[{"id": "max_rounds", "turns": MAX_ROUNDS_CASE[0]}]) as sim:
        argv = [str(root / "max.jsonl"), str(out_max), "--base-url", sim.base_url]
        assert run_cli([*argv, "--max-rounds", "1"]) == 0
    records = {r["id"]: r for r in read_jsonl(out) + read_jsonl(out_max)}
    return {"root": root, "out": out, "records": records, "judge_requests": judge_requests}


def names(record: dict) -> set[str]:
    return {f["flag"] for f in record["flags"]}


@pytest.mark.parametrize("case", [c for c in FLAG_CASES if c != "crop_mismatch"])
def test_each_trajectory_has_exactly_its_flags(runs: dict, case: str) -> None:
    record = runs["records"][case]
    assert names(record) == FLAG_CASES[case][1], record["flags"]
    assert all(f["reason"] for f in record["flags"])


def test_a_clean_trajectory_gets_no_flag(runs: dict) -> None:
    clean = runs["records"]["clean"]
    assert clean["flags"] == []
    assert clean["score"]["correct"] is True
    assert '"regions"' in clean["response"]["full_response"]  # it did crop, and was traced


def test_the_reasons_say_what_and_where(runs: dict) -> None:
    reason = {
        cid: {f["flag"]: f["reason"] for f in r["flags"]} for cid, r in runs["records"].items()
    }
    assert "round 1: code: ZeroDivisionError" in reason["tool_error"]["tool_error"]
    assert (
        "IoU 0.83" in reason["recrop"]["recrop"]
        and "round 2 (second.png)" in reason["recrop"]["recrop"]
    )
    assert "right.png, 140x200" in reason["blank_crop"]["blank_crop"]
    assert "crops 10x10 px" in reason["tiny_crop"]["tiny_crop"]
    assert "keeps 98%" in reason["huge_crop"]["huge_crop"]
    assert "round 1 has no think" in reason["format"]["format"]
    assert "stopped by --max-rounds" in reason["max_rounds"]["max_rounds"]
    assert "answered '5', ground truth '4'" in reason["wrong_answer"]["wrong_answer"]
    assert "the consistency judge agrees" in reason["answer_not_in_think"]["answer_not_in_think"]
    assert reason["no_answer"]["no_answer"]  # fmt: skip


def test_the_consistency_judge_flags_a_crop_that_misses_its_think(runs: dict) -> None:
    record = runs["records"]["crop_mismatch"]
    assert names(record) == {"crop_mismatch"}
    reason = record["flags"][0]["reason"]
    assert "round 1 (square.png)" in reason and "red square" in reason
    # the judge was shown the crop itself (an image part) beside the sentence that asked for it
    asked = [
        r
        for r in runs["judge_requests"]
        if "Let me crop the red square" in str(r["messages"][0]["content"])
    ]
    assert len(asked) == 1
    parts = asked[0]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url" and parts[0]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )
    assert asked[0]["model"] == "judge-vlm"


def test_the_judges_verdicts_are_cached(runs: dict) -> None:
    cache = Path(f"{runs['out']}.consistencycache.sqlite")
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT consistent FROM consistency").fetchall()
    assert sorted(r[0] for r in rows).count(0) == 2  # the two inconsistent verdicts


def test_the_summary_counts_the_flags(runs: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from r1v4.batch.figures import record_figures
    from r1v4.batch.summary import FileTotals, flag_lines

    totals = FileTotals()
    for record in runs["records"].values():
        totals.add(record_figures(record))
    lines = flag_lines(totals)
    assert (
        lines[0]
        == f"quality flags: {len(runs['records']) - 1} of {len(runs['records'])} case(s) flagged"
    )


def test_an_old_file_gets_the_same_flags_from_the_flags_command(
    runs: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from r1v4.cli.flags import main as flags

    old = runs["root"] / "old.jsonl"
    rows = []
    for record in read_jsonl(runs["out"]):
        record.pop("flags")
        rows.append(record)
    write_jsonl(old, [*rows, "{not a record"])
    assert flags([str(old)]) == 1  # flagged, but one line is not a record (kept as it was)
    printed = capsys.readouterr().out
    assert f"{old}: {len(rows)} record(s)" in printed
    lines = old.read_text().splitlines()
    assert lines[-1] == "{not a record"
    write_jsonl(old, lines[:-1])
    again = {r["id"]: r for r in read_jsonl(old)}
    for cid, record in again.items():
        want = names(runs["records"][cid]) - {"crop_mismatch"}  # no judge this time
        if cid == "answer_not_in_think":
            want = {"answer_not_in_think"}  # the cheap rule alone
        assert names(record) == want, (cid, record["flags"])


def test_flags_command_refuses_an_output_in_another_folder(
    runs: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from r1v4.cli.flags import main as flags

    assert flags([str(runs["out"]), "-o", str(tmp_path / "x.jsonl")]) == 2
    assert "must be in the folder of" in capsys.readouterr().err
    assert flags([str(runs["out"]), "--check", "--flag-recrop-iou", "0"]) == 2
