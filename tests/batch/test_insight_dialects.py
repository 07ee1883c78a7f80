"""Insight across the dialects, on the demo each family plays against its simulated model
(`run --demo --dialect NAME`): zoom and grounding crops record their region on the input
image, the format flag holds each family to its own answer form, and export-sft renders the
trajectory as that family's conversation, loadable under LLaMA-Factory's rules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from r1v4.cli.export_sft import main as export
from r1v4.cli.run import main as run
from tests.helpers import read_jsonl
from tests.helpers.sft_schema import check_sharegpt_row

pytestmark = pytest.mark.slow

OBS = re.compile(r"<observation>(.*?)</observation>", re.S)


@pytest.mark.parametrize("dialect", ["qwen3-vl", "deepeyes", "mini-o3"])
def test_zoom_crops_are_traced_flagged_and_exported(workdir: Path, dialect: str) -> None:
    assert run(["--demo", "--dialect", dialect, "--no-progress"]) == 0
    records = {r["id"]: r for r in read_jsonl(workdir / "result_nonstream.jsonl")}
    sign = records["warehouse-sign"]
    assert sign["meta"]["dialect"] == dialect
    regions = [
        region
        for body in OBS.findall(sign["response"]["full_response"])
        for region in json.loads(body).get("regions") or []
        if region
    ]
    assert regions, sign["response"]["full_response"][-2000:]
    first = regions[0]
    # the sign is small and near the bottom right of the 2400 x 1600 demo picture
    w, h = first["source_size"]
    x0, y0, x1, y1 = first["box"]
    assert first["input"] == 0 and first["source"] == "demo_1.png"
    assert x0 > w / 2 and y0 > h / 2 and (x1 - x0) * (y1 - y0) < w * h / 10
    assert first["ops"][0].startswith("crop ")
    # each family is held to its own answer form: no format flag on a clean demo case
    assert "format" not in {f["flag"] for f in sign["flags"]}, sign["flags"]
    out = workdir / "sft"
    argv = ["result_nonstream.jsonl", str(out), "--format", "llamafactory", "--keep", "answered"]
    assert export(argv) == 0
    rows = json.loads((out / "train.json").read_text())
    assert rows and all(check_sharegpt_row(r, out, generic=False) == [] for r in rows)
    row = next(r for r in rows if "blue sign" in r["conversations"][0]["value"])
    assert len(row["images"]) == 1 + len(regions)
    if dialect == "qwen3-vl":
        assert row["conversations"][0]["value"].startswith("(Uploaded ![image](demo_1.png)) ")
        assert row["conversations"][2]["value"] == "<tool_response>\n<image>\n</tool_response>"
        assert "# Tools" in row["system"] and "image_zoom_in_tool" in row["system"]
