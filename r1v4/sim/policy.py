"""What the simulator answers: scripted turns (``scripts``), the generic crop-and-zoom policy
(R1V4's here, the other families' in ``players``), planner mode and server-side-tools mode.
Pure functions of the request body (plus a seeded Random), so a test can predict every reply.
The reply to a conversation holding k assistant messages is turn k."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from r1v4.sim.code_players import CodePlayer, detect_code_player
from r1v4.sim.players import R1V4_CHECK, Player, detect_player
from r1v4.sim.request import ImageInfo, first_user, image_info, image_urls, is_planner, message_text
from r1v4.sim.scripts import Script, find_script


@dataclass
class Reply:
    """The full text of the assistant turn to send, and why (for tests and counters)."""

    text: str
    source: str  # "script", "generic", "plan", "server", "exhausted", "refused"
    script: Script | None = None
    turn: int = 0


# ------------------------------------------------------------------------------ generic policy


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The region the generic policy zooms into: the centre quarter of the image (half the width
    and half the height), fixed by the size so the same image always gets the same crop."""
    left, top = width // 4, height // 4
    right, bottom = max(left + 1, left + width // 2), max(top + 1, top + height // 2)
    return left, top, right, bottom


def crop_code(width: int, height: int) -> str:
    """Python the generic policy asks the sandbox to run: crop, zoom 2x, save, print the size."""
    left, top, right, bottom = crop_box(width, height)
    return (
        "from PIL import Image\n"
        "img = Image.open(image_path)\n"
        f"box = ({left}, {top}, {right}, {bottom})  # centre of a {width}x{height} image\n"
        "crop = img.crop(box)\n"
        "zoom = crop.resize((crop.width * 2, crop.height * 2), Image.LANCZOS)\n"
        'zoom.save("crop_1.png")\n'
        'print(f"saved crop_1.png, size {zoom.width}x{zoom.height}, from box {box}")'
    )


def tool_call_text(name: str, arguments: dict[str, Any]) -> str:
    return (
        "<tool_call>"
        + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        + "</tool_call>"
    )


_OBS_RE = re.compile(r"<observation>(.*?)(?:</observation>|$)", re.S)


@dataclass
class Observed:
    """What the latest turn of the conversation brought back: the observation's JSON (when
    it is JSON), its text, and the images the request really carries after the last
    assistant message. The generic policy reads this as a model reads its context."""

    data: dict[str, Any] | None
    text: str
    images: list[str]

    @property
    def error(self) -> str | None:
        err = (self.data or {}).get("error")
        return " ".join(str(err).split())[:200] if err else None

    def summary(self) -> str:
        """The observation's `result` (or its text) in one short line."""
        body = str((self.data or {}).get("result") or self.error or self.text)
        body = " ".join(body.split())
        return body[:200] + ("…" if len(body) > 200 else "") if body else "nothing"


def latest_observation(messages: list[dict[str, Any]]) -> Observed:
    """The messages after the last assistant one: the last observation in their text, and
    every image part they carry (an observation naming an image is not an image)."""
    tail: list[dict[str, Any]] = []
    for m in reversed(messages):
        if m.get("role") == "assistant":
            break
        tail.insert(0, m)
    text = "\n".join(message_text(m) for m in tail)
    found = _OBS_RE.findall(text)
    body = (found[-1] if found else text).strip()
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, ValueError):
        data = None
    return Observed(
        data if isinstance(data, dict) else None, body, [u for m in tail for u in image_urls(m)]
    )


def _seen(url: str) -> str:
    """How the policy describes an image it received: its size, or that it is unreadable."""
    try:
        info = image_info(url)
    except ValueError:
        return "an image I cannot decode"
    return f"a {info.width}x{info.height} image"


