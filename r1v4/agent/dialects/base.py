"""The dialect contract: how one model family talks to its tools, as data plus a few small
functions (docs/DESIGN.md, "Dialects").

The agent loop (`r1v4.agent.loop`) knows nothing of any family. For each case it asks the
case's `Dialect` for the system prompt and the user message, the request fields (stop
strings, `include_stop_str_in_output`, `tools`), which calls a finished turn holds, what
runs each call (a registry tool, or a crop on the host), how the assistant turn is replayed
and how the tool results go back (role, wrapper text, where the images sit). A module per
family under this package defines one `Dialect` value (`DIALECT`) and cites where each
string comes from; parts no source shows are marked RECONSTRUCTED where they are written.

Whatever the dialect, the record's `full_response` stays the toolkit's text protocol: the
model's own text, then `<observation>{json}</observation>` for each result, so the parser,
viewer and scorer read every family the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from r1v4.agent.dialects.sampling import Sampling
from r1v4.agent.gallery import Gallery, GalleryImage
from r1v4.parsing import Event
from r1v4.tools import ToolResult
from r1v4.tools.code_profile import CodeProfile

__all__ = [
    "Action",
    "Call",
    "Conversation",
    "CropOutput",
    "Dialect",
    "HostCrop",
    "Outcome",
    "PromptInfo",
    "Refuse",
    "RunTool",
    "Turn",
    "text_part",
]


@dataclass(frozen=True)
class PromptInfo:
    """What a dialect may know when it writes the system prompt and the tool schemas."""

    tool_names: tuple[str, ...] = ("code",)  # registry tools this run has
    native_tools: bool = True  # the family's native function calling (`tools=[...]`)
    prompt: str = "auto"  # the --prompt choice
    search: bool = False  # a search backend is configured

    @property
    def has_search(self) -> bool:
        return self.search or "text_search" in self.tool_names


@dataclass
class Turn:
    """One finished assistant turn, as read from the endpoint."""

    text: str  # folded text (reasoning in <think>, structured calls as <tool_call>), trimmed
    content: str  # the text without the blocks folded from structured `tool_calls`
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # as the server sent them
    # The text of the assistant message this turn continues (a prefill such as "<think>", or
    # an earlier turn with its result inside it); calls in it are not this turn's.
    context: str = ""

    @property
    def whole(self) -> str:
        """The assistant message's text so far: the context, then this turn."""
        return self.context + self.text


@dataclass
class Call:
    """A tool call a dialect recognised in a turn, in the model's own terms."""

    name: str  # the model's tool name (image_zoom_in_tool, grounding, code, text_search, …)
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str | None = None  # the structured call's id (native function calling)
    error: str | None = None  # could not be read; the model is told this
    tag: str | None = None  # the tag it was written in, when not <tool_call>


@dataclass(frozen=True)
class RunTool:
    """Run a tool of the registry (code, text_search, image_search, web_visit)."""

    name: str
    arguments: dict[str, Any]


@dataclass
class CropOutput:
    """A host crop's product: `image` is stored (later zooms address it); `sent`, when the
    family resizes what it shows itself (Mini-o3), is what the model is sent."""

    image: Image.Image
    text: str = ""
    sent: Image.Image | None = None
    # Where it was cut (DESIGN.md, "Regions"): the box, in the pixels of the image cropped
    # (of `source_size`), before any resizing; None when the family's crop is not a box.
    box: tuple[float, float, float, float] | None = None
    source_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class HostCrop:
    """A zoom or grounding crop run on the host, off the event loop, never in the sandbox
    (its arguments are numbers). `run` raises `crops.ZoomError` with the model's message.
    `image` is the gallery image it crops (its region is traced back to the input)."""

    tool: str
    run: Callable[[], CropOutput]
    image: GalleryImage | None = None


@dataclass(frozen=True)
class Refuse:
    """A call that cannot run (bad arguments, unknown image): the model reads `message`."""

    tool: str
    message: str


Action = RunTool | HostCrop | Refuse


@dataclass
class Outcome:
    """A call's result as the observation shapers see it: the call, the tool's result, and
    the images it produced as they are sent (guard notes included)."""

    call: Call
    result: ToolResult
    images: list[GalleryImage] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        return [g.note for g in self.images if g.note]


@dataclass
class Conversation:
    """Per-case state a dialect reads: the images so far, how many observations were shown,
    whether native function calling is on, and the case's input file names."""

    gallery: Gallery
    native_tools: bool = True
    observations: int = 0  # tool results already sent back
    turn: int = 0


def text_part(text: str) -> dict[str, Any]:
    """A text content part."""
    return {"type": "text", "text": text}


def _no_tools(info: PromptInfo) -> list[dict[str, Any]] | None:
    return None


def _plain_question(question: str, options: Any, style: str | None) -> str:
    return question


