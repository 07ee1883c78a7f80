"""The quality-flag rules on hand-written records: the edges the batch cases do not reach
(a repaired call, choice answers, long answers, images without a region, thresholds)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from PIL import Image

from r1v4._util.images import ImageStats
from r1v4.evals.flagging import FlagRun, flag_record
from r1v4.evals.flags import FlagSettings, answer_in_think, record_flags


def record(full: str, **fields) -> dict:
    return {
        "id": "x",
        "image": "in.png",
        "question": "q",
        "response": {"full_response": full},
        "meta": {"stop_reason": "answer"},
        **fields,
    }


def obs(images: list[str], regions: list | None = None) -> str:
    body = {"type": "code", "result": "", "images": images}
    if regions is not None:
        body["regions"] = regions
    return "<observation>" + json.dumps(body) + "</observation>"


def names(rec: dict, stats=None, settings=None) -> set[str]:
    return {f["flag"] for f in record_flags(rec, stats, settings)}


CALL = '<tool_call>{"name": "code", "arguments": {"code": "x"}}</tool_call>'


def test_a_call_that_needed_repair_is_a_format_flag() -> None:
    repaired = "<think>a</think><tool_call>{'name': 'code', 'arguments': {'code': 'x'}}</tool_call>"
    rec = record(repaired + obs([]) + "<think>4</think><answer>4</answer>")
    flags = record_flags(rec)
    assert [f["flag"] for f in flags] == ["format"]
    assert "not valid JSON (it needed repair)" in flags[0]["reason"]


def test_choice_answers_are_found_in_the_think_by_letter_or_text() -> None:
    options = ["Red", "Blue", "Green"]
    assert answer_in_think("B", "So the answer is (B).", options)
    assert answer_in_think("B", "The sky here is blue.", options)  # the option's text
    assert not answer_in_think("B", "Both A and C look plausible; Cats agree.", options)
    assert answer_in_think(
        "The tower was built in 1889 by Eiffel's company",
        "Records say the tower was built in 1889 by the company of Eiffel.",
        None,
    )
    assert not answer_in_think("47", "The sign shows 4.", None)


def test_an_image_without_a_region_is_tiny_by_its_pixels_and_blank_by_its_spread() -> None:
    rec = record("<think>a</think>" + CALL + obs(["a.png"]) + "<think>4</think><answer>4</answer>")
    stats = {"a.png": ImageStats(width=12, height=40, std=1.0, span=3)}
    assert names(rec, stats) == {"tiny_crop", "blank_crop"}
    looser = FlagSettings(blank_std=0.5, tiny_crop_px=10)
    assert names(rec, stats, looser) == set()


def test_crop_thresholds_are_configurable() -> None:
    region = {"input": 0, "source": "in.png", "source_size": [100, 100], "box": [0, 0, 90, 90],
              "size": [90, 90], "ops": ["crop"]}  # fmt: skip
    rec = record(
        "<think>a</think>" + CALL + obs(["a.png"], [region]) + "<think>4</think><answer>4</answer>"
    )
    assert names(rec) == set()  # 81% of the input: under the 0.9 default
    assert names(rec, settings=FlagSettings(huge_crop_fraction=0.8)) == {"huge_crop"}
    whole = {**region, "box": [0, 0, 100, 100], "ops": ["rotate 90"]}
    rec = record(
        "<think>a</think>" + CALL + obs(["a.png"], [whole]) + "<think>4</think><answer>4</answer>"
    )
    assert names(rec) == set()  # a rotation of the whole image is not a crop


def test_no_answer_is_not_also_a_wrong_answer() -> None:
    rec = record(
        "<think>hmm</think>",
        answer="4",
        score={"value": 0.0, "correct": False, "extracted": "", "scorer": "exact"},
        meta={"stop_reason": "no_tool_call"},
    )
    assert names(rec) == {"format", "no_answer"}


def test_a_failed_case_has_no_answer() -> None:
    rec = record("<think>a</think>", meta={"stop_reason": "error"})
    rec["response"]["error"] = "HTTP 500"
    flags = record_flags(rec)
    assert {f["flag"] for f in flags} >= {"no_answer"}
    assert "the case failed" in next(f["reason"] for f in flags if f["flag"] == "no_answer")


class _RefusingExecutor(concurrent.futures.ThreadPoolExecutor):
    """MOCKED default executor: any work handed to a thread fails the test."""

    def submit(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        raise AssertionError("a worker thread was asked for")


def _flags_without_threads(rec: dict, run: FlagRun) -> set[str]:
    async def go() -> set[str]:
        asyncio.get_running_loop().set_default_executor(_RefusingExecutor())
        return {f["flag"] for f in await flag_record(rec, run)}

    return asyncio.run(go())


def test_a_record_that_returned_no_image_is_flagged_without_a_thread(tmp_path) -> None:
    """Most records return no image: their flags need no file read, so no worker thread."""
    rec = record("<think>the sign says 4</think><answer>5</answer>", answer="4")
    rec["score"] = {"correct": False, "extracted": "5", "scorer": "exact"}
    run = FlagRun(base_dir=tmp_path)
    assert _flags_without_threads(rec, run) == {"wrong_answer", "answer_not_in_think"}


def test_a_returned_image_is_still_read_for_its_pixel_flags(tmp_path) -> None:
    assets = tmp_path / "out.assets" / "x"
    assets.mkdir(parents=True)
    Image.new("RGB", (12, 40), (128, 128, 128)).save(assets / "crop.png")
    ref = "out.assets/x/crop.png"
    rec = record("<think>a</think>" + CALL + obs([ref]) + "<think>4</think><answer>4</answer>")
    flags = asyncio.run(flag_record(rec, FlagRun(base_dir=tmp_path)))
    assert {f["flag"] for f in flags} == {"tiny_crop", "blank_crop"}
    with pytest.raises(AssertionError, match="worker thread"):
        _flags_without_threads(rec, FlagRun(base_dir=tmp_path))
