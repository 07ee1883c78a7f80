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
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from array import array
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from r1v4.lenient_json import loads_lenient, loads_strict
from r1v4.prompts import ANSWER, OBSERVATION, PLAN, THINK, TOOL_CALL

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

# ---------------------------------------------------------------------------------------------
# Tool calls

# Keys models use for the tool name and its arguments (OpenAI, planner prompt, slips).
_NAME_KEYS = ("name", "tool_name", "tool")
_ARG_KEYS = ("arguments", "parameters", "args")


def parse_tool_call(body: str) -> tuple[dict | None, str | None]:
    """The text inside ``<tool_call>…</tool_call>`` → ``({"name", "arguments"}, None)``.

    On failure returns ``(None, error)`` with a message precise enough to show the model, so
    the agent can ask it to correct itself instead of crashing. Accepted slips: everything
    ``loads_lenient`` accepts, ``arguments`` given as a JSON-encoded string, ``parameters``
    (or ``args``) for ``arguments``, ``tool_name`` for ``name``, the OpenAI
    ``{"function": {...}}`` wrapper, and a one-element list around the call.
    """
    try:
        value = loads_lenient(body)
    except ValueError as exc:
        return None, f"tool call is not valid JSON: {exc}"
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        return None, f"tool call must be a JSON object, got {_kind(value)}"
    if isinstance(value.get("function"), dict) and not any(k in value for k in _NAME_KEYS):
        value = value["function"]

    name = next((value[k] for k in _NAME_KEYS if k in value), None)
    if name is None:
        return None, f'tool call has no "name" (keys: {", ".join(map(str, value)) or "none"})'
    if not isinstance(name, str) or not name.strip():
        return None, f'tool call "name" must be a non-empty string, got {_kind(name)}'

    arg_key = next((k for k in _ARG_KEYS if k in value), None)
    args: Any = {} if arg_key is None else value[arg_key]
    if args is None:
        args = {}
    if isinstance(args, str):
        if not args.strip():
            args = {}
        else:
            try:
                args = loads_lenient(args)
            except ValueError as exc:
                return None, f'tool call "{arg_key}" is a string that is not JSON: {exc}'
    if not isinstance(args, dict):
        return None, f'tool call "{arg_key}" must be a JSON object, got {_kind(args)}'
    return {"name": name.strip(), "arguments": args}, None


def _tool_name(call: Any) -> str | None:
    """The tool name of a decoded tool call, whichever key the model used for it."""
    if not isinstance(call, dict):
        return None
    if isinstance(call.get("function"), dict) and not any(k in call for k in _NAME_KEYS):
        call = call["function"]
    name = next((call[k] for k in _NAME_KEYS if k in call), None)
    return name if isinstance(name, str) else None


def _kind(value: Any) -> str:
    """A JSON-ish type name for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"an array of {len(value)}"
    if isinstance(value, str):
        return f"a string {json.dumps(value[:40])}"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------
# Events and the scanner


@dataclass(slots=True)
class Event:
    """One unit of a response, reported when its closing tag is seen (or at the end).

    ``content`` is the raw text between the tags. ``start``/``end`` are offsets in the whole
    response (opening tag to past the closing tag). For ``tool_call`` and ``observation``
    (and ``<plan>`` bodies, reported as ``kind="text", tag="plan"``) ``data`` is the decoded
    JSON — strict if possible, else repaired (``repaired=True``), else the stripped raw text
    with ``error`` set. ``incomplete`` means the text ended before the unit did.
    """

    kind: str  # "think" | "tool_call" | "observation" | "answer" | "text"
    content: str
    start: int = 0
    end: int = 0
    incomplete: bool = False
    tag: str | None = None
    data: Any = None
    error: str | None = None
    repaired: bool = False


_TAGS = (THINK, TOOL_CALL, OBSERVATION, ANSWER, PLAN)
_JSON_TAGS = frozenset({TOOL_CALL, OBSERVATION, PLAN})
# Outside any body: an opening tag, or a `</think>` with no opening one (chat templates that
# put `<think>` in the prompt leave the reply starting headless).
_OUTSIDE_RE = re.compile(r"<(" + "|".join(_TAGS) + r")>|</" + THINK + ">")
_PREFIXES = frozenset(
    t[:n] for tag in _TAGS for t in (f"<{tag}>", f"</{tag}>") for n in range(2, len(t))
)
_MAX_TAG = max(len(f"</{t}>") for t in _TAGS)
# A JSON string with no raw line break in it; a raw break means the "string" is broken.
_STRING_RE = re.compile(r'"[^"\\\n\r]*(?:\\[^\n\r][^"\\\n\r]*)*"')
_PARTIAL_STRING_RE = re.compile(r'"[^"\\\n\r]*(?:\\[^\n\r][^"\\\n\r]*)*\\?')
_NEXT_RE = {t: re.compile(f'"|</{t}>') for t in _JSON_TAGS}
_LITERAL, _TRUNCATED = -1, -2
_DATA_URL_RE = re.compile(r"data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+")


def _decode(body: str, tag: str, incomplete: bool) -> tuple[Any, str | None, bool]:
    """(value, error, repaired) for a JSON-carrying body, with the seed's error message."""
    text = body.strip()
    if incomplete:
        return text, f"unterminated <{tag}>: the response ends before </{tag}>", False
    try:
        return loads_strict(text), None, False
    except json.JSONDecodeError as exc:
        strict_error = str(exc)
    except RecursionError:
        strict_error = "JSON nested too deep"
    try:
        return loads_lenient(text), None, True
    except (ValueError, RecursionError):
        return text, strict_error, False


