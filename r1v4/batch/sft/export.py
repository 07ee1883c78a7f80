"""`export-sft`: the kept trajectories of a result file as a fine-tuning dataset, with a
manifest of what was kept and dropped, and why.

A record is kept when it succeeded, is the last successful record of its case id (one
trajectory per case), passes every `--keep` rule (`correct`, `answered`, `no-flags`, or
`no-<flag>`), renders into a conversation that starts with the user and ends with the model,
and all its images can be copied (input images from the result's folder, the input file's
folder or the working folder; trajectory images only from the result's assets, as the
viewer serves them). Records never flagged are flagged here by the rules (no judge).
Images are copied into `OUT/images/<case>/`; the dataset and `manifest.json` go into `OUT`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.images import sniff_extension
from r1v4.agent.dialects.base import PromptInfo
from r1v4.batch.flagrules import with_format_rules
from r1v4.batch.sft.conversation import DIALECTS, Conversation, render
from r1v4.batch.sft.formats import check_row, dataset_info, image_path, to_row
from r1v4.evals.flagging import FlagRun, flag_record, load_trajectory_image
from r1v4.evals.flags import FLAGS, FlagSettings
from r1v4.parsing import read_final_answer
from r1v4.protocol import dataurl
from r1v4.protocol.records import is_failed, iter_records, record_id
from r1v4.protocol.sidecars import case_dir_name

__all__ = ["KEEP_RULES", "ExportCounts", "Rendering", "export_sft", "parse_keep"]

KEEP_RULES = ("all", "correct", "answered", "no-flags", *(f"no-{f}" for f in FLAGS))
MAX_INPUT_BYTES = 256_000_000


@dataclass
class ExportCounts:
    """The manifest's figures."""

    records: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # first reason per dropped case
    by_flag: dict[str, Counter[str]] = field(default_factory=dict)  # flag -> kept/dropped
    flagged_here: int = 0
    images: int = 0
    rewritten: int = 0
    broken_lines: list[int] = field(default_factory=list)


def parse_keep(text: str) -> list[str]:
    """`--keep correct,no-flags` → the rules (ValueError naming an unknown one)."""
    rules = [r.strip() for r in text.split(",") if r.strip()]
    unknown = [r for r in rules if r not in KEEP_RULES]
    if unknown:
        raise ValueError(f"unknown --keep rule(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(KEEP_RULES)}")  # fmt: skip
    return rules or ["all"]


def _why_not(record: dict[str, Any], flags: list[str], rules: list[str]) -> str | None:
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    full = (record.get("response") or {}).get("full_response")
    for rule in rules:
        if rule == "correct" and (record.get("score") or {}).get("correct") is not True:
            return "not scored correct"
        if rule == "answered" and not read_final_answer(full, meta.get("stop_reason")).answered:
            return "no answer"
        if rule == "no-flags" and flags:
            return f"flag:{flags[0]}"
        if rule.startswith("no-") and rule[3:] in flags:
            return f"flag:{rule[3:]}"
    return None


def _input_bytes(ref: str, record: dict[str, Any], base: Path) -> bytes | None:
    """An input image's bytes: a data URL, or a file found as the viewer finds it."""
    if ref.startswith("data:"):
        try:
            return dataurl.decode_data_url(ref)
        except (dataurl.DataURLError, ValueError):
            return None
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    folders = [base]
    if isinstance(meta.get("input_file"), str):
        folders.append(Path(meta["input_file"]).parent)
    folders.append(Path.cwd())
    for folder in folders:
        path = Path(ref) if os.path.isabs(ref) else folder / ref
        try:
            if path.is_file() and path.stat().st_size <= MAX_INPUT_BYTES:
                return path.read_bytes()
        except OSError:
            continue
    return None


def _copy_images(conv: Conversation, record: dict[str, Any], base: Path, out: Path, fmt: str):
    """Write the conversation's images under OUT/images/<case>/; their row paths, or the
    reason one could not be copied."""
    n_inputs = conv.n_inputs
    folder = out / "images" / case_dir_name(record_id(record))
    paths: list[str] = []
    for k, ref in enumerate(conv.images):
        is_input = k < n_inputs
        data = _input_bytes(ref, record, base) if is_input else load_trajectory_image(ref, base)
        ext = sniff_extension(data) if data else "bin"
        if data is None or ext == "bin":
            return None, f"image not found or not an image: {ref[:120]}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{k + 1}.{ext}"
        target.write_bytes(data)
        paths.append(image_path(target, out, fmt))
    return paths, None


