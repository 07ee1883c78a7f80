"""`deepeyes-v2` and `deepeyes-v2-rl`: DeepEyesV2 (Qwen2.5-VL-7B) writing Python in `<code>`
for a persistent Jupyter kernel, and searching with `<tool_call>` JSON.

Sources (verbatim notes in /work/notes/dialects/deepeyes-v2.md; the strings are
`deepeyes_v2_prompts`), `Visual-Agent/DeepEyesV2@0373e6e`:
- `deepeyes-v2` is the evaluation client (`evaluation/VLMEvalKit/vlmeval/api/vllm_api.py:234-556`,
  `agent_utils.py`): system `AGENT_CONFIG['system_prompt']`, the images then the question in
  `user_template`; stops `['</code>', '<|im_end|>']`, a trimmed `</code>` put back in the
  assistant turn; the code taken out of its ```` ```python ```` fence; the result a user
  turn `return_template` (stdout, stderr, then `Images:\\n` always, then the figures); every
  input image and every figure smart-resized with factor 28 (`maybe_resize_image_v2`,
  BILINEAR), the resized input being both what is sent and what `image_1` opens.
- `deepeyes-v2-rl` is the RL environment the model was trained in
  (`reinforcement_learning/verl/workers/agent/envs/deepeyesv2/deepeyesv2.py:86-233`,
  `parallel_env.py:111-127`): stops `["</code>","</tool_call>"]` kept in the output, the
  code result without an `Images:` line when there is no figure, and every next assistant
  turn pre-filled with `<think>` (sent as a continued assistant message).
- Search (both): `<tool_call>{"name": "search", "arguments": {"query": …}}</tool_call>` and
  `{"name": "image_search"}` with no `arguments` key at all (any `arguments` is refused with
  the environment's message); the result a user turn `<tool_response>\\n…\\n</tool_response>`
  in the environment's words (`request_search`, lines 260-327); other names, bad JSON: its
  `Error: …` turns. With a search backend configured, the prompts are the inference demo's
  code-and-search ones (the image where the demo's `<image>` placeholder is).
- The sandbox (`ChenShawn/MultiModal-Jupyter-Sandbox@148d8d8:fast_api_server.py:260-488`): one
  kernel per case, `plt.show()` returning every open figure (`bbox_inches='tight'`),
  stdout and stderr apart, tracebacks in stderr; `import matplotlib.pyplot as plt` done.

Decisions (not in any source): every input image is preloaded (`image_1`, `image_2`, …) as
the prompt promises, although the eval client preloads only `image_1` (`vllm_api.py:492`);
the working folder is read-only, as the prompt says ("Writing file to disk is not allowed");
a sandbox note (a timeout, a memory limit) is added to stderr; all-white figures are sent
(the client drops them); `fix_python_indentation` and autopep8 are not applied (they only
change code that has a statement after a block, which then runs as written); image search
results carry no thumbnails here, so their lines have no `<image>`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from PIL import Image

from r1v4._util.pixels import smart_resize_unchecked
from r1v4.agent.dialects.base import (
    Action,
    Call,
    Conversation,
    Dialect,
    Outcome,
    PromptInfo,
    Refuse,
    RunTool,
    Turn,
    text_part,
)
from r1v4.agent.dialects.code_hooks import strip_fences
from r1v4.agent.dialects.deepeyes_v2_prompts import (
    EVAL_RETURN_TEMPLATE,
    EVAL_STOPS,
    EVAL_SYSTEM_PROMPT,
    EVAL_USER_TEMPLATE,
    RL_RETURN_CODE_PROMPT,
    RL_RETURN_SEARCH_PROMPT,
    RL_STOPS,
    SEARCH_SYSTEM_PROMPT,
    SEARCH_USER_PROMPT,
)
from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.dialects.shapes import call_events, call_from_event, image_parts
from r1v4.agent.gallery import GalleryImage
from r1v4.agent.prompts import ask_with_options
from r1v4.parsing import Event
from r1v4.tools.code_profile import CodeProfile, Figures

__all__ = ["CODE", "DIALECT", "RL_DIALECT", "resize"]

#: The kernel as DeepEyesV2's sandbox runs it (see the module docstring).
CODE = CodeProfile(
    session=True,
    preload="image_{i}",
    preload_start=1,
    prelude="import matplotlib.pyplot as plt\n",
    figures=Figures(show="all", tight=True),
    read_only=True,
    split_streams=True,
    requires=(("matplotlib", "matplotlib"),),
)
_SEARCH_TOOLS = {"search": "text_search", "image_search": "image_search"}


def resize(img: Image.Image) -> Image.Image:
    """`maybe_resize_image_v2` (`agent_utils.py:87-115`): smart_resize, factor 28, 4*28*28 to
    16384*28*28 pixels, BILINEAR; unchanged when already so."""
    h, w = smart_resize_unchecked(img.height, img.width, 28, 4 * 28 * 28, 16384 * 28 * 28)
    if (w, h) == img.size:
        return img
    return img.resize((w, h), Image.Resampling.BILINEAR)


def _system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else EVAL_SYSTEM_PROMPT


def _search_system(info: PromptInfo, custom: str | None) -> str:
    return custom if custom is not None else SEARCH_SYSTEM_PROMPT


def _user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    return [*(g.part() for g in images), text_part(EVAL_USER_TEMPLATE.format(question=question))]


def _search_user(question: str, images: Sequence[GalleryImage]) -> list[dict[str, Any]]:
    """The demo's prompt: its `<image>\\n` is where the image goes (training data's
    placeholder); several images all go there."""
    text = SEARCH_USER_PROMPT.format(question=question)
    if images:
        text = text.removeprefix("<image>")
    return [*(g.part() for g in images), text_part(text)]


def _ends_turn(ev: Event) -> bool:
    return ev.kind == "tool_call" and (ev.tag == "code" or ev.tag is None)


def _calls(turn: Turn, conv: Conversation) -> list[Call]:
    """The turn's first call: code, or a search `<tool_call>` read as the RL environment
    reads it (`json.loads`, a name among search/image_search, no arguments for
    image_search), its refusals in its words."""
    events = call_events(turn, _ends_turn)
    if not events:
        return []
    ev = events[0]
    if ev.tag == "code" or ev.incomplete:
        return [call_from_event(ev)]
    action = ev.content.strip()
    try:
        call = json.loads(action)
    except ValueError as exc:
        return [Call("invalid", error=f"Invalid tool call format: {action}. Error: {exc}")]
    name = call.get("name") if isinstance(call, dict) else None
    if name not in _SEARCH_TOOLS:
        return [Call(str(name or "invalid"), error=f"Invalid tool call name: {action}.")]
    if name == "image_search" and call.get("arguments") is not None:
        return [Call(name, error=f"Invalid tool call parameters for image search: {action}.")]
    return [Call(name, dict(call.get("arguments") or {}))]


def _route(call: Call, conv: Conversation) -> Action:
    if call.name == "code":
        return RunTool("code", {"code": strip_fences(str(call.arguments.get("code", "")))})
    if call.name == "image_search":  # Google Lens on the original image
        if not conv.gallery.inputs:
            return Refuse(call.name, "No results found for the image: there is no image.")
        return RunTool("image_search", {"image_paths": [conv.gallery.inputs[0].name]})
    query = call.arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return Refuse(call.name, f"'query' must be a search string, got {query!r}")
    return RunTool("text_search", {"queries": [query]})


def search_text(result: Any) -> str:
    """A search result in the environment's words (`request_search`): the header, then one
    entry per hit."""
    hits = [e for e in result.data or [] if isinstance(e, dict)]
    if result.tool == "image_search":
        lines = [f"{i}. [{e.get('title') or e.get('url', '')}] \n" for i, e in enumerate(hits, 1)]
        head = f"A Google image search for the image found {len(lines)} results:\n\n"
    else:
        lines = []
        for i, e in enumerate(hits, 1):
            date = f"\nDate published: {e['date']}" if e.get("date") else ""
            snippet = f"\n{e['snippet']}" if e.get("snippet") else ""
            lines.append(f"{i}. [{e.get('title', '')}]({e.get('url', '')}){date}\n{snippet}")
        query = hits[0].get("query", "") if hits else ""
        head = f"A Google search for '{query}' found {len(lines)} results:\n\n"
    return head + "## Web Results\n" + "\n\n".join(lines)


def code_streams(outcome: Outcome) -> tuple[str, str]:
    """(stdout, stderr) of a code result; the sandbox's notes join stderr."""
    data = outcome.result.data if isinstance(outcome.result.data, dict) else None
    if data is None:  # the code never ran (sandbox unavailable, empty code)
        return "", outcome.result.text
    notes = [f"[sandbox] {n}" for n in data.get("notes") or []]
    notes += [f"[note: {n}]" for n in outcome.notes]
    stderr = str(data.get("stderr", ""))
    if notes:
        stderr = (stderr.rstrip("\n") + "\n" if stderr.strip() else "") + "\n".join(notes)
    return str(data.get("stdout", "")), stderr


