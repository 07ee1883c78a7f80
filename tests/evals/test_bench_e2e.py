"""Each benchmark family end to end: `bench prepare` on a file in the benchmark's layout →
`bench run` against the simulator (scripted per case on the exact prompt the benchmark
defines, so a wrong prompt gets no scripted answer) → `bench report`, figures checked by
hand. The judge of the judged families is the simulator too, scripted on the judge prompt
(SIMULATED endpoints, not models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1v4.cli.bench import main as bench
from r1v4.sim.request import message_text
from r1v4.sim.runner import running_simulator
from tests.evals.bench_files import b64, png, write_json, write_tsv
from tests.helpers import read_jsonl

HR_TAIL = "Please select the correct answer from the options above. \n"


def turn(answer: str, think: str = "Looking closely.") -> list[str]:
    return [f"<think>{think}</think><answer>{answer}</answer>"]


def run_bench(name: str, cases: Path, out: Path, sim: Any, *extra: str) -> int:
    return bench(["run", name, str(cases), str(out), "--base-url", sim.base_url,
                  "--no-progress", "--tools", "none", *extra])  # fmt: skip


def report(capsys: pytest.CaptureFixture[str], *files: Path, fmt: str = "json") -> dict:
    capsys.readouterr()
    assert bench(["report", *map(str, files), "--format", fmt, "--published"]) == 0
    return json.loads(capsys.readouterr().out)


def cells(data: dict, run: int = 0) -> dict[tuple[str, str, str], float | None]:
    return {(r["benchmark"], r["split"], r["metric"]): (r["values"][run] or {}).get("value")
            for r in data["rows"]}  # fmt: skip


def user_texts(sim: Any) -> list[str]:
    return [message_text(m) for body in sim.requests for m in body["messages"]
            if m.get("role") == "user"]  # fmt: skip


def test_hrbench_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = ["index", "question", "A", "B", "C", "D", "answer", "category", "cycle_category",
              "image"]  # fmt: skip
    write_tsv(tmp_path / "hr_bench_4k.tsv", header, [
        [0, "What colour is the umbrella?", "red", "blue", "green", "yellow", "B", "single", "c0",
         b64("blue")],
        [1, "What colour is the umbrella?", "blue", "green", "yellow", "red", "A", "single", "c1",
         "0"],
        [2, "Which is left of the car?", "tree", "dog", "man", "bike", "C", "cross", "c0",
         b64("red")],
        [3, "Which is left of the car?", "man", "bike", "tree", "dog", "A", "cross", "c1", "2"],
        [4, "How many birds?", "1", "2", "3", "4", "D", "cross", "c1", b64("green")],
    ])  # fmt: skip
    assert bench(["prepare", "hrbench-4k", str(tmp_path / "hr_bench_4k.tsv"), "--out",
                  str(tmp_path)]) == 0  # fmt: skip
    q = "Question: {}\nOptions:\nA. {}\nB. {}\nC. {}\nD. {}\n" + HR_TAIL
    scripts = [
        {"question": q.format("What colour is the umbrella?", "red", "blue", "green", "yellow"),
         "turns": turn("The answer is B.")},
        {"question": q.format("What colour is the umbrella?", "blue", "green", "yellow", "red"),
         "turns": turn("I think the umbrella is green")},  # option text: B, wrong
        {"question": q.format("Which is left of the car?", "tree", "dog", "man", "bike"),
         "turns": turn("(C) man")},
        {"question": q.format("Which is left of the car?", "man", "bike", "tree", "dog"),
         "turns": turn("A")},
        {"question": q.format("How many birds?", "1", "2", "3", "4"), "turns": turn("D")},
    ]  # fmt: skip
    with running_simulator(scripts=scripts) as sim:
        assert (
            run_bench("hrbench-4k", tmp_path / "hrbench-4k.jsonl", tmp_path / "r.jsonl", sim) == 0
        )
        assert all(t.endswith(HR_TAIL) for t in user_texts(sim))
    records = {r["id"]: r for r in read_jsonl(tmp_path / "r.jsonl")}
    assert records["1"]["score"]["extracted"] == "B" and records["1"]["score"]["correct"] is False
    assert records["0"]["benchmark"] == "hrbench-4k" and records["0"]["labels"]["cycle_category"]
    data = report(capsys, tmp_path / "r.jsonl")
    got = cells(data)
    # by hand: c0 = {0 single ✓, 2 cross ✓}; c1 = {1 single ✗, 3 cross ✓, 4 cross ✓}
    # FSP = (1 + 0)/2 = 50; FCP = (1 + 1)/2 = 100; Overall = (2/2 + 2/3)/2 = 83.33
    assert got[("hrbench-4k", "FSP", "accuracy")] == pytest.approx(50.0)
    assert got[("hrbench-4k", "FCP", "accuracy")] == pytest.approx(100.0)
    assert got[("hrbench-4k", "Overall", "accuracy")] == pytest.approx(250 / 3)
    pub = {r["split"]: r["published"] for r in data["rows"]}
    assert pub == {"FSP": 91.8, "FCP": 73.8, "Overall": 82.8}
    assert "VLMEvalKit@19c0e38" in data["benchmarks"][0]["source"]

    capsys.readouterr()
    html = tmp_path / "report.html"
    assert bench(["report", str(tmp_path / "r.jsonl"), "--format", "md", "--html", str(html)]) == 0
    md = capsys.readouterr().out
    assert "| HIRbench-4K | Overall | accuracy | 83.3 |" in md
    page = html.read_text()
    assert "<svg" in page and "<script" not in page and "latency" in page


def test_mme_realworld_family_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "MME-RealWorld-CN"
    folder.mkdir()
    opts = ["(A) 1", "(B) 2", "(C) 3", "(D) 4", "(E) 图中没有车"]
    rows = [
        {"index": i, "image": b64("navy"), "question": q, "multi-choice options": opts,
         "answer": a, "category": cat, "l2-category": "Vehicle/counting"}
        for i, (q, a, cat) in enumerate([
            ("图中有几辆车？", "B", "Perception/Monitoring"),
            ("图中有几辆卡车？", "C", "Perception/Remote Sensing"),
            ("车会往哪里开？", "A", "Reasoning/Autonomous_Driving"),
        ])
    ]  # fmt: skip
    write_json(folder / "part.json", rows)
    assert bench(["prepare", "mme-realworld-cn", str(folder), "--out", str(tmp_path)]) == 0
    tail = (
        "选项如下所示:\n(A) 1\n(B) 2\n(C) 3\n(D) 4\n(E) 图中没有车\n"
        "根据图像选择上述多项选择题的最佳答案。"
        "只需回答正确选项的字母（A, B, C, D 或 E）。\n最佳答案为："
    )
    scripts = [
        {"question": f"图中有几辆车？ {tail}", "turns": turn("b")},  # upper-cased: B ✓
        {"question": f"图中有几辆卡车？ {tail}", "turns": turn("Based on the picture: C")},  # B ✗
        {"question": f"车会往哪里开？ {tail}", "turns": turn("A")},
    ]  # fmt: skip
    with running_simulator(scripts=scripts) as sim:
        run_bench(
            "mme-realworld-cn", tmp_path / "mme-realworld-cn.jsonl", tmp_path / "r.jsonl", sim
        )
    got = cells(report(capsys, tmp_path / "r.jsonl"))
    # Perception 1/2, Reasoning 1/1, Overall 2/3
    assert got[("mme-realworld-cn", "Perception", "accuracy")] == pytest.approx(50.0)
    assert got[("mme-realworld-cn", "Reasoning", "accuracy")] == pytest.approx(100.0)
    assert got[("mme-realworld-cn", "Overall", "accuracy")] == pytest.approx(200 / 3)


def test_treebench_family_with_a_real_tool_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = ["index", "question", "multi-choice options", "A", "B", "answer", "category",
              "target_instances", "image"]  # fmt: skip
    write_tsv(tmp_path / "TreeBench.tsv", header, [
        [0, "What is the mug made of?", "A. wood\nB. metal", "wood", "metal", "B",
         "Perception/Material", "[[0, 0, 10, 10]]", b64("teal", (40, 30))],
        [1, "Is the cup behind the box?", "A. yes\nB. no", "yes", "no", "A",
         "Reasoning/Ordering", "[[10, 10, 20, 20]]", b64("teal", (40, 30))],
    ])  # fmt: skip
    assert bench(["prepare", "treebench", str(tmp_path / "TreeBench.tsv"), "--out",
                  str(tmp_path)]) == 0  # fmt: skip
    tb = (
        "Question: {}\nOptions:\nA. {}\nB. {}\nAnswer with the correct option's letter directly. \n"
    )
    code = json.dumps({"name": "code", "arguments": {"code": "print(image_path.endswith('.png'))"}})
    scripts = [
        {"question": tb.format("What is the mug made of?", "wood", "metal"), "turns": [
            f"<think>The mug is at <box>[5,5,15,15]</box>.</think><tool_call>{code}</tool_call>",
            "<think>Shiny: <box>[0,0,10,10]</box></think><answer>B</answer>"]},
        {"question": tb.format("Is the cup behind the box?", "yes", "no"),
         "turns": turn("B", "The cup <box>[10,10,20,20]</box>")},
    ]  # fmt: skip
    with running_simulator(scripts=scripts) as sim:
        assert bench(["run", "treebench", str(tmp_path / "treebench.jsonl"),
                      str(tmp_path / "r.jsonl"), "--base-url", sim.base_url, "--no-progress",
                      "--sandbox", "auto"]) == 0  # fmt: skip
    first = next(r for r in read_jsonl(tmp_path / "r.jsonl") if r["id"] == "0")
    assert '"result":"True' in first["response"]["full_response"]  # the sandbox really ran
    got = cells(report(capsys, tmp_path / "r.jsonl"))
    # accuracy 1/2; mIoU: case 0 reads only its first think, [5,5,15,15] vs [0,0,10,10] = 1/7;
    # case 1 [10,10,20,20] exactly = 1 → (1/7 + 1)/2 = 57.14
    assert got[("treebench", "Overall", "accuracy")] == pytest.approx(50.0)
    assert got[("treebench", "Overall", "mIoU")] == pytest.approx(100 * (1 / 7 + 1) / 2)


def test_vstar_folders_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "vstar_bench"
    items = [("direct_attributes", "sa_1", "What is the colour of the cup?", ["white", "red"]),
             ("direct_attributes", "sa_2", "What is the colour of the bag?", ["green", "pink"]),
             ("relative_position", "sa_3", "Is the ladder left or right of the wagon?",
              ["left", "right"])]  # fmt: skip
    for folder, name, question, options in items:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.jpg").write_bytes(png("white", fmt="JPEG"))
        write_json(root / folder / f"{name}.json", {"question": question, "options": options})
    assert bench(["prepare", "vstar", str(root), "--out", str(tmp_path)]) == 0
    cases = read_jsonl(tmp_path / "vstar.jsonl")
    scripts = []
    for c, (_, _, question, options) in zip(cases, items, strict=True):
        prompt = (f"Question: {question}\nOptions:\nA. {c['options']['A']}\nB. {c['options']['B']}"
                  f"\n{HR_TAIL}")  # fmt: skip
        # the model names the correct option's text for the cup and the ladder, a wrong one
        # for the bag
        pick = options[0] if question != "What is the colour of the bag?" else options[1]
        scripts.append({"question": prompt, "turns": turn(f"It is {pick}.")})
    with running_simulator(scripts=scripts) as sim:
        run_bench("vstar", tmp_path / "vstar.jsonl", tmp_path / "r.jsonl", sim)
    got = cells(report(capsys, tmp_path / "r.jsonl"))
    assert got[("vstar", "Attribute", "accuracy")] == pytest.approx(50.0)
    assert got[("vstar", "Spatial", "accuracy")] == pytest.approx(100.0)
    assert got[("vstar", "Overall", "accuracy")] == pytest.approx(200 / 3)


def test_visualprobe_family_with_the_mini_o3_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for level, rows in {"Hard": [("h1", "What is on the sign?", "STOP")],
                        "Easy": [("e1", "What colour is the car?", "red"),
                                 ("e2", "What animal is it?", "cat")]}.items():  # fmt: skip
        folder = tmp_path / f"VisualProbe_{level}"
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "x.png").write_bytes(png("black"))
        write_json(folder / "val.json", [
            {"images": ["data/x.png"], "doc_id": d, "problem": f"<image>\n{q}", "solution": s,
             "data_source": f"visual_probe_{level.lower()}"} for d, q, s in rows])  # fmt: skip
    assert (
        bench(
            [
                "prepare",
                "visualprobe",
                str(tmp_path / "VisualProbe_Hard" / "val.json"),
                str(tmp_path / "VisualProbe_Easy" / "val.json"),
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    scripts = [
        {"question": "What is on the sign?", "turns": turn("A red STOP sign")},
        {"question": "What colour is the car?", "turns": turn("blue")},
        {"question": "What animal is it?", "turns": ["<think>a cat</think>cat"]},  # no tag: 0
        {"contains": "**Model Predicted Answer**: A red STOP sign", "turns": ["Score: 1"]},
        {"contains": "**Model Predicted Answer**: blue", "turns": ["Score: 0"]},
    ]  # fmt: skip
    with running_simulator(scripts=scripts) as sim:
        assert run_bench("visualprobe", tmp_path / "visualprobe.jsonl", tmp_path / "r.jsonl", sim,
                         "--judge-base-url", sim.base_url) == 0  # fmt: skip
        judged = [b for b in sim.requests if b["messages"][0]["role"] == "system"]
        assert len(judged) == 2 and {b["model"] for b in judged} == {"gpt-4o-2024-11-20"}
    got = cells(report(capsys, tmp_path / "r.jsonl"))
    assert got[("visualprobe", "Hard", "accuracy")] == 100.0
    assert got[("visualprobe", "Easy", "accuracy")] == 0.0
    assert got[("visualprobe", "Overall", "accuracy")] == pytest.approx(100 / 3)


def search_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    mm = tmp_path / "end2end.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"sample_id": "s0", "query": "When does this conference start?",
         "query_image": {"bytes": png("purple"), "path": None}, "gt_requery": "",
         "gt_answer": "2024-09-29", "alternative_gt_answers": ["September 29, 2024"],
         "area": "news", "subfield": "tech"},
        {"sample_id": "s1", "query": "Who painted this?",
         "query_image": {"bytes": png("orange"), "path": None}, "gt_requery": "",
         "gt_answer": "Claude Monet", "alternative_gt_answers": [], "area": "knowledge",
         "subfield": "art"},
        {"sample_id": "s2", "query": "Text only: capital of Peru?", "query_image": None,
         "gt_requery": "", "gt_answer": "Lima", "alternative_gt_answers": [],
         "area": "knowledge", "subfield": "geo"},
    ]), mm)  # fmt: skip
    fv = tmp_path / "fvqa_test.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"prompt": [{"content": "Which country is this flag from?", "role": "user"}],
         "images": [{"bytes": png("red")}], "data_id": "f0", "category": "search_required",
         "reward_model": {"ground_truth": "Malta", "candidate_answers": '["Republic of Malta"]',
                          "style": "rule"}},
        {"prompt": [{"content": "What bird is this?", "role": "user"}],
         "images": [{"bytes": png("green")}], "data_id": "f1", "category": "search_free",
         "reward_model": {"ground_truth": "heron", "candidate_answers": "[]", "style": "rule"}},
    ]), fv)  # fmt: skip
    bc = tmp_path / "bc_vl_level1.jsonl"
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "l1.jpg").write_bytes(png("gray", fmt="JPEG"))
    bc.write_text(json.dumps({"question": "What time is mentioned in the song?",
                              "image_path": "images/l1.jpg", "answers": ["Midnight."],
                              "domain": "Music"}) + "\n")  # fmt: skip
    return mm, fv, bc


def judge(response: str, verdict: str) -> dict:
    """A scripted judge reply for the R1V4 judge prompt showing `response`."""
    return {"contains": f"[response]: {response}\n",
            "turns": [f"reasoning: compared.\ncorrect: {verdict}"]}  # fmt: skip


def test_search_family_with_the_r1v4_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mm, fv, bc = search_files(tmp_path)
    assert bench(["prepare", "mmsearch", str(mm), "--out", str(tmp_path), "--images-only"]) == 0
    assert bench(["prepare", "fvqa", str(fv), "--out", str(tmp_path)]) == 0
    assert bench(["prepare", "browsecomp-vl", str(bc), "--out", str(tmp_path)]) == 0
    search = ("<think>I should search.</think><tool_call>{\"name\": \"text_search\", "
              "\"arguments\": {\"queries\": [\"q\"]}}</tool_call>")  # fmt: skip
    scripts = [
        {"question": "When does this conference start?", "turns": turn("29 September 2024")},
        {"question": "Who painted this?", "turns": turn("Vincent van Gogh")},
        {"question": "Which country is this flag from?", "turns": turn("the Republic of Malta")},
        {"question": "What bird is this?", "turns": turn("heron")},
        {"question": "What time is mentioned in the song?", "turns": [search]},  # no answer
        # the judge (o3-mini's part, simulated), keyed on what it is shown
        judge("29 September 2024", "yes"),
        judge("Vincent van Gogh", "no"),
        judge("the Republic of Malta", "yes"),
        judge("heron", "Yes"),  # "Yes" is not "yes": wrong, as published
        judge("", "no"),
    ]  # fmt: skip
    runs = {}
    with running_simulator(scripts=scripts) as sim:
        for name in ("mmsearch", "fvqa", "browsecomp-vl"):
            runs[name] = tmp_path / f"r-{name}.jsonl"
            run_bench(name, tmp_path / f"{name}.jsonl", runs[name], sim,
                      "--judge-base-url", sim.base_url, "--max-rounds", "1")  # fmt: skip
        judge_bodies = [
            b for b in sim.requests if "[correct_answer]" in message_text(b["messages"][0])
        ]
        assert {b["model"] for b in judge_bodies} == {"o3-mini"}
        assert all("temperature" not in b and "max_tokens" not in b for b in judge_bodies)
        model_bodies = [b for b in sim.requests if b not in judge_bodies]
        assert {b.get("temperature") for b in model_bodies} == {0.2}  # R1V4's sampling
        assert {b.get("max_tokens") for b in model_bodies} == {20480}
    mm_case = read_jsonl(tmp_path / "mmsearch.jsonl")
    assert [c["id"] for c in mm_case] == ["s0", "s1"]  # --images-only
    data = report(capsys, *runs.values())
    got = {k: v for i in range(3) for k, v in cells(data, i).items() if v is not None}
    assert got[("mmsearch", "Overall", "accuracy")] == 50.0  # 1/2
    assert got[("fvqa", "Overall", "accuracy")] == 50.0  # "Yes" is not "yes", as published
    assert got[("browsecomp-vl", "Overall", "accuracy")] == 0.0  # no <answer>: judged ""
    mm_row = next(r for r in data["rows"] if r["benchmark"] == "mmsearch")
    assert mm_row["values"][0]["wald"] == [50.0, round(1.96 * (50 * 50 / 2) ** 0.5, 2)]
    assert mm_row["published"] == 66.1

    # the benchmark's own protocol on the same answers, rescored from the records
    capsys.readouterr()
    assert bench(["report", str(runs["mmsearch"]), "--rescore", "all", "--scorer", "mmsearch-f1",
                  "--format", "json"]) == 0  # fmt: skip
    f1 = cells(json.loads(capsys.readouterr().out))[("mmsearch", "Overall", "F1")]
    # "29 September 2024" vs "September 29, 2024": same three tokens → 1; van Gogh → 0
    assert f1 == pytest.approx(50.0)
    assert bench(["report", str(runs["fvqa"]), "--rescore", "all", "--scorer", "fvqa-em",
                  "--format", "json"]) == 0  # fmt: skip
    em = cells(json.loads(capsys.readouterr().out))
    assert em[("fvqa", "Overall", "EM")] == 100.0  # "the" is an article; "heron" exact
    assert em[("fvqa", "Overall", "SubEM")] == 100.0


def test_run_refuses_without_the_published_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mm, _, _ = search_files(tmp_path)
    bench(["prepare", "mmsearch", str(mm), "--out", str(tmp_path)])
    assert bench(["run", "mmsearch", str(tmp_path / "mmsearch.jsonl"), "--base-url",
                  "http://127.0.0.1:9/v1"]) == 2  # fmt: skip
    assert (
        "needs a judge: --judge-base-url URL (published judge: o3-mini)" in capsys.readouterr().err
    )
    assert bench(["run", "treebench", str(tmp_path / "mmsearch.jsonl"), "--base-url",
                  "http://127.0.0.1:9/v1"]) == 2  # fmt: skip
    assert "has no case of benchmark 'treebench'" in capsys.readouterr().err
