"""`python -m r1v4 report`: figures checked against a small example computed by hand, and
`--compare` on two small runs with the McNemar p-value worked out by hand."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from r1v4.cli.report import main
from r1v4.evals.report import compare_runs, load_run, summarize
from tests.helpers import write_jsonl

OPTS = ["Red", "Blue", "Green", "Black"]


def rec(rid: str, full: str, *, error: str | None = None, **fields) -> dict:
    meta = fields.pop("meta", {})
    response = {"full_response": full}
    if error:
        response["error"] = error
    return {
        "id": rid,
        "question": f"question {rid}",
        "image": "",
        "response": response,
        "meta": {"mode": "nonstream", **meta},
        **fields,
    }


def run_a(path: Path) -> Path:
    """Five cases; the hand computation is in test_hand_computed_figures."""
    return write_jsonl(
        path,
        [
            # an earlier failed attempt at c2, replaced by the later line
            rec("c2", "", error="HTTP 503", answer="C", options=OPTS, meta={"latency_s": 99.0}),
            rec(
                "c1",
                "<answer>B</answer>",
                answer="B",
                options=OPTS,
                category="color",
                score={"value": 1.0, "correct": True, "scorer": "choice", "extracted": "B"},
                meta={
                    "rounds": 1,
                    "tool_calls": {},
                    "latency_s": 2.0,
                    "usage": {"completion_tokens": 100},
                },
            ),
            rec(
                "c2",
                "<think>crop</think><tool_call>{}</tool_call><observation>x</observation>"
                "<answer>A</answer>",
                answer="C",
                options=OPTS,
                category="color",
                meta={
                    "rounds": 2,
                    "tool_calls": {"code": 1},
                    "latency_s": 4.0,
                    "usage": {"completion_tokens": 300},
                },
            ),
            rec(
                "c3",
                "<think>count</think><answer>12 apples</answer>",
                answer="12",
                category="count",
                meta={
                    "rounds": 3,
                    "tool_calls": {"code": 2},
                    "latency_s": 6.0,
                    "usage": {"completion_tokens": 500},
                },
            ),
            rec(
                "c4",
                "<think>counting",
                error="timeout after 3 attempts",
                answer="7",
                category="shape",
                meta={"rounds": 1, "tool_calls": {"text_search": 1}, "latency_s": 10.0},
            ),
            rec(
                "c5",
                "<answer>hi</answer>",
                meta={"rounds": 1, "latency_s": 3.0, "usage": {"completion_tokens": 200}},
            ),
            '{"id": "c6", "response": {"full_resp',  # a line cut off by a crash
        ],
    )


def test_hand_computed_figures(tmp_path: Path) -> None:
    rows, skipped = load_run(run_a(tmp_path / "a.jsonl"))
    s = summarize("a", rows, skipped)
    # cases: c1..c5 (c2's failed line is replaced, the cut line is skipped)
    assert (s.cases, s.failures, s.answered) == (5, 1, 4)  # c4 failed; c1,c2,c3,c5 answered
    # scored: c1 (stored score), c2, c3, c4 scored here from answer/options; c5 has no answer
    assert (s.scored, s.correct, s.rescored) == (4, 2, 3)  # c1 and c3 right
    assert s.accuracy == 0.5
    # Wilson 2/4: centre = (0.5 + 3.8415/8) / (1 + 3.8415/4) = 0.5,
    # half = 1.96 * sqrt(0.25/4 + 3.8415/64) / 1.96037 = 0.34997
    assert s.ci95 == pytest.approx((0.15003, 0.84997), abs=1e-4)
    assert s.mean_rounds == pytest.approx(1.6)  # (1+2+3+1+1)/5
    assert s.mean_latency_s == pytest.approx(5.0)  # (2+4+6+10+3)/5
    assert s.output_tokens == 1100  # 100+300+500+200
    assert s.mean_output_tokens == pytest.approx(275.0)
    # tokens/s over records with both: 1100 / (2+4+6+3) = 73.33
    assert s.tokens_per_s == pytest.approx(1100 / 15)
    assert s.skipped_lines == [7]
    assert s.by_category["color"]["accuracy"] == 0.5
    assert s.by_category["count"]["accuracy"] == 1.0
    assert s.by_category["shape"]["accuracy"] == 0.0
    assert s.by_category["(none)"]["scored"] == 0
    correct, wrong = s.by_outcome["correct"], s.by_outcome["wrong"]
    assert (correct["n"], correct["mean_rounds"]) == (2, 2.0)  # c1, c3
    assert correct["tools_per_case"] == {"code": 1.0}  # (0+2)/2
    assert (wrong["n"], wrong["mean_rounds"]) == (2, 1.5)  # c2, c4
    assert wrong["tools_per_case"] == {"code": 0.5, "text_search": 0.5}


def test_rescore_never_uses_only_stored_scores(tmp_path: Path) -> None:
    rows, _ = load_run(run_a(tmp_path / "a.jsonl"), rescore="never")
    s = summarize("a", rows)
    assert (s.scored, s.correct) == (1, 1)


def test_rescore_all_overrides_a_stored_score(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl",
        [
            rec(
                "x",
                "<answer>C</answer>",
                answer="B",
                options=OPTS,
                score={"value": 1.0, "correct": True, "scorer": "choice", "extracted": "C"},
            )
        ],
    )
    assert summarize("r", load_run(path)[0]).correct == 1
    assert summarize("r", load_run(path, rescore="all")[0]).correct == 0


def test_seed_format_records_without_meta(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "seed.jsonl",
        [{"image": "./demo_image/demo_1.png", "question": "q", "response": {"full_response": "a"}}],
    )
    s = summarize("seed", load_run(path)[0])
    assert (s.cases, s.answered, s.scored, s.accuracy, s.tokens_per_s) == (1, 1, 0, None, None)


# ------------------------------------------------------------------------- compare


def scored_run(path: Path, right: set[int], ids: range) -> Path:
    return write_jsonl(
        path,
        [
            rec(
                f"q{i}",
                "<answer>x</answer>",
                score={"value": float(i in right), "correct": i in right, "scorer": "exact"},
            )
            for i in ids
        ],
    )


def test_compare_hand_checked(tmp_path: Path) -> None:
    a = scored_run(tmp_path / "a.jsonl", {0, 1, 2}, range(10))
    b = scored_run(tmp_path / "b.jsonl", {0, 1, 3, 4, 5, 6, 7, 8, 9, 10}, range(11))
    cmp = compare_runs(load_run(a)[0], load_run(b)[0])
    assert cmp["paired"] == 10 and cmp["only_in_b"] == 1 and cmp["only_in_a"] == 0
    assert cmp["accuracy_a"] == 0.3 and cmp["accuracy_b"] == 0.9
    assert cmp["difference"] == pytest.approx(0.6)
    assert (cmp["a_right_b_wrong"], cmp["a_wrong_b_right"]) == (1, 7)
    # exact McNemar: 8 discordant pairs, 1 vs 7: p = 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    assert cmp["p_value"] == pytest.approx(18 / 256)
    assert cmp["test"] == "McNemar (exact)"
    assert cmp["flipped_to_wrong"] == ["q2"]
    assert cmp["flipped_to_correct"] == [f"q{i}" for i in range(3, 10)]


def test_cli_compare_prints_flips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = scored_run(tmp_path / "a.jsonl", {0, 1, 2}, range(10))
    b = scored_run(tmp_path / "b.jsonl", {0, 1, 3, 4, 5, 6, 7, 8, 9}, range(10))
    assert main(["--compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "McNemar (exact) p      0.07031" in out
    assert "+60.0 pts" in out
    assert "flipped to wrong       q2\n" in out
    assert "q3, q4, q5, q6, q7, q8, q9" in out


# ------------------------------------------------------------------------- output formats


def test_cli_text_table_is_aligned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = run_a(tmp_path / "a.jsonl")
    assert main([str(path)]) == 1  # report written; 1 because line 7 is undecodable
    out = capsys.readouterr().out
    header, rule, row = out.splitlines()[:3]
    assert header.split()[:3] == ["run", "cases", "answered"]
    assert set(rule.replace(" ", "")) == {"-"}
    # numbers are right-aligned under their header
    end = header.index("accuracy") + len("accuracy")
    assert row[end - len("50.0%") : end] == "50.0%"
    assert "15.0–85.0" in row and "73.3" in row
    assert "3 record(s) scored here with scorer 'auto'" in out
    assert "skipped undecodable line(s) 7" in out


def test_cli_writes_json_csv_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Exit 1 throughout: the report is written, but line 7 of the file could not be read.
    path = run_a(tmp_path / "a.jsonl")
    assert main([str(path), "--out", str(tmp_path / "r.json")]) == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    run = doc["runs"][0]
    assert run["accuracy"] == 0.5 and run["output_tokens"] == 1100
    assert run["ci95"] == pytest.approx([0.15003, 0.84997], abs=1e-4)

    assert main([str(path), "--out", str(tmp_path / "r.csv")]) == 1
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert rows[0]["cases"] == "5" and float(rows[0]["tokens_per_s"]) == pytest.approx(73.333, 1e-4)
    assert float(rows[0]["accuracy[count]"]) == 1.0

    assert main([str(path), "--out", str(tmp_path / "r.md")]) == 1
    md = (tmp_path / "r.md").read_text()
    assert "| run | cases | answered |" in md and "## Accuracy per category" in md
    assert "| count | 100.0% (1/1) |" in md

    capsys.readouterr()
    assert main([str(path), "--format", "csv"]) == 1  # no --out: the format goes to stdout
    assert capsys.readouterr().out.startswith("run,cases,answered,")


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.jsonl")]) == 2
    assert "no such result file" in capsys.readouterr().err
    assert main([]) == 2
    path = run_a(tmp_path / "a.jsonl")
    assert main([str(path), "--scorer", "judge"]) == 2
    assert "--judge-base-url" in capsys.readouterr().err


def test_cli_rescoring_with_the_judge_uses_its_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from r1v4.sim import running_simulator

    path = write_jsonl(
        tmp_path / "open.jsonl",
        [rec(f"o{i}", f"<answer>prediction {i}</answer>", answer="gold") for i in range(20)],
    )
    scripts = [
        {
            "contains": f"prediction {i}\n",
            "turns": [
                f"Looks {'right' if i % 4 else 'off'}."
                f"\nVERDICT: {'CORRECT' if i % 4 else 'INCORRECT'}"
            ],
        }
        for i in range(20)
    ]
    cache = tmp_path / "verdicts.sqlite"
    args = [
        str(path),
        "--scorer",
        "judge",
        "--judge-model",
        "j",
        "--judge-cache",
        str(cache),
        "--format",
        "json",
    ]
    with running_simulator(scripts=scripts) as sim:
        assert main([*args, "--judge-base-url", sim.base_url]) == 0
        assert len(sim.requests) == 20
        run = json.loads(capsys.readouterr().out)["runs"][0]
        assert (run["scored"], run["correct"]) == (20, 15)  # o0, o4, o8, o12, o16 wrong
        assert main([*args, "--judge-base-url", sim.base_url]) == 0
        assert len(sim.requests) == 20  # every verdict came from the cache
        assert json.loads(capsys.readouterr().out)["runs"][0]["correct"] == 15
