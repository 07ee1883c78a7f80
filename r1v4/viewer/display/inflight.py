"""Cases still running: the "In flight" rows of the run list and the in-flight case page.

The page reuses the case page's builder (`case_context`) on the snapshot shaped like a
record, then says what differs: a running badge instead of a status, the snapshot's own
meta, a tool call still being written shown as such rather than as a parse failure, and
images checked against the folders a snapshot may name (`images.sources_for_snapshot`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from r1v4.viewer.display.case import case_context
from r1v4.viewer.display.text import cut, pretty_json, shorten_data_urls, snippet
from r1v4.viewer.display.urls import Urls
from r1v4.viewer.images import case_images, sources_for_snapshot
from r1v4.viewer.inflight import Snapshot

#: Longest one-line texts in the in-flight rows.
QUESTION_CHARS = 120
EVENT_CHARS = 140
_UNTERMINATED = "unterminated <tool_call>"


def fmt_ago(seconds: float | None) -> str:
    """A short duration: `4 s`, `2 min 5 s`, `1 h 3 min`; empty when unknown."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


_PARTIAL_NAME = re.compile(r'"name"\s*:\s*"([^"\\]{1,80})"')
_PARTIAL_ARG = re.compile(r'"arguments"\s*:\s*\{\s*"[^"]*"\s*:\s*\[?\s*"?(.*)', re.S)
#: Labels of the last event's kinds, as the run list shows them.
EVENT_LABELS = {
    "start": "starting",
    "think": "think",
    "tool_call": "tool call",
    "observation": "observation",
    "answer": "answer",
}


def _call_text(call: Any) -> str:
    """One line for a tool call: its name and its main argument (also while half-written)."""
    if not isinstance(call, dict):
        body = str(call)
        name = _PARTIAL_NAME.search(body)
        arg = _PARTIAL_ARG.search(body)
        head = f"{name.group(1)} (being written)" if name else "being written"
        return f"{head}: {arg.group(1) if arg else body}"
    name = str(call.get("name") or "?")
    args = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
    for key in ("code", "queries", "query", "urls", "url", "image_paths", "image_path"):
        value = args.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, str) and value.strip():
            return f"{name}: {value}"
    return name


def last_event(parsed: dict[str, Any]) -> dict[str, str]:
    """The latest thing the model did, as {"kind", "text"} (one line, for the run list)."""
    final = parsed.get("final_round") or {}
    rounds = parsed.get("rounds") or []
    if final.get("answer"):
        kind, text = "answer", str(final["answer"])
    elif final.get("think"):
        kind, text = "think", str(final["think"])
    elif rounds:
        rnd = rounds[-1]
        obs = rnd.get("observation")
        if obs is not None:
            kind = "observation"
            if isinstance(obs, dict):
                body = obs.get("error") or obs.get("result") or ""
                body = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
                text = f"{obs.get('type') or '?'}: {body}"
            else:
                text = str(obs)
        elif rnd.get("tool_call") is not None:
            kind, text = "tool_call", _call_text(rnd["tool_call"])
        else:
            kind, text = "think", str(rnd.get("think") or "")
    else:
        kind, text = "start", "waiting for the model's first tokens"
    return {"kind": kind, "label": EVENT_LABELS[kind], "text": snippet(text, EVENT_CHARS)}


def inflight_rows(
    snaps: Sequence[Snapshot], page_url: Callable[[str], str], now: float | None = None
) -> list[dict[str, Any]]:
    """One row per running case for the run list panel and `inflight.json` (plain values;
    the page and viewer.js put them in as text)."""
    now = time.time() if now is None else now
    rows = []
    for snap in snaps:
        age = snap.age(now)
        started = max(0.0, now - snap.started_at) if snap.started_at is not None else None
        rows.append(
            {
                "id": snap.id,
                "url": page_url(snap.id),
                "question": snippet(snap.question, QUESTION_CHARS),
                "mode": snap.mode,
                "turns": snap.turns,
                "event": last_event(snap.parsed),
                "age_s": round(age, 1) if age is not None else None,
                "updated": (fmt_ago(age) + " ago") if age is not None else "unknown",
                "running_for": fmt_ago(started),
                "stale": snap.stale is not None,
                "stale_reason": snap.stale,
            }
        )
    return rows


