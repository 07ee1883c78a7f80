"""parse_jsonl_file, the summary table and the two command lines, on a real result file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from r1v4.cli.parse import main
from r1v4.parsing import (
    ParsedLines,
    get_round_statistics,
    parse_full_response,
    parse_jsonl_file,
)
from tests.helpers import ROOT

GOOD = (
    "<think>zoom</think>"
    '<tool_call>{"name": "code", "arguments": {"code": "crop()"}}</tool_call>'
    '<observation>{"type": "code", "result": "", "images": ["r.jsonl.assets/c1/a.png"]}'
    "</observation><think>seen</think><answer>红色</answer>"
)
SEARCH = (
    '<think>s</think><tool_call>{"name": "text_search", "arguments": {"queries": ["q"]}}'
    '</tool_call><observation>{"type": "text_search", "result": "r"}</observation>'
    "<tool_call>I will look it up</tool_call><observation>{}</observation>"
    "<answer>done</answer>"
)


def write_results(path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "c1",
                "image": "a.png",
                "question": "colour?",
                "response": {"full_response": GOOD, "raw_response": {}},
                "meta": {"stop_reason": "answer"},
            },
            ensure_ascii=False,
        ),
        json.dumps(
            {"id": "c2", "image": "", "question": "search", "response": {"full_response": SEARCH}}
        ),
        json.dumps(
            {
                "id": "c3",
                "question": "cut",
                "response": {
                    "error": "stream dropped",
                    "full_response": '<think>t</think><tool_call>{"na',
                },
            }
        ),
        json.dumps({"id": "c4", "question": "dead", "response": {"error": "HTTP 500"}}),
        '{"id": "c5", "response": {"full_response": "<answer>x',  # killed mid-write
        "",
        "[1, 2]",
        json.dumps({"id": "c6", "response": {"full_response": None}}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "r.jsonl"
    write_results(path)
    return path


def test_parse_jsonl_file_reports_bad_lines_by_number(results: Path, tmp_path: Path) -> None:
    problems: list[tuple[int, str]] = []
    out = tmp_path / "parsed.jsonl"
    parsed = parse_jsonl_file(results, out, on_problem=lambda n, m: problems.append((n, m)))
    assert isinstance(parsed, ParsedLines)
    assert [p["line_num"] for p in parsed] == [1, 2, 3]
    lines = dict(problems)
    assert set(lines) == {4, 5, 7, 8}
    assert "missing 'response.full_response' (case failed: HTTP 500)" in lines[4]
    assert lines[5].startswith("invalid JSON")
    assert "expected a JSON object, got an array of 2" in lines[7]
    assert "full_response is null" in lines[8]
    s = parsed.summary
    assert (s.cases, s.answered, s.failed, s.bad_lines, s.skipped) == (5, 2, 2, 3, 1)


def test_parsed_lines_are_the_seeds_form(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsed.jsonl"
    parsed = parse_jsonl_file(results, out, on_problem=lambda n, m: None)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == list(parsed) == parsed[:]  # file, iteration and indexing agree
    first = written[0]
    assert list(first) == ["line_num", "image", "question", "raw_response", "parsed_response"]
    assert first["image"] == "a.png" and first["question"] == "colour?"
    assert first["parsed_response"] == parse_full_response(GOOD)
    assert "红色" in out.read_text(encoding="utf-8")  # ensure_ascii=False, as the seed wrote
    assert parsed[-1]["parsed_response"]["rounds"][0]["incomplete"] is True
    assert parsed == written and len(parsed) == 3
    with pytest.raises(IndexError):
        parsed[3]
    stats = get_round_statistics(parsed[1]["parsed_response"])
    assert stats == {"total_rounds": 2, "has_final_answer": True, "tools_used": ["text_search"]}


def test_default_problem_report_goes_to_stderr_with_file_and_line(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parse_jsonl_file(results)
    err = capsys.readouterr().err
    assert f"{results}:5: invalid JSON" in err
    assert f"{results}:7: expected a JSON object" in err


def test_output_onto_the_input_is_refused(results: Path) -> None:
    with pytest.raises(ValueError, match="is the input file"):
        parse_jsonl_file(results, results)


def test_cli_stats_table(results: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(results), "--stats"])
    out, err = capsys.readouterr()
    assert code == 1, out  # bad lines make the exit status non-zero
    table = {line.split("  ")[0].strip(): line for line in out.splitlines() if "  " in line}
    assert table["cases"].split()[-1] == "5"
    assert table["answered"].endswith("2 (40.0%)")
    assert table["failed (response.error)"].endswith("2 (40.0%)")
    assert table["bad lines"].endswith("3")
    assert table["tool_call parse errors"].endswith("2")  # unparseable + cut off
    assert "text_search" in out and "invalid" in out
    assert re.search(r"^answer +1 \(20.0%\)$", out, re.M)  # stop reasons from meta
    assert f"{results}:5: invalid JSON: Unterminated string" in err


def test_cli_writes_stdout_without_stats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps({"response": {"full_response": GOOD}}) + "\n")
    assert main([str(path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["parsed_response"] == parse_full_response(GOOD)


def test_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.jsonl"), "--stats"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_parse_utils_script_runs_as_the_seeds_command_line(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsed.jsonl"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "parse_utils.py"), str(results), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr  # the fixture has bad lines
    assert "cases" in proc.stdout and "rounds  cases" in proc.stdout
    assert f"Saved parsed results to {out}" in proc.stdout
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    assert f"{results}:5: invalid JSON" in proc.stderr


def test_parse_utils_module_keeps_the_seed_api() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import parse_utils
    finally:
        sys.path.remove(str(ROOT))
    assert parse_utils.parse_full_response is parse_full_response
    assert parse_utils.parse_jsonl_file is parse_jsonl_file
    assert parse_utils.get_round_statistics is get_round_statistics


def test_cli_refuses_to_overwrite_its_input(
    results: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = results.read_bytes()
    assert main([str(results), "-o", str(results)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert results.read_bytes() == before


def test_lone_surrogates_from_escapes_survive_the_output_file(tmp_path: Path) -> None:
    src, out = tmp_path / "s.jsonl", tmp_path / "out.jsonl"
    src.write_text(
        '{"question": "q\\ud800", "response": {"full_response": "<answer>a\\udc00</answer>"}}\n'
    )
    parse_jsonl_file(src, out, quiet=True)
    back = json.loads(out.read_text(encoding="utf-8"))
    assert back["question"] == "q\ud800"
    assert back["parsed_response"]["final_round"]["answer"] == "a\udc00"
