"""`python -m r1v4 import`: benchmark tables (Parquet, JSON, JSONL) with images as bytes,
base64 or paths become test cases that the case reader accepts, plus an image folder."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from r1v4.cli.import_ import main
from r1v4.protocol.cases import load_cases
from tests.helpers import read_jsonl


def image_bytes(color: str, fmt: str = "PNG", size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def hf_parquet(path: Path) -> Path:
    """An HR-Bench / MMBench-like file: image structs, one column per option, letter answers."""
    rows = [
        {"index": 101, "question": "What colour is the car?", "category": "color",
         "image": {"bytes": image_bytes("red"), "path": "car.png"},
         "A": "red", "B": "blue", "C": None, "D": None, "answer": "A"},
        {"index": 102, "question": "How many birds?", "category": "count",
         "image": {"bytes": image_bytes("blue", "JPEG"), "path": None},
         "A": "1", "B": "3", "C": "5", "D": "7", "answer": "B"},
        {"index": 103, "question": "Broken image", "category": "count",
         "image": {"bytes": b"this is not an image", "path": None},
         "A": "x", "B": "y", "C": None, "D": None, "answer": "B"},
        {"index": 104, "question": "", "category": "count",
         "image": {"bytes": image_bytes("green"), "path": None},
         "A": "x", "B": "y", "C": None, "D": None, "answer": "A"},
        {"index": 105, "question": "这是哪座城市？", "category": "地点",
         "image": {"bytes": image_bytes("white", "WEBP"), "path": None},
         "A": None, "B": None, "C": None, "D": None, "answer": "北京"},
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_parquet_with_image_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = hf_parquet(tmp_path / "hrbench.parquet")
    out = tmp_path / "cases" / "hr.jsonl"
    assert main([str(table), str(out)]) == 1  # two bad rows, the rest imported
    err = capsys.readouterr().err
    assert (
        "hrbench.parquet:row 3:image: image bytes are not a PNG, JPEG, WebP, GIF or BMP image"
        in err
    )
    assert "hrbench.parquet:row 4:question: question is missing or empty" in err

    cases = read_jsonl(out)
    assert [c["id"] for c in cases] == ["101", "102", "105"]
    first, second, third = cases
    assert first == {
        "id": "101",
        "question": "What colour is the car?",
        "image": "hr_images/101.png",
        "answer": "A",
        "options": {"A": "red", "B": "blue"},  # empty option columns dropped
        "category": "color",
    }
    # the type comes from the bytes: JPEG and WEBP, whatever the struct's path said
    assert second["image"] == "hr_images/102.jpg"
    assert third["image"] == "hr_images/105.webp"
    assert third["answer"] == "北京" and "options" not in third and third["category"] == "地点"
    with Image.open(out.parent / second["image"]) as img:
        assert img.format == "JPEG" and img.size == (16, 12)

    # the case reader accepts the file and finds every image
    loaded, errors = load_cases(out)
    assert errors == []
    assert all(p.is_file() for c in loaded for p in c.image_paths)
    assert loaded[0].options == {"A": "red", "B": "blue"}


def test_reimport_is_stable(tmp_path: Path) -> None:
    table = hf_parquet(tmp_path / "b.parquet")
    out = tmp_path / "b.jsonl"
    main([str(table), str(out)])
    first = out.read_bytes()
    files = sorted(p.name for p in (tmp_path / "b_images").iterdir())
    main([str(table), str(out)])
    assert out.read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "b_images").iterdir()) == files


def test_parquet_binary_column_named_by_flags(tmp_path: Path) -> None:
    table = tmp_path / "custom.parquet"
    rows = [
        {"qid": "v1", "prompt_text": "Which?", "pic": image_bytes("red"),
         "pic2": image_bytes("blue"), "choices": ["cat", "dog"], "gt": ["dog", "puppy"]},
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), table)
    out = tmp_path / "o.jsonl"
    code = main([str(table), str(out), "--question-col", "prompt_text", "--image-col", "pic,pic2",
                 "--answer-col", "gt", "--options-col", "choices", "--id-col", "qid",
                 "--images-dir", str(tmp_path / "imgs")])  # fmt: skip
    assert code == 0
    (case,) = read_jsonl(out)
    assert case["images"] == ["imgs/v1_1.png", "imgs/v1_2.png"]
    assert case["image"] == "imgs/v1_1.png"
    assert case["options"] == ["cat", "dog"] and case["answer"] == ["dog", "puppy"]


def test_json_with_base64_data_urls_and_paths(tmp_path: Path) -> None:
    data = tmp_path / "bench"
    (data / "imgs").mkdir(parents=True)
    (data / "imgs" / "p.png").write_bytes(image_bytes("green"))
    b64 = base64.b64encode(image_bytes("red", "JPEG")).decode()
    rows = [
        {"id": "b64", "question": "q1", "image": b64, "answer": 3,
         "options": "['1', '2', '3']"},  # Python-literal options, numeric answer
        {"id": "url", "question": "q2", "image": "data:image/png;base64," + b64, "answer": "x"},
        {"id": "path", "question": "q3", "image": "imgs/p.png", "answer": "y",
         "options": "A. yes\nB. no"},
        {"id": "gone", "question": "q4", "image": "imgs/missing.png", "answer": "z"},
        {"id": "text", "question": "q5", "image": "", "answer": "w"},
        {"id": "b64", "question": "dup", "image": "", "answer": "v"},
    ]  # fmt: skip
    table = data / "bench.json"
    table.write_text(json.dumps(rows))
    out = tmp_path / "out" / "cases.jsonl"
    assert main([str(table), str(out)]) == 1
    cases = {c["id"]: c for c in read_jsonl(out)}
    assert set(cases) == {"b64", "url", "path", "text"}
    assert cases["b64"]["image"] == "cases_images/b64.jpg"  # Pillow says JPEG
    assert cases["b64"]["answer"] == "3" and cases["b64"]["options"] == ["1", "2", "3"]
    # the same bytes again: written once, shared
    assert cases["url"]["image"] == "cases_images/b64.jpg"
    # a path stays where it is, referenced relative to the case file's folder
    assert (out.parent / cases["path"]["image"]).resolve() == (data / "imgs" / "p.png").resolve()
    assert cases["path"]["options"] == {"A": "yes", "B": "no"}
    assert cases["text"]["image"] == ""
    assert load_cases(out)[1] == []


def test_jsonl_bad_lines_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.jsonl"
    table.write_text(
        '{"question": "ok", "image": null}\n'
        "{not json\n"
        '{"question": "q", "image": 12}\n'
        '{"question": "q", "image": {"path": null, "bytes": null}}\n'
    )
    assert main([str(table), str(tmp_path / "o.jsonl")]) == 1
    err = capsys.readouterr().err
    assert "t.jsonl:line 2: invalid JSON" in err
    assert "t.jsonl:line 3:image: image must be bytes, base64 text or a path, not int" in err
    assert "t.jsonl:line 4:image: image object has neither 'bytes' nor 'path'" in err
    assert [c["id"] for c in read_jsonl(tmp_path / "o.jsonl")] == ["t-0"]


def test_unusable_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "t.jsonl"
    table.write_text('{"text": "no question column here"}\n')
    assert main([str(table), str(tmp_path / "o.jsonl")]) == 2
    assert "pass --question-col (columns are: text)" in capsys.readouterr().err
    assert main([str(table), str(tmp_path / "o.jsonl"), "--question-col", "prompt"]) == 2
    assert "no column 'prompt'" in capsys.readouterr().err
    (tmp_path / "t.csv").write_text("a,b\n")
    assert main([str(tmp_path / "t.csv"), str(tmp_path / "o.jsonl")]) == 2
    assert "unknown table format '.csv'" in capsys.readouterr().err


def test_parquet_without_pyarrow_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = hf_parquet(tmp_path / "x.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now fails
    assert main([str(table), str(tmp_path / "o.jsonl")]) == 2
    assert "pip install 'r1v4[parquet]'" in capsys.readouterr().err


def test_ids_that_sanitise_alike_keep_their_own_images(tmp_path: Path) -> None:
    red, blue, green = image_bytes("red"), image_bytes("blue"), image_bytes("green")
    rows = [
        {"id": "a/b", "question": "q", "image": red},
        {"id": "a_b", "question": "q", "image": blue},
        {"id": "A_B", "question": "q", "image": green},  # same name on macOS/Windows disks
        {"id": "a/b", "question": "dup", "image": green},  # rejected, must not overwrite red
    ]
    table = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(rows), table)
    out = tmp_path / "o.jsonl"
    assert main([str(table), str(out)]) == 1
    cases = read_jsonl(out)
    paths = [out.parent / c["image"] for c in cases]
    assert len({p.name.lower() for p in paths}) == 3
    assert [p.read_bytes() for p in paths] == [red, blue, green]


def test_json_arrays_are_read_one_element_at_a_time() -> None:
    """Whatever the chunk size, the streamed reader gives what json.loads gives."""
    import io

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from r1v4.evals.tables import iter_json_array

    words = st.text(max_size=12)
    leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | words
    values = st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
        max_leaves=12,
    )

    @settings(max_examples=60, deadline=None)
    @given(st.lists(values, max_size=6), st.integers(1, 64), st.sampled_from(["", " ", "\n  "]))
    def check(items: list, chunk: int, space: str) -> None:
        text = space + json.dumps(items, indent=1 if space else None) + space
        assert list(iter_json_array(io.StringIO(text), chunk_chars=chunk)) == items

    check()
    for bad in ("[1,", "[1 2]", "{}", "[1,]"):
        with pytest.raises(ValueError):
            list(iter_json_array(io.StringIO(bad), chunk_chars=2))
