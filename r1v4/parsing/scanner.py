"""The tag scanner: text (whole or streamed) → ``Event`` per think, tool call, observation,
answer, ``<plan>`` body and stray text.

Tool calls come in two dialects: ours (``<tool_call>{"name", "arguments"}</tool_call>``) and
the hosted DeepResearch endpoint's, one tag per tool (``<text_search>query</text_search>``,
see ``toolcall.DIALECT_TOOLS``). A dialect tag counts only where a tool call could start:
outside every body. Before the first unit, text may be a think whose ``<think>`` the chat
template put in the prompt (a headless think), so a dialect tag after text there counts only
when it is closed and the next thing after it is not a headless ``</think>``: families that
write prose before their call (PyVision) are read as calls, and a headless think that quotes
a tag stays a think. Until that is known (the closing tag, then what follows it, or the end)
the scanner waits.

Kept apart from the rounds because it is the part that must be exact about offsets and
chunking: one resumable ``Scanner`` serves both ``iter_events`` (whole text) and
``IncrementalParser`` (chunks of any size, in ``incremental.py``), so every way of cutting a
response into chunks reports the same events as the whole text.

Size note: the module also holds `_whole_text`, the flat loop that reads the usual complete
response without the resumable machinery. It shares the scanner's tag tables and decoding
and must give exactly its events, so the two stay side by side rather than in modules
that would reach into each other's private tables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from r1v4._util.lenient_json import loads_lenient, loads_strict
from r1v4.parsing.toolcall import DIALECT_TOOLS, parse_dialect_call
from r1v4.protocol.tags import ANSWER, OBSERVATION, PLAN, THINK, TOOL_CALL


@dataclass(slots=True)
class Event:
    """One unit of a response, reported when its closing tag is seen (or at the end).

    ``content`` is the raw text between the tags. ``start``/``end`` are offsets in the whole
    response (opening tag to past the closing tag). For ``tool_call`` and ``observation``
    (and ``<plan>`` bodies, reported as ``kind="text", tag="plan"``) ``data`` is the decoded
    JSON — strict if possible, else repaired (``repaired=True``), else the stripped raw text
    with ``error`` set. A dialect tool call is ``kind="tool_call"`` with ``tag`` naming its
    tag (``"text_search"``…) and ``data`` the call it maps to (``{"name", "arguments"}``).
    ``incomplete`` means the text ended before the unit did.
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


_DIALECT = frozenset(DIALECT_TOOLS)
_TAGS = (THINK, TOOL_CALL, OBSERVATION, ANSWER, PLAN, *DIALECT_TOOLS)
_JSON_TAGS = frozenset({TOOL_CALL, OBSERVATION, PLAN})
# Bodies whose closing tag is skipped inside JSON strings when the body starts as JSON.
_SCAN_TAGS = _JSON_TAGS | _DIALECT
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
_NEXT_RE = {t: re.compile(f'"|</{t}>') for t in _SCAN_TAGS}
_LITERAL, _TRUNCATED = -1, -2


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


def _decode_dialect(tag: str, body: str, incomplete: bool) -> tuple[Any, str | None, bool]:
    """(call, error, repaired) for a dialect tool call; a cut body is never a call."""
    if incomplete:
        return body.strip(), f"unterminated <{tag}>: the response ends before </{tag}>", False
    call, error, repaired = parse_dialect_call(tag, body)
    return (body.strip(), error, False) if call is None else (call, None, repaired)


