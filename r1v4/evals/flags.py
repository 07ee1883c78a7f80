"""Quality flags: what is wrong with a trajectory, as the R1V4 paper filters its training data
(§2.1–2.3: format, answers, sandbox errors, re-cropping, crops the reasoning does not match).

`record_flags(record, stats, settings)` is pure: it reads the record (its trajectory through
`r1v4.parsing`, its score, its regions) and, for the checks that need pixels, the images'
statistics it is given (`r1v4._util.images.ImageStats` by reference). Each flag is
`{"flag": name, "reason": why}`; the record keeps them in `flags` (an empty list: checked,
nothing found; no field: never checked). The runner computes them as each case finishes,
`python -m r1v4 flags` for old files, through `r1v4.evals.flagging`, which also asks the
optional consistency judge (`crop_mismatch`, and a second opinion on
`answer_not_in_think`).

The flags, in order (thresholds are `FlagSettings`, documented in DESIGN.md):

- `format`: no final `<answer>` unit; a round (or the answer) without a think; a tool call
  that could not be read, needed repair, or was cut (the first two as the record's dialect
  expects: `FlagSettings.formats`; Qwen3-VL answers in free text, with thinks optional).
- `tool_error`: a tool call failed (`r1v4.parsing.tooluse`'s definition).
- `recrop`: a crop covers much the same region of the same input image as a crop of an
  earlier round (IoU ≥ `recrop_iou`): the first one missed and was redone.
- `blank_crop`: a returned image is near-uniform (grey-level std < `blank_std`).
- `tiny_crop`: a crop's box is under `tiny_crop_px` on a side in input pixels (under one
  vision patch), or a returned image is.
- `huge_crop`: a crop keeps more than `huge_crop_fraction` of its input image's area.
- `max_rounds`: stopped by `--max-rounds`.
- `no_answer`: no final answer (`read_final_answer`'s reason).
- `wrong_answer`: scored wrong (an unanswered case is `no_answer` only).
- `answer_not_in_think`: the final answer is not what the last think arrived at (cheap rule:
  its words are absent from that think); with a consistency judge, the judge decides.
- `crop_mismatch`: the consistency judge says a crop does not show what the think that asked
  for it meant to look at (only with a judge).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from r1v4._util.images import ImageStats
from r1v4.evals.scoring import answer_text, choice_letter, includes_match, normalize_text
from r1v4.parsing import ResponseParse
from r1v4.parsing.tooluse import round_tool_error
from r1v4.protocol.cases import option_map
from r1v4.protocol.records import is_failed
from r1v4.protocol.regions import iou, regions_from_observation

__all__ = [
    "FLAGS",
    "FlagSettings",
    "FormatRule",
    "flag",
    "flag_names",
    "last_think",
    "observation_images",
    "record_flags",
]

#: Every flag, in the order records list them, with one line saying what it means.
FLAGS: dict[str, str] = {
    "format": "no final <answer>, a round without a think, or a tool call that is unreadable",
    "tool_error": "a tool call failed (sandbox or tool error)",
    "recrop": "a crop redoes an earlier crop of much the same region (re-cropping)",
    "blank_crop": "a returned image is near-uniform",
    "tiny_crop": "a crop (or returned image) is under the size threshold on a side",
    "huge_crop": "a crop keeps nearly all of its input image",
    "max_rounds": "stopped by --max-rounds",
    "no_answer": "no final answer",
    "wrong_answer": "the answer was scored wrong",
    "answer_not_in_think": "the final answer is not what the last think concluded",
    "crop_mismatch": "the consistency judge says a crop does not show what its think meant",
}


@dataclass(frozen=True)
class FormatRule:
    """What `format` expects of a dialect's trajectories: the final answer in an
    `<answer>` unit, and a think in every round and before the answer."""

    answer_tag: bool = True
    think: bool = True


_TOOLKIT_RULE = FormatRule()  # the toolkit's own protocol (frozen: one is shared)


@dataclass(frozen=True)
class FlagSettings:
    """Thresholds of the flags (the batch's `--flag-*` options; DESIGN.md, "Quality flags"),
    and the format each dialect's records are held to (by `meta.dialect`; a dialect not
    named, or a record without one, is held to the toolkit's own protocol)."""

    blank_std: float = 3.0  # grey-level standard deviation (0-255) under which an image is blank
    tiny_crop_px: int = 32  # a crop side under this (input pixels) is tiny: one Qwen3-VL patch
    huge_crop_fraction: float = 0.9  # a crop keeping more of its input's area than this is huge
    recrop_iou: float = 0.5  # two crops of one input in different rounds overlapping this much
    formats: dict[str, FormatRule] = field(default_factory=dict, compare=False)

    def to_record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "formats"}

    def format_of(self, record: dict[str, Any]) -> FormatRule:
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        return self.formats.get(str(meta.get("dialect") or "r1v4"), _TOOLKIT_RULE)


