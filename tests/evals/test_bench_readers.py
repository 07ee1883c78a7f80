"""Each benchmark reader on a small file in that benchmark's exact layout: what becomes a
case, images written once and shared, and every bad row reported as file:row:field while
the others still import."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from r1v4.cli.bench import main as bench
from r1v4.cli.import_ import main as import_main
from r1v4.protocol.cases import load_cases
from tests.evals.bench_files import b64, png, write_json, write_tsv
from tests.helpers import read_jsonl

HR_HEADER = ["index", "question", "A", "B", "C", "D", "answer", "category", "cycle_category",
             "image"]  # fmt: skip


def hrbench_tsv(path: Path) -> Path:
    """HR-Bench: rotations of a question share the image of one row by index reference,
    backwards and forwards; a row refers to a missing index, one to a reference row, one
    has bad base64, one lacks its question."""
    rows = [
        [10, "What colour is the umbrella?", "red", "blue", "green", "yellow", "B", "single",
         "c0", b64("blue")],
        [11, "What colour is the umbrella?", "blue", "green", "yellow", "red", "A", "single",
         "c1", "10"],
        [12, "Which is left of the car?", "tree", "dog", "man", "bike", "C", "cross", "c0",
         "13"],  # forward reference: row 13 holds the image
        [13, "Which is left of the car?", "man", "bike", "tree", "dog", "A", "cross", "c1",
         b64("red")],
        [14, "Lost image?", "a", "b", None, None, "A", "single", "c0", "99"],
        [15, "Second hand?", "a", "b", None, None, "A", "single", "c0", "11"],
        [16, "Broken?", "a", "b", None, None, "A", "single", "c0", "!!!" * 40],
        [17, None, "a", "b", None, None, "A", "single", "c0", b64("green")],
        [18, "Two images?", "x", "y", None, None, "B", "cross", "c1",
         f"['{b64('white')}', '10']"],
    ]  # fmt: skip
    return write_tsv(path, HR_HEADER, rows)


def test_vlmevalkit_tsv_index_references_and_bad_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = hrbench_tsv(tmp_path / "hr_bench_4k.tsv")
    assert bench(["prepare", "hrbench-4k", str(tsv), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert (
        "hr_bench_4k.tsv:line 6:image: refers to index '99', which holds no image of its own" in err
    )
    assert (
        "hr_bench_4k.tsv:line 7:image: refers to index '11', which holds no image of its own" in err
    )
    assert "hr_bench_4k.tsv:line 8:image: not base64 image data" in err
    assert "hr_bench_4k.tsv:line 9:question: question is missing or empty" in err

    cases = {c["id"]: c for c in read_jsonl(tmp_path / "out" / "hrbench-4k.jsonl")}
    assert sorted(cases) == ["10", "11", "12", "13", "18"]
    first = cases["10"]
    assert first == {
        "id": "10", "question": "What colour is the umbrella?", "image": "hrbench-4k_images/10.png",
        "benchmark": "hrbench-4k", "split": "test", "prompt_style": "vlmevalkit",
        "options": {"A": "red", "B": "blue", "C": "green", "D": "yellow"}, "answer": "B",
        "category": "single", "labels": {"cycle_category": "c0"},
    }  # fmt: skip
    # images written once: the rotations share their row's file, either direction
    assert cases["11"]["image"] == first["image"]
    assert cases["12"]["image"] == cases["13"]["image"] == "hrbench-4k_images/13.png"
    assert cases["18"]["images"] == ["hrbench-4k_images/18_1.png", first["image"]]
    assert cases["18"]["options"] == {"A": "x", "B": "y"}  # empty option columns dropped
    files = sorted(p.name for p in (tmp_path / "out" / "hrbench-4k_images").iterdir())
    assert files == ["10.png", "13.png", "18_1.png"]
    loaded, errors = load_cases(tmp_path / "out" / "hrbench-4k.jsonl")
    assert errors == [] and all(p.is_file() for c in loaded for p in c.image_paths)
    assert loaded[0].benchmark == "hrbench-4k" and loaded[0].labels == {"cycle_category": "c0"}


def test_vlmevalkit_tsv_multi_choice_options_and_target_instances(tmp_path: Path) -> None:
    """MME-RealWorld-Lite (options as a Python-literal list), TreeBench (boxes), and a cell
    quoted because it holds newlines and tabs."""
    lite = write_tsv(tmp_path / "mme_realworld_lite.tsv",
                     ["index", "image", "question", "multi-choice options", "answer", "category",
                      "l2-category"],
                     [[1, b64("gray"), "How many cars?",
                       "['(A) 1', '(B) 2', '(C) 3', '(D) 4', '(E) none of the above']", "C",
                       "Perception/Autonomous_Driving", "Vehicle/counting"]])  # fmt: skip
    assert import_main([str(lite), str(tmp_path / "lite.jsonl")]) == 0
    (case,) = read_jsonl(tmp_path / "lite.jsonl")
    assert case["options"] == {"A": "1", "B": "2", "C": "3", "D": "4", "E": "none of the above"}
    assert case["labels"] == {"l2-category": "Vehicle/counting"}
    assert "benchmark" not in case  # plain import: no recipe

    tree = write_tsv(tmp_path / "TreeBench.tsv",
                     ["index", "question", "multi-choice options", "A", "B", "answer", "category",
                      "target_instances", "image"],
                     [[0, "What is the mug made of?\tLook\nclosely.", "A. wood\nB. metal", "wood",
                       "metal", "B", "Perception/Material", "[[512, 388, 690, 602]]", b64("teal")],
                      [1, "Bad boxes?", "A. x\nB. y", "x", "y", "A", "Perception/OCR",
                       "[[1, 2, 3]]", b64("teal")]])  # fmt: skip
    out = tmp_path / "tb"
    assert bench(["prepare", "treebench", str(tree), "--out", str(out)]) == 1
    (case,) = read_jsonl(out / "treebench.jsonl")
    assert case["question"] == "What is the mug made of?\tLook\nclosely."
    assert case["options"] == {"A": "wood", "B": "metal"}  # the letter columns win
    assert case["labels"] == {"target_instances": [[512, 388, 690, 602]]}
    assert case["prompt_style"] == "treebench"


def test_mme_realworld_json_both_releases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "MME-RealWorld"
    folder.mkdir()
    opts = ["(A) 3", "(B) 4", "(C) 5", "(D) 6", "(E) The image does not feature the cars"]
    write_json(folder / "part1.json", [
        {"index": 7, "image": b64("navy"), "question": "How many cars are there?",
         "multi-choice options": opts, "answer": "B", "category": "Perception/Monitoring",
         "l2-category": "Vehicle/counting"},
        {"index": 8, "image": b64("navy"), "question": "Bad letters",
         "multi-choice options": ["(B) x", "(A) y"], "answer": "A",
         "category": "Reasoning/Monitoring", "l2-category": "x"},
    ])  # fmt: skip
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png("olive"))
    write_json(folder / "part2.json", [
        {"Question_id": "Reasoning/Autonomous_Driving/Intention/0001", "Image": "img/a.png",
         "Text": "Where will the car go?", "Answer choices": ["(A) left", "(B) right"],
         "Ground truth": "A", "Task": "Reasoning", "Subtask": "Autonomous_Driving",
         "Category": "Intention"},
    ])  # fmt: skip
    code = bench(["prepare", "mme-realworld", str(folder), "--out", str(tmp_path / "o"),
                  "--image-root", str(tmp_path)])  # fmt: skip
    assert code == 1
    assert "part1.json:row 2:multi-choice options: option 1 is labelled (B), not (A)" in (
        capsys.readouterr().err
    )
    first, second = read_jsonl(tmp_path / "o" / "mme-realworld.jsonl")
    assert first["options"]["E"] == "The image does not feature the cars"
    assert first["category"] == "Perception/Monitoring" and first["prompt_style"] == "mme-realworld"
    assert second["category"] == "Reasoning/Autonomous_Driving"
    assert second["options"] == {"A": "left", "B": "right"} and second["answer"] == "A"


def vstar_folders(root: Path) -> Path:
    for folder, name, question, options in [
        ("direct_attributes", "sa_1", "What is the colour of the cup?",
         ["white", "red", "blue", "black"]),
        ("direct_attributes", "sa_2", "What is the colour of the bag?",
         ["green", "orange", "pink", "purple"]),
        ("relative_position", "sa_3", "Is the ladder on the left or right of the wagon?",
         ["The ladder is on the left.", "The ladder is on the right."]),
    ]:  # fmt: skip
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / f"{name}.jpg").write_bytes(png("white", fmt="JPEG"))
        write_json(root / folder / f"{name}.json", {"target_object": ["cup"],
                   "bbox": [[1, 2, 3, 4]], "question": question, "options": options})  # fmt: skip
    (root / "relative_position" / "orphan.json").write_text(
        '{"question": "q", "options": ["a", "b"]}'
    )
    return root


def test_vstar_folders_shuffle_with_a_fixed_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = vstar_folders(tmp_path / "vstar_bench")
    out = tmp_path / "o"
    assert bench(["prepare", "vstar", str(root), "--out", str(out)]) == 1
    assert "relative_position:orphan.json:image: no image beside it" in capsys.readouterr().err
    cases = read_jsonl(out / "vstar.jsonl")
    assert [c["id"] for c in cases] == ["direct_attributes/sa_1", "direct_attributes/sa_2",
                                        "relative_position/sa_3"]  # fmt: skip
    for case in cases:
        original = case["labels"]["options_original"]
        # the answer letter points at the option listed first in the release
        assert case["options"][case["answer"]] == original[0]
        assert sorted(case["options"].values()) == sorted(original)
    assert [c["category"] for c in cases] == ["attribute", "attribute", "spatial"]
    # not always "A": the shuffle moved at least one correct option
    assert {c["answer"] for c in cases} != {"A"}
    again = tmp_path / "again"
    bench(["prepare", "vstar", str(root), "--out", str(again)])
    assert read_jsonl(again / "vstar.jsonl") == cases  # same seed, same order
    other = tmp_path / "other"
    bench(["prepare", "vstar", str(root), "--out", str(other), "--seed", "7"])
    assert [c["options"] for c in read_jsonl(other / "vstar.jsonl")] != [
        c["options"] for c in cases
    ]


def test_visualprobe_val_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "VisualProbe_Hard"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "1.png").write_bytes(png("black"))
    write_json(folder / "val.json", [
        {"images": ["data/1.png"], "doc_id": "vp-1",
         "problem": "<image>\nWhat is written on the sign?", "solution": "STOP.",
         "data_source": "visual_probe_hard"},
        {"images": ["data/missing.png"], "doc_id": "vp-2", "problem": "<image>\nq", "solution": "x",
         "data_source": "visual_probe_hard"},
    ])  # fmt: skip
    assert bench(["prepare", "visualprobe", str(folder / "val.json"), "--out", str(tmp_path)]) == 1
    assert (
        "val.json:row 2:images: image file 'data/missing.png' not found" in capsys.readouterr().err
    )
    (case,) = read_jsonl(tmp_path / "visualprobe.jsonl")
    assert case["question"] == "What is written on the sign?"  # placeholder removed
    assert case["split"] == "hard" and case["answer"] == "STOP."
    assert (tmp_path / case["image"]).resolve() == (folder / "data" / "1.png").resolve()


def test_mmsearch_end2end_parquet_nullable_image(tmp_path: Path) -> None:
    rows = [
        {"sample_id": "news_0", "query": "When does this conference start?",
         "query_image": {"bytes": png("purple"), "path": "q.png"}, "image_search_result": None,
         "gt_requery": "conference dates", "gt_answer": "2024-09-29",
         "alternative_gt_answers": ["September 29, 2024", "29 Sept 2024"], "area": "news",
         "subfield": "tech"},
        {"sample_id": "knowledge_1", "query": "Who wrote Hamlet?", "query_image": None,
         "image_search_result": None, "gt_requery": "", "gt_answer": "Shakespeare",
         "alternative_gt_answers": [], "area": "knowledge", "subfield": "literature"},
    ]  # fmt: skip
    table = tmp_path / "end2end.parquet"
    pq.write_table(pa.Table.from_pylist(rows), table)
    assert bench(["prepare", "mmsearch", str(table), "--out", str(tmp_path / "all")]) == 0
    first, second = read_jsonl(tmp_path / "all" / "mmsearch.jsonl")
    assert first["answer"] == ["2024-09-29", "September 29, 2024", "29 Sept 2024"]
    assert first["image"].endswith(".png") and first["split"] == "end2end"
    assert second["image"] == "" and second["answer"] == "Shakespeare"  # text-only query
    assert first["category"] == "news" and first["labels"]["subfield"] == "tech"
    assert bench(["prepare", "mmsearch", str(table), "--out", str(tmp_path / "img"),
                  "--images-only"]) == 0  # fmt: skip
    assert [c["id"] for c in read_jsonl(tmp_path / "img" / "mmsearch.jsonl")] == ["news_0"]


def test_fvqa_verl_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        {"prompt": [{"content": "<image>\nWhich country is this flag from?", "role": "user"}],
         "images": [{"bytes": png("red")}],
         "reward_model": {"candidate_answers": '["mt", "Republic of Malta"]',
                          "ground_truth": "Malta", "style": "rule"},
         "data_source": "mmsearch_r1/fvqa_test", "image_urls": None, "data_id": "fvqa_test_0",
         "category": "search_required"},
        {"prompt": [{"content": "q", "role": "system"}], "images": [{"bytes": png("red")}],
         "reward_model": {"candidate_answers": "[]", "ground_truth": "x", "style": "rule"},
         "data_source": "mmsearch_r1/fvqa_test", "image_urls": None, "data_id": "fvqa_test_1",
         "category": "search_free"},
    ]  # fmt: skip
    table = tmp_path / "fvqa_test.parquet"
    pq.write_table(pa.Table.from_pylist(rows), table)
    assert bench(["prepare", "fvqa", str(table), "--out", str(tmp_path)]) == 1
    assert "fvqa_test.parquet:row 2:prompt: no user message" in capsys.readouterr().err
    (case,) = read_jsonl(tmp_path / "fvqa.jsonl")
    assert case["question"] == "Which country is this flag from?"
    assert case["answer"] == ["Malta", "mt", "Republic of Malta"]
    assert case["category"] == "search_required" and case["image"].endswith(".png")


def test_browsecomp_vl_jsonl_nested_answers_and_image_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "WebWatcher"
    (root / "browsecomp-vl" / "images" / "level2").mkdir(parents=True)
    (root / "browsecomp-vl" / "images" / "level2" / "level2_1.jpg").write_bytes(
        png("gray", fmt="JPEG")
    )
    official = root / "browsecomp-vl" / "bc_vl_level2.jsonl"
    official.write_text(json.dumps(
        {"question": "In the lyrics of a song about a quirky attraction, what time is mentioned?",
         "image_path": "browsecomp-vl/images/level2/level2_1.jpg", "answers": ["Midnight."],
         "domain": "Music"}) + "\n")  # fmt: skip
    assert bench(["prepare", "browsecomp-vl", str(official), "--out", str(tmp_path / "o")]) == 0
    (case,) = read_jsonl(tmp_path / "o" / "browsecomp-vl.jsonl")
    assert case["split"] == "level2" and case["category"] == "Music"
    assert case["answer"] == "Midnight." and case["id"] == "level2-1"

    hle = tmp_path / "hle.jsonl"
    hle.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "Which days does this conference run?", "file_path": "http://example.test/a.jpeg",
         "answers": [["2024-09-29 to 2024-10-04", "Sept 29 - Oct 4"]], "question_id": 1,
         "task": "hle/Other", "source": "HLE"},
        {"prompt": "No answer", "file_path": "", "answers": [[]], "question_id": 2},
    ]) + "\n")  # fmt: skip
    out = tmp_path / "urls"
    assert (
        bench(["prepare", "browsecomp-vl", str(hle), "--out", str(out), "--keep-image-urls"]) == 1
    )
    assert "hle.jsonl:line 2:answers: no answer" in capsys.readouterr().err
    (case,) = read_jsonl(out / "browsecomp-vl.jsonl")
    assert case["image"] == "http://example.test/a.jpeg"
    assert case["answer"] == ["2024-09-29 to 2024-10-04", "Sept 29 - Oct 4"]
    assert case["labels"] == {"source": "HLE"} and case["category"] == "hle/Other"


def test_a_benchmark_refuses_another_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsv = hrbench_tsv(tmp_path / "hr.tsv")
    assert bench(["prepare", "visualprobe", str(tsv), "--out", str(tmp_path)]) == 2
    assert (
        "read as 'vlmevalkit-tsv', but this needs one of: visualprobe-json"
        in capsys.readouterr().err
    )


@pytest.mark.slow
def test_image_urls_are_downloaded_once_through_the_url_guard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import http.server
    import threading

    served: list[str] = []
    body = png("orange", fmt="JPEG")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            served.append(self.path)
            data = body if self.path == "/a.jpg" else b"<html>not an image</html>"
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        table = tmp_path / "bc_vl_level1.jsonl"
        table.write_text("\n".join(json.dumps(r) for r in [
            {"prompt": "q1", "file_path": f"{base}/a.jpg", "answers": [["x"]], "question_id": 1},
            {"prompt": "q2", "file_path": f"{base}/a.jpg", "answers": [["y"]], "question_id": 2},
            {"prompt": "q3", "file_path": f"{base}/page", "answers": [["z"]], "question_id": 3},
        ]) + "\n")  # fmt: skip
        # the guard refuses a loopback address, as web_visit does: nothing is fetched
        assert bench(["prepare", "browsecomp-vl", str(table), "--out", str(tmp_path / "a")]) == 2
        err = capsys.readouterr().err
        assert f"bc_vl_level1.jsonl:line 1:file_path: cannot download {base}/a.jpg" in err
        assert "cannot be visited" in err and served == []
        code = bench(["prepare", "browsecomp-vl", str(table), "--out", str(tmp_path / "b"),
                      "--allow-private-urls"])  # fmt: skip
        assert code == 1
        assert "line 3:file_path: image bytes are not a PNG, JPEG, WebP, GIF or BMP image" in (
            capsys.readouterr().err
        )
        one, two = read_jsonl(tmp_path / "b" / "browsecomp-vl.jsonl")
        assert one["image"] == two["image"] == "browsecomp-vl_images/1.jpg"
        assert served == ["/a.jpg", "/page"]  # one download per URL
        assert one["split"] == "level1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
