"""Model responses → rounds: the engine behind the seed-compatible ``parse_utils``.

The seed found every ``<think>``, ``<tool_call>``, ``<observation>`` and ``<answer>`` with four
separate regexes and paired the n-th think with the n-th tool call, so one round without a
think (or two thinks in a row) shifted every later round, a tool call whose code printed
``"</tool_call>"`` was cut in half, and a truncated response lost its last round. Here one
scanner walks the text once, in order:

* think, tool call, observation and answer are paired by their position in the text;
* inside ``<tool_call>``/``<observation>``/``<plan>`` bodies that start as JSON, a closing tag
  inside a JSON string is skipped (unless that string is itself broken, then the seed's rule
  — first closing tag — applies, so malformed JSON cannot swallow later rounds);
* a body cut off by the end of the text is returned as far as it goes, marked ``incomplete``;
* the same scanner runs incrementally (``IncrementalParser``), and by construction reports the
  same events for every way of cutting the text into chunks.

For a well-formed response ``parse_full_response`` returns exactly the seed's structure, plus
``images`` and ``incomplete`` on each round and ``incomplete`` on ``final_round``.

The package holds one job per module: ``toolcall`` (a tool-call body → name and arguments),
``scanner`` (text → ``Event``s), ``incremental`` (the scanner fed chunk by chunk),
``rounds`` (events → rounds, statistics), ``answer`` (the final answer: the one reading the
agent, scorer, viewer and report share), ``turn`` (how one agent turn ended, stop strings
included), ``memo`` (one response scanned once for all the readers of a record),
``tooluse`` (tool calls and the one definition of a tool error), ``plan`` (the plan in a
planner reply, found and validated) and ``files`` (result files → parsed lines and a
summary). The
``parse`` command is ``r1v4.cli.parse``. Import from ``r1v4.parsing``; the names below are
its API. Pure text in, values out: the package imports only ``r1v4.protocol`` and
``r1v4._util``.
"""

from __future__ import annotations

from r1v4._util.lenient_json import loads_lenient
from r1v4.parsing.answer import FinalAnswer, final_answer, read_final_answer
from r1v4.parsing.files import FileSummary, ParsedLines, iter_jsonl_file, parse_jsonl_file
from r1v4.parsing.incremental import IncrementalParser
from r1v4.parsing.memo import ResponseParse
from r1v4.parsing.plan import PlanResult, PlanStep, extract_plan, parse_plan
from r1v4.parsing.rounds import get_round_statistics, parse_full_response, round_images
from r1v4.parsing.scanner import Event, iter_events
from r1v4.parsing.toolcall import parse_tool_call
from r1v4.parsing.tooluse import ToolUse, record_tool_use, tool_use, tool_use_possible
from r1v4.parsing.turn import TurnEnd, has_headless_think, read_turn

__all__ = [
    "Event",
    "FileSummary",
    "FinalAnswer",
    "IncrementalParser",
    "ParsedLines",
    "ResponseParse",
    "PlanResult",
    "PlanStep",
    "ToolUse",
    "TurnEnd",
    "extract_plan",
    "final_answer",
    "get_round_statistics",
    "iter_events",
    "iter_jsonl_file",
    "loads_lenient",
    "parse_full_response",
    "parse_jsonl_file",
    "parse_plan",
    "parse_tool_call",
    "read_final_answer",
    "read_turn",
    "has_headless_think",
    "record_tool_use",
    "round_images",
    "tool_use",
    "tool_use_possible",
]