def flag(name: str, reason: str) -> dict[str, str]:
    """One flag as records keep it."""
    return {"flag": name, "reason": reason}


def flag_names(record: dict[str, Any]) -> list[str] | None:
    """The names of a record's stored flags (None: the record was never checked)."""
    flags = record.get("flags")
    if not isinstance(flags, list):
        return None
    return [str(f["flag"]) for f in flags if isinstance(f, dict) and isinstance(f.get("flag"), str)]


def _inputs(record: dict[str, Any]) -> int:
    images = record.get("images")
    if isinstance(images, list) and images:
        return len(images)
    return 1 if isinstance(record.get("image"), str) and record["image"] else 0


def observation_images(parsed: dict[str, Any], n_inputs: int) -> list[dict[str, Any]]:
    """Every image an observation returned, in order: round, reference, the name the model
    saw it under, its checked region (or None)."""
    out = []
    for rnd in parsed.get("rounds", []):
        obs = rnd.get("observation")
        if not isinstance(obs, dict) or not isinstance(obs.get("images"), list):
            continue
        names = obs.get("names") if isinstance(obs.get("names"), list) else []
        regions = regions_from_observation(obs, n_inputs)
        for k, ref in enumerate(obs["images"]):
            if not isinstance(ref, str):
                continue
            name = names[k] if k < len(names) and isinstance(names[k], str) else ""
            out.append(
                {
                    "round": rnd.get("round_num"),
                    "ref": ref,
                    "name": name or ref.rsplit("/", 1)[-1],
                    "region": regions[k] if k < len(regions) else None,
                }
            )
    return out


def last_think(parsed: dict[str, Any]) -> str:
    """The think the final answer follows (the final round's, else the last round's)."""
    final = parsed.get("final_round") or {}
    if str(final.get("think") or "").strip():
        return str(final["think"])
    rounds = parsed.get("rounds") or []
    return str(rounds[-1].get("think") or "") if rounds else ""


# -- the rules -------------------------------------------------------------------------------


def _format(parsed: dict[str, Any], found: Any, rule: FormatRule) -> str | None:
    problems = []
    if rule.answer_tag and found.source != "answer":
        problems.append("it does not end with an <answer>…</answer>")
    for rnd in parsed.get("rounds", []):
        n = rnd.get("round_num")
        if rule.think and not str(rnd.get("think") or "").strip():
            problems.append(f"round {n} has no think")
        if rnd.get("incomplete"):
            problems.append(f"round {n} is cut off")
        elif isinstance(rnd.get("tool_call"), str) or rnd.get("tool_call_parse_error"):
            problems.append(f"the tool call of round {n} cannot be read")
        elif rnd.get("tool_call_repaired"):
            problems.append(f"the tool call of round {n} is not valid JSON (it needed repair)")
    final = parsed.get("final_round") or {}
    if rule.think and found.source == "answer" and not str(final.get("think") or "").strip():
        problems.append("the answer has no think before it")
    return "; ".join(problems[:4]) or None


def _tool_errors(parsed: dict[str, Any]) -> str | None:
    errors = []
    for rnd in parsed.get("rounds", []):
        seen = round_tool_error(rnd)
        if seen is not None and seen[1] is not None:
            first = seen[1].strip().splitlines()[-1] if seen[1].strip() else "failed"
            errors.append(f"round {rnd.get('round_num')}: {seen[0]}: {first[:160]}")
    if not errors:
        return None
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{len(errors)} failed tool call(s); {errors[0]}{more}"


def _crops(images: list[dict[str, Any]], s: FlagSettings) -> dict[str, str]:
    """recrop, tiny_crop and huge_crop from the images' regions."""
    out: dict[str, str] = {}
    crops = [(im, im["region"]) for im in images if im["region"] and im["region"].cropped]
    for i, (later, b) in enumerate(crops):
        for earlier, a in crops[:i]:
            if earlier["round"] == later["round"] or "recrop" in out:
                continue
            overlap = iou(a, b)
            if overlap >= s.recrop_iou:
                out["recrop"] = (
                    f"round {later['round']} ({later['name']}) crops much the same region of "
                    f"{b.source or f'input {b.input + 1}'} as round {earlier['round']} "
                    f"({earlier['name']}): IoU {overlap:.2f} >= {s.recrop_iou:g}"
                )
    for im, region in crops:
        x0, y0, x1, y1 = region.box
        side = min(x1 - x0, y1 - y0)
        if side < s.tiny_crop_px and "tiny_crop" not in out:
            out["tiny_crop"] = (
                f"round {im['round']} ({im['name']}) crops {x1 - x0:.0f}x{y1 - y0:.0f} px of "
                f"its input, under {s.tiny_crop_px} px on a side"
            )
        if region.area_fraction > s.huge_crop_fraction and "huge_crop" not in out:
            out["huge_crop"] = (
                f"round {im['round']} ({im['name']}) keeps {100 * region.area_fraction:.0f}% "
                f"of its input (over {100 * s.huge_crop_fraction:g}%)"
            )
    return out


