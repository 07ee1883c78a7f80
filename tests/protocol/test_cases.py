"""Reading test cases: the seed's form, richer forms, Batch API lines, and bad lines."""

from __future__ import annotations

from pathlib import Path

from r1v4.protocol.cases import Case, CaseError, derive_case_id, load_cases, select_shard
from r1v4.protocol.records import record_id
from tests.helpers import write_jsonl


def test_seed_lines_resolve_images_against_the_input_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.png").write_bytes(b"x")
    path = write_jsonl(
        tmp_path / "sub" / "cases.jsonl",
        [{"image": "./a.png", "question": "q1"}, {"image": "", "question": "text only"}],
    )
    cases, errors = load_cases(path)
    assert errors == []
    assert cases[0].image_paths == [tmp_path / "sub" / "a.png"]
    assert cases[0].image == "./a.png"
    assert cases[1].images == [] and cases[1].image_paths == []


def test_ids_are_stable_and_duplicates_get_a_suffix(tmp_path: Path) -> None:
    rows = [{"image": "", "question": "same"}, {"image": "", "question": "same"}]
    first, _ = load_cases(write_jsonl(tmp_path / "a.jsonl", rows))
    again, _ = load_cases(write_jsonl(tmp_path / "b.jsonl", rows))
    assert [c.id for c in first] == [c.id for c in again]
    assert first[0].id == derive_case_id("same", [])
    assert first[1].id == first[0].id + "-2"


def test_bad_lines_are_reported_with_line_numbers_and_others_survive(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "cases.jsonl",
        [
            {"question": "good"},
            "{not json",
            {"image": "x.png"},
            {"question": 5},
            {"question": "ok", "images": "not-a-list"},
            "[1, 2]",
            {"id": "dup", "question": "a"},
            {"id": "dup", "question": "b"},
            {"question": "last good"},
        ],
    )
    cases, errors = load_cases(path)
    assert [c.question for c in cases] == ["good", "a", "last good"]
    by_line = {e.line: e.reason for e in errors}
    assert set(by_line) == {2, 3, 4, 5, 6, 8}
    assert "invalid JSON" in by_line[2]
    assert by_line[3] == "missing field 'question'"
    assert "question" in by_line[4] and "images" in by_line[5]
    assert "duplicate id 'dup'" in by_line[8] and "line 7" in by_line[8]
    assert all(isinstance(e, CaseError) and str(path) in str(e) for e in errors)


def test_rich_fields_and_batch_api_lines(tmp_path: Path) -> None:
    batch_line = {
        "custom_id": "req-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "m",
            "max_tokens": 50,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                        {"type": "text", "text": "what is it?"},
                    ],
                }
            ],
        },
    }
    rich = {
        "id": 7,
        "images": ["a.png", "b.png"],
        "question": "compare",
        "answer": ["x", "y"],
        "options": {"A": "x"},
        "category": "c",
        "system": "be brief",
    }
    cases, errors = load_cases(write_jsonl(tmp_path / "c.jsonl", [batch_line, rich]))
    assert errors == []
    batch, rich_case = cases
    assert isinstance(batch, Case) and batch.id == "req-1"
    assert batch.question == "what is it?" and batch.messages is not None
    assert batch.images == ["data:image/png;base64,AA=="]
    assert batch.body == {"model": "m", "max_tokens": 50}
    assert rich_case.id == "7" and len(rich_case.image_paths) == 2
    assert rich_case.answer == ["x", "y"] and rich_case.system == "be brief"


def test_shards_partition_the_cases(tmp_path: Path) -> None:
    rows = [{"question": f"q{i}"} for i in range(40)]
    cases, _ = load_cases(write_jsonl(tmp_path / "c.jsonl", rows))
    shards = [select_shard(cases, (k, 3)) for k in (1, 2, 3)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.id for c in cases)
    assert all(shards)


def test_record_id_matches_case_id_for_seed_records() -> None:
    seed_record = {"image": "./a.png", "question": "q", "response": {"full_response": "x"}}
    assert record_id(seed_record) == derive_case_id("q", ["./a.png"])
