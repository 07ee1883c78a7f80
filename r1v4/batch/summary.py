"""What a batch did: the `Summary` the runner fills in, and the closing report made from it.

The report covers the whole output file, not only this invocation: after a resume, the
cases done by earlier runs are counted too (succeeded, failed, accuracy over every scored
record), and a line says what this invocation did. The summary keeps running figures, not
records: each record is reduced to its `Figures` (`batch/figures.py`) and added to
`FileTotals`; equal figures are one shared object. The records already in the file are
reduced in the writer's one pass over it; of those, only the figures of failed ones are
kept by id (a `--retry-errors` run replaces them), so a run of any length holds ids and
counters, never trajectories nor one object per case. Tool errors are counted
from each record's trajectory (`r1v4.parsing.tooluse` defines a tool error). Latencies go
into a `LogHistogram` (percentiles within 0.1%). The exit code follows from the same figures
(`Summary.exit_code`).

Size note: `format_summary` runs past 60 lines because it is one flat list of the report's
lines, each written where it is decided.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from r1v4._util.stats import LogHistogram
from r1v4.batch.figures import Figures, Plain, figures_from_plain, plain_figures, tool_figures
from r1v4.batch.settings import RunSettings
from r1v4.parsing import ResponseParse, tool_use_possible
from r1v4.protocol.cases import CaseError
from r1v4.protocol.records import record_id

__all__ = [
    "FileTotals",
    "StopCause",
    "Summary",
    "flag_lines",
    "format_summary",
    "tool_lines",
]

#: Why a run stopped before its end: the endpoint refuses us as configured (URL, key,
#: model), or the results could not be written (disk full, folder gone).
StopCause = Literal["endpoint", "output"]


@dataclass
class FileTotals:
    """Running figures over the records of an output file (`add`, and `add(-1)` to take a
    replaced record's figures back out)."""

    records: int = 0
    failed: int = 0
    scored: int = 0
    right: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    tool_calls: Counter[str] = field(default_factory=Counter)
    tool_errors: Counter[str] = field(default_factory=Counter)
    all_tools_failed: Counter[str] = field(default_factory=Counter)
    plans_valid: int = 0
    plans_invalid: int = 0
    plan_steps: int = 0
    plan_tools: Counter[str] = field(default_factory=Counter)
    flags_checked: int = 0  # records the quality flags looked at
    flags_flagged: int = 0  # of those, with some flag
    flag_counts: Counter[str] = field(default_factory=Counter)

    def add(self, f: Figures, sign: int = 1) -> None:
        self.records += sign
        if f.failed:
            self.failed += sign
            self.errors[f.error] += sign
        if f.correct is not None:
            self.scored += sign
            self.right += sign * f.correct
        for name, n in f.tool_calls:
            self.tool_calls[name] += sign * n
        for name, n in f.tool_errors:
            self.tool_errors[name] += sign * n
        if f.all_tools_failed:
            self.all_tools_failed[f.all_tools_failed] += sign
        if f.plan is not None:
            valid, invalid, steps, tools = f.plan
            self.plans_valid += sign * valid
            self.plans_invalid += sign * invalid
            self.plan_steps += sign * steps
            for name, n in tools:
                self.plan_tools[name] += sign * n
        if f.flags is not None:
            self.flags_checked += sign
            self.flags_flagged += sign * bool(f.flags)
            for name in f.flags:
                self.flag_counts[name] += sign


@dataclass
class Summary:
    """What a run did, for the closing report, the exit code and tests.

    `succeeded`, `failed`, latencies and tokens are this invocation's; `totals` covers the
    whole output file as it stands after the run (the records it already had, newest per
    id, and this run's)."""

    total: int = 0  # cases of the input (this shard)
    skipped: int = 0  # of those, already in the file and not rerun
    succeeded: int = 0
    failed: int = 0
    bad_lines: list[CaseError] = field(default_factory=list)
    latencies: LogHistogram = field(default_factory=LogHistogram)
    ttfts: LogHistogram = field(default_factory=LogHistogram)
    output_tokens: int = 0
    wall_s: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)  # this invocation's
    replicas: list[dict[str, Any]] = field(default_factory=list)
    totals: FileTotals = field(default_factory=FileTotals)  # the whole file
    stopped: str = ""  # why the run stopped early, if it did
    stopped_by: StopCause | None = None
    interrupted: bool = False
    set_aside: int = 0
    warnings: list[str] = field(default_factory=list)  # start-up notices, as shown to the user
    flag_notes: list[str] = field(default_factory=list)  # flagging or judge problems
    _replaceable: dict[str, Figures] = field(default_factory=dict, repr=False)
    _shared: dict[Figures, Figures] = field(default_factory=dict, repr=False)
    _plain: dict[Plain, Figures] = field(default_factory=dict, repr=False)

    def figures(self, record: dict[str, Any], parse: ResponseParse | None = None) -> Figures:
        """A record's figures, as the one shared object equal figures are (the writer's
        `keep`: what it holds per id while it reads an existing output)."""
        key = plain_figures(record)
        if tool_use_possible(record):
            f = tool_figures(record, key, parse)
            return self._shared.setdefault(f, f)
        if (f := self._plain.get(key)) is None:  # most records: looked up before building one
            f = self._plain[key] = figures_from_plain(key)
        return f

    def set_earlier(self, kept: dict[str, Figures], rerun_failed: bool) -> None:
        """Count the records the output already had (newest per id); keep the figures of
        failed ones by id when this run may replace them (`--retry-errors`)."""
        times = Counter(map(id, kept.values()))  # equal figures are one shared object
        for key, f in {id(f): f for f in kept.values()}.items():
            self.totals.add(f, times[key])
        if rerun_failed:
            self._replaceable.update((rid, f) for rid, f in kept.items() if f.failed)

    def count(self, record: dict[str, Any], parse: ResponseParse | None = None) -> None:
        """One record this run appended: this run's figures and the whole file's (`parse`:
        the runner's scan of its response, reused)."""
        f = self.figures(record, parse)
        earlier = self._replaceable.pop(record_id(record), None)
        if earlier is not None:
            self.totals.add(earlier, -1)
        self.totals.add(f)
        if f.failed:
            self.failed += 1
            self.errors[f.error] += 1
            return
        self.succeeded += 1
        meta = record.get("meta") or {}
        if meta.get("latency_s") is not None:
            self.latencies.add(meta["latency_s"])
        if meta.get("ttft_s") is not None:
            self.ttfts.add(meta["ttft_s"])
        self.output_tokens += int((meta.get("usage") or {}).get("completion_tokens") or 0)

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
        if self.bad_lines or self.totals.failed:
            return 1
        return 0


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def format_summary(summary: Summary, settings: RunSettings) -> str:
    """The closing report: the whole file's counts and accuracy, what this invocation did,
    latency percentiles, throughput, replicas, errors, and how to go on."""
    totals = summary.totals
    failed = totals.failed
    lines = [f"results: {settings.output_path}"]
    lines.append(f"cases: {totals.records}  succeeded: {totals.records - failed}  failed: {failed}")
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
            f"latency p50 {_fmt(summary.latencies.percentile(50))}"
            f"  p95 {_fmt(summary.latencies.percentile(95))}"
        )
        if summary.ttfts:  # only streaming can see the first token arrive
            line += (
                f"   ttft p50 {_fmt(summary.ttfts.percentile(50))}"
                f"  p95 {_fmt(summary.ttfts.percentile(95))}"
            )
        lines.append(line + "  (this run)")
    if summary.wall_s > 0 and summary.output_tokens:
        lines.append(
            f"output tokens: {summary.output_tokens}"
            f"  ({summary.output_tokens / summary.wall_s:.1f} tok/s over {summary.wall_s:.1f}s)"
        )
    if totals.scored:
        right, scored = totals.right, totals.scored
        lines.append(f"accuracy: {right}/{scored} = {right / scored:.1%}")
    if settings.agent.planner or settings.agent.plan_first:
        valid = totals.plans_valid
        mean = f"{totals.plan_steps / valid:.1f}" if valid else "-"
        tools = {name: n for name, n in totals.plan_tools.most_common() if n > 0}
        lines.append(
            f"plans: {valid} valid, {totals.plans_invalid} invalid, mean steps {mean},"
            f" tools {tools}"
        )
    if len(summary.replicas) > 1 or any(r.get("failures") for r in summary.replicas):
        for rep in summary.replicas:
            lines.append(
                f"replica {rep['base_url']}: {rep['requests']} requests, {rep['failures']} failures"
            )
    lines += tool_lines(totals)
    lines += flag_lines(totals, summary.flag_notes)
    for message, count in (+totals.errors).most_common(5):
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


