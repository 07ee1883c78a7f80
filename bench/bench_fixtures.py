"""Every benchmark of the R1V4 table end to end on small fixtures: files written here in each
benchmark's distribution layout, `bench prepare` → `bench run` against the SIMULATED
endpoint (scripted answers, some right, some wrong, as models write them; the judges are
simulated too) → `bench report --published`. Prints the Markdown table that
bench/README.md shows.

The figures say nothing about any model: they show the published protocols at work (prompt
styles reaching the endpoint, extraction quirks, cycle averaging, mIoU, Wald intervals) on
inputs whose right answers are known.

    python bench/bench_fixtures.py            # a few seconds
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from PIL import Image  # noqa: E402

from r1v4.cli.bench import main as bench  # noqa: E402
from r1v4.sim.runner import running_simulator  # noqa: E402


def png(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buf, "PNG")
    return buf.getvalue()


def b64(color: str) -> str:
    return base64.b64encode(png(color)).decode()


def tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, dialect="excel-tab")
        w.writerow(header)
        w.writerows(rows)
    return path


def ans(text: str) -> list[str]:
    return [f"<think>Zooming in.</think><answer>{text}</answer>"]


VLM = "Please select the correct answer from the options above. \n"


def mcq(q: str, opts: list[str], tail: str = VLM) -> str:
    lines = "\n".join(f"{'ABCDE'[i]}. {o}" for i, o in enumerate(opts))
    return f"Question: {q}\nOptions:\n{lines}\n{tail}"


def fixtures(d: Path) -> tuple[list[tuple[str, list[Path], list[str]]], list[dict]]:
    """(benchmark, files, extra prepare flags) and the simulator's scripts."""
    jobs: list[tuple[str, list[Path], list[str]]] = []
    scripts: list[dict] = []
    # HR-Bench 4K/8K: two questions × two rotations, an image shared by index
    for name in ("hrbench-4k", "hrbench-8k"):
        rows = []
        for k, (q, opts, gold, cat) in enumerate([
            ("What colour is the kite?", ["red", "blue", "green", "white"], 0, "single"),
            (f"Which sign is left of the bus ({name})?", ["stop", "yield", "exit", "none"], 2,
             "cross"),
        ]):  # fmt: skip
            for cyc in range(2):
                rot = opts[cyc:] + opts[:cyc]
                idx = 2 * k + cyc
                rows.append([idx, q, *rot, "ABCD"[rot.index(opts[gold])], cat, f"c{cyc}",
                             b64("blue") if cyc == 0 else str(2 * k)])  # fmt: skip
                said = opts[gold] if (k, cyc) != (1, 1) or name == "hrbench-4k" else opts[3]
                scripts.append({"question": mcq(q, rot), "turns": ans(f"It is {said}.")})
        header = ["index", "question", "A", "B", "C", "D", "answer", "category",
                  "cycle_category", "image"]  # fmt: skip
        jobs.append((name, [tsv(d / f"{name}.tsv", header, rows)], []))
    # MME-RealWorld EN (JSON), CN (JSON), Lite (TSV with a Python-literal options list)
    five = ["(A) 1", "(B) 2", "(C) 3", "(D) 4", "(E) none"]
    mme_tail = (
        "The choices are listed below:\n" + "\n".join(five) + "\nSelect the best answer "
        "to the above multiple-choice question based on the image. Respond with only the "
        "letter (A, B, C, D, or E) of the correct option. \nThe best answer is:"
    )
    cn_tail = ("选项如下所示:\n" + "\n".join(five) + "\n根据图像选择上述多项选择题的最佳答案。"
               "只需回答正确选项的字母（A, B, C, D 或 E）。\n最佳答案为：")  # fmt: skip
    for name, tail in (("mme-realworld", mme_tail), ("mme-realworld-cn", cn_tail)):
        folder = d / name
        folder.mkdir()
        items = [("How many cars?", "B", "Perception/Monitoring", "b"),
                 ("How many trucks?", "C", "Perception/Remote Sensing", "Based on the view, C"),
                 ("Where will it turn?", "A", "Reasoning/Autonomous_Driving", "A")]  # fmt: skip
        (folder / "part.json").write_text(json.dumps([
            {"index": i, "image": b64("gray"), "question": f"{q} [{name}]",
             "multi-choice options": five, "answer": a, "category": c, "l2-category": "x"}
            for i, (q, a, c, _) in enumerate(items)]))  # fmt: skip
        scripts += [{"question": f"{q} [{name}] {tail}", "turns": ans(said)}
                    for q, _, _, said in items]  # fmt: skip
        jobs.append((name, [folder], []))
    lite = [[i, b64("gray"), f"{q} [lite]", repr(five), a, c, "x"]
            for i, (q, a, c, _) in enumerate(items)]  # fmt: skip
    scripts += [{"question": f"{q} [lite] {mme_tail}", "turns": ans(s)} for q, _, _, s in items]
    jobs.append(("mme-realworld-lite", [tsv(d / "mme_realworld_lite.tsv", ["index", "image",
                 "question", "multi-choice options", "answer", "category", "l2-category"],
                 lite)], []))  # fmt: skip
    # V*: the original folders (correct option first, shuffled with seed 0)
    vstar = d / "vstar_bench"
    for folder, stem, q, opts in [
        ("direct_attributes", "a1", "What is the colour of the cup?", ["white", "red", "blue"]),
        ("direct_attributes", "a2", "What is the colour of the bag?", ["green", "pink", "tan"]),
        ("relative_position", "r1", "Is the dog left or right of the car?", ["left", "right"]),
    ]:
        (vstar / folder).mkdir(parents=True, exist_ok=True)
        (vstar / folder / f"{stem}.jpg").write_bytes(png("white"))
        (vstar / folder / f"{stem}.json").write_text(json.dumps({"question": q, "options": opts}))
        scripts.append(
            {"contains": f"Question: {q}\n", "turns": ans(opts[0] if stem != "a2" else opts[1])}
        )
    jobs.append(("vstar", [vstar], []))
    # TreeBench: accuracy + mIoU of the boxes in the first think
    tb_tail = "Answer with the correct option's letter directly. \n"
    tsv(d / "TreeBench.tsv", ["index", "question", "A", "B", "answer", "category",
        "target_instances", "image"], [
        [0, "What is the mug made of?", "wood", "metal", "B", "Perception/Material",
         "[[0, 0, 10, 10]]", b64("teal")],
        [1, "Is the cup behind the box?", "yes", "no", "A", "Reasoning/Ordering",
         "[[10, 10, 20, 20]]", b64("teal")]])  # fmt: skip
    scripts += [
        {"question": mcq("What is the mug made of?", ["wood", "metal"], tb_tail),
         "turns": ["<think>The mug <box>[0,0,10,10]</box> shines.</think><answer>B</answer>"]},
        {"question": mcq("Is the cup behind the box?", ["yes", "no"], tb_tail),
         "turns": ["<think>The cup <box>[15,15,25,25]</box>.</think><answer>B</answer>"]},
    ]  # fmt: skip
    jobs.append(("treebench", [d / "TreeBench.tsv"], []))
    # VisualProbe: the three levels, Mini-o3's GPT-4o judge (simulated)
    files = []
    for level, q, sol, said, score in [
        ("Hard", "What is on the sign?", "STOP", "STOP", 1),
        ("Medium", "What colour is the car?", "red", "blue", 0),
        ("Easy", "What animal is it?", "cat", "a cat", 1),
    ]:
        folder = d / f"VisualProbe_{level}"
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "x.png").write_bytes(png("black"))
        (folder / "val.json").write_text(json.dumps([{"images": ["data/x.png"], "doc_id": level,
            "problem": f"<image>\n{q}", "solution": sol,
            "data_source": f"visual_probe_{level.lower()}"}]))  # fmt: skip
        files.append(folder / "val.json")
        scripts += [
            {"question": q, "turns": ans(said)},
            {"contains": f"**Model Predicted Answer**: {said}\n", "turns": [f"Score: {score}"]},
        ]
    jobs.append(("visualprobe", files, []))
    # MMSearch (end2end Parquet), FVQA (verl Parquet), BrowseComp-VL (JSONL): the R1V4 judge
    pq.write_table(pa.Table.from_pylist([
        {"sample_id": f"s{i}", "query": q, "query_image": {"bytes": png("purple"), "path": None},
         "gt_answer": g, "alternative_gt_answers": alt, "area": "news", "subfield": "x"}
        for i, (q, g, alt) in enumerate([("When does this conference start?", "2024-09-29",
                                          ["September 29, 2024"]),
                                         ("Who painted this?", "Claude Monet", [])])]),
        d / "end2end.parquet")  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "prompt": [{"content": q, "role": "user"}],
                    "images": [{"bytes": png("red")}],
                    "data_id": f"f{i}",
                    "category": "search_required",
                    "reward_model": {"ground_truth": g, "candidate_answers": "[]"},
                }
                for i, (q, g) in enumerate(
                    [("Which country is this flag from?", "Malta"), ("What bird is this?", "heron")]
                )
            ]
        ),
        d / "fvqa_test.parquet",
    )
    (d / "images").mkdir()
    (d / "images" / "l1.jpg").write_bytes(png("gray"))
    (d / "bc_vl_level1.jsonl").write_text(
        json.dumps(
            {
                "question": "What time is in the song?",
                "image_path": "images/l1.jpg",
                "answers": ["Midnight."],
                "domain": "Music",
            }
        )
        + "\n"
    )
    for q, said, verdict in [("When does this conference start?", "29 September 2024", "yes"),
                             ("Who painted this?", "Vincent van Gogh", "no"),
                             ("Which country is this flag from?", "the Republic of Malta", "yes"),
                             ("What bird is this?", "heron", "yes"),
                             ("What time is in the song?", "Midnight", "yes")]:  # fmt: skip
        scripts += [{"question": q, "turns": ans(said)},
                    {"contains": f"[response]: {said}\n",
                     "turns": [f"reasoning: compared.\ncorrect: {verdict}"]}]  # fmt: skip
    jobs += [
        ("mmsearch", [d / "end2end.parquet"], []),
        ("fvqa", [d / "fvqa_test.parquet"], []),
        ("browsecomp-vl", [d / "bc_vl_level1.jsonl"], []),
    ]
    return jobs, scripts


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="r1v4-bench-fixtures-") as tmp:
        d = Path(tmp)
        jobs, scripts = fixtures(d)
        results = []
        quiet = io.StringIO()
        with running_simulator(scripts=scripts) as sim, contextlib.redirect_stdout(quiet), \
                contextlib.redirect_stderr(quiet):  # fmt: skip
            for name, files, flags in jobs:
                out = d / "cases"
                assert bench(["prepare", name, *map(str, files), "--out", str(out), *flags]) == 0
                result = d / f"{name}.results.jsonl"
                assert bench(["run", name, str(out / f"{name}.jsonl"), str(result),
                              "--base-url", sim.base_url, "--judge-base-url", sim.base_url,
                              "--tools", "none", "--no-progress"]) == 0  # fmt: skip
                results.append(str(result))
        merged = d / "all.results.jsonl"
        merged.write_text("".join(Path(r).read_text() for r in results))
        bench(["report", str(merged), "--published", "--format", "md"])


if __name__ == "__main__":
    main()
