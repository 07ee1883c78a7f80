"""Events → rounds: the seed's ``parse_full_response`` structure, a plan, and statistics.

Its own module because pairing is where the seed went wrong (the n-th think with the n-th
tool call); here think, tool call, observation and answer are paired by their position in the
text, from the scanner's events, so this module never looks at raw text itself.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from r1v4.parsing.answer import answer_event
from r1v4.parsing.plan import plan_from_events
from r1v4.parsing.scanner import Event, iter_events
from r1v4.parsing.toolcall import tool_name_of
from r1v4.protocol.dataurl import DATA_URL_RE
from r1v4.protocol.tags import OBSERVATION, THINK, TOOL_CALL


def round_images(observation: Any) -> list[str]:
    """Images an observation carries: its ``images`` list (data URLs or asset paths), or the
    data URLs found in it when it is not JSON."""
    if isinstance(observation, str):
        return DATA_URL_RE.findall(observation) if "data:image/" in observation else []
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


def assemble_rounds(events: list[Event]) -> dict:
    """Events → the seed's structure, pairing by order in the text."""
    rounds: list[dict] = []
    pending: list[Event] = []  # thinks not yet claimed by a tool call
    awaiting: deque[dict] = deque()  # rounds whose tool call has no observation yet
    tail_incomplete = False
    has_text = False
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
            if ev.tag is not None:  # the hosted dialect: <text_search>…</text_search>
                rnd["tool_call_tag"] = ev.tag
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
        else:  # an answer, or text
            has_text = has_text or kind == "text"
            tail_incomplete = tail_incomplete or ev.incomplete
    for rnd in rounds:
        rnd["images"] = round_images(rnd["observation"])
        rnd["incomplete"] = rnd.pop("_incomplete")
    answer = answer_event(events)
    if len(pending) == 1:  # the usual final round: one think
        think, thinks_cut = pending[0].content.strip(), pending[0].incomplete
    else:
        think = "\n\n".join([t.content.strip() for t in pending])
        thinks_cut = any([t.incomplete for t in pending])
    result: dict[str, Any] = {
        "rounds": rounds,
        "final_round": {
            "think": think,
            "answer": answer.content.strip() if answer is not None else "",
            "incomplete": tail_incomplete or thinks_cut,
        },
    }
    if has_text:  # a plan is a <plan> body or text outside tags
        plan, plan_error = plan_from_events(events, planner_only=True)
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
    or ``plan_parse_error``. Tool calls in the hosted endpoint's dialect
    (``<text_search>query</text_search>``…) become the same ``{"name", "arguments"}`` calls,
    and their round gets ``tool_call_tag`` (the tag as written). Never raises on any text.
    """
    if not isinstance(full_response, str):
        raise TypeError(f"full_response must be a str, got {type(full_response).__name__}")
    return assemble_rounds(iter_events(full_response))


# ---------------------------------------------------------------------------------------------
# Statistics


def get_round_statistics(parsed_data: dict) -> dict:
    """The seed's per-response statistics: ``{"total_rounds", "has_final_answer",
    "tools_used"}`` (tool names in call order)."""
    rounds = parsed_data.get("rounds", [])
    return {
        "total_rounds": len(rounds),
        "has_final_answer": bool(parsed_data.get("final_round", {}).get("answer", "")),
        "tools_used": [n for r in rounds if (n := tool_name_of(r.get("tool_call"))) is not None],
    }
