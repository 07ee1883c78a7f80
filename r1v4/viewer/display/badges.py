"""The small labels pages share: a case's status badge, its match mark against the ground
truth, the tool-error badge, one badge per quality flag, and what each stop reason means.
Used by the run list, the case page and the compare page alike, so each counts and labels a
case the same way."""

from __future__ import annotations

from r1v4.viewer.display.text import snippet

STOP_TITLES = {
    "answer": "the model gave its answer",
    "max_rounds": "stopped by --max-rounds",
    "no_tool_call": "a turn ended with neither a tool call nor an answer",
    "length": "cut by max_tokens",
    "case_timeout": "the case timed out (--case-timeout)",
    "error": "the case failed",
    "plan": "a planner reply",
}


def flags_match(e: dict, want: str) -> bool:
    flags = e.get("flags")
    if want == "unchecked":
        return flags is None
    if flags is None:
        return False
    if want == "any":
        return bool(flags)
    if want == "none":
        return not flags
    return any(f[0] == want for f in flags)


def flag_badges(entry: dict) -> list[dict[str, str]]:
    """One badge per quality flag, its reason on hover."""
    return [
        {"label": name, "cls": "flag", "title": reason} for name, reason in entry.get("flags") or []
    ]


def tool_error_badge(entry: dict) -> dict[str, str] | None:
    """A badge for a case whose tool calls failed: all of them, or some."""
    errors = entry.get("tool_errors") or 0
    if not errors:
        return None
    if entry.get("all_tools_failed"):
        answered = " — it answered anyway, without its tools" if entry.get("answer") else ""
        return {
            "label": "all tools failed",
            "cls": "bad",
            "title": f"every tool call of this case failed ({errors}){answered}",
        }
    return {
        "label": f"{errors} tool error{'s' if errors > 1 else ''}",
        "cls": "warn",
        "title": f"{errors} tool call(s) failed",
    }


def match_mark(entry: dict) -> dict[str, str] | None:
    """✓/✗ against the ground truth or the stored score, or None when unscored."""
    correct = entry.get("correct")
    if correct is None:
        return None
    how = entry.get("scorer") or "score"
    value = entry.get("score")
    title = f"{how}" + (f" score {value:g}" if isinstance(value, int | float) else "")
    if correct:
        return {"symbol": "✓", "cls": "match", "title": f"matches ground truth ({title})"}
    return {"symbol": "✗", "cls": "mismatch", "title": f"differs from ground truth ({title})"}


def status_badge(entry: dict) -> dict[str, str]:
    status = entry.get("status", "ok")
    if status == "ok" and not entry.get("answer"):
        return {"label": "no answer", "cls": "warn", "title": "finished without an <answer>"}
    labels = {
        "ok": ("ok", "ok", "finished with an answer"),
        "error": ("failed", "bad", entry.get("error") or "failed"),
        "invalid": ("invalid line", "bad", entry.get("error") or "invalid line"),
        "too_large": ("too large", "warn", entry.get("error") or "too large to show"),
    }
    label, cls, title = labels.get(status, (status, "warn", status))
    return {"label": label, "cls": cls, "title": snippet(title, 300)}