class Scanner:
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
        self.head = True  # no unit seen yet: the text so far may be a headless think

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

    def open_unit(self, pending: str = "") -> Event | None:
        """The unit still open (its text so far plus ``pending``, ``incomplete=True``); None
        between units."""
        if self.tag is None:
            return None
        content = self.buf[self.body :] + pending
        kind, tag = (self.tag, None)
        if self.tag == PLAN:
            kind, tag = "text", PLAN
        elif self.tag in _DIALECT:
            kind, tag = TOOL_CALL, self.tag
        return Event(
            kind, content, self.base + self.pos, self.base + self.body + len(content), True, tag
        )

    # one unit per call; returns False when it must wait for more text
    def _step(self, final: bool, out: list[Event]) -> bool:
        if self.tag is None:
            return self._outside(final, out)
        if self.tag in _SCAN_TAGS:
            return self._json_body(final, out)
        return self._plain_body(final, out)

    def _head_call(self, m: re.Match, final: bool) -> bool | None:
        """Whether a dialect tag after text at the start is a call (see the module
        docstring): closed, and not followed by a headless `</think>`. None: not known yet."""
        close = f"</{m.group(1)}>"
        end = self.buf.find(close, m.end())
        if end < 0:
            return False if final else None
        after = _OUTSIDE_RE.search(self.buf, end + len(close))
        if after is None:
            return True if final else None
        return after.group(1) is not None

    def _outside(self, final: bool, out: list[Event]) -> bool:
        buf = self.buf
        m = _OUTSIDE_RE.search(buf, max(self.hunt, self.pos))
        while (
            m is not None
            and self.head
            and m.group(1) in _DIALECT
            and buf[self.pos : m.start()].strip()
        ):
            verdict = self._head_call(m, final)  # text before it: maybe a headless think
            if verdict is None:
                self.hunt = m.start()  # wait for more text
                return False
            if verdict:
                break
            m = _OUTSIDE_RE.search(buf, m.end())
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
        self.head = False
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
        elif ev.kind in _DIALECT:
            ev.kind, ev.tag = TOOL_CALL, ev.kind
            ev.data, ev.error, ev.repaired = _decode_dialect(ev.tag, ev.content, ev.incomplete)
        out.append(ev)
        self.tag = None
        self.mode = None
        self.pos = self.hunt = after

    def _event(self, kind: str, content: str, start: int, end: int, **kw: Any) -> Event:
        return Event(kind, content, self.base + start, self.base + end, **kw)


def iter_events(text: str) -> list[Event]:
    """All events of a complete response, in order. The usual response (JSON bodies that
    parse strictly up to their first closing tag, no dialect tag) is read by one flat loop,
    `_whole_text`; anything else by the resumable `Scanner`, the reference both agree with."""
    events = _whole_text(text)
    if events is None:
        scanner = Scanner()
        scanner.buf = text
        events = scanner.run(final=True)
    return events


_PLAIN_CLOSE = {t: f"</{t}>" for t in (THINK, ANSWER)}
_JSON_CLOSE = {t: f"</{t}>" for t in _JSON_TAGS}


def _whole_text(text: str) -> list[Event] | None:
    """`Scanner.run(final=True)` for a whole text in one flat loop, or None when the text
    needs the scanner's slow paths (see `iter_events`)."""
    out: list[Event] = []
    search, find = _OUTSIDE_RE.search, text.find
    pos, n = 0, len(text)
    while True:
        m = search(text, pos)
        if m is None:
            gap = text[pos:]
            if gap.strip():
                last = gap.rfind("<")
                cut = last >= 0 and gap[last:] in _PREFIXES
                out.append(Event("text", gap, pos, n, cut))
            return out
        tag = m.group(1)
        start, body = m.span()
        if tag is not None and tag in _DIALECT:
            return None
        gap = text[pos:start]
        if tag is None:  # headless </think>
            if gap.strip():
                out.append(Event(THINK, gap, pos, body))
            pos = body
            continue
        if gap.strip():
            out.append(Event("text", gap, pos, start))
        close = _PLAIN_CLOSE.get(tag)
        if close is not None:
            i = find(close, body)
            if i < 0:
                out.append(Event(tag, text[body:], start, n, True))
                return out
            pos = i + len(close)
            out.append(Event(tag, text[body:i], start, pos))
            continue
        ev = _json_unit(text, tag, start, body)
        if ev is None:
            return None
        out.append(ev)
        pos = ev.end
        if pos >= n:
            return out


def _json_unit(text: str, tag: str, start: int, body: int) -> Event | None:
    """A tool call, observation or plan of a whole text, as the scanner reads it; None when
    the body is JSON that does not parse strictly up to the first closing tag."""
    close, n = _JSON_CLOSE[tag], len(text)
    j = body
    while j < n and text[j] in " \t\r\n":
        j += 1
    i = text.find(close, body)
    if j < n and text[j] in "{[":  # JSON: only a strict parse at the first close here
        if i < 0:
            return None
        content = text[body:i]
        try:
            value = loads_strict(content.strip())
        except (json.JSONDecodeError, RecursionError):
            return None
        ev = Event(tag, content, start, i + len(close), data=value)
    else:
        end = n if i < 0 else i
        content = text[body:end]
        ev = Event(tag, content, start, n if i < 0 else i + len(close), i < 0)
        ev.data, ev.error, ev.repaired = _decode(content, tag, i < 0)
    if tag == PLAN:
        ev.kind, ev.tag = "text", PLAN
    return ev