def _one(outcome: Outcome, rl: bool) -> dict[str, Any]:
    """One result as the user turn the client (or, `rl`, the environment) sends."""
    result = outcome.result
    if result.tool != "code":
        if result.error is not None:
            return {"role": "user", "content": f"Error: {result.text}"}
        body = RL_RETURN_SEARCH_PROMPT.format(search_result=search_text(result)).strip()
        return {"role": "user", "content": body}
    stdout, stderr = code_streams(outcome)
    if rl:
        images = "Images:\n" if outcome.images else ""
        text = RL_RETURN_CODE_PROMPT.format(stdout=stdout, stderr=stderr, image=images).strip()
        text += "\n" if outcome.images else ""  # the images sit right after "Images:\n"
    else:
        text = EVAL_RETURN_TEMPLATE.format(stdout=stdout, stderr=stderr)
    return {"role": "user", "content": [text_part(text), *image_parts(outcome)]}


def _observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    return [_one(o, rl=False) for o in outcomes]


def _rl_observation(outcomes: list[Outcome], conv: Conversation) -> list[dict[str, Any]]:
    return [_one(o, rl=True) for o in outcomes]


def _with_search(d: Dialect) -> Dialect:
    """The demo's code-and-search prompts (a search backend is configured); a search call
    ends the turn at its `</tool_call>` (the RL environment's stop; the eval client has
    no search)."""
    stops = d.stops if "</tool_call>" in d.stops else (*d.stops, "</tool_call>")
    return dataclasses.replace(
        d, system_prompt=_search_system, user_content=_search_user, stops=stops
    )


