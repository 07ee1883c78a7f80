"""What the simulator answers: scripted turns, the generic crop-and-zoom policy, planner mode and
server-side-tools mode. Pure functions of the request body (plus a seeded Random), so a test can
predict every reply.

The reply to a conversation holding k assistant messages is turn k. Scripts are dicts (or JSONL
lines) matched against the request, first match wins, in this order of keys:
  {"id": s}        the request's `request_id` field or X-Request-Id header equals s, or starts
                   with s followed by one of "-:/#" (clients add the turn/attempt after the id),
                   or is the batch runner's `r1v4-<case id>-<turn>[-<attempt>]` for case id s
                   (the longest matching id wins)
  {"question": s}  the first user message's text part(s), joined by "\n", equal s (stripped)
  {"contains": s}  s occurs in the text of any message
plus "turns": [str, ...] (full assistant turns), optionally "plan" (the planner-mode reply: a
str is sent verbatim, a list as JSON after a think block), "server_response" (str: the whole
trajectory when the request has `enable_search: true`) and "faults" (a list of fault names:
attempt i of any turn of this script gets faults[i]; see faults.py).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1v4.protocol.errors import R1V4Error
from r1v4.protocol.plan import PLANNER_SYSTEM_PROMPT
from r1v4.protocol.requestids import names_case

SCRIPT_KEYS = ("id", "question", "contains")
_ID_SEPARATORS = "-:/#"


class ScriptError(R1V4Error, ValueError):
    """A script file or entry is malformed; the message names the file, line and field."""


@dataclass
class Script:
    """One scripted case."""

    key: str  # "id" | "question" | "contains"
    value: str
    turns: list[str]
    plan: str | list | None = None  # str: the reply verbatim; list: a think, then it as JSON
    server_response: str | None = None
    faults: list[str] | None = None
    where: str = ""  # "file.jsonl:3" or "scripts[3]", for messages


@dataclass
class ImageInfo:
    """What the policy needs to know about an input image."""

    width: int
    height: int
    format: str | None


@dataclass
class Reply:
    """The full text of the assistant turn to send, and why (for tests and counters)."""

    text: str
    source: str  # "script", "generic", "plan", "server", "exhausted"
    script: Script | None = None
    turn: int = 0


# ---------------------------------------------------------------------------------------- scripts


def _parse_script(entry: Any, where: str) -> Script:
    from r1v4.sim.faults import FAULT_NAMES

    if not isinstance(entry, dict):
        raise ScriptError(
            f"{where}: a script entry must be a JSON object, got {type(entry).__name__}"
        )
    keys = [k for k in SCRIPT_KEYS if k in entry]
    if len(keys) != 1:
        raise ScriptError(
            f"{where}: give exactly one of 'id', 'question' or 'contains' (got {keys})"
        )
    key = keys[0]
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise ScriptError(f"{where}: field '{key}' must be a non-empty string")
    turns = entry.get("turns", [])
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise ScriptError(f"{where}: field 'turns' must be a list of strings")
    plan = entry.get("plan")
    if plan is not None and not isinstance(plan, (str, list)):
        raise ScriptError(f"{where}: field 'plan' must be a string or a JSON array")
    server_response = entry.get("server_response")
    if server_response is not None and not isinstance(server_response, str):
        raise ScriptError(f"{where}: field 'server_response' must be a string")
    faults = entry.get("faults")
    if faults is not None:
        if not isinstance(faults, list) or not all(
            f is None or (isinstance(f, str) and f in FAULT_NAMES) for f in faults
        ):
            raise ScriptError(
                f"{where}: field 'faults' must be a list of null or {', '.join(FAULT_NAMES)}"
            )
    if not turns and plan is None and server_response is None:
        raise ScriptError(f"{where}: needs 'turns', 'plan' or 'server_response'")
    return Script(
        key,
        value.strip() if key == "question" else value,
        turns,
        plan,
        server_response,
        faults,
        where,
    )


def load_scripts(source: str | Path | list[dict[str, Any] | str | Path] | None) -> list[Script]:
    """Scripts from a JSONL file, or a list whose items are script dicts or JSONL file paths
    (in order); raises ScriptError naming the file and line, or the list index."""
    if source is None:
        return []
    if isinstance(source, list):
        scripts: list[Script] = []
        for i, entry in enumerate(source):
            if isinstance(entry, (str, Path)):
                scripts += load_scripts(entry)
            else:
                scripts.append(_parse_script(entry, f"scripts[{i}]"))
        return scripts
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read script file: {exc.strerror or exc}") from exc
    scripts = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ScriptError(
                f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})"
            ) from exc
        scripts.append(_parse_script(entry, f"{path}:{lineno}"))
    return scripts


# ---------------------------------------------------------------------------- reading the request


def message_text(message: dict[str, Any]) -> str:
    """The text of a message: its string content, or its text parts joined by newlines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def image_urls(message: dict[str, Any]) -> list[str]:
    """The image URLs of a message's content parts, in order."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    urls = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                urls.append(url)
    return urls


@functools.lru_cache(maxsize=8)  # small: it keeps the (large) URL strings alive
def image_info(url: str) -> ImageInfo:
    """Size and format of a data-URL image, decoded with Pillow; ValueError when unreadable.

    Only a prefix is decoded first (Pillow reads the size from the header), so large images
    cost little; the whole payload is decoded only when the prefix is not enough. Cached: one
    request asks for the same URL object several times (validation, policy, usage)."""
    from PIL import Image, UnidentifiedImageError

    header, _, payload = url.partition(",")
    attempts = []
    if len(payload) > 65536:
        attempts.append(payload[:65536])
    attempts.append(payload)
    last: Exception | None = None
    for chunk in attempts:
        try:
            if not url.startswith("data:") or ";base64" not in header:
                raise ValueError("not a base64 data: URL (the simulator never fetches images)")
            data = base64.b64decode(chunk, validate=False)
            with Image.open(io.BytesIO(data)) as img:
                return ImageInfo(img.width, img.height, img.format)
        except (UnidentifiedImageError, OSError, binascii.Error, ValueError, SyntaxError) as exc:
            last = exc
    raise ValueError(f"cannot read image: {last}")


def first_user(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((m for m in messages if m.get("role") == "user"), None)


def request_id(body: dict[str, Any], headers: Mapping[str, str]) -> str | None:
    """The client's id for the request: the X-Request-Id header first (as vLLM reads it),
    then the body's `request_id` field."""
    rid = headers.get("x-request-id") or headers.get("X-Request-Id")
    if rid:
        return rid
    rid = body.get("request_id")
    return rid if isinstance(rid, str) and rid else None