class _Scanner:
    """Resumable single-pass tag scanner; shared by the one-shot and incremental parsers.

    Every decision it makes is one that no later text could change (a closing tag seen
    outside a JSON string, a tag fully read), and every other case waits for more text or
    for ``final``; that is why any chunking yields the same events as the whole text.
    """

    def __init__(self) -> None:
        self.buf = ""
        self.base = 0  # offset of buf[0] in the whole response
        self.pos = 0  # start of the current unit in buf
        self.hunt = 0  # where to resume searching in buf
        self.tag: str | None = None  # open tag, or None when outside
        self.body = 0  # start of the open tag's body in buf
        self.mode: str | None = None  # "json" | "literal" inside a JSON-carrying tag
        self.fast_tried = -1  # first closing tag, once tried with a strict parse (-1: not yet)
        self.fast_hunt = 0  # where to resume looking for that first closing tag

    def run(self, final: bool) -> list[Event]:
        out: list[Event] = []
        while self._step(final, out):
            pass
        if self.pos > 0:  # drop what is consumed, keep offsets absolute
            self.buf = self.buf[self.pos :]
            self.base += self.pos
            self.hunt -= self.pos
            self.body -= self.pos
            if self.fast_tried >= 0:
                self.fast_tried -= self.pos
            self.fast_hunt = max(0, self.fast_hunt - self.pos)
            self.pos = 0
        return out

    # one unit per call; returns False when it must wait for more text
    def _step(self, final: bool, out: list[Event]) -> bool:
        if self.tag is None:
            return self._outside(final, out)
        if self.tag in _JSON_TAGS:
            return self._json_body(final, out)
        return self._plain_body(final, out)

    def _outside(self, final: bool, out: list[Event]) -> bool:
        buf = self.buf
        m = _OUTSIDE_RE.search(buf, max(self.hunt, self.pos))
        if m is None:
            if not final:
                self.hunt = max(self.pos, len(buf) - _MAX_TAG + 1)
                return False
            gap = buf[self.pos :]
            if gap.strip():
                last = gap.rfind("<")
                cut = last >= 0 and gap[last:] in _PREFIXES
                out.append(self._event("text", gap, self.pos, len(buf), incomplete=cut))
            self.pos = self.hunt = len(buf)
            return False
        gap = buf[self.pos : m.start()]
        if m.group(1) is None:  # headless </think>
            if gap.strip():
                out.append(self._event(THINK, gap, self.pos, m.end()))
            self.pos = m.end()
        else:
            if gap.strip():
                out.append(self._event("text", gap, self.pos, m.start()))
            self.tag = m.group(1)
            self.body = m.end()
            self.mode = None
            self.fast_tried = -1
            self.fast_hunt = self.body
            self.pos = m.start()
        self.hunt = m.end()
        return True

    def _plain_body(self, final: bool, out: list[Event]) -> bool:
        close = f"</{self.tag}>"
        i = self.buf.find(close, max(self.hunt, self.body))
        if i < 0:
            if not final:
                self.hunt = max(self.body, len(self.buf) - len(close) + 1)
                return False
            self._finish(len(self.buf), len(self.buf), out, incomplete=True)
            return True
        self._finish(i, i + len(close), out)
        return True

    def _json_body(self, final: bool, out: list[Event]) -> bool:
        buf, tag = self.buf, self.tag
        assert tag is not None
        close = f"</{tag}>"
        if self.mode is None:
            j = self.body
            while j < len(buf) and buf[j] in " \t\r\n":
                j += 1
            if j == len(buf) and not final:
                return False
            self.mode = "json" if j < len(buf) and buf[j] in "{[" else "literal"
            self.hunt = j
        if self.mode == "json":
            # Fast path: the first closing tag ends a strictly valid JSON body (the usual case,
            # and then that tag cannot be inside a string).
            c = -1 if self.fast_tried != -1 else buf.find(close, max(self.fast_hunt, self.body))
            if c < 0 and self.fast_tried == -1:
                self.fast_hunt = max(self.body, len(buf) - len(close) + 1)
            if c >= 0:
                self.fast_tried = c
                content = buf[self.body : c]
                try:
                    value = loads_strict(content.strip())
                except (json.JSONDecodeError, RecursionError):
                    pass
                else:
                    ev = self._event(tag, content, self.pos, c + len(close))
                    ev.data = value
                    self._close_tag(ev, c + len(close), out)
                    return True
            found = self._scan_json(final, close)
            if found is None:
                return False
            if found == _TRUNCATED:
                self._finish(len(buf), len(buf), out, incomplete=True)
                return True
            if found >= 0:
                self._finish(found, found + len(close), out)
                return True
            self.mode = "literal"  # broken string: the seed's rule, first closing tag
            self.hunt = self.body
        i = buf.find(close, max(self.hunt, self.body))
        if i < 0:
            if not final:
                self.hunt = max(self.body, len(buf) - len(close) + 1)
                return False
            self._finish(len(buf), len(buf), out, incomplete=True)
            return True
        self._finish(i, i + len(close), out)
        return True

    def _scan_json(self, final: bool, close: str) -> int | None:
        """Where the body ends, tracking JSON strings from the body start.

        Returns the closing tag's index; ``_LITERAL`` to fall back to the first closing tag
        (a string is broken, so string tracking cannot be trusted); ``_TRUNCATED`` when the
        text ends inside the body; ``None`` to wait for more text.
        """
        buf, tag = self.buf, self.tag
        assert tag is not None
        nxt = _NEXT_RE[tag]
        p = max(self.hunt, self.body)
        while True:
            m = nxt.search(buf, p)
            if m is None:
                if final:
                    return _TRUNCATED
                self.hunt = max(p, len(buf) - len(close) + 1)
                return None
            if m.group() != '"':
                return m.start()
            s = _STRING_RE.match(buf, m.start())
            if s is not None:
                p = s.end()
                continue
            if not _PARTIAL_STRING_RE.fullmatch(buf, m.start()):
                return _LITERAL  # a raw line break inside the "string"
            if not final:
                self.hunt = m.start()
                return None
            # The text ends inside a string: a cut, not a slip (a slip's broken string
            # nearly always meets a line break first, and splitting inside a string that
            # quotes tags would invent rounds).
            return _TRUNCATED

    def _finish(self, end: int, after: int, out: list[Event], incomplete: bool = False) -> None:
        ev = self._event(self.tag or "text", self.buf[self.body : end], self.pos, after)
        ev.incomplete = incomplete
        if self.tag in _JSON_TAGS:
            ev.data, ev.error, ev.repaired = _decode(ev.content, self.tag, incomplete)
        self._close_tag(ev, after, out)

    def _close_tag(self, ev: Event, after: int, out: list[Event]) -> None:
        if ev.kind == PLAN:
            ev.kind, ev.tag = "text", PLAN
        out.append(ev)
        self.tag = None
        self.mode = None
        self.pos = self.hunt = after

    def _event(self, kind: str, content: str, start: int, end: int, **kw: Any) -> Event:
        return Event(kind, content, self.base + start, self.base + end, **kw)


