"""The trainers' dataset formats (research notes: docs/DESIGN.md, "Export for fine-tuning"):

- `ms-swift`: JSON lines `{"messages": [{"role", "content"}…], "images": [...]}` — the
  standard messages format with `<image>` placeholders, consumed in order across all
  messages (`modelscope/ms-swift` docs, Custom-dataset.md "Multimodal"); images as absolute
  paths, as its docs recommend. ms-swift does not check that the placeholders and the images
  agree (it prepends or warns), so `check_row` does, before a row is written.
- `llamafactory`: one JSON array of `{"conversations": [{"from": "human"|"gpt", "value"}…],
  "system", "images"}` (its sharegpt format, `data/README.md`), and a `dataset_info.json`
  entry naming the columns; image paths relative to the dataset folder (its `media_dir`).
  Observations go back as `human` turns holding the text the model read, not as
  `observation` turns (the template would wrap them in a tool-response marker the model
  never saw).
- `sharegpt`: the same rows with an `id` (FastChat/LLaVA-style readers take the human/gpt
  subset).

Every format keeps the model's turns verbatim (think, tool call, answer), so a model is
trained on what it produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1v4.batch.sft.conversation import IMAGE, Conversation

__all__ = ["FORMATS", "check_row", "dataset_info", "to_row"]

FORMATS = ("ms-swift", "llamafactory", "sharegpt")
_SHAREGPT_ROLES = {"user": "human", "assistant": "gpt"}


def to_row(conv: Conversation, images: list[str], fmt: str, case_id: str) -> dict[str, Any]:
    """One dataset row; `images` are the written image paths, in placeholder order."""
    if fmt == "ms-swift":
        messages = [{"role": t.role, "content": t.text} for t in conv.turns]
        return {"messages": messages, "images": images}
    system = next((t.text for t in conv.turns if t.role == "system"), "")
    turns = [
        {"from": _SHAREGPT_ROLES[t.role], "value": t.text} for t in conv.turns if t.role != "system"
    ]
    row: dict[str, Any] = {"conversations": turns}
    if system:
        row["system"] = system
    row["images"] = images
    if fmt == "sharegpt":
        row = {"id": case_id, **row}
    return row


def check_row(row: dict[str, Any], fmt: str) -> str | None:
    """Why a row would not load (or would load wrongly) in its trainer, or None: roles and
    their order, a last turn by the model, and exactly one image per placeholder."""
    if fmt == "ms-swift":
        texts = [m["content"] for m in row["messages"]]
        roles = [m["role"] for m in row["messages"]]
        if "system" in roles[1:]:
            return "a system message that is not the first"
        body = [r for r in roles if r != "system"]
        if not body or body[0] != "user" or body[-1] != "assistant":
            return "the conversation must start with the user and end with the model"
    else:
        texts = [t["value"] for t in row["conversations"]]
        roles = [t["from"] for t in row["conversations"]]
        if any(r != ("human", "gpt")[i % 2] for i, r in enumerate(roles)) or len(roles) % 2:
            return "turns must alternate human, gpt, … and end with gpt"
        if IMAGE in str(row.get("system", "")):
            return "an image placeholder in the system prompt"
    placeholders = sum(t.count(IMAGE) for t in texts)
    if placeholders != len(row["images"]):
        return f"{placeholders} image placeholders for {len(row['images'])} images"
    return None


def dataset_info(name: str, file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's `dataset_info.json` entry for the written file."""
    return {
        name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "images": "images"},
        }
    }


def image_path(path: Path, out: Path, fmt: str) -> str:
    """How a row names a written image: absolute for ms-swift, else relative to `out`."""
    return str(path.resolve()) if fmt == "ms-swift" else path.relative_to(out).as_posix()
