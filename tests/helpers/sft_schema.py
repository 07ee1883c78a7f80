"""The trainers' own dataset rules, re-implemented from their documentation and loading code
(research notes /work/notes/sft, quoting `modelscope/ms-swift@3602360` Custom-dataset.md,
`swift/template/base.py`; `hiyouga/LLaMA-Factory@ff6d4d1` data/README.md,
`data/converter.py` `SharegptDatasetConverter`, `data/mm_plugin.py` `_validate_messages`;
FastChat's `train.py` for generic ShareGPT). Independent of the exporter, so a test that
loads its files with these rules can fail. The trainers themselves pull in torch and are
not installed here.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

# ms-swift: "accepts keys such as: 'messages', 'rejected_response', 'label', 'images',
# 'videos', 'audios', 'tools', and 'objects'. Among these, 'messages' is a required key."
SWIFT_KEYS = {"messages", "rejected_response", "label", "images", "videos", "audios", "tools",
              "objects"}  # fmt: skip
SWIFT_ROLES = {"system", "user", "assistant", "tool_call", "tool_response", "tool"}
SWIFT_MESSAGE_KEYS = {"role", "content", "loss", "loss_scale"}
IMAGE = "<image>"  # IMAGE_PLACEHOLDER in LLaMA-Factory, the tag in ms-swift


def _image_ok(path: Path) -> str | None:
    if not path.is_file():
        return f"image {path} does not exist"
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a bad image
        return f"image {path}: {exc}"
    return None


def check_ms_swift_row(row: dict) -> list[str]:
    """ms-swift's messages format, multimodal: the rules of Custom-dataset.md, plus the
    placeholder count ms-swift itself does not enforce (it prepends or warns)."""
    errs = [f"unknown top-level key {k!r}" for k in set(row) - SWIFT_KEYS]
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*errs, "'messages' is required and must be a non-empty list"]
    for i, m in enumerate(messages):
        if set(m) - SWIFT_MESSAGE_KEYS:
            errs.append(
                f"messages[{i}] has keys ms-swift drops: {sorted(set(m) - SWIFT_MESSAGE_KEYS)}"
            )
        if m.get("role") not in SWIFT_ROLES:
            errs.append(f"messages[{i}].role {m.get('role')!r}")
        if not isinstance(m.get("content"), str):
            errs.append(f"messages[{i}].content must be a string")
        if m.get("role") == "system" and i:
            errs.append(f"messages[{i}]: system only as the first message")
    if messages[-1].get("role") != "assistant":
        errs.append("the last message must be the assistant's")
    tags = sum(str(m.get("content")).count(IMAGE) for m in messages)
    images = row.get("images") or []
    if tags != len(images):
        errs.append(f"{tags} <image> tags for {len(images)} images")
    for p in images:
        if not Path(p).is_absolute():
            errs.append(f"image path {p} is not absolute (the docs recommend absolute paths)")
        elif problem := _image_ok(Path(p)):
            errs.append(problem)
    return errs


def check_sharegpt_row(row: dict, media_dir: Path, *, generic: bool) -> list[str]:
    """LLaMA-Factory's sharegpt format with its default tags (from/value, human/gpt/
    observation/function_call): the converter's alternation and even count, then
    `_validate_messages`' image count over the messages; generic ShareGPT also wants an id
    and only human/gpt (FastChat)."""
    errs = []
    allowed = {"conversations", "system", "tools", "images"} | ({"id"} if generic else set())
    errs += [f"unknown key {k!r}" for k in set(row) - allowed]
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        return [*errs, "'conversations' must be a non-empty list"]
    odd, even = ("human", "observation"), ("gpt", "function_call")
    for i, t in enumerate(turns):
        if set(t) != {"from", "value"} or not isinstance(t.get("value"), str):
            errs.append(f"turn {i} must be {{from, value}} with a string value")
        if t.get("from") not in (odd, even)[i % 2]:
            errs.append(f"turn {i} from {t.get('from')!r} breaks the alternation")
        if generic and t.get("from") not in ("human", "gpt"):
            errs.append(f"turn {i} from {t.get('from')!r}: FastChat reads human/gpt only")
    if len(turns) % 2:
        errs.append("odd number of turns (the converter skips the example)")
    if IMAGE in str(row.get("system", "")):
        errs.append("<image> in the system prompt is never replaced")
    tags = sum(str(t.get("value")).count(IMAGE) for t in turns)
    images = row.get("images") or []
    if tags != len(images):
        errs.append(f"{tags} <image> tokens for {len(images)} images (ValueError in LLaMA-Factory)")
    for p in images:
        problem = _image_ok(media_dir / p)
        if problem:
            errs.append(problem)
    if generic and not isinstance(row.get("id"), str):
        errs.append("generic ShareGPT rows carry an id")
    return errs


def check_dataset_info(folder: Path) -> list[str]:
    """LLaMA-Factory's dataset_info.json: each entry's file exists, is sharegpt, and names
    columns the rows have."""
    errs = []
    info = json.loads((folder / "dataset_info.json").read_text())
    for name, entry in info.items():
        data = folder / entry.get("file_name", "")
        if not data.is_file():
            errs.append(f"{name}: file_name {entry.get('file_name')!r} does not exist")
            continue
        if entry.get("formatting") != "sharegpt":
            errs.append(f"{name}: formatting must be sharegpt")
        rows = json.loads(data.read_text())
        for column in entry.get("columns", {}).values():
            if rows and not all(column in r or column == "system" for r in rows):
                errs.append(f"{name}: column {column!r} missing from rows")
    return errs