def generic_turn(body: dict[str, Any], k: int, image: ImageInfo | None, question: str) -> str:
    """The generic R1V4-style policy: with an image, crop-and-zoom first, then answer from
    what came back. Like a model, it reads the observation: a failed call or a missing image
    is said so, and it never claims to have seen an image the request did not carry."""
    q = " ".join(question.split())[:160]
    if image is None:
        return (
            f'<think>The question is text-only: "{q}". No image to inspect, so I can answer '
            "directly from what I know (this is a simulated reasoning trace).</think>\n"
            f"<answer>Simulated answer to: {q}</answer>"
        )
    w, h = image.width, image.height
    box = crop_box(w, h)
    if k == 0:
        return (
            f'<think>The image is {w}x{h}. The question asks: "{q}". The detail I need is '
            f"probably small, so I will crop the centre region {box} and zoom it 2x to read "
            "it clearly.</think>\n" + tool_call_text("code", {"code": crop_code(w, h)})
        )
    observed = latest_observation(body.get("messages", []))
    if observed.error:
        return (
            f"<think>The crop failed: {observed.error}. I have no zoomed view of region {box}, "
            "so I cannot read the detail; I will not guess.</think>\n"
            f"<answer>I could not read the region: the crop failed ({observed.error}).</answer>"
        )
    if not observed.images:
        return (
            f"<think>The observation reported: {observed.summary()}. But no image came back, "
            f"so I have not seen region {box} zoomed in and cannot read the detail.</think>\n"
            "<answer>I could not read the region: the zoomed image did not come back.</answer>"
        )
    seen = _seen(observed.images[-1])
    return (
        f"<think>The observation reported: {observed.summary()}. It came back as {seen}: the "
        f"zoomed crop of region {box}, at twice the size, which is enough to answer.</think>\n"
        f"<answer>Simulated answer after zooming into region {box} of the {w}x{h} image.</answer>"
    )


def generic_plan(question: str, has_image: bool) -> str:
    """A valid generic plan (see PLANNER_SYSTEM_PROMPT): 3 or 4 steps, placeholders pointing
    only backwards, a final "none" step."""
    q = " ".join(question.split())[:120] or "the question"
    steps: list[dict[str, Any]] = []
    if has_image:
        steps.append(
            {
                "description": "Reverse image search the input image to identify the main entity.",
                "tool_name": "image_search",
                "parameters": {"image_path": "input_image_1"},
            }
        )
        entity = "[Entity from Step 1]"
        search = {
            "description": f"Search the web for {entity} and the facts the question asks about.",
            "tool_name": "text_search",
            "parameters": {"query": f"{entity} {q}"},
        }
    else:
        search = {
            "description": "Search the web for the facts the question asks about.",
            "tool_name": "text_search",
            "parameters": {"query": q},
        }
    steps.append(search)
    n = len(steps)
    steps.append(
        {
            "description": f"Visit the most relevant page found in Step {n} and read the details.",
            "tool_name": "web_visit",
            "parameters": {"url": f"[URL from Step {n}]"},
        }
    )
    steps.append(
        {
            "description": "Verify that the answer is consistent with every source found.",
            "tool_name": "none",
            "parameters": {},
        }
    )
    return json.dumps(steps, ensure_ascii=False, indent=2)


def plan_turn(question: str, has_image: bool, script: Script | None) -> str:
    """The planner-mode reply. A scripted plan string is sent verbatim (so a script can send
    exactly the malformed reply a test needs); a scripted list or the generic plan is sent as
    JSON after a think block, as the planner model does."""
    if script and isinstance(script.plan, str):
        return script.plan
    if script and isinstance(script.plan, list):
        plan = json.dumps(script.plan, ensure_ascii=False, indent=2)
    else:
        plan = generic_plan(question, has_image)
    q = " ".join(question.split())[:160]
    return (
        f'<think>To answer "{q}" I need to identify the subject, look up facts about it, read '
        "a source and verify. I will write that as a plan (simulated).</think>\n" + plan
    )


def _simulated_observation(call_text: str, i: int) -> str:
    """A plausible observation for a server-side tool call (links under .invalid, never real)."""
    m = re.search(r"<tool_call>(.*?)</tool_call>", call_text, re.S)
    name = "tool"
    if m:
        try:
            name = str(json.loads(m.group(1)).get("name", "tool"))
        except (json.JSONDecodeError, AttributeError):
            pass
    if name == "code":
        result = {"type": "code", "result": f"saved crop_{i}.png (simulated)", "images": []}
        return "<observation>" + json.dumps(result) + "</observation>"
    lines = [
        f"{j}. Simulated result {j} for step {i}\nlink: https://sim{j}.example.invalid/page{i}"
        for j in (1, 2)
    ]
    return "<observation>\n" + "\n".join(lines) + "\n</observation>"