async def _flags(record: dict[str, Any], base: Path, counts: ExportCounts) -> list[str]:
    stored = record.get("flags")
    if isinstance(stored, list):
        return [f["flag"] for f in stored if isinstance(f, dict) and isinstance(f.get("flag"), str)]
    counts.flagged_here += 1
    run = FlagRun(settings=with_format_rules(FlagSettings()), base_dir=base)
    return [f["flag"] for f in await flag_record(record, run)]


def _latest(path: Path, counts: ExportCounts) -> dict[str, tuple[int, dict[str, Any]]]:
    """Per case id, its last successful record (else its last record)."""
    best: dict[str, tuple[int, dict[str, Any]]] = {}
    for line, record in iter_records(path):
        if record is None:
            counts.broken_lines.append(line)
            continue
        counts.records += 1
        rid = record_id(record)
        if rid in best and not is_failed(best[rid][1]) and is_failed(record):
            continue
        if rid in best:
            counts.dropped["duplicate of a later record of the case"] += 1
        best[rid] = (line, record)
    return best


def _dialect_of(record: dict[str, Any], dialect: str | None) -> str:
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    return dialect or str(meta.get("dialect") or "r1v4")


async def _export(path: Path, out: Path, fmt: str, rules: list[str], how: Rendering):
    counts = ExportCounts(by_flag={f: Counter() for f in FLAGS})
    base = path.resolve().parent
    rows: list[dict[str, Any]] = []
    for _line, record in sorted(_latest(path, counts).values(), key=lambda x: x[0]):
        if is_failed(record):
            counts.dropped["failed"] += 1
            continue
        flags = await _flags(record, base, counts)
        why = _why_not(record, flags, rules)
        conv = render(record, _dialect_of(record, how.dialect), how.info, how.custom)
        row = None
        if why is None:
            paths, why = _copy_images(conv, record, base, out, fmt)
            if paths is not None:
                row = to_row(conv, paths, fmt, record_id(record))
                why = check_row(row, fmt)
        for name in set(flags):
            counts.by_flag.setdefault(name, Counter())["dropped" if why else "kept"] += 1
        if why:
            counts.dropped[why] += 1
            continue
        rows.append(row)  # type: ignore[arg-type]
        counts.kept += 1
        counts.images += len(row["images"])  # type: ignore[index]
        counts.rewritten += conv.rewritten
    return rows, counts


@dataclass
class Rendering:
    """How records are rendered: one dialect for all (None: each record's own
    `meta.dialect`), the prompt choice and tools the system prompt is written for, and a
    custom system prompt (None: the dialect's own)."""

    dialect: str | None = None
    info: PromptInfo = field(default_factory=PromptInfo)
    custom: str | None = None


def export_sft(
    path: str | Path, out: str | Path, *, fmt: str, keep: list[str], how: Rendering
) -> tuple[ExportCounts, list[str]]:
    """Write the dataset of `path` into the folder `out`; returns the counts and the files
    written. KeyError for an unknown dialect, OSError when `out` cannot be written."""
    if how.dialect is not None and how.dialect not in DIALECTS:
        raise KeyError(how.dialect)
    src, target = Path(path), Path(out)
    target.mkdir(parents=True, exist_ok=True)
    rows, counts = asyncio.run(_export(src, target, fmt, keep, how))
    if fmt == "ms-swift":
        data_file = target / "train.jsonl"
        data_file.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    else:
        data_file = target / "train.json"
        data_file.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    files = [data_file.name]
    if fmt == "llamafactory":
        info = dataset_info("r1v4_trajectories", data_file.name)
        (target / "dataset_info.json").write_text(json.dumps(info, indent=2))
        files.append("dataset_info.json")
    manifest = _manifest(src, fmt, keep, how.dialect or "each record's own", counts, files)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return counts, [*files, "manifest.json"]


def _manifest(src: Path, fmt: str, keep: list[str], dialect: str, counts: ExportCounts,
              files: list[str]) -> dict[str, Any]:  # fmt: skip
    return {
        "source": str(src.resolve()),
        "format": fmt,
        "dialect": dialect,
        "keep": keep,
        "records": counts.records,
        "kept": counts.kept,
        "dropped": sum(counts.dropped.values()),
        "dropped_by_reason": dict(counts.dropped.most_common()),
        "by_flag": {k: dict(v) for k, v in counts.by_flag.items() if v},
        "flagged_here": counts.flagged_here,
        "images": counts.images,
        "image_placeholders_rewritten": counts.rewritten,
        "broken_lines": counts.broken_lines,
        "files": files,
    }
