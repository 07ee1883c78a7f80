"""The agent loop against the simulator: real code runs, crops come back, limits hold."""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson
import pytest
from PIL import Image

from r1v4._util.images import decode_data_url
from r1v4.demo import WAREHOUSE_QUESTION, demo_scripts
from r1v4.parsing import parse_full_response
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run


def call(name: str, arguments: dict) -> str:
    return (
        "<tool_call>"
        + orjson.dumps({"name": name, "arguments": arguments}).decode()
        + "</tool_call>"
    )


def warehouse_case(workdir: Path) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "w", "image": "./demo_image/demo_1.png", "question": WAREHOUSE_QUESTION}],
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["nonstream", "stream"])
def test_code_really_runs_and_its_crop_reaches_the_record_and_the_next_request(
    workdir: Path, mode: str
) -> None:
    warehouse_case(workdir)
    with running_simulator(scripts=demo_scripts()) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url], mode) == 0
        requests = list(sim.requests)
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert len(requests) == 2
    # The r1v4 dialect stops at the closing tag of every call form it executes.
    assert requests[0]["stop"][:2] == ["</tool_call>", "</answer>"]
    assert "</code>" in requests[0]["stop"] and "</text_search>" in requests[0]["stop"]
    # The second request carries the observation in the paper's form (Figure 5): the printed
    # text, then the crop named <sub-image 1> with its image part right after the name.
    last_user = requests[1]["messages"][-1]
    kinds = [p["type"] for p in last_user["content"]]
    texts = [p["text"] for p in last_user["content"] if p["type"] == "text"]
    images = [p["image_url"]["url"] for p in last_user["content"] if p["type"] == "image_url"]
    assert kinds == ["text", "image_url", "text"]
    assert texts[0].startswith("<observation> ") and "saved sign_zoom.png" in texts[0]
    assert texts[0].endswith("\n<sub-image 1>") and texts[1] == " </observation>"
    assert len(images) == 1
    sent = Image.open(io.BytesIO(decode_data_url(images[0])))
    assert sent.size == (960, 660)  # the 320x220 crop, zoomed 3x
    # The record keeps the image in the sidecar folder, content-addressed.
    assert len(record["assets"]) == 1
    stored = workdir / record["assets"][0]
    assert stored.is_file()
    with Image.open(stored) as kept:
        assert kept.size == (960, 660)
    assert stored.parent.parent.name == "out.jsonl.assets"
    parsed = parse_full_response(record["response"]["full_response"])
    assert len(parsed["rounds"]) == 1
    assert parsed["rounds"][0]["tool_call"]["name"] == "code"
    assert parsed["rounds"][0]["observation"]["images"] == record["assets"]
    assert parsed["final_round"]["answer"] == "47"
    assert record["meta"]["tool_calls"] == {"code": 1} and record["meta"]["turns"] == 2


@pytest.mark.slow
def test_embed_images_puts_data_urls_in_the_record(workdir: Path) -> None:
    warehouse_case(workdir)
    with running_simulator(scripts=demo_scripts()) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--embed-images"]) == 0
    record = read_jsonl(workdir / "out.jsonl")[0]
    parsed = parse_full_response(record["response"]["full_response"])
    (image,) = parsed["rounds"][0]["observation"]["images"]
    assert image.startswith("data:image/png;base64,")
    assert not (workdir / "out.jsonl.assets").exists() and "assets" not in record


def test_max_rounds_stops_a_model_that_never_answers(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "loop", "image": "", "question": "loop forever"}])
    forever = "<think>again</think>" + call("code", {"code": "print('still going')"})
    script = [{"question": "loop forever", "turns": [forever] * 10}]
    with running_simulator(scripts=script) as sim:
        assert (
            run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-rounds", "3"]) == 0
        )
        assert len(sim.requests) == 3
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["stop_reason"] == "max_rounds"
    assert "stopped after 3 rounds without an <answer>" in record["response"]["note"]
    assert record["response"]["full_response"].count("<observation>") == 3


def test_malformed_and_unknown_tool_calls_become_observations_the_model_can_recover_from(
    workdir: Path,
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "m", "image": "", "question": "slips"}])
    turns = [
        "<think>oops</think>"
        "<tool_call>{'name': 'code', 'arguments': {'code': 'print(6*7)',}}</tool_call>",
        "<think>broken</think><tool_call>this is not json at all</tool_call>",
        "<think>wrong tool</think>" + call("teleport", {"where": "moon"}),
        "<think>done</think><answer>42</answer>",
    ]
    with running_simulator(scripts=[{"question": "slips", "turns": turns}]) as sim:
        assert run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url]) == 0
    record = read_jsonl(workdir / "out.jsonl")[0]
    text = record["response"]["full_response"]
    observations = [r["observation"] for r in parse_full_response(text)["rounds"]]
    assert "42" in observations[0]["result"]  # single quotes and trailing comma tolerated
    assert "Could not parse the tool call" in observations[1]["result"]
    assert (
        "unknown tool 'teleport'" in observations[2]["result"]
        and "code" in observations[2]["result"]
    )
    assert text.endswith("<answer>42</answer>") and "error" not in record["response"]