class IncrementalParser:
    """Parse a response as it streams: ``feed`` chunks of any size, ``close`` at the end.

    Each call returns the events completed by that chunk, so a live view can show a think, a
    tool call or an observation the moment it closes. Whatever the chunking, the events
    (and ``result()``) equal those of ``parse_full_response`` on the whole text.
    """

    def __init__(self) -> None:
        self._scanner = _Scanner()
        self._pending: list[str] = []
        self._pending_len = 0
        self._closed = False
        self.events: list[Event] = []

    def feed(self, chunk: str) -> list[Event]:
        """Add text; returns the events that are now complete."""
        if self._closed:
            raise ValueError("IncrementalParser.feed() after close()")
        if not chunk:
            return []
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        # Every unit ends with ">", so without one nothing can complete: skip the scan (and
        # the join) until one arrives or the pending text is as big as the buffer.
        if ">" not in chunk and self._pending_len < max(4096, len(self._scanner.buf)):
            return []
        return self._run(final=False)

    def close(self) -> list[Event]:
        """Declare the end of the text; returns the remaining (possibly incomplete) events."""
        if self._closed:
            return []
        self._closed = True
        return self._run(final=True)

    def result(self) -> dict:
        """The parse of everything completed so far, in ``parse_full_response`` form."""
        return _assemble(self.events)

    def partial(self) -> Event | None:
        """The unit still open (its text so far, ``incomplete=True``), for a live view that
        shows a think as it is written; None between units. Not part of ``events``."""
        sc = self._scanner
        if sc.tag is None:
            return None
        content = sc.buf[sc.body :] + "".join(self._pending)
        kind, tag = (sc.tag, None) if sc.tag != PLAN else ("text", PLAN)
        return Event(kind, content, sc.base + sc.pos, sc.base + sc.body + len(content), True, tag)

    def _run(self, final: bool) -> list[Event]:
        if self._pending:
            self._scanner.buf += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        events = self._scanner.run(final)
        self.events.extend(events)
        return events


