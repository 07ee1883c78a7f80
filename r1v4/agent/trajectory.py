"""Result records of finished cases: what a trajectory accumulated, turned into the record
of DESIGN.md. The record starts as `r1v4.protocol.records.base_record` (the seed's keys
first); this fills in the response, the meta and the assets."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from r1v4.agent.settings import AgentSettings
from r1v4.endpoint.client import Completion
from r1v4.parsing import ResponseParse, tool_use
from r1v4.protocol.records import FORMAT_VERSION


@dataclass
class Trajectory:
    """Accumulates one case's turns: text, timings, usage and tool use."""

    full_response: str = ""
    turns: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: dict[str, int] = field(default_factory=dict)  # calls run, by tool name
    assets: list[str] = field(default_factory=list)
    last_raw: dict[str, Any] | None = None
    endpoint: str = ""
    stop_reason: str = ""
    false_stops: int = 0  # turns asked again because a stop string fired inside a body
    failed_attempts: int = 0  # attempts of a request that failed for good
    meta: dict[str, Any] = field(default_factory=dict)  # more meta fields (dialect, …)

    def add_completion(self, comp: Completion) -> None:
        self.turns.append(
            {
                "latency_s": round(comp.latency_s, 4),
                "ttft_s": None if comp.ttft_s is None else round(comp.ttft_s, 4),
                "finish_reason": comp.finish_reason,
                "attempts": comp.attempts,
                "usage": comp.usage,
            }
        )
        self.last_raw = comp.raw
        self.endpoint = comp.endpoint

    def add_failure(self, attempts: int, endpoint: str | None) -> None:
        """A request that failed for good still counts: its attempts go into meta.attempts
        and the endpoint it last tried into meta.endpoint, so a failure record says what was
        tried and where."""
        self.failed_attempts += attempts
        if endpoint:
            self.endpoint = endpoint

    def usage(self) -> dict[str, int]:
        """The turns' integer usage fields summed, keys in the order first seen (a plain
        dict: this runs once per case)."""
        total: dict[str, int] = {}
        for turn in self.turns:
            for key, value in (turn.get("usage") or {}).items():
                if isinstance(value, int):
                    total[key] = total.get(key, 0) + value
        return total


#: Longest final answer kept in `meta.final_answer` (what the viewer's list shows).
ANSWER_KEEP = 1000


def _reading(text: str, stop_reason: str, parse: ResponseParse) -> dict[str, Any]:
    """What readers would otherwise parse the trajectory for, read once here by the parser's
    one definitions: tool errors (`r1v4.parsing.tooluse`), the final answer as
    `read_final_answer` reads it (its first `ANSWER_KEEP` characters, and where it came
    from), the number of images the observations carry, and the tool calls the text holds
    by name (run or not: a `--tools server` trajectory's calls ran on the server). The
    viewer's index reads these instead of parsing every trajectory. `parse` scans the text
    once, for these and for the readers after (scoring, flags)."""
    parsed = parse.rounds(text) if text else None
    found = parse.final_answer(text, stop_reason)
    if not parsed or not parsed["rounds"]:  # no tool call: nothing to count
        return {
            "tool_errors": {},
            "all_tools_failed": False,
            "final_answer": found.text[:ANSWER_KEEP],
            "answer_source": found.source,
            "observation_images": 0,
            "written_calls": {},
        }
    used = tool_use(parsed)
    return {
        "tool_errors": dict(used.errors),
        "all_tools_failed": used.all_failed,
        "final_answer": found.text[:ANSWER_KEEP],
        "answer_source": found.source,
        "observation_images": sum(len(r.get("images") or []) for r in parsed["rounds"]),
        "written_calls": dict(Counter(n for r in parsed["rounds"] if (n := _name(r)))),
    }


def _name(rnd: dict[str, Any]) -> str | None:
    call = rnd.get("tool_call")
    name = call.get("name") if isinstance(call, dict) else None
    return name if isinstance(name, str) else None


_clock: list[Any] = [None, ""]  # the last whole second asked for, and its text


def _now() -> str:
    """The time, to the second, as ISO 8601 in UTC; made once per second (a batch finishes
    hundreds of cases a second), the same text `datetime.now(UTC)` gives to the second."""
    second = int(time.time())
    if _clock[0] != second:
        _clock[:] = second, datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds")
    return _clock[1]


def _response(traj: Trajectory, s: AgentSettings, error: str | None, tb: str | None) -> dict:
    """The record's `response`: a success keeps full_response and raw_response (the seed's
    keys); a failure keeps the error and whatever partial trajectory there was."""
    if error is None:
        response: dict[str, Any] = {
            "full_response": traj.full_response,
            "raw_response": traj.last_raw or {},
        }
        if traj.stop_reason == "max_rounds":
            response["note"] = (
                f"stopped after {traj.meta.get('max_rounds') or s.max_rounds} rounds without an "
                "<answer> (--max-rounds)"
            )
    else:
        response = {"error": error, "full_response": traj.full_response}
        if tb:
            response["traceback"] = tb
    return response


def finish_record(
    record: dict[str, Any],
    traj: Trajectory,
    settings: AgentSettings,
    model: str,
    error: str | None,
    extra: dict[str, Any],
    latency: float,
    parse: ResponseParse | None = None,
) -> dict[str, Any]:
    """Fill in response (`_response`), meta and assets. `parse` (the caller's, when it reads
    the record further) keeps the scan of the final response."""
    s = settings
    response = _response(traj, s, error, extra.pop("traceback", None))
    ttft, decode, attempts = None, 0.0, traj.failed_attempts
    for t in traj.turns:  # one pass: the first time to first token, decode time, attempts
        if ttft is None:
            ttft = t["ttft_s"]
        decode += t["latency_s"] - (t["ttft_s"] or 0)
        attempts += t["attempts"]
    usage = traj.usage()
    tokens = usage.get("completion_tokens", 0)
    record["response"] = response
    record.update(extra)
    stop = traj.stop_reason or ("error" if error else "")
    reading = _reading(traj.full_response, stop, parse or ResponseParse())
    record["meta"] = {
        "format_version": FORMAT_VERSION,
        "mode": s.mode if not s.plan_first else f"{s.mode}+plan",
        "tools": s.tools,
        "model": model,
        "endpoint": traj.endpoint,
        "latency_s": round(latency, 4),
        "ttft_s": ttft,
        "tpot_s": round(decode / tokens, 6) if tokens > len(traj.turns) else None,
        "rounds": sum(traj.tool_calls.values()),
        "turns": len(traj.turns),
        "tool_calls": dict(traj.tool_calls),
        # Counted from the trajectory by the one definition (r1v4.parsing.tooluse), so a
        # record written now and an old file read later give the same figure.
        **reading,
        "usage": usage,
        "attempts": attempts,
        "stop_reason": stop,
        "finished_at": _now(),
    }
    if traj.false_stops:
        record["meta"]["false_stops"] = traj.false_stops
    record["meta"].update(traj.meta)
    if traj.assets:
        record["assets"] = traj.assets
    return record
