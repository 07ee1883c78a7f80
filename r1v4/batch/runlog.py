"""The line a batch appends to its output's runs log as it starts (`r1v4.protocol.runlog`):
which model, endpoints, dialect and options made the records that follow, for the viewer's
run header."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from r1v4.batch.settings import RunSettings
from r1v4.protocol.runlog import append_run, redact_url

__all__ = ["record_run", "run_info"]


def _toolkit() -> str:
    try:
        return metadata.version("r1v4")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def run_info(settings: RunSettings) -> dict[str, Any]:
    """The runs-log line of this batch (no secrets: the command is the resume command)."""
    s, agent = settings, settings.agent
    endpoint = s.request_endpoint()
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": s.resume_command,
        "model": endpoint.model,
        "endpoints": [redact_url(u) for u in endpoint.base_urls],
        "mode": s.mode if not agent.plan_first else f"{s.mode}+plan",
        "tools": agent.tools,
        "search_backend": s.search.backend if s.search is not None else None,
        "dialect": str(getattr(agent, "dialect", "") or "r1v4"),
        "prompt": agent.prompt if agent.system_prompt is None else "(from a file)",
        "max_rounds": agent.max_rounds,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "sampling": agent.sampling,
        "scorer": s.scorer,
        "judge_model": s.judge.model if s.judge is not None else None,
        "consistency_judge_model": s.consistency.model if s.consistency is not None else None,
        "flag_settings": s.flags.to_record(),
        "toolkit": _toolkit(),
    }


def record_run(settings: RunSettings) -> str | None:
    """Append this batch's line; a problem is returned as a notice, never raised (the log
    only informs the viewer)."""
    try:
        append_run(settings.output.path, run_info(settings))
    except OSError as exc:
        return f"warning: could not write the runs log beside {settings.output.path}: {exc}"
    return None