def iter_events(text: str) -> list[Event]:
    """All events of a complete response, in order."""
    scanner = _Scanner()
    scanner.buf = text
    return scanner.run(final=True)


# ---------------------------------------------------------------------------------------------
# Rounds


def round_images(observation: Any) -> list[str]:
    """Images an observation carries: its ``images`` list (data URLs or asset paths), or the
    data URLs found in it when it is not JSON."""
    if isinstance(observation, str):
        return _DATA_URL_RE.findall(observation) if "data:image/" in observation else []
    if not isinstance(observation, dict):
        return []
    found: list[str] = []
    items = observation.get("images")
    if isinstance(items, str):
        items = [items]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            item = next((item[k] for k in ("url", "path", "image_url") if k in item), None)
            if isinstance(item, dict):  # OpenAI {"image_url": {"url": ...}}
                item = item.get("url")
        if isinstance(item, str) and item:
            found.append(item)
    single = observation.get("image")
    if isinstance(single, str) and single:
        found.append(single)
    return found


def _new_round(num: int, thinks: list[Event]) -> dict:
    return {
        "round_num": num,
        "think": "\n\n".join(t.content.strip() for t in thinks),
        "tool_call": None,
        "observation": None,
        "_incomplete": any(t.incomplete for t in thinks),
    }


def _set_body(rnd: dict, key: str, ev: Event) -> None:
    rnd[key] = ev.data
    if ev.error is not None:
        rnd[f"{key}_parse_error"] = ev.error
    if ev.repaired:
        rnd[f"{key}_repaired"] = True
    if ev.incomplete:
        rnd["_incomplete"] = True


def _assemble(events: list[Event]) -> dict:
    """Events → the seed's structure, pairing by order in the text."""
    rounds: list[dict] = []
    pending: list[Event] = []  # thinks not yet claimed by a tool call
    awaiting: deque[dict] = deque()  # rounds whose tool call has no observation yet
    answer: Event | None = None
    tail_incomplete = False
    for ev in events:
        kind = ev.kind
        if kind == THINK:
            pending.append(ev)
        elif kind == TOOL_CALL:
            if pending:  # a new turn: calls left without an observation stay without one
                awaiting.clear()
            rnd = _new_round(len(rounds) + 1, pending)
            pending = []
            _set_body(rnd, "tool_call", ev)
            rounds.append(rnd)
            awaiting.append(rnd)
        elif kind == OBSERVATION:
            if awaiting:
                rnd = awaiting.popleft()
            else:  # an observation with no call before it: keep it, in its own round
                rnd = _new_round(len(rounds) + 1, pending)
                pending = []
                rounds.append(rnd)
            _set_body(rnd, "observation", ev)
        elif kind == ANSWER:
            if answer is None:
                answer = ev
            tail_incomplete |= ev.incomplete
        else:
            tail_incomplete |= ev.incomplete
    for rnd in rounds:
        rnd["images"] = round_images(rnd["observation"])
        rnd["incomplete"] = rnd.pop("_incomplete")
    result: dict[str, Any] = {
        "rounds": rounds,
        "final_round": {
            "think": "\n\n".join(t.content.strip() for t in pending),
            "answer": answer.content.strip() if answer is not None else "",
            "incomplete": tail_incomplete or any(t.incomplete for t in pending),
        },
    }
    plan, plan_error = _plan_from_events(events, planner_only=True)
    if plan is not None:
        result["plan"] = plan
    elif plan_error is not None:
        result["plan_parse_error"] = plan_error
    return result


