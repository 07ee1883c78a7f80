"""Result files: append, resume state, broken last lines, the lock, compaction, merge."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.batch.merge import merge_files
from r1v4.batch.results import ResultFileError, ResultWriter
from tests.helpers import read_jsonl


def ok(rid: str, text: str = "x") -> dict:
    return {"id": rid, "question": "q", "response": {"full_response": text}}


def bad(rid: str) -> dict:
    return {"id": rid, "question": "q", "response": {"error": "boom"}}


def test_resume_state_counts_done_and_failed(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as w:
        w.append(ok("a"))
        w.append(bad("b"))
    with ResultWriter(out) as w:
        assert w.state.done == {"a"} and w.state.failed == {"b"}


def test_cut_off_last_line_is_set_aside_not_dropped(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as w:
        w.append(ok("a"))
    with open(out, "ab") as fh:
        fh.write(b'{"id": "b", "response": {"full_resp')  # a crash mid-write
    with ResultWriter(out) as w:
        assert w.state.set_aside == 1 and w.state.done == {"a"}
        w.append(ok("c"))
    assert [r["id"] for r in read_jsonl(out)] == ["a", "c"]
    assert b'"id": "b"' in (tmp_path / "out.jsonl.corrupt").read_bytes()


def test_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out):
        with pytest.raises(ResultFileError, match="is being written by process"):
            ResultWriter(out).open()
    with ResultWriter(out):  # released afterwards
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    import socket

    (tmp_path / "out.jsonl.lock").write_text(f"999999999 {socket.gethostname()}\n")
    with ResultWriter(out) as w:
        w.append(ok("a"))
    assert not (tmp_path / "out.jsonl.lock").exists()


def test_rerun_of_a_failed_case_replaces_its_record(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with ResultWriter(out) as w:
        w.append(bad("a"))
        w.append(ok("b"))
    with ResultWriter(out) as w:
        w.append(ok("a", "fixed"))
    records = read_jsonl(out)
    assert [r["id"] for r in records] == ["b", "a"]
    assert records[1]["response"]["full_response"] == "fixed"


def test_merge_keeps_one_record_per_id_and_prefers_success(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with ResultWriter(a) as w:
        w.append(ok("1"))
        w.append(bad("2"))
    with ResultWriter(b) as w:
        w.append(ok("2"))
        w.append(bad("1"))
        w.append(ok("3"))
    counts = merge_files([a, b], tmp_path / "all.jsonl")
    merged = {r["id"]: r for r in read_jsonl(tmp_path / "all.jsonl")}
    assert (counts.records, counts.succeeded, counts.broken_lines) == (3, 3, [])
    assert set(merged) == {"1", "2", "3"}
    assert all("error" not in r["response"] for r in merged.values())


def test_merged_file_keeps_the_shards_runs_so_its_header_says_what_made_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from r1v4.cli.view import main as view_main
    from r1v4.protocol.runlog import append_run, read_runs_log

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path, model, started in ((a, "m-a", "2026-01-02"), (b, "m-b", "2026-01-01")):
        with ResultWriter(path) as w:
            w.append(ok(path.stem))
        run = {"started_at": started, "model": model, "command": f"run {path.name}"}
        append_run(path, run)
    out = tmp_path / "all.jsonl"
    assert merge_files([a, b], out).runs == 2
    runs = read_runs_log(out)
    assert [(r["model"], r["shard"]) for r in runs] == [("m-b", str(b)), ("m-a", str(a))]
    assert merge_files([a, b], out, force=True).runs == 2  # a second merge replaces, not adds
    assert len(read_runs_log(out)) == 2
    assert view_main([str(out), "--get", "/"]) == 0  # the merged file's run page
    page = capsys.readouterr().out
    assert "2 batch runs wrote this file" in page and f"(shard {a})" in page


def test_merge_into_another_folder_copies_the_images_it_references(tmp_path: Path) -> None:
    from PIL import Image

    shard_dir, out_dir = tmp_path / "machine1", tmp_path / "merged"
    shard_dir.mkdir()
    out_dir.mkdir()
    image = shard_dir / "part.jsonl.assets" / "c1" / "abc.png"
    image.parent.mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(image)
    ref = "part.jsonl.assets/c1/abc.png"
    record = {
        "id": "c1",
        "question": "q",
        "assets": [ref],
        "response": {"full_response": f'<observation>{{"images": ["{ref}"]}}</observation>'},
    }
    with ResultWriter(shard_dir / "part.jsonl") as w:
        w.append(record)
    counts = merge_files([shard_dir / "part.jsonl"], out_dir / "all.jsonl")
    (merged,) = read_jsonl(out_dir / "all.jsonl")
    (new_ref,) = merged["assets"]
    assert counts.images_copied == 1 and new_ref.startswith("all.jsonl.assets/c1/")
    assert (out_dir / new_ref).read_bytes() == image.read_bytes()
    assert f'"{new_ref}"' in merged["response"]["full_response"]
    assert ref not in merged["response"]["full_response"]
