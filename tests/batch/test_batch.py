"""The core batch path end to end: JSONL -> simulator on loopback -> result JSONL."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.protocol.records import FORMAT_VERSION
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run

SECRET = "sk-test-SECRET-4242"


@pytest.mark.slow
def test_nonstream_and_stream_give_the_same_full_response(workdir: Path) -> None:
    from r1v4.demo import demo_scripts, write_demo_cases

    write_demo_cases(workdir / "cases.jsonl")
    with running_simulator(scripts=demo_scripts()) as sim:
        assert run(["cases.jsonl", "a.jsonl", "--base-url", sim.base_url]) == 0
        assert run(["cases.jsonl", "b.jsonl", "--base-url", sim.base_url], mode="stream") == 0
    a = {r["id"]: r for r in read_jsonl(workdir / "a.jsonl")}
    b = {r["id"]: r for r in read_jsonl(workdir / "b.jsonl")}
    assert (
        set(a) == set(b) == {"warehouse-sign", "lighthouse-architect", "red-circles", "text-only"}
    )
    for rid in a:  # identical up to the sidecar folder's name (content-addressed images)
        text_a = a[rid]["response"]["full_response"].replace("a.jsonl.assets", "OUT.assets")
        text_b = b[rid]["response"]["full_response"].replace("b.jsonl.assets", "OUT.assets")
        assert text_a == text_b, rid
    sign = a["warehouse-sign"]
    assert sign["meta"]["mode"] == "nonstream" and b["warehouse-sign"]["meta"]["mode"] == "stream"
    assert sign["response"]["full_response"].endswith("<answer>47</answer>")
    assert sign["score"]["correct"] is True
    assert b["warehouse-sign"]["meta"]["ttft_s"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("reasoning_field", ["reasoning_content", "reasoning", "both"])
def test_reasoning_and_structured_tool_calls_fold_into_tags(
    workdir: Path, reasoning_field: str
) -> None:
    from r1v4.demo import demo_scripts, write_demo_cases

    write_demo_cases(workdir / "cases.jsonl")
    settings = {"reasoning_field": reasoning_field, "structured_tool_calls": True}
    with running_simulator(scripts=demo_scripts(), **settings) as sim:
        for mode in ("nonstream", "stream"):
            assert run(["cases.jsonl", f"{mode}.jsonl", "--base-url", sim.base_url], mode) == 0
    with running_simulator(scripts=demo_scripts()) as sim:
        assert run(["cases.jsonl", "plain.jsonl", "--base-url", sim.base_url]) == 0
    plain = {r["id"]: r for r in read_jsonl(workdir / "plain.jsonl")}
    for mode in ("nonstream", "stream"):
        for record in read_jsonl(workdir / f"{mode}.jsonl"):
            text = record["response"]["full_response"]
            assert text.count("<think>") == plain[record["id"]]["response"]["full_response"].count(
                "<think>"
            ), (mode, text[:300])
            if record["id"] == "warehouse-sign":
                assert '<tool_call>{"name":' in text.replace('{"name" :', '{"name":')
                assert "<observation>" in text and text.endswith("<answer>47</answer>")


@pytest.mark.slow
def test_bad_line_and_missing_image_do_not_stop_the_batch(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"id": "a", "image": "", "question": "first"},
            "{broken json",
            {"id": "b", "image": "./nowhere/missing.png", "question": "no image"},
            {"id": "c", "image": "./demo_image/demo_2.webp", "question": "last"},
        ],
    )
    with running_simulator() as sim:  # 1: a line was rejected and a case failed
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 1
    out = capsys.readouterr().out
    assert "cases.jsonl:2: invalid JSON" in out
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert set(records) == {"a", "b", "c"}
    assert "image not found" in records["b"]["response"]["error"]
    assert "missing.png" in records["b"]["response"]["error"]
    assert "error" not in records["a"]["response"] and "error" not in records["c"]["response"]
    assert "succeeded: 2  failed: 1" in out


@pytest.mark.slow
def test_api_key_never_appears_in_any_output(
    workdir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from r1v4.demo import demo_scripts, write_demo_cases

    write_demo_cases(workdir / "cases.jsonl")
    with running_simulator(scripts=demo_scripts(), api_key=SECRET) as sim:
        assert (
            run(["cases.jsonl", "ok.jsonl", "--base-url", sim.base_url, "--api-key", SECRET]) == 0
        )
        assert sim.requests  # the key was really used
        code = run(["cases.jsonl", "bad.jsonl", "--base-url", sim.base_url, "--api-key", "wrong"])
    captured = capfd.readouterr()
    assert code == 2 and "401" in captured.err
    assert SECRET not in captured.out + captured.err
    for path in workdir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_seed_format_input_runs_unchanged(workdir: Path) -> None:
    seed_lines = (
        '{"image": "./demo_image/demo_1.png", "question": "What is on the sign?"}\n'
        '{"image": "", "question": "Who wrote Hamlet?"}\n'
    )
    (workdir / "test_cases.jsonl").write_text(seed_lines)
    with running_simulator() as sim:
        assert run(["--base-url", sim.base_url]) == 0  # seed defaults for input and output
    records = read_jsonl(workdir / "result_nonstream.jsonl")
    assert [r["question"] for r in sorted(records, key=lambda r: r["question"])] == [
        "What is on the sign?",
        "Who wrote Hamlet?",
    ]
    for record in records:  # the seed's viewer reads exactly these keys
        assert set(record) >= {"image", "question", "response"}
        assert "full_response" in record["response"] and "error" not in record["response"]
        assert record["meta"]["format_version"] == FORMAT_VERSION  # readers can tell formats


def test_rerun_skips_finished_cases(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"question": f"q{i}"} for i in range(5)])
    with running_simulator() as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        first = len(sim.requests)
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
        assert len(sim.requests) == first
    out = capsys.readouterr().out
    assert "this run: 0 done" in out and "skipped (already done): 5" in out
    assert "cases: 5  succeeded: 5  failed: 0" in out.rsplit("results:", 1)[1]
    assert len(read_jsonl(workdir / "out.jsonl")) == 5


def test_cases_with_ground_truth_are_scored_as_they_finish_including_by_a_judge(
    workdir: Path,
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"id": "mc", "question": "Which colour?", "options": ["Red", "Blue"], "answer": "B"},
            {"id": "open", "question": "Name the tower", "answer": "Harbor Lantern Tower"},
            {"id": "none", "question": "No ground truth here"},
        ],
    )
    scripts = [
        # The model reads the question with its options written in, so match a part of it.
        {"contains": "Which colour?", "turns": ["<think>blue</think><answer>(B) Blue</answer>"]},
        {
            "question": "Name the tower",
            "turns": ["<answer>the lantern tower by the harbor</answer>"],
        },
        {
            "contains": "the lantern tower by the harbor",
            "turns": ["Same landmark.\nVERDICT: CORRECT"],
        },
    ]
    with running_simulator(scripts=scripts) as sim:
        code = run(
            [
                "cases.jsonl",
                "out.jsonl",
                "--base-url",
                sim.base_url,
                "--tools",
                "none",
                "--judge-base-url",
                sim.base_url,
                "--judge-model",
                "judge-sim",
            ]
        )
        judged = [r for r in sim.requests if r.get("model") == "judge-sim"]
    assert code == 0 and len(judged) == 1
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert records["mc"]["score"]["scorer"] == "choice" and records["mc"]["score"]["correct"]
    assert records["open"]["score"]["scorer"] == "judge" and records["open"]["score"]["correct"]
    assert "Same landmark" in records["open"]["score"]["judge_reasoning"]
    assert "score" not in records["none"]
    assert (workdir / "out.jsonl.judgecache.sqlite").exists()


def test_judge_calls_stay_at_most_one_per_worker_however_slow_the_judge(
    workdir: Path,
) -> None:
    """A fast model and a slow judge: a worker goes on with its next case while its last
    one is judged, but waits for that judgement before handing in another, so the judge
    never sees more calls at once than there are workers."""
    truth = "Harbor Lantern Tower"
    cases = [{"id": f"q{i}", "question": f"Name tower {i}", "answer": truth} for i in range(10)]
    write_jsonl(workdir / "cases.jsonl", cases)
    answer = {"contains": "Name tower", "turns": ["<answer>the lantern tower</answer>"]}
    verdict = {"contains": "the lantern tower", "turns": ["Same.\nVERDICT: CORRECT"]}
    with (
        running_simulator(scripts=[answer]) as model,
        running_simulator(scripts=[verdict], latency_s=0.3) as judge,
    ):
        code = run(
            ["cases.jsonl", "out.jsonl", "--base-url", model.base_url, "--tools", "none"]
            + ["--concurrency", "2", "--judge-base-url", judge.base_url]
            + ["--judge-model", "judge-sim"]
        )
        peak = judge.counters.get("max_in_flight", 0)
        judged = len(judge.requests)
    records = read_jsonl(workdir / "out.jsonl")
    assert code == 0 and judged == 10 and len(records) == 10
    assert all(r["score"]["scorer"] == "judge" and r["score"]["correct"] for r in records)
    assert 1 <= peak <= 2


def test_an_unwritable_output_folder_is_one_clear_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"question": "q"}])
    (workdir / "blocked").write_text("a file where a folder should be")
    assert run(["cases.jsonl", "blocked/out.jsonl", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write results") and "blocked" in err
    assert "Traceback" not in err


def test_extra_body_and_a_system_prompt_file_reach_the_request(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "a", "question": "q1"}, {"id": "b", "question": "q2", "system": "case wins"}],
    )
    (workdir / "prompt.txt").write_text("You are terse.", encoding="utf-8")
    extra = '{"top_p": 0.9, "chat_template_kwargs": {"enable_thinking": false}}'
    with running_simulator() as sim:
        code = run(
            [
                "cases.jsonl",
                "out.jsonl",
                "--base-url",
                sim.base_url,
                "--extra-body",
                extra,
                "--system-prompt-file",
                "prompt.txt",
            ]
        )
        requests = {r["messages"][-1]["content"][-1]["text"]: r for r in sim.requests}
    assert code == 0
    assert requests["q1"]["top_p"] == 0.9
    assert requests["q1"]["chat_template_kwargs"] == {"enable_thinking": False}
    assert requests["q1"]["messages"][0] == {"role": "system", "content": "You are terse."}
    assert requests["q2"]["messages"][0] == {"role": "system", "content": "case wins"}
    for bad, message in [
        ("[1]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
        ('{"model": "x"}', "model cannot be set here"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            run(["cases.jsonl", "x.jsonl", "--extra-body", bad])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert run(["cases.jsonl", "x.jsonl", "--system-prompt-file", "missing.txt"]) == 2
    assert "missing.txt" in capsys.readouterr().err


def test_resume_command_of_python_m_r1v4_run_keeps_the_mode(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from r1v4.cli.run import build_parser, settings_from_args

    monkeypatch.setattr("sys.argv", ["/usr/lib/python3/r1v4/__main__.py-not-a-script"])
    for mode, flags in [
        ("stream", "--stream"),
        ("planner-stream", "--planner --stream"),
        ("planner-nonstream", "--planner"),
        ("nonstream", ""),
    ]:
        argv = ["cases.jsonl", "out.jsonl", "--api-key", "sk-x", "--overwrite"]
        settings = settings_from_args(build_parser(mode).parse_args(argv), mode, argv)
        expected = " ".join(["python3 -m r1v4 run", flags, "cases.jsonl out.jsonl"]).split()
        assert settings.resume_command.split() == expected