def parse_full_response(full_response: str) -> dict:
    """Split one response into rounds: the seed's ``parse_utils.parse_full_response``.

    Returns ``{"rounds": [{"round_num", "think", "tool_call", "observation", "images",
    "incomplete"}...], "final_round": {"think", "answer", "incomplete"}}``. ``tool_call`` and
    ``observation`` hold the decoded JSON; when it does not parse they hold the stripped text
    and ``tool_call_parse_error`` / ``observation_parse_error`` says why (``*_repaired: True``
    when lenient parsing fixed a slip). A planner response also gets ``plan`` (its raw steps)
    or ``plan_parse_error``. Never raises on any text.
    """
    if not isinstance(full_response, str):
        raise TypeError(f"full_response must be a str, got {type(full_response).__name__}")
    return _assemble(iter_events(full_response))


# ---------------------------------------------------------------------------------------------
# Planner responses


def _steps(value: Any) -> tuple[list | None, str | None]:
    if isinstance(value, dict):
        for key in ("steps", "plan"):
            if isinstance(value.get(key), list):
                return value[key], None
        return None, 'plan is a JSON object without a "steps" list'
    if isinstance(value, list):
        return value, None
    return None, f"plan must be a JSON array of steps, got {_kind(value)}"


def _plan_from_events(events: list[Event], planner_only: bool) -> tuple[list | None, str | None]:
    """A plan from a ``<plan>`` body, else from the text outside tags when it looks like JSON.

    With ``planner_only`` the outside text is considered only when the response has no tool
    call and no answer, so an agent response with stray brackets never grows a plan.
    """
    for ev in events:
        if ev.tag == PLAN:
            if ev.incomplete:
                return None, ev.error
            if ev.error is not None:
                return None, f"<plan> is not valid JSON: {ev.error}"
            return _steps(ev.data)
    if planner_only and any(e.kind in (TOOL_CALL, OBSERVATION, ANSWER) for e in events):
        return None, None
    text = "".join(e.content for e in events if e.kind == "text").strip()
    if not text or not (text[0] in "[{" or "```" in text):
        return None, None
    try:
        return _steps(loads_lenient(text))
    except ValueError as exc:
        return None, f"plan is not valid JSON: {exc}"


def extract_plan(text: str) -> tuple[list | None, str | None]:
    """A planner response (``<think>`` optional, the JSON array bare, fenced or in
    ``<plan>…</plan>``) → ``(raw steps, None)`` or ``(None, error)``; validation of the steps
    is the planner's job."""
    steps, error = _plan_from_events(iter_events(text), planner_only=False)
    if steps is None and error is None:
        error = "no plan found: expected a JSON array of steps"
    return steps, error


# ---------------------------------------------------------------------------------------------
# Statistics


def get_round_statistics(parsed_data: dict) -> dict:
    """The seed's per-response statistics: ``{"total_rounds", "has_final_answer",
    "tools_used"}`` (tool names in call order)."""
    rounds = parsed_data.get("rounds", [])
    return {
        "total_rounds": len(rounds),
        "has_final_answer": bool(parsed_data.get("final_round", {}).get("answer", "")),
        "tools_used": [n for r in rounds if (n := _tool_name(r.get("tool_call"))) is not None],
    }