def is_planner(body: dict[str, Any]) -> bool:
    """Planner mode: the planner system prompt, or a model name that says 'planner'."""
    if "planner" in str(body.get("model") or "").lower():
        return True
    return any(
        m.get("role") == "system" and message_text(m).strip() == PLANNER_SYSTEM_PROMPT.strip()
        for m in body.get("messages", [])
    )


def _id_matches(rid: str, value: str) -> bool:
    """A script's `id` names the request: the request id itself, the request id followed by
    a separator and more, or the case id inside the batch runner's `r1v4-<case>-<turn>`."""
    if rid == value or (rid.startswith(value) and rid[len(value)] in _ID_SEPARATORS):
        return True
    return names_case(rid, value)


def script_label(script: Script) -> str:
    """A script entry as a message names it: where it came from and what it matches."""
    return f"{script.where} ({script.key} {script.value[:80]!r})"


def find_script(
    scripts: list[Script], body: dict[str, Any], headers: dict[str, str]
) -> Script | None:
    """The first script that matches the request (see the module docstring)."""
    if not scripts:
        return None
    messages = body.get("messages", [])
    rid = request_id(body, headers)
    user = first_user(messages)
    question = message_text(user).strip() if user else ""
    texts = [message_text(m) for m in messages]
    if rid:
        by_id = [s for s in scripts if s.key == "id" and _id_matches(rid, s.value)]
        if by_id:  # the longest id wins: "case-1" over "case" for r1v4-case-1-0
            return max(by_id, key=lambda s: len(s.value))
    for s in scripts:
        if s.key == "question" and s.value == question:
            return s
    for s in scripts:
        if s.key == "contains" and any(s.value in t for t in texts):
            return s
    return None


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
    if script is not None and script.turns:
        if k < len(script.turns):
            return Reply(script.turns[k], "script", script, k)
        return Reply(
            f"<think>The script ({script.where}) has no turn {k}; ending here.</think>\n"
            "<answer>(simulator: script exhausted)</answer>",
            "exhausted",
            script,
            k,
        )
    image = first_image(body)
    return Reply(generic_turn(body, k, image, question), "generic", None, k)
