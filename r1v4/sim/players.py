"""The simulated model in each family's dialect: it recognises the family from the request (as
a model recognises its own format in the prompt), writes that family's zoom call, and reads
what came back where that family expects it.

A player's generic policy zooms into the centre of the first image, then answers with the
colour it sees in the crop it received. Before answering it checks the observation the way
the model would meet it: the wrapper text its training used, an image where one belongs,
a crop sized by the family's own rule and showing the region it asked for. Anything else is
said in the reply, and the answer is then that it could not see, so a client that shapes an
observation wrongly gets a wrong (scored) answer, never a covered-up right one. Scripted turns
go through the same check before each reply after the first.

The strings each player looks for are its own copies of the published ones (sources beside
each), independent of the client's, so a test that passes shows the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from r1v4.sim.request import first_user, image_urls, message_text
from r1v4.sim.vision import Region, colour_name, decode_image, region_difference

__all__ = ["PLAYERS", "R1V4_CHECK", "Player", "detect_player", "saw", "tail"]

CENTRE = Region(0.25, 0.25, 0.75, 0.75)  # the region every generic player zooms into
_MAX_DIFFERENCE = 40.0  # thumbnails of the right region differ by a few units; others by far more


def tail(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages after the last assistant message (the latest observation)."""
    out: list[dict[str, Any]] = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        out.insert(0, m)
    return out


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [p for p in content or [] if isinstance(p, dict)]


def _first_image(body: dict[str, Any]) -> str | None:
    user = first_user(body.get("messages", []))
    urls = image_urls(user) if user else []
    return urls[0] if urls else None


@dataclass(frozen=True)
class Player:
    """One family as the simulator plays it."""

    name: str
    detect: Callable[[dict[str, Any]], bool]
    zoom: Callable[[tuple[int, int]], str]  # the turn that zooms into CENTRE of an image this size
    answer: Callable[[str], str]  # the final turn, given what the model saw
    wrapper: Callable[[list[dict[str, Any]], int], list[str]]  # problems with the shape
    size_rule: Callable[[int, int], str | None]  # a problem with the crop's size, or None

    def check(self, body: dict[str, Any], region: Region | None = CENTRE) -> tuple[list[str], Any]:
        """(problems, the crop image or None) of the latest observation: its wrapper, an
        image, the family's size rule, and (with `region`) that it shows that region of
        the first input image."""
        messages = body.get("messages", [])
        k = sum(1 for m in messages if m.get("role") == "assistant")
        latest = tail(messages)
        problems = self.wrapper(latest, k)
        urls = [u for m in latest for u in image_urls(m)]
        if not urls:
            return [*problems, "no image came back with the tool result"], None
        try:
            crop = decode_image(urls[-1])
        except ValueError as exc:
            return [*problems, f"the returned image cannot be decoded ({exc})"], None
        rule = self.size_rule(*crop.size)
        if rule:
            problems.append(f"the {crop.size[0]}x{crop.size[1]} crop breaks my pixel rule: {rule}")
        source_url = _first_image(body)
        if region is not None and source_url is not None:
            try:
                diff = region_difference(crop, decode_image(source_url), region)
            except ValueError:
                diff = 0.0
            if diff > _MAX_DIFFERENCE:
                problems.append(
                    "the zoomed image does not show the region I asked for "
                    f"(difference {diff:.0f}/255 from that region of the input image)"
                )
        return problems, crop

    def scripted_problems(self, body: dict[str, Any]) -> list[str]:
        """What is wrong with the observation a scripted turn is about to answer: its
        wrapper, and a missing or misshapen image after a zoom call."""
        messages = body.get("messages", [])
        last = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
        if last is None:
            return []
        called = message_text(last) + json.dumps(last.get("tool_calls") or [])
        if "image_zoom_in_tool" in called or "<grounding>" in called:
            return self.check(body, region=None)[0]
        return self.wrapper(
            tail(messages), sum(1 for m in messages if m.get("role") == "assistant")
        )

    def generic(self, body: dict[str, Any], k: int) -> str:
        """The generic policy's turn k."""
        url = _first_image(body)
        if url is None:
            return self.answer("no image to look at")
        if k == 0:
            try:
                size = decode_image(url).size
            except ValueError:
                return self.answer("an input image I cannot decode")
            return self.zoom(size)
        return self.reply_after(body)

    def reply_after(self, body: dict[str, Any]) -> str:
        """The answer after a zoom: the crop's colour, or what was wrong with the result."""
        problems, crop = self.check(body)
        if problems:
            return self.answer("PROBLEM: " + "; ".join(problems))
        return self.answer(f"COLOUR: {colour_name(crop)}")