HOSTILE = {
    "spin": "while True:\n    pass",
    "secret": "import os\nprint('KEY=' + str(os.environ.get('R1V4_API_KEY')))",
    "escape": "open('/tmp/r1v4_escape_marker.txt', 'w').write('x')\nprint('wrote')",
    "exit": "import os\nos._exit(3)",
}


@pytest.mark.slow
def test_hostile_code_is_contained_and_the_batch_goes_on(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R1V4_API_KEY", "sk-must-not-leak")
    Path("/tmp/r1v4_escape_marker.txt").unlink(missing_ok=True)
    rows, scripts = [], []
    for name, code in HOSTILE.items():
        rows.append({"id": name, "image": "./demo_image/demo_2.webp", "question": f"run {name}"})
        scripts.append(
            {
                "question": f"run {name}",
                "turns": [call("code", {"code": code}), "<answer>ok</answer>"],
            }
        )
    write_jsonl(workdir / "cases.jsonl", rows)
    with running_simulator(scripts=scripts) as sim:
        assert (
            run(
                [
                    "cases.jsonl",
                    "out.jsonl",
                    "--base-url",
                    sim.base_url,
                    "--code-timeout",
                    "2",
                    "--concurrency",
                    "4",
                ]
            )
            == 0
        )
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert set(records) == set(HOSTILE)
    obs = {
        rid: parse_full_response(r["response"]["full_response"])["rounds"][0]["observation"]
        for rid, r in records.items()
    }
    assert all(
        r["response"]["full_response"].endswith("<answer>ok</answer>") for r in records.values()
    )
    assert "time" in obs["spin"]["result"].lower()
    assert (
        "sk-must-not-leak" not in obs["secret"]["result"] and "KEY=None" in obs["secret"]["result"]
    )
    assert not Path("/tmp/r1v4_escape_marker.txt").exists()
    assert "3" in obs["exit"]["result"]


def test_server_tools_mode_sends_enable_search_and_keeps_the_whole_trajectory(
    workdir: Path,
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "s", "image": "", "question": "hosted"}])
    whole = (
        "<think>a</think>"
        + call("text_search", {"queries": ["x"]})
        + ('<observation>{"type": "text_search", "result": "1. x"}</observation><answer>y</answer>')
    )
    with running_simulator(
        scripts=[{"question": "hosted", "server_response": whole, "turns": []}]
    ) as sim:
        assert (
            run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--tools", "server"]) == 0
        )
        (request,) = sim.requests
    assert request["enable_search"] is True and "stop" not in request
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["response"]["full_response"] == whole


def test_live_prints_each_event_of_a_streaming_run_as_it_closes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse_case(workdir)
    with running_simulator(scripts=demo_scripts(), reasoning_field="reasoning") as sim:
        assert (
            run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--live"], "stream") == 0
        )
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[w] ")]
    kinds = [line.split()[1].rstrip(":") for line in lines]
    assert kinds == ["think", "tool_call", "observation", "think", "answer"], lines
    assert "tool_call code:" in lines[1] and "1 image(s)" in lines[2] and lines[-1].endswith("47")


@pytest.mark.slow
def test_deepresearch_demo_trajectory_runs_offline_with_real_search_results(workdir: Path) -> None:
    """crop -> image_search -> text_search -> web_visit -> answer, over the demo corpus."""
    from r1v4.demo import RESEARCH_QUESTION

    write_jsonl(
        workdir / "cases.jsonl",
        [
            {
                "id": "lh",
                "image": "./demo_corpus/scene.png",
                "question": RESEARCH_QUESTION,
                "answer": "Kessmark",
            }
        ],
    )
    with running_simulator(scripts=demo_scripts()) as sim:
        code = run(
            [
                "cases.jsonl",
                "out.jsonl",
                "--base-url",
                sim.base_url,
                "--search-backend",
                "local",
                "--search-corpus",
                "demo_corpus",
            ]
        )
        system_prompt = sim.requests[0]["messages"][0]["content"]
    assert code == 0
    assert "image_search" in system_prompt and "web_visit" in system_prompt  # deepresearch
    record = read_jsonl(workdir / "out.jsonl")[0]
    rounds = parse_full_response(record["response"]["full_response"])["rounds"]
    assert [r["tool_call"]["name"] for r in rounds] == [
        "code",
        "image_search",
        "text_search",
        "web_visit",
    ]
    found = rounds[1]["observation"]
    assert "error" not in found
    assert found["results"][0]["url"] == "https://veloria.example/wiki/harbor-lantern-tower"
    assert "Odile Varnay" in rounds[2]["observation"]["result"]
    assert "born in Kessmark" in rounds[3]["observation"]["result"]
    assert record["score"]["correct"] is True
    assert (workdir / "out.jsonl.toolcache.sqlite").exists()


