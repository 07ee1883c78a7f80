"""One case page: question, inputs, rounds, final answer and score, plan, meta, raw JSON, nav.

Separate so the list page does not carry the observation and tool-call parsing; it only
needs the list's filters to work out prev/next. A round's own parts (think, tool call,
observation) are built by `display.rounds`; this module finds each part's images and puts
the page together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from r1v4.parsing import FinalAnswer, ToolUse, read_final_answer, record_tool_use
from r1v4.protocol.records import is_failed
from r1v4.viewer.display.badges import match_mark, status_badge, tool_error_badge
from r1v4.viewer.display.listing import ListParams, filter_entries
from r1v4.viewer.display.regions import image_info, input_overlays
from r1v4.viewer.display.rounds import observation_display, think_display, tool_display
from r1v4.viewer.display.text import (
    cut,
    fmt_seconds,
    placeholder_parts,
    pretty_json,
    shorten_data_urls,
)
from r1v4.viewer.display.urls import Urls
from r1v4.viewer.images import (
    ImageRef,
    ImageSources,
    input_refs,
    precheck,
    round_refs,
    sources_for_record,
)

#: Longest raw record JSON shown on the case page (the raw.json route serves all of it).
MAX_RAW = 400_000


def meta_rows(record: dict) -> list[dict[str, str]]:
    """The record's meta as label/value rows (model, endpoint, timings, tokens, attempts)."""
    meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
    usage = meta.get("usage") if isinstance(meta.get("usage"), dict) else {}
    rows = [
        ("Mode", meta.get("mode")),
        ("Model", meta.get("model")),
        ("Endpoint", meta.get("endpoint")),
        ("Latency", fmt_seconds(meta.get("latency_s"))),
        ("Time to first token", fmt_seconds(meta.get("ttft_s"))),
        (
            "Time per output token",
            f"{meta['tpot_s'] * 1000:.1f} ms"
            if isinstance(meta.get("tpot_s"), int | float)
            else None,
        ),
        ("Rounds", meta.get("rounds")),
        (
            "Tool calls",
            ", ".join(f"{k} × {v}" for k, v in meta["tool_calls"].items())
            if isinstance(meta.get("tool_calls"), dict)
            else None,
        ),
        ("Prompt tokens", usage.get("prompt_tokens")),
        ("Completion tokens", usage.get("completion_tokens")),
        ("Attempts", meta.get("attempts")),
        ("Stop reason", meta.get("stop_reason")),
        ("Finished at", meta.get("finished_at")),
        ("Category", record.get("category")),
    ]
    return [{"label": k, "value": str(v)} for k, v in rows if v not in (None, "", {})]


def plan_display(record: dict) -> dict[str, Any] | None:
    """Planner steps as a numbered list with tool badges and marked placeholders."""
    plan = record.get("plan")
    errors = record.get("plan_errors") if isinstance(record.get("plan_errors"), list) else []
    if not plan and not errors:
        return None
    steps = []
    for i, step in enumerate(plan if isinstance(plan, list) else [], 1):
        if not isinstance(step, dict):
            steps.append(
                {"num": i, "parts": placeholder_parts(str(step)), "tool": None, "params": []}
            )
            continue
        params = step.get("parameters") if isinstance(step.get("parameters"), dict) else {}
        steps.append(
            {
                "num": i,
                "parts": placeholder_parts(str(step.get("description") or "")),
                "tool": step.get("tool_name") or step.get("tool"),
                "params": [
                    {
                        "key": k,
                        "parts": placeholder_parts(
                            v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                        ),
                    }
                    for k, v in params.items()
                ],
            }
        )
    return {"steps": steps, "errors": [str(e) for e in errors]}


