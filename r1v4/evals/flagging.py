"""Flagging a record: the pure rules of `r1v4.evals.flags`, fed with the pixels of the
record's returned images, plus the consistency judge when one is configured. Used as each
case finishes (the batch runner), by `python -m r1v4 flags` on old files, and by `report`
for records that were never flagged.

A trajectory's images are read only from where the viewer would serve them (a data URL, or
a file whose real path lies under the result file's folder, in a `*.assets` folder), bounded
in bytes; a record naming any other path (a model can write its own observation) gets no
pixel checks for that image, never a read of it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.files import read_bounded
from r1v4._util.images import ImageStats, image_stats, sniff_raster
from r1v4.evals.consistency import ConsistencyJudge
from r1v4.evals.flags import (
    FLAGS,
    FlagSettings,
    answer_in_think,
    flag,
    last_think,
    observation_images,
    record_flags,
)
from r1v4.evals.scoring import answer_text
from r1v4.parsing import ResponseParse
from r1v4.protocol import dataurl
from r1v4.protocol.records import is_failed

__all__ = [
    "FlagRun",
    "flag_record",
    "load_trajectory_image",
    "motivating_sentence",
    "reads_images",
]

MAX_IMAGE_BYTES = 64 << 20
MAX_JUDGED_IMAGES = 8  # crops per record shown to the consistency judge
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_INTENT = re.compile(
    r"\b(crop|zoom|focus|look|examine|inspect|enlarge|closer|region|area|corner|part|section"
    r"|detail|cut|isolate|magnif)\w*",
    re.I,
)


@dataclass
class FlagRun:
    """What flagging a set of records needs: thresholds, the result file's folder, the judge."""

    settings: FlagSettings = field(default_factory=FlagSettings)
    base_dir: Path = Path(".")
    judge: ConsistencyJudge | None = None
    notes: list[str] = field(default_factory=list)  # judge errors, for the summary


def load_trajectory_image(ref: str, base_dir: Path) -> bytes | None:
    """The bytes of a trajectory image, or None when it is not one the toolkit wrote (see the
    module docstring) or cannot be read."""
    if ref.startswith("data:"):
        try:
            return dataurl.decode_data_url(ref)
        except (dataurl.DataURLError, ValueError):
            return None
    try:
        base = base_dir.resolve()
        path = (base / ref).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    inside = base in path.parents and any(
        p.name.endswith(".assets") for p in path.relative_to(base).parents
    )
    if not inside:
        return None
    try:
        return read_bounded(path, MAX_IMAGE_BYTES)
    except (OSError, ValueError):
        return None


def _returned_refs(record: dict[str, Any], parse: ResponseParse) -> list[str]:
    """References of the images the record's observations returned (no file is read)."""
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    full = response.get("full_response")
    if not isinstance(full, str) or "<observation" not in full:  # no observation, no image
        return []
    return [im["ref"] for im in observation_images(parse.rounds(full), 0)]


def reads_images(record: dict[str, Any], parse: ResponseParse) -> bool:
    """Whether `flag_record` reads image files for this record (in a worker thread): its
    observations returned images. A record without an observation returned none."""
    return bool(_returned_refs(record, parse))


def _stats(refs: list[str], base_dir: Path) -> dict[str, ImageStats]:
    """Pixel statistics of returned images (in a thread: it reads files)."""
    out: dict[str, ImageStats] = {}
    for ref in refs:
        data = load_trajectory_image(ref, base_dir)
        st = image_stats(data) if data is not None else None
        if st is not None:
            out[ref] = st
    return out


def motivating_sentence(think: str) -> str:
    """The sentence of a think that asked for an image: the last one that speaks of cropping,
    zooming or looking at a part, else the last sentence (at most 600 characters)."""
    sentences = [s.strip() for s in _SENTENCE.split(think or "") if s.strip()]
    if not sentences:
        return ""
    chosen = next((s for s in reversed(sentences) if _INTENT.search(s)), sentences[-1])
    return chosen if len(chosen) <= 600 else chosen[:597] + "…"


async def _crop_mismatch(record: dict[str, Any], run: FlagRun, parse: ResponseParse) -> str | None:
    """Ask the judge about each crop (code or zoom output) against the think of its round."""
    assert run.judge is not None
    full = record["response"].get("full_response") or ""
    parsed = parse.rounds(full)
    thinks = {r.get("round_num"): str(r.get("think") or "") for r in parsed.get("rounds", [])}
    question = str(record.get("question") or "")
    judged = 0
    for im in observation_images(parsed, 0):
        region = im["region"]
        if region is not None and not region.cropped:
            continue  # a whole-image operation (contrast, rotation) is not a crop
        sentence = motivating_sentence(thinks.get(im["round"], ""))
        data = await asyncio.to_thread(load_trajectory_image, im["ref"], run.base_dir)
        fmt = sniff_raster(data[:16]) if data else None
        if not sentence or data is None or fmt is None or judged >= MAX_JUDGED_IMAGES:
            continue
        judged += 1
        mime = "image/jpeg" if fmt == "JPEG" else f"image/{fmt.lower()}"
        verdict = await run.judge.crop(data, mime, sentence, question)
        if verdict.error:
            run.notes.append(f"{record.get('id')}: round {im['round']}: {verdict.error}")
        elif verdict.consistent is False:
            why = verdict.reasoning.strip().splitlines()[0][:200] if verdict.reasoning else ""
            return (
                f"round {im['round']} ({im['name']}) does not show what its think asked for "
                f"({sentence[:120]!r})" + (f": {why}" if why else "")
            )
    return None


async def _answer_think(record: dict[str, Any], run: FlagRun, parse: ResponseParse) -> bool | None:
    """The judge's view of answer_not_in_think (True: flag it), or None when it gave none."""
    assert run.judge is not None
    full = record["response"].get("full_response") or ""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    stop = meta.get("stop_reason") if isinstance(meta.get("stop_reason"), str) else None
    found = parse.final_answer(full, stop)
    think = last_think(parse.rounds(full))
    if not found.answered or not think.strip():
        return None
    answer = answer_text(found)
    if answer_in_think(answer, think, record.get("options")):
        return None  # the cheap rule is satisfied: no need to ask
    verdict = await run.judge.answer(str(record.get("question") or ""), think, answer)
    if verdict.error:
        run.notes.append(f"{record.get('id')}: final answer: {verdict.error}")
        return None
    return verdict.consistent is False


async def flag_record(
    record: dict[str, Any], run: FlagRun, parse: ResponseParse | None = None
) -> list[dict[str, str]]:
    """The flags of one record, in `FLAGS` order: the rules on its trajectory and pixels,
    then, with a judge, `crop_mismatch` and the judge's word on `answer_not_in_think`.
    `parse`: the caller's scan of the record's response, reused."""
    parse = parse or ResponseParse()
    refs = _returned_refs(record, parse)  # most records returned none: no thread hop for them
    stats = await asyncio.to_thread(_stats, refs, run.base_dir) if refs else {}
    flags = record_flags(record, stats, run.settings, parse)
    if run.judge is None or is_failed(record):
        return flags
    by_name = {f["flag"]: f for f in flags}
    judged = await _answer_think(record, run, parse)
    if judged is False:
        by_name.pop("answer_not_in_think", None)  # the judge says the answer does follow
    elif judged is True and "answer_not_in_think" in by_name:
        by_name["answer_not_in_think"]["reason"] += " (the consistency judge agrees)"
    mismatch = await _crop_mismatch(record, run, parse)
    if mismatch:
        by_name["crop_mismatch"] = flag("crop_mismatch", mismatch)
    return [by_name[name] for name in FLAGS if name in by_name]