def snapshot_case(snap: Snapshot) -> SimpleNamespace:
    """The snapshot as the `LoadedCase` shape `case_context` reads."""
    record = snap.record_like()
    return SimpleNamespace(
        n=0,
        entry={"id": snap.id, "status": "ok", "line": None, "parse_error": None},
        record=record,
        parsed=snap.parsed,
        images=case_images(record, snap.parsed),
    )


def _mark_pending_calls(rounds: list[dict[str, Any]], snap: Snapshot) -> None:
    """A tool call cut off by the snapshot (no `</tool_call>` yet) is shown as being written,
    with the name it has so far, not as a parse failure."""
    for shown, rnd in zip(rounds, snap.parsed.get("rounds", []), strict=False):
        tool = shown["tool"]
        err = str(rnd.get("tool_call_parse_error") or "")
        if tool["kind"] == "unparsed" and rnd.get("incomplete") and err.startswith(_UNTERMINATED):
            name = _PARTIAL_NAME.search(str(rnd.get("tool_call") or ""))
            tool["name"] = name.group(1) if name else "tool call"
            tool["error"] = "still being written: no </tool_call> yet"
            tool["pending"] = True


def _running_badge(snap: Snapshot) -> dict[str, str]:
    if snap.stale:
        return {"label": "stale", "cls": "bad", "title": snap.stale}
    return {"label": "running", "cls": "run", "title": "this case is still running"}


def _snapshot_raw(snap: Snapshot) -> dict[str, Any]:
    """The snapshot's own fields as the page's raw JSON (there is no record to link yet)."""
    raw = {
        k: getattr(snap, k)
        for k in ("id", "question", "image", "images", "mode", "pid", "started_at")
    }
    raw.update(updated_at=snap.updated_at, turns=snap.turns, full_response=snap.full_response)
    return {"text": cut(pretty_json(shorten_data_urls(raw)))[0], "more": 0, "url": None}


def _snapshot_meta(snap: Snapshot, age: float | None, started: float | None) -> list[dict]:
    """What the snapshot says about the run so far, as the case page's label/value rows."""
    return [
        {"label": k, "value": str(v)}
        for k, v in (
            ("Mode", snap.mode),
            ("Turns so far", snap.turns),
            ("Started", (fmt_ago(started) + " ago") if started is not None else ""),
            ("Last update", (fmt_ago(age) + " ago") if age is not None else "unknown"),
            ("Process", snap.pid),
        )
        if v not in (None, "")
    ]


def _running_state(snap: Snapshot, age: float | None, started: float | None) -> dict[str, Any]:
    return {
        "age_s": round(age, 1) if age is not None else None,
        "updated": fmt_ago(age) if age is not None else "unknown",
        "updated_at": snap.updated_at,
        "turns": snap.turns,
        "running_for": fmt_ago(started),
        "stale": snap.stale,
        "event": last_event(snap.parsed),
    }


def inflight_context(
    opened: Any,
    snap: Snapshot,
    urls: Urls,
    *,
    cwd: Path,
    roots: Sequence[str | Path],
    list_url: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Everything the in-flight page shows: the case page's values plus the running state.

    `urls.image` must point at the in-flight image route (the view passes such a `Urls`).
    """
    now = time.time() if now is None else now
    case = snapshot_case(snap)
    ctx = case_context(
        opened,
        case,
        urls,
        {"list": list_url},
        cwd=cwd,
        sources=sources_for_snapshot(Path(opened.path), Path(cwd), roots),
    )
    _mark_pending_calls(ctx["rounds"], snap)
    # A running case has no final answer yet: show the <answer> being written, if any, and
    # never read free text (the reasoning of a turn in progress) as an answer.
    final = snap.parsed.get("final_round") or {}
    ctx["final"].update(answer=str(final.get("answer") or ""), free_text=False, why_none="")
    age = snap.age(now)
    started = max(0.0, now - snap.started_at) if snap.started_at is not None else None
    ctx["status"] = _running_badge(snap)
    ctx["raw"] = _snapshot_raw(snap)
    ctx["meta"] = _snapshot_meta(snap, age, started)
    ctx["error"] = None
    ctx["inflight"] = _running_state(snap, age, started)
    return ctx