def tool_lines(totals: FileTotals) -> list[str]:
    """Tool calls and tool errors per tool, and the cases whose every tool call failed (a
    case that answered anyway is counted apart: its answer did not come from its tools)."""
    calls, errors = +totals.tool_calls, +totals.tool_errors
    if not calls:
        return []
    lines = [f"tool calls: {sum(calls.values())}  tool errors: {sum(errors.values())}"]
    for name, n in sorted(calls.items()):
        lines.append(f"  {name}: {n} call(s), {errors.get(name, 0)} error(s)")
    answered, unanswered = (
        totals.all_tools_failed["answered"],
        totals.all_tools_failed["unanswered"],
    )
    line = f"cases whose every tool call failed: {answered + unanswered}"
    if answered + unanswered:
        line += f" ({answered} answered anyway)"
    lines.append(line)
    return lines


def flag_lines(totals: FileTotals, notes: list[str] | None = None) -> list[str]:
    """Quality flags over the file: how many cases are flagged, and each flag's count
    (DESIGN.md, "Quality flags"); records never flagged are counted apart."""
    checked = totals.flags_checked
    if not checked:
        return []
    line = f"quality flags: {totals.flags_flagged} of {checked} case(s) flagged"
    if checked < totals.records:
        line += f" ({totals.records - checked} never checked: python -m r1v4 flags FILE)"
    lines = [line]
    counts = +totals.flag_counts
    if counts:
        lines.append("  " + "  ".join(f"{name} {n}" for name, n in counts.most_common()))
    lines += [f"  note: {n}" for n in (notes or [])[:10]]
    return lines