def saw(seen: str) -> tuple[str, str]:
    """(what the model says it saw, its short answer)."""
    if seen.startswith("COLOUR: "):
        colour = seen[len("COLOUR: ") :]
        return f"the zoomed-in centre of the image is {colour}", colour
    if seen.startswith("PROBLEM: "):
        return f"I could not use the zoom result: {seen[len('PROBLEM: ') :]}", "unknown"
    return seen, "unknown"


def _tool_call(name: str, arguments: dict[str, Any]) -> str:
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{body}\n</tool_call>"


# -- qwen3-vl ---------------------------------------------------------------------------------
# The schema and wrapper are Qwen-Agent's (QwenLM/Qwen-Agent@31a4d36:
# qwen_agent/tools/image_zoom_in_qwen3vl.py, llm/fncall_prompts/nous_fncall_prompt.py:81).


def _qwen_detect(body: dict[str, Any]) -> bool:
    for tool in body.get("tools") or []:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name") == "image_zoom_in_tool":
            return True
    system = _system_text(body)
    return "<tools>" in system and '"img_idx"' in system and "image_zoom_in_tool" in system


def _qwen_zoom(size: tuple[int, int]) -> str:
    # The cookbook's recorded turns (cell 7) in its words, pointed at the centre.
    args = {"label": "centre of the image", "bbox_2d": [250, 250, 750, 750], "img_idx": 0}
    return (
        "Okay, I need to answer a question about this image. The details in the middle are "
        "small, so I will zoom in on the centre of the image to get a better look at them.\n\n"
        + _tool_call("image_zoom_in_tool", args)
    )


def _qwen_answer(seen: str) -> str:
    said, short = saw(seen)
    return f"Okay, {said}.\n\nBased on the visual evidence, the answer is: {short}"


def _qwen_wrapper(latest: list[dict[str, Any]], k: int) -> list[str]:
    if any(m.get("role") == "tool" for m in latest):
        return []  # the chat template renders role: tool inside <tool_response> itself
    for m in latest:
        texts = [p.get("text", "") for p in _parts(m) if p.get("type") == "text"]
        if m.get("role") == "user" and texts and texts[0] == "<tool_response>\n":
            if texts[-1] != "\n</tool_response>":
                return ["the tool result does not end with </tool_response>"]
            return []
    return ["the tool result is neither a role:tool message nor a <tool_response> user turn"]


def _qwen_size(w: int, h: int) -> str | None:
    if w % 32 or h % 32:
        return "Qwen-Agent resizes crops to multiples of 32"
    if w * h < 256 * 32 * 32:
        return "Qwen-Agent enlarges crops to at least 256*32*32 pixels"
    return None


# -- deepeyes ---------------------------------------------------------------------------------
# Visual-Agent/DeepEyes@6c5e796:eval/eval_vstar.py:47-81 (prompt), 169-233 (observation).
DEEPEYES_USER_PROMPT = (
    "\nThink first, call **image_zoom_in_tool** if needed, then answer. Format strictly as:  "
    "<think>...</think>  <tool_call>...</tool_call> (if tools needed)  <answer>...</answer> "
)


def _deepeyes_detect(body: dict[str, Any]) -> bool:
    system = _system_text(body)
    return "image_zoom_in_tool" in system and '"required":["bbox"]' in system


def _deepeyes_zoom(size: tuple[int, int]) -> str:
    w, h = size
    box = CENTRE.box(size)
    args = {"bbox_2d": list(box), "label": "the centre of the image"}
    call = json.dumps({"name": "image_zoom_in_tool", "arguments": args})
    return (
        f"<think>The image is {w}x{h}; the detail the question asks about is in the centre, "
        f"so I will zoom in on the region {list(box)}.</think>  <tool_call>\n{call}\n</tool_call>"
    )


def _deepeyes_answer(seen: str) -> str:
    said, short = saw(seen)
    return f"<think>{said[0].upper() + said[1:]}.</think>  <answer>{short}</answer>"


def _deepeyes_wrapper(latest: list[dict[str, Any]], k: int) -> list[str]:
    users = [m for m in latest if m.get("role") == "user"]
    if not users:
        return ["no user turn carries the tool result"]
    parts = _parts(users[-1])
    kinds = [p.get("type") for p in parts]
    texts = [p.get("text") for p in parts if p.get("type") == "text"]
    if kinds != ["text", "image_url", "text", "text"] or texts != [
        "<tool_response>",
        DEEPEYES_USER_PROMPT,
        "</tool_response>",
    ]:
        return [
            "the tool result is not [<tool_response>, image, the instruction, </tool_response>]"
        ]
    return []


