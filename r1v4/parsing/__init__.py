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
``scanner`` (text → ``Event``s, whole or streamed), ``rounds`` (events → rounds, plan,
statistics), ``files`` (result files → parsed lines and a summary) and ``cli``
(``python -m r1v4 parse``). Import from ``r1v4.parsing``; the names below are its API.
"""

from __future__ import annotations

from r1v4._util.lenient_json import loads_lenient
from r1v4.cli.parse import build_arg_parser as build_arg_parser
from r1v4.cli.parse import main
from r1v4.parsing.files import FileSummary, ParsedLines, iter_jsonl_file, parse_jsonl_file
from r1v4.parsing.rounds import (
    extract_plan,
    get_round_statistics,
    parse_full_response,
    round_images,
)
from r1v4.parsing.scanner import Event, IncrementalParser, iter_events
from r1v4.parsing.toolcall import parse_tool_call

__all__ = [
    "Event",
    "FileSummary",
    "IncrementalParser",
    "ParsedLines",
    "extract_plan",
    "get_round_statistics",
    "iter_events",
    "iter_jsonl_file",
    "loads_lenient",
    "main",
    "parse_full_response",
    "parse_jsonl_file",
    "parse_tool_call",
    "round_images",
]