class CaseImages:
    """The images of one case as the page shows them, looked up by where the record names
    them (kind, round, reference): a URL when the image route would serve the image, else
    the problem (missing, refused, not an image), and a caption.

    With `check`, each image's first bytes are read (`images.precheck`) against `sources`,
    so the page shows as refused exactly what the image route would refuse.
    """

    def __init__(
        self, opened: Any, case: Any, urls: Urls, sources: ImageSources, check: bool
    ) -> None:
        self.opened, self.case, self.urls = opened, case, urls
        self.sources, self.check = sources, check
        self.by_ref: dict[tuple, list[int]] = {}
        for k, img in enumerate(case.images):
            self.by_ref.setdefault((img.kind, img.round_num, img.ref), []).append(k)

    def items(
        self, kind: str, round_num: int | None, refs: list[str], info: dict | None = None
    ) -> list[dict]:
        """One item per reference the case holds (the first image of that reference);
        `info` is what `regions.image_info` says about each reference of a round."""
        items = []
        for ref in refs:
            ks = self.by_ref.get((kind, round_num, ref)) or []
            if ks:
                items.append(self.item(ks[0], kind, round_num, ref, (info or {}).get(ref, {})))
        return items

    def item(self, k: int, kind: str, round_num: int | None, ref: str, about: dict) -> dict:
        """Image `k` of the case, named by `about` (or by its reference)."""
        problem = precheck(ref, kind, self.sources) if self.check else None
        label = about.get("name") or ImageRef(kind, round_num, ref).label
        where = f"round {round_num} · " if round_num is not None else ""
        return {
            "url": None if problem else self.urls.image(self.opened.fid, self.case.n, k),
            "problem": problem,
            "label": label,
            "caption": where + label,
            "ref": ref if not ref.startswith("data:") else "embedded image",
            "region_note": about.get("region_note", ""),
            "dom_id": about.get("dom_id", ""),
        }


def _dict_field(record: dict, key: str) -> dict:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _inputs(record: dict, parsed: dict, images: CaseImages) -> list[dict]:
    """The input images, each with the boxes of the crops the model took from it."""
    inputs = images.items("input", None, input_refs(record))
    overlays = input_overlays(parsed, len(input_refs(record)))
    for i, item in enumerate(inputs):
        item["overlay"] = overlays.get(i)
    return inputs


def _rounds(record: dict, parsed: dict, images: CaseImages) -> list[dict[str, Any]]:
    """Each round: its think, tool call and observation, with the images it returned."""
    n_inputs = len(input_refs(record))
    rounds = []
    for rnd in parsed.get("rounds", []):
        num = rnd.get("round_num")
        shown = images.items("round", num, round_refs(rnd), image_info(rnd, n_inputs))
        rounds.append(
            {
                "num": num,
                "think": think_display(rnd.get("think")),
                "incomplete": bool(rnd.get("incomplete")),
                "tool": tool_display(rnd),
                "observation": observation_display(rnd, shown),
            }
        )
    return rounds


def _final_answer(record: dict) -> FinalAnswer:
    """The answer as scoring reads it (a failed case's free text is no answer)."""
    full = _dict_field(record, "response").get("full_response")
    stop = "error" if is_failed(record) else _dict_field(record, "meta").get("stop_reason")
    return read_final_answer(
        full if isinstance(full, str) else None, stop if isinstance(stop, str) else None
    )


def _final(case: Any, found: FinalAnswer, images: CaseImages) -> dict[str, Any]:
    """The last turn: its think, the answer (or why there is none) and its images."""
    final = case.parsed.get("final_round") or {}
    return {
        "think": think_display(final.get("think")) if final.get("think") else None,
        "answer": found.text,
        "free_text": found.source == "free_text",
        "why_none": found.reason,
        "images": images.items("final", None, [i.ref for i in case.images if i.kind == "final"]),
    }


def _tools_failed(used: ToolUse) -> dict[str, Any]:
    return {
        "all": used.all_failed,
        "errors": used.n_errors,
        "calls": used.n_calls,
        "by_tool": ", ".join(f"{k} × {v}" for k, v in sorted(used.errors.items())),
    }


def _options(record: dict) -> list[str]:
    """Multiple-choice options, as a list or as `letter. text` from a mapping."""
    options = record.get("options")
    if isinstance(options, list):
        return [str(o) for o in options]
    return [f"{k}. {v}" for k, v in options.items()] if isinstance(options, dict) else []


