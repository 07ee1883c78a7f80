"""Tool errors are counted everywhere a user looks: the record, the end-of-batch summary,
`report` (every format), `parse --stats` and the viewer's run list and case page; for a
file written now and for an old file whose records lack the counts alike."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import orjson
import pytest

from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run


def call(code: str) -> str:
    body = orjson.dumps({"name": "code", "arguments": {"code": code}}).decode()
    return f"<tool_call>{body}</tool_call>"


CASES = [
    # every call fails (code that raises), and the model answers all the same
    {"id": "broken", "image": "", "question": "all fail", "answer": "4"},
    # one call fails, the next works
    {"id": "mixed", "image": "", "question": "one fails", "answer": "6"},
    # no tools at all
    {"id": "plain", "image": "", "question": "no tools", "answer": "8"},
]
SCRIPTS = [
    {
        "question": "all fail",
        "turns": [
            "<think>try</think>" + call("print(2 + 2); 1 / 0"),
            "<think>the tool failed; I know it anyway</think><answer>4</answer>",
        ],
    },
    {
        "question": "one fails",
        "turns": [
            "<think>try</think>" + call("raise ValueError('nope')"),
            "<think>again</think>" + call("print(2 * 3)"),
            "<think>6</think><answer>6</answer>",
        ],
    },
    {"question": "no tools", "turns": ["<answer>8</answer>"]},
]


@pytest.fixture()
def batch(workdir: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the three cases; returns what the batch printed."""
    write_jsonl(workdir / "cases.jsonl", CASES)
    with running_simulator(scripts=SCRIPTS) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
    return capsys.readouterr().out


def strip_counts(src: Path, dst: Path) -> Path:
    """The same results as an older toolkit wrote them: no tool_errors, no all_tools_failed."""
    rows = []
    for record in read_jsonl(src):
        record["meta"].pop("tool_errors")
        record["meta"].pop("all_tools_failed")
        rows.append(record)
    return write_jsonl(dst, rows)


def test_the_record_marks_a_case_that_answered_after_all_its_tool_calls_failed(
    workdir: Path, batch: str
) -> None:
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    broken, mixed, plain = records["broken"]["meta"], records["mixed"]["meta"], records["plain"]
    assert broken["tool_errors"] == {"code": 1} and broken["all_tools_failed"] is True
    assert records["broken"]["score"]["correct"] is True  # it answered, and is marked
    assert mixed["tool_errors"] == {"code": 1} and mixed["all_tools_failed"] is False
    assert plain["meta"]["tool_errors"] == {} and plain["meta"]["all_tools_failed"] is False
    assert broken["input_file"] == str((workdir / "cases.jsonl").resolve())


def test_the_summary_counts_tool_calls_and_errors_per_tool(batch: str) -> None:
    assert "tool calls: 3  tool errors: 2" in batch
    assert "  code: 3 call(s), 2 error(s)" in batch
    assert "cases whose every tool call failed: 1 (1 answered anyway)" in batch


@pytest.mark.parametrize("old", [False, True], ids=["new-file", "old-file"])
def test_report_has_tool_errors_in_every_format(
    workdir: Path, batch: str, capsys: pytest.CaptureFixture[str], old: bool
) -> None:
    from r1v4.cli.report import main as report

    path = workdir / "out.jsonl"
    if old:
        path = strip_counts(path, workdir / "old.jsonl")
    assert report([str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)["runs"][0]
    assert (doc["tool_calls"], doc["tool_errors"]) == (3, 2)
    assert doc["tool_errors_by_tool"] == {"code": 2}
    assert (doc["all_tools_failed"], doc["all_tools_failed_answered"]) == (1, 1)

    assert report([str(path), "--format", "csv"]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (row["tool_calls"], row["tool_errors"], row["all_tools_failed"]) == ("3", "2", "1")

    for fmt in ("text", "md"):
        assert report([str(path)] + (["--format", fmt] if fmt == "md" else [])) == 0
        lines = capsys.readouterr().out.splitlines()
        at = next(i for i, line in enumerate(lines) if "tool errors" in line)
        header, row_line = lines[at], lines[at + 2]  # a rule line between them
        if fmt == "md":
            cells = [c.strip() for c in header.split("|") if c.strip()]
            values = [c.strip() for c in row_line.split("|") if c.strip()]
        else:
            cells = [c.strip() for c in header.split("  ") if c.strip()]
            values = row_line.split()
        at = cells.index("tool errors")
        assert values[at] == "2" and values[cells.index("all tools failed")] == "1"


@pytest.mark.parametrize("old", [False, True], ids=["new-file", "old-file"])
def test_parse_stats_counts_tool_errors(
    workdir: Path, batch: str, capsys: pytest.CaptureFixture[str], old: bool
) -> None:
    from r1v4.cli.parse import main as parse

    path = workdir / "out.jsonl"
    if old:
        path = strip_counts(path, workdir / "old.jsonl")
    assert parse([str(path), "--stats"]) == 0
    out = capsys.readouterr().out
    rows = {line[:31].strip(): line[31:].strip() for line in out.splitlines()[:16]}
    assert rows["tool calls (answered)"] == "3"
    assert rows["tool errors"] == "2"
    assert rows["cases: every tool call failed"] == "1 (1 answered anyway)"
    assert rows["answered"].startswith("3 ")
    table = out[out.index("tool  calls") :].splitlines()
    assert table[1].split()[0] == "code" and table[1].split()[-1] == "2"


@pytest.mark.parametrize("old", [False, True], ids=["new-file", "old-file"])
def test_viewer_run_list_shows_and_filters_tool_errors(
    workdir: Path, batch: str, old: bool
) -> None:
    from r1v4.viewer import create_app, get_library

    path = workdir / "out.jsonl"
    if old:
        path = strip_counts(path, workdir / "old.jsonl")
    app = create_app({"RESULT_FILES": [str(path)], "ROOTS": [str(workdir)], "CWD": str(workdir)})
    client = app.test_client()
    fid = get_library(app).files()[0].fid

    page = client.get(f"/f/{fid}/").get_data(as_text=True)
    assert "all tools failed" in page and "1 tool error" in page
    assert 'data-total="tool_errors">2<' in page and "1 case where all failed" in page
    assert '<option value="all">every tool call failed</option>' in page

    def ids(query: str) -> list[str]:
        listing = client.get(f"/f/{fid}/cases.json?{query}").get_json()
        return sorted(row["id"] for row in listing["cases"])

    assert ids("tool_errors=all") == ["broken"]
    assert ids("tool_errors=some") == ["broken", "mixed"]
    assert ids("tool_errors=none") == ["plain"]

    n = next(i for i, r in enumerate(read_jsonl(path)) if r["id"] == "broken")
    case_page = client.get(f"/f/{fid}/case/{n}").get_data(as_text=True)
    assert "Every tool call of this case failed (1 of 1: code × 1)" in case_page
    assert "this answer did not come from its tools" in case_page
