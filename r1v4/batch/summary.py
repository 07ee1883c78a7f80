"""What a batch did: the `Summary` the runner fills in, and the closing report made from it.

The report covers the whole output file, not only this invocation: after a resume, the
cases done by earlier runs are counted too (succeeded, failed, accuracy over every scored
record), and a line says what this invocation did. Each record is reduced to a slim form
(`slim_record`) as it is written, and the records already in the file are reduced in the
writer's one pass over it, so the summary never holds full trajectories nor reads the file
twice. Tool calls and tool errors are counted over the whole file too, from each slim
record's tool use (`r1v4.parsing.tooluse` defines a tool error). The exit code follows from
the same figures (`Summary.exit_code`).

Size note: `format_summary` runs past 60 lines because it is one flat list of the report's
lines, each written where it is decided.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from r1v4._util.stats import percentile
from r1v4.batch.settings import RunSettings
from r1v4.parsing import read_final_answer, record_tool_use
from r1v4.protocol.cases import CaseError, record_id
from r1v4.protocol.records import is_failed

__all__ = ["StopCause", "Summary", "flag_lines", "format_summary", "slim_record", "tool_lines"]

#: Why a run stopped before its end: the endpoint refuses us as configured (URL, key,
#: model), or the results could not be written (disk full, folder gone).
StopCause = Literal["endpoint", "output"]


def slim_record(record: dict[str, Any]) -> dict[str, Any]:
    """What the summary needs of one record: id, failed and its error, score, plan fields,
    tool calls and tool errors per tool, and whether every tool call failed (and the case
    answered anyway). Full trajectories stay on disk."""
    slim: dict[str, Any] = {"id": record_id(record), "failed": is_failed(record)}
    response = record.get("response")
    if slim["failed"]:
        error = response.get("error", "") if isinstance(response, dict) else "no response"
        slim["error"] = str(error)[:160]
    for key in ("score", "plan", "plan_errors", "plan_valid"):
        if key in record:
            slim[key] = record[key]
    flags = record.get("flags")
    if isinstance(flags, list):
        slim["flags"] = [f.get("flag") for f in flags if isinstance(f, dict)]
    used = record_tool_use(record)
    if used.calls:
        slim["tool_calls"] = dict(used.calls)
        slim["tool_errors"] = dict(used.errors)
    if used.all_failed:
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        text = response.get("full_response") if isinstance(response, dict) else None
        answered = not slim["failed"] and read_final_answer(text, meta.get("stop_reason"))
        slim["all_tools_failed"] = "answered" if answered and answered.answered else "unanswered"
    return slim


@dataclass
class Summary:
    """What a run did, for the closing report, the exit code and tests.

    `succeeded`, `failed`, `records`, latencies and tokens are this invocation's; `earlier`
    holds the slim records the output file already had (newest per id), so `file_records()`
    is the whole file as it stands after the run."""

    total: int = 0  # cases of the input (this shard)
    skipped: int = 0  # of those, already in the file and not rerun
    succeeded: int = 0
    failed: int = 0
    bad_lines: list[CaseError] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    output_tokens: int = 0
    wall_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)  # this invocation's
    replicas: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # slim, this invocation
    earlier: dict[str, dict[str, Any]] = field(default_factory=dict)  # slim, by id
    stopped: str = ""  # why the run stopped early, if it did
    stopped_by: StopCause | None = None
    interrupted: bool = False
    set_aside: int = 0
    warnings: list[str] = field(default_factory=list)  # start-up notices, as shown to the user
    flag_notes: list[str] = field(default_factory=list)  # flagging or judge problems

    def file_records(self) -> list[dict[str, Any]]:
        """The newest slim record of every id in the output file after this run."""
        merged = dict(self.earlier)
        for slim in self.records:
            merged[slim["id"]] = slim
        return list(merged.values())

    @property
    def done(self) -> int:
        """Cases this invocation finished (a failure is finished too)."""
        return self.succeeded + self.failed

    @property
    def left(self) -> int:
        """Cases of the input neither in the file before nor done now (stopped, interrupted)."""
        return max(0, self.total - self.skipped - self.done)

    @property
    def exit_code(self) -> int:
        """2 stopped early; 130 interrupted; 1 some record of the file failed or some input
        line was rejected; 0 otherwise (the codes of `r1v4.cli.exits`)."""
        if self.stopped:
            return 2
        if self.interrupted:
            return 130
        if self.bad_lines or any(r["failed"] for r in self.file_records()):
            return 1
        return 0


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def format_summary(summary: Summary, settings: RunSettings) -> str:
    """The closing report: the whole file's counts and accuracy, what this invocation did,
    latency percentiles, throughput, replicas, errors, and how to go on."""
    records = summary.file_records()
    failed = sum(1 for r in records if r["failed"])
    lines = [f"results: {settings.output_path}"]
    lines.append(f"cases: {len(records)}  succeeded: {len(records) - failed}  failed: {failed}")
    this_run = (
        f"this run: {summary.done} done (succeeded: {summary.succeeded}  failed: "
        f"{summary.failed})  skipped (already done): {summary.skipped}"
    )
    if summary.left:
        this_run += f"  not run: {summary.left}"
    lines.append(this_run)
    if summary.bad_lines:
        lines.append(f"bad input lines: {len(summary.bad_lines)} (not run)")
        lines += [f"  {err}" for err in summary.bad_lines[:20]]
    if summary.set_aside:
        lines.append(
            f"set aside {summary.set_aside} broken line(s) from an interrupted run into "
            f"{settings.output_path}.corrupt"
        )
    if summary.latencies:
        line = (
            f"latency p50 {_fmt(percentile(summary.latencies, 50))}"
            f"  p95 {_fmt(percentile(summary.latencies, 95))}"
        )
        if summary.ttfts:  # only streaming can see the first token arrive
            line += (
                f"   ttft p50 {_fmt(percentile(summary.ttfts, 50))}"
                f"  p95 {_fmt(percentile(summary.ttfts, 95))}"
            )
        lines.append(line + "  (this run)")
    if summary.wall_s > 0 and summary.output_tokens:
        lines.append(
            f"output tokens: {summary.output_tokens}"
            f"  ({summary.output_tokens / summary.wall_s:.1f} tok/s over {summary.wall_s:.1f}s)"
        )
    scored = [r["score"] for r in records if (r.get("score") or {}).get("correct") is not None]
    if scored:
        right = sum(1 for s in scored if s["correct"])
        lines.append(f"accuracy: {right}/{len(scored)} = {right / len(scored):.1%}")
    if settings.agent.planner or settings.agent.plan_first:
        from r1v4.evals.plans import summarize_plans

        plans = summarize_plans(records)
        mean = plans["mean_steps"]  # None when no plan was valid
        lines.append(
            f"plans: {plans['valid_plans']} valid, {plans['invalid_plans']} invalid,"
            f" mean steps {'-' if mean is None else f'{mean:.1f}'},"
            f" tools {dict(plans['tool_mix'])}"
        )
    if len(summary.replicas) > 1 or any(r.get("failures") for r in summary.replicas):
        for rep in summary.replicas:
            lines.append(
                f"replica {rep['base_url']}: {rep['requests']} requests, {rep['failures']} failures"
            )
    lines += tool_lines(records)
    lines += flag_lines(records, summary.flag_notes)
    errors = Counter(r["error"] for r in records if r["failed"])
    for message, count in errors.most_common(5):
        lines.append(f"error x{count}: {message}")
    lines += _next_steps(summary, settings, failed)
    return "\n".join(lines)


def _next_steps(summary: Summary, settings: RunSettings, failed: int) -> list[str]:
    """Why the run stopped, and the commands that go on from here. No "to resume" after the
    endpoint refused the configuration: the same command would be refused again."""
    lines = []
    if summary.stopped:
        lines.append(f"stopped: {summary.stopped}")
    if summary.stopped_by == "endpoint":
        lines.append("fix the endpoint settings (--base-url, --api-key, --model), then run again")
        return lines
    command = settings.resume_command
    if command and (summary.interrupted or summary.stopped) and summary.left:
        lines.append(f"to resume: {command}")
    if command and failed:
        lines.append(f"to rerun failed cases: {command} --retry-errors")
    return lines


def tool_lines(records: list[dict[str, Any]]) -> list[str]:
    """Tool calls and tool errors per tool over slim records, and the cases whose every tool
    call failed (a case that answered anyway is counted apart: its answer did not come from
    its tools)."""
    calls: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in records:
        calls.update(r.get("tool_calls") or {})
        errors.update(r.get("tool_errors") or {})
    if not calls:
        return []
    lines = [f"tool calls: {sum(calls.values())}  tool errors: {sum(errors.values())}"]
    for name, n in sorted(calls.items()):
        lines.append(f"  {name}: {n} call(s), {errors.get(name, 0)} error(s)")
    all_failed = [r["all_tools_failed"] for r in records if r.get("all_tools_failed")]
    line = f"cases whose every tool call failed: {len(all_failed)}"
    if all_failed:
        line += f" ({all_failed.count('answered')} answered anyway)"
    lines.append(line)
    return lines


def flag_lines(records: list[dict[str, Any]], notes: list[str] | None = None) -> list[str]:
    """Quality flags over slim records: how many cases are flagged, and each flag's count
    (DESIGN.md, "Quality flags"); records never flagged are counted apart."""
    checked = [r for r in records if isinstance(r.get("flags"), list)]
    if not checked:
        return []
    counts: Counter[str] = Counter(name for r in checked for name in set(r["flags"]))
    flagged = sum(1 for r in checked if r["flags"])
    line = f"quality flags: {flagged} of {len(checked)} case(s) flagged"
    if len(checked) < len(records):
        line += f" ({len(records) - len(checked)} never checked: python -m r1v4 flags FILE)"
    lines = [line]
    if counts:
        lines.append("  " + "  ".join(f"{name} {n}" for name, n in counts.most_common()))
    lines += [f"  note: {n}" for n in (notes or [])[:10]]
    return lines
