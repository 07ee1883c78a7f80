"""What a batch did: the `Summary` the runner fills in, and the closing report made from it.

Size note: `format_summary` runs past 60 lines because it is one flat list of the report's
lines, each written where it is decided.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from r1v4._util.stats import percentile
from r1v4.batch.settings import RunSettings
from r1v4.parsing import read_final_answer, record_tool_use
from r1v4.protocol.cases import CaseError

__all__ = ["Summary", "format_summary", "tool_lines"]


@dataclass
class Summary:
    """What a run did, for the closing report and for tests."""

    total: int = 0
    skipped: int = 0
    succeeded: int = 0
    failed: int = 0
    bad_lines: list[CaseError] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    output_tokens: int = 0
    wall_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # slim: id, score, plan
    stopped: str = ""  # why the run stopped early, if it did
    interrupted: bool = False
    set_aside: int = 0
    warnings: list[str] = field(default_factory=list)  # start-up notices, as shown to the user
    # Tool use over every record counted, failed ones included (r1v4.parsing.tooluse
    # defines a tool error): calls and errors per tool, and the cases whose every call failed.
    tool_calls: Counter[str] = field(default_factory=Counter)
    tool_errors: Counter[str] = field(default_factory=Counter)
    all_tools_failed: int = 0
    all_tools_failed_answered: int = 0  # ... of which gave an answer all the same

    def count_tools(self, record: dict[str, Any]) -> None:
        """Add one record's tool calls and tool errors."""
        used = record_tool_use(record)
        self.tool_calls.update(used.calls)
        self.tool_errors.update(used.errors)
        if used.all_failed:
            self.all_tools_failed += 1
            response = record.get("response") or {}
            meta = record.get("meta") or {}
            text = response.get("full_response") if "error" not in response else None
            if read_final_answer(text, meta.get("stop_reason")).answered:
                self.all_tools_failed_answered += 1

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return 2
        if self.interrupted:
            return 130
        return 0


def format_summary(summary: Summary, settings: RunSettings) -> str:
    """The closing report: counts, latency percentiles, throughput, replicas, errors."""
    lines = [f"results: {settings.output_path}"]
    lines.append(
        f"cases: {summary.total}  succeeded: {summary.succeeded}  failed: {summary.failed}"
        f"  skipped (already done): {summary.skipped}"
    )
    if summary.bad_lines:
        lines.append(f"bad input lines: {len(summary.bad_lines)}")
        lines += [f"  {err}" for err in summary.bad_lines[:20]]
    if summary.set_aside:
        lines.append(
            f"set aside {summary.set_aside} broken line(s) from an interrupted run into "
            f"{settings.output_path}.corrupt"
        )

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}s"

    if summary.latencies:
        line = (
            f"latency p50 {fmt(percentile(summary.latencies, 50))}"
            f"  p95 {fmt(percentile(summary.latencies, 95))}"
        )
        if summary.ttfts:  # only streaming can see the first token arrive
            line += (
                f"   ttft p50 {fmt(percentile(summary.ttfts, 50))}"
                f"  p95 {fmt(percentile(summary.ttfts, 95))}"
            )
        lines.append(line)
    if summary.wall_s > 0 and summary.output_tokens:
        lines.append(
            f"output tokens: {summary.output_tokens}"
            f"  ({summary.output_tokens / summary.wall_s:.1f} tok/s over {summary.wall_s:.1f}s)"
        )
    scored = [
        r["score"] for r in summary.records if (r.get("score") or {}).get("correct") is not None
    ]
    if scored:
        right = sum(1 for s in scored if s["correct"])
        lines.append(f"accuracy: {right}/{len(scored)} = {right / len(scored):.1%}")
    if settings.agent.planner or settings.agent.plan_first:
        from r1v4.evals.plans import summarize_plans

        plans = summarize_plans(summary.records)
        lines.append(
            f"plans: {plans['valid_plans']} valid, {plans['invalid_plans']} invalid,"
            f" mean steps {plans['mean_steps']:.1f}, tools {dict(plans['tool_mix'])}"
        )
    if len(summary.replicas) > 1 or any(r.get("failures") for r in summary.replicas):
        for rep in summary.replicas:
            lines.append(
                f"replica {rep['base_url']}: {rep['requests']} requests, {rep['failures']} failures"
            )
    lines += tool_lines(summary)
    for message, count in summary.errors.most_common(5):
        lines.append(f"error x{count}: {message}")
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}")
    if summary.interrupted or summary.stopped or summary.failed:
        if settings.resume_command:
            lines.append(f"to resume: {settings.resume_command}")
            if summary.failed:
                lines.append(f"to rerun failed cases: {settings.resume_command} --retry-errors")
    return "\n".join(lines)


def tool_lines(summary: Summary) -> list[str]:
    """Tool calls and tool errors per tool, and the cases whose every tool call failed (a
    case that answered anyway is counted apart: its answer did not come from its tools)."""
    total = sum(summary.tool_calls.values())
    if not total:
        return []
    errors = sum(summary.tool_errors.values())
    lines = [f"tool calls: {total}  tool errors: {errors}"]
    for name, calls in sorted(summary.tool_calls.items()):
        lines.append(f"  {name}: {calls} call(s), {summary.tool_errors.get(name, 0)} error(s)")
    line = f"cases whose every tool call failed: {summary.all_tools_failed}"
    if summary.all_tools_failed:
        line += f" ({summary.all_tools_failed_answered} answered anyway)"
    lines.append(line)
    return lines