@dataclass(frozen=True)
class Dialect:
    """One model family's interface (see the module docstring). Data first, then functions;
    every function is pure (the loop owns all state and I/O)."""

    name: str
    summary: str  # one line for `python -m r1v4 dialects`
    sources: tuple[str, ...]  # owner/repo@commit:path (or the paper) of each published part
    factor: int  # the processor's pixel factor: 28 (Qwen2.5-VL) or 32 (Qwen3-VL)
    vllm_flags: str  # the `vllm serve` flags this dialect needs (README table)
    answer_format: str  # how the final answer is written: "<answer>", "free text", …

    # -- prompts and messages -------------------------------------------------------------
    # The system prompt: the family's own, or `custom` (a case's `system`, --system-prompt-file)
    # in its place, with whatever the family adds to any system prompt (Qwen's `# Tools`).
    system_prompt: Callable[[PromptInfo, str | None], str]
    user_content: Callable[[str, Sequence[GalleryImage]], list[dict[str, Any]]]
    # The user-prompt wrapping: the question, its options and a case's `prompt_style` (an
    # options template name, `r1v4.agent.prompts.OPTIONS_TEMPLATES`).
    question: Callable[[str, Any, str | None], str] = _plain_question
    tools: Callable[[PromptInfo], list[dict[str, Any]] | None] = _no_tools

    # -- reading a turn ---------------------------------------------------------------------
    stops: tuple[str, ...] = ()  # client stop strings
    keep_stop: bool = False  # send include_stop_str_in_output: the model needs the stop kept
    stops_in_think: bool = False  # a stop that fires inside <think> is acted on (Thyme)
    ends_turn: Callable[[Event], bool] = lambda ev: False  # a scanner event that is a call
    calls: Callable[[Turn, Conversation], list[Call]] = lambda t, c: []

    # -- running and answering calls --------------------------------------------------------
    route: Callable[[Call, Conversation], Action] = lambda c, conv: Refuse(c.name, "no tools")
    assistant_message: Callable[[Turn, list[Call], Conversation], dict[str, Any]] = (
        lambda t, calls, c: {"role": "assistant", "content": t.text}
    )
    observation: Callable[[list[Outcome], Conversation], list[dict[str, Any]]] = (
        lambda outcomes, c: []
    )
    free_text_answer: bool = False  # a turn with no call is the answer (no answer tag)
    final_prompt: str = "Please answer the question now, based on what you have found."
    incomplete_hint: str = "Write the whole call again."  # after a turn cut inside a call
    max_images: int | None = None  # images per conversation, inputs included (Mini-o3: 12)
    prefill: str = ""  # text the assistant turn after an observation starts with
    # Requests go on with the last assistant message (`continue_final_message`): the results
    # are put inside it (Thyme) or a prefill opens the next turn (DeepEyesV2's RL form).
    continues_turns: bool = False
    # What the family does to an input image before the model sees it (Mini-o3's
    # process_image), applied before the served model's pixel rules and the guard.
    shape_input: Callable[[Image.Image], Image.Image] | None = None
    # The same for an image a tool returned (DeepEyesV2 resizes its figures by its rule).
    shape_output: Callable[[Image.Image], Image.Image] | None = None
    # How the family's sandbox runs its code (session, preloaded images, figures, …);
    # None: the toolkit's own (a fresh process per call, or --code-session).
    code: CodeProfile | None = None
    native_tools: bool = False  # the family has native function calling (`--no-native-tools`)
    # The dialect as a run's tools make it (DeepEyesV2 with a search backend speaks its
    # search-enabled prompts); None: the same whatever the tools.
    for_run: Callable[[PromptInfo], Dialect] | None = None
    # The request settings of the family's published evaluation, by variant ("" when it
    # has one; Qwen3-VL's Instruct and Thinking differ), and which variant a model id is.
    sampling: dict[str, Sampling] = field(default_factory=dict)
    sampling_variant: Callable[[str], str] = lambda model: ""
    extra: dict[str, str] = field(default_factory=dict)  # more facts for the listing

    def published_sampling(self, model: str) -> Sampling | None:
        """The published settings for a served model id (None: the family publishes none)."""
        return self.sampling.get(self.sampling_variant(model))

    def describe(self) -> str:
        """Several lines for `python -m r1v4 dialects`."""
        lines = [f"{self.name}: {self.summary}"]
        lines.append(f"  pixels: factor {self.factor}; answer: {self.answer_format}")
        stops = ", ".join(self.stops) or "none (the turn ends at end-of-turn)"
        keep = " (kept in the output)" if self.keep_stop else ""
        lines.append(f"  stop strings: {stops}{keep}")
        if self.max_images:
            lines.append(f"  images per conversation: at most {self.max_images}")
        for key, value in self.extra.items():
            lines.append(f"  {key}: {value}")
        for variant, sampling in self.sampling.items():
            label = f" ({variant})" if variant else ""
            lines.append(f"  published sampling{label}: {sampling.describe()}")
        lines.append(f"  vllm serve flags: {self.vllm_flags}")
        lines += [f"  source: {s}" for s in self.sources]
        return "\n".join(lines)