def _pixels(
    images: list[dict[str, Any]], stats: Mapping[str, ImageStats], s: FlagSettings
) -> dict[str, str]:
    """blank_crop, and tiny_crop for returned images without a region, from pixel stats."""
    out: dict[str, str] = {}
    for im in images:
        st = stats.get(im["ref"])
        if st is None:
            continue
        if st.std < s.blank_std and "blank_crop" not in out:
            out["blank_crop"] = (
                f"round {im['round']} ({im['name']}, {st.width}x{st.height}) is near-uniform: "
                f"grey-level std {st.std:.2f} < {s.blank_std:g}"
            )
        small = min(st.width, st.height) < s.tiny_crop_px
        if small and im["region"] is None and "tiny_crop" not in out:
            out["tiny_crop"] = (
                f"round {im['round']} ({im['name']}) is {st.width}x{st.height} px, under "
                f"{s.tiny_crop_px} px on a side"
            )
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def answer_in_think(answer: str, think: str, options: Any) -> bool:
    """The cheap rule: a choice answer's letter (as a word) or its option's text is in the
    think; a short answer (3 words or fewer) is contained in it on word boundaries; a longer
    one has at least 60% of its words in it."""
    letters = option_map(options)
    if letters:
        letter, _ = choice_letter(answer, letters)
        if letter is None:
            return includes_match(think, answer)
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(letter)}(?![A-Za-z0-9])", think):
            return True
        return includes_match(think, letters[letter])
    words = _WORD.findall(normalize_text(answer))
    if not words:
        return True
    if len(words) <= 3:
        return includes_match(think, answer)
    have = set(_WORD.findall(normalize_text(think)))
    return sum(1 for w in words if w in have) / len(words) >= 0.6


def _answer_think(record: dict[str, Any], parsed: dict[str, Any], found: Any) -> str | None:
    if not found.answered:
        return None
    think = last_think(parsed)
    if not think.strip():
        return None  # no think at all: `format` says so
    answer = answer_text(found)
    if answer_in_think(answer, think, record.get("options")):
        return None
    shown = answer if len(answer) <= 80 else answer[:77] + "…"
    return f"the answer {shown!r} does not appear in the last think"


def _score(record: dict[str, Any], found: Any) -> str | None:
    """wrong_answer: scored wrong. A case with no answer at all is `no_answer` instead."""
    score = record.get("score")
    if not isinstance(score, dict) or score.get("correct") is not False or not found.answered:
        return None
    extracted = str(score.get("extracted") or "")
    truth = record.get("answer")
    truth_text = ", ".join(map(str, truth)) if isinstance(truth, list) else str(truth)
    how = score.get("scorer") or "score"
    return f"scored wrong by {how}: answered {extracted[:80]!r}, ground truth {truth_text[:80]!r}"


def record_flags(
    record: dict[str, Any],
    stats: Mapping[str, ImageStats] | None = None,
    settings: FlagSettings | None = None,
    parse: ResponseParse | None = None,
) -> list[dict[str, str]]:
    """The rule-based flags of one record, in `FLAGS` order (crop_mismatch needs a judge:
    `r1v4.evals.flagging`). `parse`: the caller's scan of the response, reused."""
    s = settings or FlagSettings()
    response = record.get("response") if isinstance(record.get("response"), dict) else {}
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    full = response.get("full_response") if isinstance(response.get("full_response"), str) else ""
    stop = "error" if is_failed(record) else meta.get("stop_reason")
    stop = stop if isinstance(stop, str) else None
    parse = parse or ResponseParse()
    parsed = parse.rounds(full) if full else {"rounds": [], "final_round": {}}
    found = parse.final_answer(full, stop)
    images = observation_images(parsed, _inputs(record))
    found_flags: dict[str, str | None] = {
        "format": _format(parsed, found, s.format_of(record)),
        "tool_error": _tool_errors(parsed),
        "max_rounds": "stopped by --max-rounds before an answer" if stop == "max_rounds" else None,
        "no_answer": found.reason.removeprefix("no answer: ") or "no answer"
        if not found.answered
        else None,
        "wrong_answer": _score(record, found),
        "answer_not_in_think": _answer_think(record, parsed, found),
    }
    if images:  # most records returned none: no image rule can fire
        found_flags.update(_pixels(images, stats or {}, s))
        found_flags.update(_crops(images, s))  # a crop's own tiny_crop reason wins
    return [flag(name, str(found_flags[name])) for name in FLAGS if found_flags.get(name)]
