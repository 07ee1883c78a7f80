"""A big result file shows its first page before the whole index is built, and the index
reads what the agent stored in each record's meta instead of parsing every trajectory."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from r1v4.agent.settings import AgentSettings
from r1v4.agent.trajectory import Trajectory, finish_record
from r1v4.viewer import create_app, get_library
from r1v4.viewer import index as index_module
from r1v4.viewer.index import ResultIndex
from r1v4.viewer.summaries import summarize
from tests.helpers.viewer_records import extra_record

CASES = 40


def write_cases(path: Path, n: int = CASES) -> list[str]:
    ids = [f"c{i:03d}" for i in range(n)]
    path.write_text("".join(json.dumps(extra_record(i, answer="x" * 200)) + "\n" for i in ids))
    return ids


def test_a_background_index_starts_with_the_first_cases_and_ends_with_all(
    tmp_path: Path, user_cache: Path
) -> None:
    path = tmp_path / "r.jsonl"
    ids = write_cases(path)
    index = ResultIndex(path, background=True, sync_bytes=1024)
    assert 0 < len(index.entries) <= CASES  # the first ones at once (all, if the thread won)
    index.wait()
    assert not index.building and index.build_error is None
    assert [e["id"] for e in index.entries] == ids
    assert [e["n"] for e in index.entries] == list(range(CASES))
    assert index.read_record(CASES - 1)["id"] == ids[-1]
    again = ResultIndex(path, background=True, sync_bytes=1024)  # the pass was cached
    assert again.loaded_from_cache and not again.building
    assert [e["id"] for e in again.entries] == ids


def test_the_list_page_says_the_file_is_still_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The background pass is held (MOCKED: a gate in the summary step) while the first page
    is asked for: it shows the cases indexed so far and says the rest is coming."""
    path = tmp_path / "r.jsonl"
    ids = write_cases(path)
    gate = threading.Event()
    real = index_module.summarize

    def gated_summarize(record, line):
        if threading.current_thread() is not threading.main_thread():
            assert gate.wait(30), "the test never opened the gate"
        return real(record, line)

    monkeypatch.setattr(index_module, "summarize", gated_summarize)
    monkeypatch.setattr(index_module, "SYNC_BYTES", 1024)
    app = create_app({"RESULT_FILES": [str(path)], "CWD": str(tmp_path), "INDEX_CACHE": None})
    opened = get_library(app).files()[0]
    try:
        assert opened.index.building
        html = app.test_client().get(f"/f/{opened.fid}/").get_data(as_text=True)
        assert "Still reading this file" in html and ids[0] in html
        assert 0 < len(opened.index.entries) < CASES
    finally:
        gate.set()
    opened.index.wait()
    html = app.test_client().get(f"/f/{opened.fid}/?size=100").get_data(as_text=True)
    assert "Still reading this file" not in html and ids[-1] in html


def record_of(text: str, stop_reason: str = "answer", error: str | None = None) -> dict:
    traj = Trajectory(full_response=text, stop_reason=stop_reason)
    record = {"id": "r", "image": "", "images": [], "question": "q"}
    return finish_record(record, traj, AgentSettings(), "m", error, {}, 1.0)


OBS = {"type": "code", "result": "saved", "images": ["out.assets/r/1.png", "out.assets/r/2.png"]}
BAD = {"type": "code", "result": "boom", "error": "NameError"}
TEXTS = [
    "<think>t</think><answer>red</answer>",
    "no tags at all, a plain answer",
    '<think>a</think><tool_call>{"name": "code", "arguments": {"code": "x"}}</tool_call>'
    f"<observation>{json.dumps(OBS)}</observation><think>b</think><answer>blue</answer>",
    '<tool_call>{"name": "code", "arguments": {}}</tool_call>'
    f"<observation>{json.dumps(BAD)}</observation>",
    "<think>cut",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("stop", ["answer", "max_rounds"])
def test_the_meta_reading_gives_the_summary_a_parse_would(text: str, stop: str) -> None:
    record = record_of(text, stop)
    meta = record["meta"]
    assert {"final_answer", "answer_source", "observation_images"} <= set(meta)
    old = json.loads(json.dumps(record))  # an older record: none of the reading in meta
    for key in ("final_answer", "answer_source", "observation_images"):
        del old["meta"][key]
    assert summarize(record, 1) == summarize(old, 1)


def test_the_meta_reading_of_a_failed_case_has_no_answer() -> None:
    record = record_of("<answer>early</answer>", "", error="the endpoint failed")
    assert record["meta"]["answer_source"] == "none" and record["meta"]["final_answer"] == ""
    assert summarize(record, 1)["answer"] == ""
