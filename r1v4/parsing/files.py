"""Result files → parsed lines and a summary, streamed in constant memory.

Its own module because it is the only part of the parser that does I/O: it reads JSONL
result files line by line, reports bad lines with their numbers, and keeps byte offsets
instead of parsed lines so a file of any size can be parsed (the seed's ``parse_jsonl_file``).
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from r1v4.parsing.answer import FinalAnswer, read_final_answer
from r1v4.parsing.rounds import assemble_rounds
from r1v4.parsing.scanner import iter_events
from r1v4.parsing.toolcall import json_kind, tool_name_of
from r1v4.parsing.tooluse import INVALID, record_tool_use


@dataclass
class FileSummary:
    """Counts over a result file, gathered while streaming it (constant memory)."""

    path: str = ""
    cases: int = 0
    answered: int = 0
    failed: int = 0
    incomplete: int = 0
    bad_lines: int = 0
    skipped: int = 0  # records without response.full_response (the seed skips them too)
    tool_call_errors: int = 0
    observation_errors: int = 0
    repaired: int = 0
    rounds: Counter = field(default_factory=Counter)
    tools: Counter = field(default_factory=Counter)
    stop_reasons: Counter = field(default_factory=Counter)  # meta.stop_reason, when recorded
    # Tool calls answered by an observation and tool errors, per tool, as
    # r1v4.parsing.tooluse defines them; cases whose every call failed (and answered anyway).
    tool_use_calls: Counter = field(default_factory=Counter)
    tool_errors: Counter = field(default_factory=Counter)
    all_tools_failed: int = 0
    all_tools_failed_answered: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # the first few, for callers

    MAX_PROBLEMS = 20

    def note(self, line_num: int, message: str, bad: bool) -> None:
        if bad:
            self.bad_lines += 1
        else:
            self.skipped += 1
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append((line_num, message))

    def add(self, record: dict, parsed: dict | None, answer: FinalAnswer | None = None) -> None:
        """Count one record; ``answer`` is its final answer as ``read_final_answer`` reads it
        (taken from ``parsed`` alone when not given)."""
        self.cases += 1
        response = record.get("response")
        if not isinstance(response, dict) or response.get("error"):
            self.failed += 1
        meta = record.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("stop_reason"), str):
            self.stop_reasons[meta["stop_reason"]] += 1
        used = record_tool_use(record, parsed if parsed is not None else {"rounds": []})
        self.tool_use_calls.update(used.calls)
        self.tool_errors.update(used.errors)
        if parsed is None:
            self.all_tools_failed += used.all_failed
            return
        rounds = parsed["rounds"]
        self.rounds[len(rounds)] += 1
        answered = (
            answer.answered
            if answer is not None
            else bool(parsed["final_round"]["answer"]) and not parsed["final_round"]["incomplete"]
        )
        self.answered += answered
        if used.all_failed:
            self.all_tools_failed += 1
            self.all_tools_failed_answered += answered
        if parsed["final_round"]["incomplete"] or any(r["incomplete"] for r in rounds):
            self.incomplete += 1
        for rnd in rounds:
            name = tool_name_of(rnd["tool_call"])
            self.tools[name if name is not None else INVALID] += 1
            self.tool_call_errors += "tool_call_parse_error" in rnd
            self.observation_errors += "observation_parse_error" in rnd
            self.repaired += ("tool_call_repaired" in rnd) + ("observation_repaired" in rnd)

    def table(self) -> str:
        """A plain-text summary table for a terminal."""
        rows = [
            ("file", self.path),
            ("cases", str(self.cases)),
            ("answered", _pct(self.answered, self.cases)),
            ("failed (response.error)", _pct(self.failed, self.cases)),
            ("truncated (incomplete)", _pct(self.incomplete, self.cases)),
            ("bad lines", str(self.bad_lines)),
            ("skipped (no full_response)", str(self.skipped)),
            ("tool calls (answered)", str(sum(self.tool_use_calls.values()))),
            ("tool errors", str(sum(self.tool_errors.values()))),
            ("cases: every tool call failed", _all_failed(self)),
            ("tool_call parse errors", str(self.tool_call_errors)),
            ("observation parse errors", str(self.observation_errors)),
            ("repaired JSON slips", str(self.repaired)),
        ]
        parsed = sum(self.rounds.values())
        if parsed:
            mean = sum(k * v for k, v in self.rounds.items()) / parsed
            rows.append(("rounds (mean)", f"{mean:.2f}"))
        width = max(len(k) for k, _ in rows)
        lines = [f"{k:<{width}}  {v}" for k, v in rows]
        if self.rounds:
            lines += ["", "rounds  cases"]
            lines += [f"{k:>6}  {_pct(v, parsed)}" for k, v in sorted(self.rounds.items())]
        if self.tools or self.tool_errors:
            total = sum(self.tools.values())
            names = [t for t, _ in self.tools.most_common()]
            names += sorted(t for t in self.tool_errors if t not in self.tools)
            w = max(len("tool"), *(len(t) for t in names))
            calls = [_pct(self.tools.get(t, 0), total) for t in names]
            cw = max(len("calls"), *(len(c) for c in calls))
            lines += ["", f"{'tool':<{w}}  {'calls':<{cw}}  errors"]
            lines += [
                f"{t:<{w}}  {c:<{cw}}  {self.tool_errors.get(t, 0)}"
                for t, c in zip(names, calls, strict=True)
            ]
        if self.stop_reasons:
            w = max(len("stop reason"), *(len(t) for t in self.stop_reasons))
            lines += ["", f"{'stop reason':<{w}}  cases"]
            lines += [
                f"{t:<{w}}  {_pct(n, self.cases)}" for t, n in self.stop_reasons.most_common()
            ]
        return "\n".join(lines)


def _all_failed(summary: FileSummary) -> str:
    n = summary.all_tools_failed
    return f"{n} ({summary.all_tools_failed_answered} answered anyway)" if n else "0"


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else str(n)


def _read_line(
    raw: bytes, line_num: int
) -> tuple[dict | None, dict | None, str | None, bool, FinalAnswer | None]:
    """One result line → (record, seed-form parsed line, problem, problem_is_bad_line, final
    answer); the text is scanned once for both the rounds and the answer."""
    raw = raw.rstrip(b"\r\n")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return None, None, f"invalid JSON: {exc}", True, None
    if not isinstance(record, dict):
        return None, None, f"expected a JSON object, got {json_kind(record)}", True, None
    response = record.get("response")
    if not isinstance(response, dict) or "full_response" not in response:
        why = response.get("error") if isinstance(response, dict) else None
        note = f" (case failed: {str(why)[:200]})" if why else ""
        return record, None, f"missing 'response.full_response'{note}", False, None
    text = response["full_response"]
    if not isinstance(text, str):
        why = f"response.full_response is {json_kind(text)}, expected a string"
        return record, None, why, True, None
    events = iter_events(text)
    meta = record.get("meta")
    stop_reason = meta.get("stop_reason") if isinstance(meta, dict) else None
    if "error" in response:
        stop_reason = "error"
    answer = read_final_answer(
        text, stop_reason if isinstance(stop_reason, str) else None, events=events
    )
    parsed_line = {
        "line_num": line_num,
        "image": record.get("image", ""),
        "question": record.get("question", ""),
        "raw_response": response,
        "parsed_response": assemble_rounds(events),
    }
    return record, parsed_line, None, False, answer


def iter_jsonl_file(
    input_file: str | Path, summary: FileSummary | None = None, on_problem: Any = None
) -> Iterator[tuple[int, int, dict]]:
    """Stream a result file: yields ``(line_num, byte_offset, parsed_line)`` per usable line.

    Bad lines (and records without a full_response) go to ``on_problem(line_num, message)``
    and into ``summary``; nothing is held beyond the current line.
    """
    with open(input_file, "rb") as f:
        offset = 0
        for line_num, raw in enumerate(f, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            record, parsed_line, problem, bad, answer = _read_line(raw, line_num)
            if summary is not None:
                if record is not None:
                    summary.add(record, parsed_line and parsed_line["parsed_response"], answer)
                if problem is not None:
                    summary.note(line_num, problem, bad)
            if problem is not None and on_problem is not None:
                on_problem(line_num, problem)
            if parsed_line is not None:
                yield line_num, start, parsed_line


class ParsedLines(Sequence):
    """The parsed lines of a result file, read back on demand.

    ``parse_jsonl_file`` returned a list in the seed; this sequence behaves like one (len,
    index, iterate, compare) while holding only byte offsets, so a file of any size parses in
    constant memory.
    """

    def __init__(self, path: str | Path, offsets: array, line_nums: array, summary: FileSummary):
        self.path = Path(path)
        self._offsets = offsets
        self._line_nums = line_nums
        self.summary = summary

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("ParsedLines index out of range")
        with open(self.path, "rb") as f:
            f.seek(self._offsets[index])
            raw = f.readline()
        _, parsed_line, problem, _, _ = _read_line(raw, self._line_nums[index])
        if parsed_line is None:
            raise RuntimeError(f"{self.path}: line {self._line_nums[index]} changed: {problem}")
        return parsed_line

    def __iter__(self) -> Iterator[dict]:
        for _, _, parsed_line in iter_jsonl_file(self.path):
            yield parsed_line

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ParsedLines | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<ParsedLines {self.path} ({len(self)} parsed, {self.summary.bad_lines} bad)>"


def print_problem(path: str | Path) -> Any:
    def report(line_num: int, message: str) -> None:
        print(f"{path}:{line_num}: {message}", file=sys.stderr)

    return report


def parse_jsonl_file(
    input_file: str | Path,
    output_file: str | Path | None = None,
    *,
    on_problem: Any = None,
    quiet: bool = False,
) -> ParsedLines:
    """Parse every line's ``response.full_response``: the seed's ``parse_jsonl_file``.

    Streams the input once; with ``output_file`` writes one seed-form line per usable input
    line (``line_num``, ``image``, ``question``, ``raw_response``, ``parsed_response``).
    Problems are reported as ``FILE:LINE: message`` on stderr (or to ``on_problem``); like the
    seed it prints "Saved parsed results to …" unless ``quiet``. Returns a list-like
    ``ParsedLines`` whose ``.summary`` holds the counts.
    """
    summary = FileSummary(path=str(input_file))
    report = on_problem or print_problem(input_file)
    offsets, line_nums = array("q"), array("q")
    out: IO[str] | None = None
    if output_file is not None:
        if Path(output_file).resolve() == Path(input_file).resolve():
            raise ValueError(f"output file {output_file} is the input file; choose another path")
        out = open(output_file, "w", encoding="utf-8", errors="backslashreplace")
    try:
        for line_num, offset, parsed_line in iter_jsonl_file(input_file, summary, report):
            offsets.append(offset)
            line_nums.append(line_num)
            if out is not None:
                out.write(json.dumps(parsed_line, ensure_ascii=False) + "\n")
    finally:
        if out is not None:
            out.close()
    if output_file is not None and not quiet:
        print(f"Saved parsed results to {output_file}")
    return ParsedLines(input_file, offsets, line_nums, summary)