# ---------------------------------------------------------------------------------------------
# Result files


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
    problems: list[tuple[int, str]] = field(default_factory=list)  # the first few, for callers

    MAX_PROBLEMS = 20

    def note(self, line_num: int, message: str, bad: bool) -> None:
        if bad:
            self.bad_lines += 1
        else:
            self.skipped += 1
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append((line_num, message))

    def add(self, record: dict, parsed: dict | None) -> None:
        self.cases += 1
        response = record.get("response")
        if not isinstance(response, dict) or response.get("error"):
            self.failed += 1
        meta = record.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("stop_reason"), str):
            self.stop_reasons[meta["stop_reason"]] += 1
        if parsed is None:
            return
        rounds = parsed["rounds"]
        self.rounds[len(rounds)] += 1
        if parsed["final_round"]["answer"]:
            self.answered += 1
        if parsed["final_round"]["incomplete"] or any(r["incomplete"] for r in rounds):
            self.incomplete += 1
        for rnd in rounds:
            name = _tool_name(rnd["tool_call"])
            self.tools[name if name is not None else "(unparsed)"] += 1
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
        if self.tools:
            total = sum(self.tools.values())
            w = max(len("tool"), *(len(t) for t in self.tools))
            lines += ["", f"{'tool':<{w}}  calls"]
            lines += [f"{t:<{w}}  {_pct(n, total)}" for t, n in self.tools.most_common()]
        if self.stop_reasons:
            w = max(len("stop reason"), *(len(t) for t in self.stop_reasons))
            lines += ["", f"{'stop reason':<{w}}  cases"]
            lines += [
                f"{t:<{w}}  {_pct(n, self.cases)}" for t, n in self.stop_reasons.most_common()
            ]
        return "\n".join(lines)


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.1f}%)" if total else str(n)


def _read_line(raw: bytes, line_num: int) -> tuple[dict | None, dict | None, str | None, bool]:
    """One result line → (record, seed-form parsed line, problem, problem_is_bad_line)."""
    raw = raw.rstrip(b"\r\n")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return None, None, f"invalid JSON: {exc}", True
    if not isinstance(record, dict):
        return None, None, f"expected a JSON object, got {_kind(record)}", True
    response = record.get("response")
    if not isinstance(response, dict) or "full_response" not in response:
        why = response.get("error") if isinstance(response, dict) else None
        note = f" (case failed: {str(why)[:200]})" if why else ""
        return record, None, f"missing 'response.full_response'{note}", False
    text = response["full_response"]
    if not isinstance(text, str):
        return record, None, f"response.full_response is {_kind(text)}, expected a string", True
    parsed_line = {
        "line_num": line_num,
        "image": record.get("image", ""),
        "question": record.get("question", ""),
        "raw_response": response,
        "parsed_response": parse_full_response(text),
    }
    return record, parsed_line, None, False


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
            record, parsed_line, problem, bad = _read_line(raw, line_num)
            if summary is not None:
                if record is not None:
                    summary.add(record, parsed_line and parsed_line["parsed_response"])
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
        _, parsed_line, problem, _ = _read_line(raw, self._line_nums[index])
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


def _print_problem(path: str | Path) -> Any:
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
    report = on_problem or _print_problem(input_file)
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


# ---------------------------------------------------------------------------------------------
# Command line


def build_arg_parser(prog: str = "python -m r1v4 parse") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Split each result line's full_response into rounds (the seed's "
        "parse_utils form). Without -o or --stats the parsed lines go to stdout.",
    )
    parser.add_argument("input", help="result file (JSONL) written by a batch run")
    parser.add_argument("-o", "--output", help="write the parsed lines to this JSONL file")
    parser.add_argument(
        "--stats", action="store_true", help="print a summary table (cases, rounds, tools...)"
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "python -m r1v4 parse") -> int:
    """``python -m r1v4 parse RESULTS.jsonl [--stats] [-o OUT.jsonl]``.

    Exit status: 0 when every line parsed, 1 when some lines were bad (they are reported on
    stderr with their numbers) or the input cannot be read.
    """
    args = build_arg_parser(prog).parse_args(argv)
    src = Path(args.input)
    if not src.is_file():
        print(f"error: {src}: no such file", file=sys.stderr)
        return 1
    if args.output is not None and Path(args.output).resolve() == src.resolve():
        print(f"error: output {args.output} is the input file", file=sys.stderr)
        return 1
    to_stdout = args.output is None and not args.stats
    summary = FileSummary(path=str(src))
    try:
        out: IO[str] | None = sys.stdout if to_stdout else None
        if args.output:
            out = open(
                args.output, "w", encoding="utf-8", errors="backslashreplace"
            )  # closed below
        try:
            for _, _, parsed_line in iter_jsonl_file(src, summary, _print_problem(src)):
                if out is not None:
                    out.write(json.dumps(parsed_line, ensure_ascii=False) + "\n")
        finally:
            if out is not None and out is not sys.stdout:
                out.close()
        if not to_stdout:
            print(summary.table())
            if args.output:
                print(f"\nSaved parsed results to {args.output}")
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left; not an error of ours
        sys.stdout = open(os.devnull, "w")  # silence the flush at exit
        return 0
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 1 if summary.bad_lines else 0