def test_a_turn_cut_off_by_max_tokens_never_runs_its_half_written_call(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "cut", "image": "", "question": "long"}])
    turn = "<think>" + "word " * 50 + "</think>" + call("code", {"code": "print('ran')"})
    with running_simulator(scripts=[{"question": "long", "turns": [turn]}]) as sim:
        assert (
            run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--max-tokens", "20"]) == 0
        )
        assert len(sim.requests) == 1
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert record["meta"]["stop_reason"] == "length"
    assert "<observation>" not in record["response"]["full_response"]


@pytest.mark.slow
def test_max_images_keeps_requests_under_the_servers_image_limit(workdir: Path) -> None:
    write_jsonl(
        workdir / "cases.jsonl",
        [{"id": "many", "image": "./demo_image/demo_2.webp", "question": "crop thrice"}],
    )
    crop = "from PIL import Image\nImage.open(image_path).crop((0, 0, 50, 50)).save('c{}.png')"
    turns = [call("code", {"code": crop.format(i)}) for i in range(3)] + ["<answer>done</answer>"]
    script = [{"question": "crop thrice", "turns": turns}]
    with running_simulator(scripts=script, max_images_per_prompt=2) as sim:
        assert run(["cases.jsonl", "over.jsonl", "--base-url", sim.base_url]) == 1  # failed
        assert (
            run(["cases.jsonl", "fits.jsonl", "--base-url", sim.base_url, "--max-images", "2"]) == 0
        )
        last = sim.requests[-1]
    over = read_jsonl(workdir / "over.jsonl")[0]
    assert "At most 2 image(s)" in over["response"]["error"]  # the server's own refusal
    assert "pass --max-images" in over["response"]["error"]  # and what to do about it
    fits = read_jsonl(workdir / "fits.jsonl")[0]
    assert fits["response"]["full_response"].endswith("<answer>done</answer>")
    sent = [p for m in last["messages"] if isinstance(m["content"], list) for p in m["content"]]
    assert sum(p["type"] == "image_url" for p in sent) == 2
    first_user = next(m for m in last["messages"] if m["role"] == "user")
    assert first_user["content"][0]["type"] == "image_url"  # the case's own image is kept
    assert any("earlier image omitted" in p.get("text", "") for p in sent)


@pytest.mark.slow
def test_case_timeout_bounds_a_whole_trajectory_and_keeps_what_was_done(workdir: Path) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "slow", "image": "", "question": "slow"}])
    turns = [call("code", {"code": "print('step')"})] * 20
    with running_simulator(scripts=[{"question": "slow", "turns": turns}], latency_s=0.3) as sim:
        started = time.monotonic()
        assert (
            run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--case-timeout", "1"])
            == 1  # the case failed: timed out
        )
        elapsed = time.monotonic() - started
    record = read_jsonl(workdir / "out.jsonl")[0]
    assert "case timed out after 1 s" in record["response"]["error"]
    assert record["meta"]["stop_reason"] == "case_timeout"
    assert "<observation>" in record["response"]["full_response"]  # earlier rounds kept
    assert elapsed < 10


@pytest.mark.slow
def test_without_tools_the_input_images_are_sent_but_never_written_to_disk(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case folder exists for the tools (the code sandbox opens the inputs from it);
    `--tools none` has none, so no folder is made, and the image still reaches the model.
    (A spy on `tempfile.mkdtemp` sees the folders made: they are removed when a case ends.)"""
    import tempfile

    from r1v4.tools.leftovers import case_dir_prefix

    made: list[str] = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp_spy(*args: object, **kwargs: object) -> str:
        path = real_mkdtemp(*args, **kwargs)  # type: ignore[arg-type]
        made.append(path)
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp_spy)
    warehouse_case(workdir)
    for tools, folders in (("none", 0), ("client", 1)):
        made.clear()
        with running_simulator() as sim:
            argv = ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--tools", tools]
            assert run([*argv, "--overwrite"]) == 0
            request = sim.requests[0]
        parts = request["messages"][-1]["content"]
        assert [p["type"] for p in parts].count("image_url") == 1
        case_folders = [p for p in made if Path(p).name.startswith(case_dir_prefix())]
        assert len(case_folders) == folders, tools