def _deepeyes_size(w: int, h: int) -> str | None:
    return "DeepEyes resizes crops to multiples of 28" if w % 28 or h % 28 else None


# -- mini-o3 ----------------------------------------------------------------------------------
# Mini-o3/Mini-o3@8654dbf:verl/trainer/constants.py (TOOL_CALL_CROP_MULTI_TRUN_PROMPT).
MINI_O3_AFTER = (
    ".\nContinue your reasoning process inside <think> and </think>. If needed, you can continue "
    "to zoom in on the original image or any of the observations, by outputting <grounding> and "
    "</grounding> as before. If the final answer is confirmed, put your final answer inside "
    "<answer> and </answer>."
)


def _mini_o3_detect(body: dict[str, Any]) -> bool:
    return "<grounding>" in _system_text(body)


def _mini_o3_zoom(size: tuple[int, int]) -> str:
    return (
        "<think>The detail the question asks about is in the middle of the image. A bounding "
        "box covering approximately 0.25 to 0.75 horizontally and 0.25 to 0.75 vertically "
        "should capture it.</think>\n"
        '<grounding>{"bbox_2d": [0.25, 0.25, 0.75, 0.75], "source": "original_image"}'
        "</grounding>"
    )


def _mini_o3_answer(seen: str) -> str:
    said, short = saw(seen)
    return f"<think>In Observation 1, {said}.</think>\n<answer>{short}</answer>"


def _mini_o3_wrapper(latest: list[dict[str, Any]], k: int) -> list[str]:
    users = [m for m in latest if m.get("role") == "user"]
    if not users:
        return ["no user turn carries the zoom-in image"]
    parts = _parts(users[-1])
    head = f"After the above Action {k - 1}, here is the the zoom-in image (Observation {k}):\n"
    kinds = [p.get("type") for p in parts]
    texts = [p.get("text") for p in parts if p.get("type") == "text"]
    if kinds != ["text", "image_url", "text"] or texts != [head, MINI_O3_AFTER]:
        return [f"the observation is not [{head!r}, image, the continuation text]"]
    return []


def _mini_o3_size(w: int, h: int) -> str | None:
    if not 0.97 * 40_000 <= w * h <= 2_000_000:
        return "Mini-o3 sends crops at 40,000 to 2,000,000 pixels"
    return None


# -- r1v4 (scripted turns only; its generic policy is policy.generic_turn) -------------------
# The paper's Table 1: "All search results, webpage contents, or code execution outputs will
# be placed within <observation>...</observation>" (SkyworkAI/Skywork-R1V@b806cef).


def _r1v4_wrapper(latest: list[dict[str, Any]], k: int) -> list[str]:
    text = "".join(p.get("text", "") for m in latest for p in _parts(m) if p.get("type") == "text")
    if not text.lstrip().startswith("<observation>") or not text.rstrip().endswith(
        "</observation>"
    ):
        return ["the tool result is not inside <observation>...</observation>"]
    return []


def _r1v4_zoom(size: tuple[int, int]) -> str:
    raise NotImplementedError("the r1v4 generic policy is policy.generic_turn")


def _r1v4_answer(seen: str) -> str:
    said, short = saw(seen)
    return f"<think>{said[0].upper() + said[1:]}.</think>\n<answer>{short}</answer>"


#: Checks the observations scripted R1V4 turns answer (never detected from a request: R1V4's
#: format is what a request without another family's prompt speaks).
R1V4_CHECK = Player(
    "r1v4", lambda body: False, _r1v4_zoom, _r1v4_answer, _r1v4_wrapper, lambda w, h: None
)


def _system_text(body: dict[str, Any]) -> str:
    return "\n".join(message_text(m) for m in body.get("messages", []) if m.get("role") == "system")


PLAYERS: dict[str, Player] = {
    p.name: p
    for p in (
        Player("qwen3-vl", _qwen_detect, _qwen_zoom, _qwen_answer, _qwen_wrapper, _qwen_size),
        Player(
            "deepeyes",
            _deepeyes_detect,
            _deepeyes_zoom,
            _deepeyes_answer,
            _deepeyes_wrapper,
            _deepeyes_size,
        ),
        Player(
            "mini-o3",
            _mini_o3_detect,
            _mini_o3_zoom,
            _mini_o3_answer,
            _mini_o3_wrapper,
            _mini_o3_size,
        ),  # fmt: skip
    )
}


def detect_player(body: dict[str, Any]) -> Player | None:
    """The family whose format the request speaks, or None (R1V4's, the default policy)."""
    return next((p for p in PLAYERS.values() if p.detect(body)), None)
