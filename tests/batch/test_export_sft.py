"""`export-sft` round trip over a real run of the flag cases: the written files load under
each trainer's documented rules (field names, roles, alternation, one image per
placeholder, images that exist and decode), the conversation is what the model saw, one
trajectory per case, and the kept and dropped counts are what the records' flags say."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from r1v4.cli.export_sft import main as export
from tests.helpers import read_jsonl, write_jsonl
from tests.helpers.insight_runs import make_runs
from tests.helpers.sft_schema import check_dataset_info, check_ms_swift_row, check_sharegpt_row

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("sft")
    a, _ = make_runs(root)
    records = read_jsonl(a)
    return {"root": root, "a": a, "records": records}


def expected_kept(records: list[dict]) -> set[str]:
    """From the records themselves: scored correct and no flag."""
    return {r["id"] for r in records if r.get("score", {}).get("correct") and not r["flags"]}


def request_text(message: dict) -> str:
    """A request message's content as a trainer reads it: `<image>` for each image part."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] if p["type"] == "text" else "<image>" for p in content)


def test_ms_swift_rows_load_and_are_the_kept_cases(run: dict, capsys) -> None:
    out = run["root"] / "swift"
    assert export([str(run["a"]), str(out), "--format", "ms-swift"]) == 0
    rows = read_jsonl(out / "train.jsonl")
    for row in rows:
        assert check_ms_swift_row(row) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kept"] == len(rows) == len(expected_kept(run["records"])) == 1
    (row,) = rows
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert row["messages"][0]["content"].startswith("Answer the user’s question")  # Table 1
    assert row["messages"][3]["content"] == (
        "<observation> left.png\n<sub-image 1><image> </observation>"
    )
    assert row["messages"][4]["content"].endswith("<answer>4</answer>")
    assert [Path(p).name for p in row["images"]] == ["1.png", "2.png"]
    assert "kept 1 of 11" in capsys.readouterr().out


def test_the_exported_conversation_is_what_the_model_was_sent(run: dict) -> None:
    """Every exported turn but the last answer is, to the character and the image, the
    messages of the last request the simulated model received for that case."""
    out = run["root"] / "swift-all"
    assert export([str(run["a"]), str(out), "--format", "ms-swift", "--keep", "all"]) == 0
    sent = json.loads(Path(f"{run['a']}.requests.json").read_text())
    last: dict[str, dict] = {}
    for body in sent:  # each case's question names it: "what number? (<id>)"
        first_user = next(m for m in body["messages"] if m["role"] == "user")
        case = request_text(first_user).rsplit("(", 1)[1].rstrip(")")
        last[case] = body
    checked = 0
    for row in read_jsonl(out / "train.jsonl"):
        case = row["messages"][1]["content"].rsplit("(", 1)[1].rstrip(")")
        got = [(m["role"], m["content"]) for m in row["messages"][:-1]]
        want = [(m["role"], request_text(m)) for m in last[case]["messages"]]
        assert got == want, case
        checked += 1
    assert checked == 11


def test_the_manifest_counts_kept_and_dropped_per_flag(run: dict) -> None:
    out = run["root"] / "swift-counts"
    assert export([str(run["a"]), str(out), "--format", "ms-swift"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    records = run["records"]
    per_flag = Counter(name for r in records for name in {f["flag"] for f in r["flags"]})
    assert {k: v.get("dropped", 0) for k, v in manifest["by_flag"].items()} == dict(per_flag)
    assert all("kept" not in v for v in manifest["by_flag"].values())  # no-flags keeps none
    assert manifest["records"] == len(records)
    assert manifest["kept"] + manifest["dropped"] == len(records)
    flagged = sum(1 for r in records if r["flags"])
    wrong_unflagged = sum(1 for r in records if not r["flags"] and not r["score"]["correct"])
    assert manifest["dropped"] == flagged + wrong_unflagged


@pytest.mark.parametrize("fmt", ["llamafactory", "sharegpt"])
def test_sharegpt_rows_load_with_every_image(run: dict, fmt: str) -> None:
    out = run["root"] / fmt
    assert export([str(run["a"]), str(out), "--format", fmt, "--keep", "answered"]) == 0
    rows = json.loads((out / "train.json").read_text())
    for row in rows:
        assert check_sharegpt_row(row, out, generic=fmt == "sharegpt") == []
    if fmt == "llamafactory":
        assert check_dataset_info(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    answered = [r for r in run["records"] if r["id"] != "no_answer"]
    assert manifest["kept"] == len(rows) == len(answered)
    assert manifest["dropped_by_reason"] == {"no answer": 1}
    assert sum(len(r["images"]) for r in rows) == manifest["images"]
    # one input image per row, then one per returned image
    recrop = next(r for r in rows if "(recrop)" in r["conversations"][0]["value"])
    assert len(recrop["images"]) == 3 and recrop["images"][0].endswith("1.png")


def test_one_trajectory_per_case_and_literal_image_tags_are_rewritten(
    run: dict, tmp_path: Path
) -> None:
    """A retried case (two successful records) exports once, its last record; a literal
    `<image>` in the model's text would steal an image from the count: it is rewritten."""
    records = [r for r in run["records"] if r["id"] == "clean"]
    first = json.loads(json.dumps(records[0]))
    later = json.loads(json.dumps(records[0]))
    later["response"]["full_response"] = later["response"]["full_response"].replace(
        "<think>The crop shows", "<think>Like the paper's <image> token, the crop shows"
    )
    folder = run["root"]
    path = write_jsonl(folder / "twice.jsonl", [first, later, "{broken"])
    out = tmp_path / "twice"
    assert export([str(path), str(out), "--format", "ms-swift"]) == 1  # one broken line
    rows = read_jsonl(out / "train.jsonl")
    assert len(rows) == 1 and check_ms_swift_row(rows[0]) == []
    assert "[image] token" in rows[0]["messages"][-1]["content"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image_placeholders_rewritten"] == 1
    assert manifest["dropped_by_reason"] == {"duplicate of a later record of the case": 1}
    assert manifest["broken_lines"] == [3]


def test_bad_options_write_nothing(run: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "nothing"
    assert export([str(run["a"]), str(out), "--format", "ms-swift", "--keep", "best"]) == 2
    assert "unknown --keep rule(s) best" in capsys.readouterr().err
    assert not out.exists()
    assert export([str(tmp_path / "missing.jsonl"), str(out), "--format", "sharegpt"]) == 2
