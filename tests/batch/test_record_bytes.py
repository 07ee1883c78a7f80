"""The records a batch writes are the same bytes for the same input: a text answer, a wrong
one, a choice, a tool round, a free-text answer, a headless think, a stop string inside a
think, a case stopped by --max-rounds and a failed case, non-streaming and streaming, against
the simulator, compared with the lines kept in `golden/records.jsonl`.

Resume, the viewer, the scorer and `merge` read these lines; the runner's per-case path is
tuned for CPU (issue 18), and this says that no such change altered what is written. Only
what differs from run to run is masked: timings, the clock, the simulator's port and the
input's temporary path. Field order is compared too (the seed's keys come first).

A deliberate change of the record format regenerates the file:
`R1V4_WRITE_GOLDEN=1 python3 -m pytest tests/batch/test_record_bytes.py`, and the diff of
`golden/records.jsonl` then shows what changed.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from r1v4.batch.runner import run_batch
from r1v4.batch.settings import AgentSettings, EndpointSettings, OutputSettings, RunSettings
from r1v4.sim import running_simulator
from tests.helpers import write_jsonl

GOLDEN = Path(__file__).parent / "golden" / "records.jsonl"
CALL = '<tool_call>{"name": "code", "arguments": {"code": "print(6 * 7)"}}</tool_call>'
SCRIPTS = [
    {"id": "text", "turns": ["<think>It is red.</think><answer>It is red. \\boxed{red}</answer>"]},
    {"id": "wrong", "turns": ["<think>Looks blue to me.</think><answer>blue</answer>"]},
    {"id": "choice", "turns": ["<think>Option B says red.</think><answer>B</answer>"]},
    {
        "id": "tool",
        "turns": [f"<think>Let me compute.</think>{CALL}", "<think>42.</think><answer>42</answer>"],
    },
    {"id": "free", "turns": ["The answer is 12 km."]},
    {"id": "headless", "turns": ["It must be red.</think><answer>red</answer>"]},
    {"id": "falsestop", "turns": ["<think>Not </answer> yet.</think><answer>red</answer>"]},
    {"id": "rounds", "turns": [f"<think>again</think>{CALL}"] * 3},
    {"id": "failed", "turns": ["<answer>red</answer>"], "faults": ["500"] * 4},
]
CASES = [
    {"id": "text", "question": "What colour?", "answer": "red"},
    {"id": "wrong", "question": "What colour?", "answer": "red", "category": "colour"},
    {"id": "choice", "question": "Which colour?", "options": ["blue", "red"], "answer": "B"},
    {"id": "tool", "question": "What is 6*7?", "answer": "42"},
    {"id": "free", "question": "How far?", "answer": "12"},
    {"id": "headless", "question": "What colour?", "answer": "red"},
    {"id": "falsestop", "question": "What colour?", "answer": "red"},
    {"id": "rounds", "question": "Loop?", "answer": "x"},
    {"id": "failed", "question": "What colour?", "answer": "red"},
]
_VOLATILE_META = ("latency_s", "ttft_s", "tpot_s", "finished_at", "input_file")
_PORT = re.compile(rb"127\.0\.0\.1:\d+")
_SECOND_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")


def _masked(line: bytes) -> bytes:
    """A record line with what differs between runs replaced, keys kept in place."""
    record: dict[str, Any] = orjson.loads(_PORT.sub(b"127.0.0.1:PORT", line))
    meta = record.get("meta") or {}
    assert _SECOND_UTC.fullmatch(meta["finished_at"]), meta["finished_at"]  # its form is kept
    for key in _VOLATILE_META:
        if meta.get(key) is not None:
            meta[key] = "*"
    raw = (record.get("response") or {}).get("raw_response") or {}
    if "created" in raw:
        raw["created"] = 0
    return orjson.dumps(record) + b"\n"


def _run(tmp: Path, base_url: str) -> bytes:
    cases = write_jsonl(tmp / "cases.jsonl", CASES)
    out = b""
    for stream in (False, True):
        path = tmp / f"out-{stream}.jsonl"
        settings = RunSettings(
            input_path=cases,
            output=OutputSettings(path, overwrite=True, progress=False),
            endpoint=EndpointSettings([base_url], model="sim", max_retries=1),
            agent=AgentSettings(stream=stream, tools="client", max_rounds=3),
            concurrency=1,
        )
        summary = asyncio.run(run_batch(settings))
        assert (summary.done, summary.failed) == (len(CASES), 1), summary.errors
        out += b"".join(_masked(line) for line in path.read_bytes().splitlines())
    return out


def test_records_are_the_bytes_kept_in_the_golden_file(tmp_path: Path) -> None:
    with running_simulator(scripts=SCRIPTS) as sim:
        got = _run(tmp_path, sim.base_url)
    if os.environ.get("R1V4_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(got)
        pytest.skip(f"wrote {GOLDEN}")
    want = GOLDEN.read_bytes().splitlines()
    for number, (line, expected) in enumerate(zip(got.splitlines(), want, strict=True), 1):
        assert line == expected, f"{GOLDEN.name} line {number} differs"
