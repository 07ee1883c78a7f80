"""`report` counts quality flags per run and per category (stored flags, or flagged by the
report when a record has none), in every format; `--compare` counts the flags that
appeared or vanished between two runs, case by case."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from r1v4.cli.report import main as report
from tests.helpers import write_jsonl

GOOD = "<think>It is 4.</think><answer>4</answer>"


def rec(rid: str, category: str, flags: list[str] | None, full: str = GOOD) -> dict:
    record = {
        "id": rid,
        "question": "q",
        "image": "",
        "category": category,
        "answer": "4",
        "response": {"full_response": full},
        "meta": {"stop_reason": "answer"},
    }
    if flags is not None:
        record["flags"] = [{"flag": f, "reason": "r"} for f in flags]
    return record


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    a = write_jsonl(
        tmp_path / "a.jsonl",
        [
            rec("1", "chart", ["tool_error", "recrop"]),
            rec("2", "chart", []),
            rec("3", "photo", ["recrop"]),
            # no stored flags: the report flags it (no <answer>, no think)
            rec("4", "photo", None, full="just words"),
        ],
    )
    b = write_jsonl(
        tmp_path / "b.jsonl",
        [
            rec("1", "chart", ["recrop"]),  # tool_error vanished
            rec("2", "chart", ["tool_error"]),  # tool_error appeared
            rec("3", "photo", ["recrop", "blank_crop"]),  # blank_crop appeared
            rec("4", "photo", []),
        ],
    )
    return a, b


def test_flag_counts_per_run_and_category(files, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = files
    assert report([str(a), "--format", "json"]) == 0
    out = capsys.readouterr().out
    run = json.loads(out)["runs"][0]
    assert run["flagged"] == 3 and run["flags_computed"] == 1
    assert run["flags"] == {"format": 1, "tool_error": 1, "recrop": 2}
    assert run["by_category"]["chart"]["flags"] == {"tool_error": 1, "recrop": 1}
    assert run["by_category"]["photo"]["flagged"] == 2
    assert "1 record(s) without stored flags were flagged here" in json.dumps(
        json.loads(out)["notes"]
    )
    assert report([str(a), "--format", "csv"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["flagged"], row["flag[recrop]"], row["flag[blank_crop]"]) == ("3", "2", "0")
    assert report([str(a)]) == 0
    text = capsys.readouterr().out
    table = text.split("Quality flags (cases)")[1].strip().splitlines()
    assert table[0].split() == ["run", "category", "cases", "flagged", "format", "tool_error",
                                "recrop"]  # fmt: skip
    assert table[2].split()[1:] == ["all", "4", "3", "1", "1", "2"]
    assert table[3].split()[1:] == ["chart", "2", "1", "0", "1", "1"]


def test_compare_counts_flags_that_appeared_or_vanished(
    files, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = files
    assert report(["--compare", str(a), str(b), "--format", "json"]) == 0
    flags = json.loads(capsys.readouterr().out)["compare"]["flags"]
    assert flags["tool_error"] == {
        "appeared": 1, "vanished": 1, "appeared_ids": ["2"], "vanished_ids": ["1"],
    }  # fmt: skip
    assert flags["blank_crop"]["appeared"] == 1 and flags["blank_crop"]["vanished"] == 0
    assert flags["format"]["vanished_ids"] == ["4"]
    assert "recrop" not in flags  # on the same cases in both
    assert report(["--compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out.split("Quality flags that changed (paired cases)")[1]
    assert "blank_crop" in text and "tool_error" in text
