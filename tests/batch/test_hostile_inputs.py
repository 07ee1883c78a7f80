"""Attacks through input files (issue 13, "Input files and runs"): crafted input images and
crafted input lines go through the real batch, and each costs only its own case or line.

What a user sees is asserted: the other cases complete, the batch ends (a hang is a test
failure after a generous guard, never a timing figure), and each message names the file,
the line and the field.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import zlib
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from r1v4.protocol.cases import Case, CaseError, iter_cases
from r1v4.protocol.records import base_record, dumps_record
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers import run_cli as run

#: A hang guard, not a timing: the batch must end, however long CI takes.
HANG_GUARD_S = 240


def pixel_bomb_png(path: Path, side: int = 28_000) -> Path:
    """A valid 1-bit PNG of side x side pixels (784 MP for 28000), about 0.4 MB on disk:
    decoding it as RGB would take gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    squeeze = zlib.compressobj(1)
    row = b"\0" * (1 + (side + 7) // 8)
    body = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.slow
def test_fifo_dev_zero_pixel_bomb_and_foreign_formats_fail_only_their_own_case(
    workdir: Path, start_batch
) -> None:
    """A FIFO used to hang the batch forever, /dev/zero was read until memory ran out, and
    a 28000x28000 PNG cost gigabytes: now each is that case's clear error, and the batch
    (a real process, as a user runs it) goes on and ends."""
    os.mkfifo(workdir / "pipe.png")  # nobody ever writes to it
    pixel_bomb_png(workdir / "bomb.png")
    (workdir / "fake.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n")
    Image.new("RGB", (4, 4), "red").save(workdir / "picture.tif")  # TIFF: not accepted
    (workdir / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2_100_000)
    rows = [
        {"id": "good-1", "image": "demo_image/demo_1.png", "question": "q"},
        {"id": "fifo", "image": "pipe.png", "question": "q"},
        {"id": "zero", "image": "/dev/zero", "question": "q"},
        {"id": "bomb", "image": "bomb.png", "question": "q"},
        {"id": "eps", "image": "fake.png", "question": "q"},
        {"id": "tiff", "image": "picture.tif", "question": "q"},
        {"id": "huge", "image": "huge.png", "question": "q"},
        {"id": "folder", "image": "demo_image", "question": "q"},
        {"id": "good-2", "image": "demo_image/demo_2.webp", "question": "q"},
    ]
    write_jsonl(workdir / "cases.jsonl", rows)
    with running_simulator() as sim:
        proc = start_batch(
            "batch_nonstream.py",
            "cases.jsonl",
            "out.jsonl",
            "--base-url",
            sim.base_url,
            "--tools",
            "none",
            "--max-input-mb",
            "2",
            capture=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=HANG_GUARD_S)
        finally:
            proc.kill()
    assert proc.returncode in (0, 1), stdout + stderr  # not stopped, not a crash
    assert "Traceback" not in stdout + stderr
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert set(records) == {r["id"] for r in rows}
    errors = {rid: r["response"].get("error") for rid, r in records.items()}
    assert errors["good-1"] is None and errors["good-2"] is None
    assert "pipe.png is a FIFO (named pipe), not a regular file" in errors["fifo"]
    assert "/dev/zero is a character device, not a regular file" in errors["zero"]
    assert "bomb.png: 784,000,000 pixels, over the limit of" in errors["bomb"]
    assert "--max-input-pixels" in errors["bomb"]
    assert "fake.png: not an accepted image format (PNG, JPEG, WebP, GIF, BMP)" in errors["eps"]
    assert "picture.tif: not an accepted image format" in errors["tiff"]
    assert "huge.png is 2.1 MB, over the 2.0 MB limit (--max-input-mb)" in errors["huge"]
    assert "demo_image is a folder, not a regular file" in errors["folder"]
    assert all(e.startswith("input image") for rid, e in errors.items() if e)


def test_a_pixel_bomb_is_refused_from_its_header_whatever_the_limit_flag_says(
    workdir: Path,
) -> None:
    """`--max-input-pixels` is the documented bound: raising it lets a large scan through,
    lowering it refuses a modest image, and either way nothing over it is decoded."""
    Image.new("RGB", (300, 200), "blue").save(workdir / "scan.png")
    write_jsonl(workdir / "cases.jsonl", [{"id": "scan", "image": "scan.png", "question": "q"}])
    with running_simulator() as sim:
        base = ["cases.jsonl", "--base-url", sim.base_url, "--tools", "none"]
        run([base[0], "low.jsonl", *base[1:], "--max-input-pixels", "50000"])
        run([base[0], "ok.jsonl", *base[1:], "--max-input-pixels", "60000"])
    (low,) = read_jsonl(workdir / "low.jsonl")
    (ok,) = read_jsonl(workdir / "ok.jsonl")
    assert "300x200 = 60,000 pixels, over the limit of 50,000" in low["response"]["error"]
    assert "error" not in ok["response"]


@pytest.mark.slow
def test_the_case_timeout_covers_reading_the_inputs_on_a_mocked_slow_disk(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and decoding the inputs runs inside `--case-timeout` and off the event loop:
    a case stuck there (a MOCKED read that takes 3 s) is cut at its 1 s bound, and the other
    case, which runs meanwhile, finishes."""
    import time

    from r1v4.agent import inputs

    real = inputs.read_image_file

    def slow_read(path: Path, max_bytes: int) -> bytes:
        if Path(path).name == "slow.png":
            time.sleep(3)
        return real(path, max_bytes)

    Image.new("RGB", (8, 8)).save(workdir / "slow.png")
    write_jsonl(
        workdir / "cases.jsonl",
        [
            {"id": "slow", "image": "slow.png", "question": "q"},
            {"id": "fine", "image": "demo_image/demo_1.png", "question": "q"},
        ],
    )
    monkeypatch.setattr(inputs, "read_image_file", slow_read)
    with running_simulator() as sim:
        run(
            ["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--tools", "none"]
            + ["--case-timeout", "1", "--concurrency", "2"]
        )
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert "case timed out after 1 s" in records["slow"]["response"]["error"]
    assert "error" not in records["fine"]["response"]


# --------------------------------------------------------------------------- input lines

HOSTILE_LINES: list[tuple[object, str]] = [
    # (line, what its error must say)
    ({"custom_id": "b1", "body": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {}}]}]}},
     "field 'body.messages[0].content[0].image_url.url' is missing"),
    ({"custom_id": "b2", "body": {"messages": [{"role": "user", "content": [
        "just a string part"]}]}},
     "field 'body.messages[0].content[0]' must be an object, got a string"),
    ({"custom_id": "b3", "body": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": 5}]}]}},
     "field 'body.messages[0].content[0].text' must be a string, got a number"),
    ({"custom_id": "b4", "body": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": 7}}]}]}},
     "field 'body.messages[0].content[0].image_url.url' must be a non-empty string, got a number"),
    ({"custom_id": "b5", "body": {"messages": [{"role": "user", "content": {"text": "x"}}]}},
     "field 'body.messages[0].content' must be a string or a list of parts, got an object"),
    ({"custom_id": "b6", "body": {"messages": ["hello"]}},
     "field 'body.messages[0]' must be an object, got a string"),
    ({"custom_id": "b7", "body": {"messages": [{"content": "no role"}]}},
     "field 'body.messages[0].role' must be a string, got null"),
    ({"custom_id": {"x": 1}, "body": {"messages": [{"role": "user", "content": "q"}]}},
     "field 'custom_id' must be a string or a number, got an object"),
    ({"custom_id": "b9", "body": []}, "field 'body' must be an object holding the request"),
    ({"body": {"messages": [{"role": "system", "content": "only a system"}]}},
     "field 'body.messages' has no user message"),
    ({"question": "q", "images": ["a.png", 3]}, "field 'images[1]' must be a non-empty string"),
    ({"question": "q", "image": "a\u0000b.png"}, "field 'image' contains a NUL character"),
    ({"question": "q", "answer": ["A", {"x": 1}]}, "field 'answer[1]' must be a string"),
    ({"question": "q", "options": {"A": [1]}}, "field 'options.A' must be a string"),
    ({"question": "q", "id": True}, "field 'id' must be a string or a number, got a boolean"),
    ({"question": "q", "image": "x" * 5000 + ".png"}, "field 'image' is not a usable path"),
    ({"question": ["q"]}, "field 'question' must be a non-empty string, got a list"),
    ("[1, 2]", "expected a JSON object, got a list"),
]  # fmt: skip


def test_hostile_batch_api_and_seed_lines_are_per_line_errors_and_the_batch_goes_on(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Line shapes that used to abort the whole batch with a traceback: each is now an error
    naming file:line and the field, and every good line still runs."""
    good = {"custom_id": "good-batch", "body": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"}]}]}}  # fmt: skip
    rows: list[object] = [{"id": "good-seed", "question": "first"}]
    rows += [line for line, _ in HOSTILE_LINES]
    rows += [good]
    path = workdir / "cases.jsonl"
    with open(path, "wb") as fh:
        fh.write(b"\xef\xbb\xbf")  # a BOM on line 1 is accepted
        for row in rows:
            fh.write((row.encode() if isinstance(row, str) else orjson.dumps(row)) + b"\n")
        latin1 = b'{"id": "latin1", "question": "caf\xe9"}'  # not UTF-8
        fh.write(latin1 + b"\n")
    with running_simulator() as sim:
        run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--tools", "none"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    for number, (_, message) in enumerate(HOSTILE_LINES, start=2):
        assert f"cases.jsonl:{number}: {message}" in captured.out, message
    last = len(rows) + 1
    offset = latin1.index(b"\xe9")
    assert f"cases.jsonl:{last}: line {last} is not valid UTF-8 (byte offset {offset})" in (
        captured.out
    )
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert set(records) == {"good-seed", "good-batch"}
    assert all("error" not in r["response"] for r in records.values())


def test_a_line_over_the_length_bound_is_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"question": "before"}\n')
        fh.write(b'{"question": "' + b"x" * 5000 + b'"}\n')
        fh.write(b'{"question": "after"}\n')
    items = list(iter_cases(path, max_line_bytes=1000))
    assert [type(i) for i in items] == [Case, CaseError, Case]
    assert str(items[1]) == f"{path}:2: line is longer than 1000 bytes"


_KEYS = st.sampled_from(
    ["question", "image", "images", "id", "answer", "options", "category", "system",
     "custom_id", "body", "messages", "role", "content", "type", "text", "image_url", "url"]
)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
_VALUES = st.recursive(
    _SCALARS | st.sampled_from(["user", "text", "image_url", "q", "a.png", "data:,x"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)
_LINES = st.one_of(
    _VALUES.map(lambda v: json.dumps(v).encode()),  # json: big ints and NaN too
    st.dictionaries(_KEYS, _VALUES, max_size=6).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).filter(lambda b: b"\n" not in b),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_LINES, min_size=1, max_size=6))
@example(lines=[b"\xef\xbb\xbf"])  # a file holding only its byte order mark is empty
@example(lines=[b"{}", b"\xef\xbb\xbf"])  # a mark anywhere else is a precise error
def test_any_line_shape_is_a_case_or_a_precise_error_never_a_traceback(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes]
) -> None:
    """Property: whatever a line holds, reading it yields one Case or one CaseError, the
    error names the line, no validation gap falls through to the catch-all, and a Case
    becomes a record that can be written."""
    path = tmp_path_factory.mktemp("fuzz") / "cases.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(iter_cases(path))
    # a byte order mark that opens the file is the encoding's mark, not content (utf-8-sig)
    shown = [lines[0].removeprefix(b"\xef\xbb\xbf"), *lines[1:]]
    numbered = [n for n, line in enumerate(shown, start=1) if line.strip()]
    assert [i.line for i in items] == numbered
    for item in items:
        if isinstance(item, CaseError):
            assert "cannot read this line" not in item.reason, item
            assert str(item).startswith(f"{path}:{item.line}: ")
        else:
            assert isinstance(item.id, str) and item.id and isinstance(item.question, str)
            dumps_record(base_record(item))


def test_a_folder_or_device_as_the_input_file_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["demo_image", "out.jsonl", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "the input demo_image is a folder, not a file of test cases" in capsys.readouterr().err
    assert run(["/dev/null", "out.jsonl", "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "/dev/null is a character device" in capsys.readouterr().err


def test_an_input_file_fed_through_a_pipe_still_runs(workdir: Path, subprocess_env) -> None:
    """A FIFO as the *input file* is legitimate (`<(…)`, another program feeding it)."""
    os.mkfifo(workdir / "cases.fifo")
    with running_simulator() as sim:
        feeder = subprocess.Popen(
            ["sh", "-c", 'printf \'%s\\n\' \'{"id": "p", "question": "q"}\' > cases.fifo'],
            cwd=workdir,
        )
        try:
            run(["cases.fifo", "out.jsonl", "--base-url", sim.base_url, "--tools", "none"])
        finally:
            feeder.wait(timeout=HANG_GUARD_S)
    assert [r["id"] for r in read_jsonl(workdir / "out.jsonl")] == ["p"]