def server_trajectory(
    body: dict[str, Any], image: ImageInfo | None, question: str, script: Script | None
) -> str:
    """Server-side-tools mode (hosted API with enable_search): the whole trajectory at once."""
    if script and script.server_response is not None:
        return script.server_response
    if script and script.turns:
        turns = script.turns
    else:
        q = " ".join(question.split())[:120]
        search = "<think>Let me check the web for context.</think>\n" + tool_call_text(
            "text_search", {"queries": [q]}
        )
        # With an image: crop-and-zoom first; text-only: straight to the search.
        turns = [generic_turn(body, 0, image, question), search] if image else [search]
        turns.append(
            "<think>The observations are consistent; I can answer now (simulated).</think>\n"
            f"<answer>Simulated answer (server-side tools) to: {q}</answer>"
        )
    parts = []
    for i, turn in enumerate(turns, 1):
        parts.append(turn)
        if "<tool_call>" in turn and i < len(turns):
            parts.append(_simulated_observation(turn, i))
    return "\n".join(parts)


def first_image(body: dict[str, Any]) -> ImageInfo | None:
    """Info of the first image of the first user message (None when text-only or unreadable)."""
    user = first_user(body.get("messages", []))
    urls = image_urls(user) if user else []
    if not urls:
        return None
    try:
        return image_info(urls[0])
    except ValueError:
        return None


def continues(body: dict[str, Any]) -> bool:
    """A continuation request: the model goes on with the last (assistant) message
    (`continue_final_message`, vLLM), a prefill or a turn holding a tool's result."""
    messages = body.get("messages") or []
    return bool(body.get("continue_final_message")) and messages[-1].get("role") == "assistant"


def continued_turn(body: dict[str, Any], script: Script) -> Reply:
    """The scripted turn that continues the last assistant message: the first turn not yet
    in the conversation's assistant text, less what the message already holds of it (a
    prefill such as "<think>" is not written twice)."""
    messages = body.get("messages") or []
    said = "".join(message_text(m) for m in messages if m.get("role") == "assistant")
    k = 0
    while k < len(script.turns) and script.turns[k][:60].strip() in said:
        k += 1
    if k >= len(script.turns):
        text = "<answer>(simulator: script exhausted)</answer>"
        return Reply(text, "exhausted", script, k)
    turn, partial = script.turns[k], message_text(messages[-1])
    overlap = next((n for n in range(min(len(turn), len(partial)), 0, -1)
                    if partial.endswith(turn[:n])), 0)  # fmt: skip
    return Reply(turn[overlap:], "script", script, k)


def _refusal(checker: Player | CodePlayer, problems: list[str], body: dict[str, Any]) -> str:
    """The turn a model writes instead of going on, when what came back is wrong."""
    seen = "PROBLEM: " + "; ".join(problems)
    return checker.answer(seen, body) if isinstance(checker, CodePlayer) else checker.answer(seen)


def choose_reply(body: dict[str, Any], headers: dict[str, str], scripts: list[Script]) -> Reply:
    """The assistant turn to send for this request."""
    messages = body.get("messages", [])
    k = sum(1 for m in messages if m.get("role") == "assistant")
    user = first_user(messages)
    question = message_text(user).strip() if user else ""
    script = find_script(scripts, body, headers)
    if is_planner(body):
        has_image = bool(image_urls(user)) if user else False
        return Reply(plan_turn(question, has_image, script), "plan", script, k)
    if body.get("enable_search") is True:
        image = first_image(body)
        return Reply(server_trajectory(body, image, question, script), "server", script, k)
    # The family whose format the request speaks (Qwen3-VL, DeepEyes, Mini-o3, DeepEyesV2,
    # Thyme, PyVision); None: R1V4's.
    player: Player | CodePlayer | None = detect_player(body) or detect_code_player(body)
    if script is not None and script.turns and continues(body):
        problems = player.scripted_problems(body) if isinstance(player, CodePlayer) else []
        if problems:  # a result inside the message it continues, shaped wrongly
            return Reply(_refusal(player, problems, body), "refused", script, k)  # type: ignore[arg-type]
        return continued_turn(body, script)
    if script is not None and script.turns:
        if k < len(script.turns):
            checker = player or R1V4_CHECK
            problems = checker.scripted_problems(body) if k else []
            if problems:  # as the model would: it says what is wrong instead of going on
                return Reply(_refusal(checker, problems, body), "refused", script, k)
            return Reply(script.turns[k], "script", script, k)
        return Reply(
            f"<think>The script ({script.where}) has no turn {k}; ending here.</think>\n"
            "<answer>(simulator: script exhausted)</answer>",
            "exhausted",
            script,
            k,
        )
    if player is not None:
        return Reply(player.generic(body, k), "generic", None, k)
    image = first_image(body)
    return Reply(generic_turn(body, k, image, question), "generic", None, k)