def _for_run(info: PromptInfo) -> Dialect:
    return _with_search(DIALECT) if info.has_search else DIALECT


def _rl_for_run(info: PromptInfo) -> Dialect:
    return _with_search(RL_DIALECT) if info.has_search else RL_DIALECT


_FLAGS = (
    "--limit-mm-per-prompt '{\"image\": 16}' (no tool or reasoning parser: the calls are text "
    "and the stops must see them)"
)

DIALECT = Dialect(
    name="deepeyes-v2",
    summary="DeepEyesV2-7B as its eval client runs it: <code> fenced Python for a persistent "
    "kernel (image_1… preloaded, plt.show() figures back, no disk writes), stdout/stderr "
    "/Images user turn; search/image_search <tool_call>s with a search backend",
    sources=(
        "Visual-Agent/DeepEyesV2@0373e6e:evaluation/VLMEvalKit/vlmeval/api/prompt.py:20-74",
        "Visual-Agent/DeepEyesV2@0373e6e:evaluation/VLMEvalKit/vlmeval/api/vllm_api.py:234-556",
        "Visual-Agent/DeepEyesV2@0373e6e:evaluation/VLMEvalKit/vlmeval/api/agent_utils.py:15-184",
        "Visual-Agent/DeepEyesV2@0373e6e:evaluation/inference_demo/inference_demo.py:235-345",
        "Visual-Agent/DeepEyesV2@0373e6e:reinforcement_learning/verl/workers/agent/envs/"
        "deepeyesv2/deepeyesv2.py:86-327",
        "ChenShawn/MultiModal-Jupyter-Sandbox@148d8d8:fast_api_server.py:260-488",
    ),
    factor=28,
    vllm_flags=_FLAGS,
    answer_format="<answer>…</answer>",
    system_prompt=_system,
    user_content=_user,
    question=ask_with_options,
    stops=EVAL_STOPS,
    ends_turn=_ends_turn,
    calls=_calls,
    route=_route,
    observation=_observation,
    shape_input=resize,
    shape_output=resize,
    code=CODE,
    for_run=_for_run,
    final_prompt="Please answer the question now, based on what you have found, inside "
    "<answer> </answer> tags.",  # RECONSTRUCTED: the client has no such turn
    extra={
        "sandbox": "persistent kernel per case; image_1… preloaded (the resized inputs); "
        "plt.show() figures returned; working folder read-only; stdout and stderr apart",
    },
    sampling={
        "": Sampling(
            "Visual-Agent/DeepEyesV2@0373e6e:evaluation/VLMEvalKit/vlmeval/api/vllm_api.py:42 "
            "(max_tokens from eval.sh's MODEL_CONFIGS)",
            temperature=0.0,
            max_tokens=20480,
            max_rounds=11,
            note="at most 11 requests (agent_try 10); code timeout 60 s",
        )
    },
)

RL_DIALECT = dataclasses.replace(
    DIALECT,
    name="deepeyes-v2-rl",
    summary="DeepEyesV2-7B as its RL environment talks to it: as deepeyes-v2, with the stops "
    "</code> </tool_call> kept, <think> pre-filled after every result, no Images: line "
    "without figures",
    stops=RL_STOPS,
    keep_stop=True,
    observation=_rl_observation,
    prefill="<think>",
    continues_turns=True,
    for_run=_rl_for_run,
    sampling={
        "": Sampling(
            "Visual-Agent/DeepEyesV2@0373e6e:reinforcement_learning/verl/workers/agent/envs/"
            "deepeyesv2/deepeyesv2.py (the RL rollout)",
            temperature=1.0,
            max_tokens=8192,
            max_rounds=9,
            note="9 turns",
        )
    },
    extra={
        **DIALECT.extra,
        "continuation": "the <think> prefill needs continue_final_message (vLLM)",
    },
)