def _flags(record: dict) -> list[dict[str, str]] | None:
    """Quality flags with their reasons (None when the record was never flagged)."""
    if not isinstance(record.get("flags"), list):
        return None
    return [
        {"label": f["flag"], "title": str(f.get("reason") or "")[:600]}
        for f in record["flags"]
        if isinstance(f, dict) and isinstance(f.get("flag"), str)
    ]


def _too_large(entry: dict, raw_url: str | None) -> dict[str, Any] | None:
    if entry.get("status") != "too_large":
        return None
    return {"size": f"{(entry.get('length') or 0) / 2**20:.1f} MiB", "url": raw_url}


def case_context(
    opened: Any,
    case: Any,
    urls: Urls,
    nav: dict[str, Any] | None = None,
    *,
    cwd: Any = None,
    check_images: bool = True,
    sources: ImageSources | None = None,
) -> dict[str, Any]:
    """Everything one case page shows, in page order.

    With `check_images`, each image's first bytes are read so a reference that is missing,
    refused or not an image is shown as such rather than as a broken picture. `sources`
    says where the case's images may come from (default: those of a finished record, see
    `images.sources_for_record`), so the page shows as refused exactly what the image route
    would refuse.
    """
    cwd = cwd if cwd is not None else opened.folder
    record = case.record if isinstance(case.record, dict) else {}
    if sources is None:
        sources = sources_for_record(record, Path(opened.path), Path(cwd))
    images = CaseImages(opened, case, urls, sources, check_images)
    entry, parsed = case.entry, case.parsed
    found = _final_answer(record)
    used = record_tool_use(record, parsed if parsed.get("rounds") is not None else None)
    error = entry.get("error") if entry.get("status") != "ok" else None
    raw_text, raw_more = cut(pretty_json(shorten_data_urls(case.record)), MAX_RAW)
    failures = {"tool_errors": used.n_errors, "all_tools_failed": used.all_failed}
    score = record.get("score")
    return {
        "file": {"fid": opened.fid, "label": opened.label},
        "n": case.n,
        "id": str(entry.get("id")),
        "line": entry.get("line"),
        "status": status_badge(entry),
        "tool_badge": tool_error_badge({**failures, "answer": found.text}),
        "tools_failed": _tools_failed(used),
        "error": error,
        "partial": bool(error) and bool(_dict_field(record, "response").get("full_response")),
        "question": str(record.get("question") or ""),
        "options": _options(record),
        "inputs": _inputs(record, parsed, images),
        "flags": _flags(record),
        "rounds": _rounds(record, parsed, images),
        "final": _final(case, found, images),
        "truth": entry.get("truth"),
        "mark": match_mark(entry),
        "extracted": (score or {}).get("extracted") if isinstance(score, dict) else None,
        "plan": plan_display(record),
        "meta": meta_rows(record),
        "raw": {"text": raw_text, "more": raw_more, "url": urls.raw(opened.fid, case.n)},
        "nav": nav or {},
        "parse_error": entry.get("parse_error"),
        "too_large": _too_large(entry, urls.raw(opened.fid, case.n)),
    }


def case_nav(opened: Any, n: int, params: ListParams, urls: Urls) -> dict[str, Any]:
    """Previous/next case within the list the user came from (same filters and order)."""
    chosen = filter_entries(opened.index.entries, params)
    order = [e["n"] for e in chosen]
    fq = params.filter_query()
    try:
        pos = order.index(n)
    except ValueError:  # not in the filtered list: fall back to file order
        order = [e["n"] for e in opened.index.entries]
        pos = order.index(n) if n in order else 0
        fq = {}
    prev_n = order[pos - 1] if pos > 0 else None
    next_n = order[pos + 1] if pos + 1 < len(order) else None
    page = pos // params.size + 1
    return {
        "pos": pos + 1,
        "count": len(order),
        "prev": urls.case(opened.fid, prev_n, fq) if prev_n is not None else None,
        "next": urls.case(opened.fid, next_n, fq) if next_n is not None else None,
        "list": urls.list(opened.fid, {**fq, **({"page": page} if page > 1 else {})}),
    }
