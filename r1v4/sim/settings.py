"""Settings of the simulated endpoint: one dataclass, so tests, the demo, benchmarks and the CLI
configure the simulator the same way and every knob has one documented default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_MODEL = "r1v4-sim"
REASONING_FIELDS = ("none", "reasoning_content", "reasoning", "both")

# Named real-world response shapes (docs: /work/shared/ENDPOINTS.md) the simulator can emit on
# demand, so a client can be tested against each of them. Keys are the names accepted by
# SimSettings.quirks and `--quirk`; values say which server does it.
QUIRKS: dict[str, str] = {
    "keepalive": "SSE comments ': OPENROUTER PROCESSING' before and between chunks (OpenRouter)",
    "crlf": "SSE lines end in CRLF instead of LF",
    "multiline_data": "each SSE event's JSON is split over two 'data:' lines",
    "split_writes": "SSE bytes are written in small pieces that cut events anywhere",
    "usage_null": "'usage': null on every chunk before the usage chunk (OpenAI)",
    "continuous_usage": "usage on every chunk (vLLM continuous_usage_stats)",
    "force_usage": "usage chunk even when include_usage was not requested (vLLM flag)",
    "omit_finish_reason": "no finish_reason key on intermediate chunks (vLLM exclude_unset)",
    "empty_finish_reason": "finish_reason '' on intermediate chunks (Ollama)",
    "repeat_role": "role 'assistant' repeated on every delta (OpenRouter, GLM)",
    "sglang_nulls": "explicit 'tool_calls': null, id/name null in later tool-call deltas (SGLang)",
    "empty_choices_first": "a first chunk with choices [] and prompt_filter_results (Azure)",
    "extra_fields": "unknown extra fields: token_ids, metrics, matched_stop, timings, provider, …",
    "trailing_args": "an extra tool-call delta with arguments '' on the finish chunk (vLLM)",
    "flat_error": "error bodies in the old flat form {'object': 'error', 'message', …} (old vLLM, "
    "SGLang)",
    "string_error_code": "error body 'code' is a string (OpenAI)",
    "id_hex16": "ids chatcmpl-<16hex> (vLLM)",
    "id_uuid": "ids chatcmpl-<uuid> (vLLM behind a gateway)",
    "id_bare_hex": "ids are bare hex (SGLang)",
    "id_gen": "ids gen-… (OpenRouter)",
    "null_fingerprint": "system_fingerprint null",
    "tool_calls_empty_list": "non-stream message.tool_calls [] when there are none (vLLM 0.11)",
    "empty_string_content": "non-stream content '' instead of null when only tool calls came",
    "tools_finish_stop": "finish_reason 'stop' even when tool calls were sent (vllm#32506)",
    "answer_in_reasoning": "reasoning-parser failure: the whole turn in the reasoning field, "
    "content null (vllm#17349, #40816); needs a reasoning_field",
    "stop_reason_token_id": "stop_reason is an int token id (151645) on plain EOS",
    "stop_in_reasoning": "client stop strings also cut the reasoning, leaving content empty "
    "(vllm#52393, #53066, #38499: think-in-prompt templates in the V1 detokenizer)",
    "no_stop_reason": "stop strings trimmed without naming the one matched: no stop_reason "
    "(OpenAI)",
}


@dataclass
class SimSettings:
    """Everything the simulator can be told. Times are seconds; rates are per request (0..1).

    Latency model: every request waits `latency_s` (network/queue) plus `ttft_s` (prefill) before
    its first token, then `1 / tokens_per_s` per output token (0 = as fast as possible).
    Streaming paces the chunks that way; non-streaming waits the same total before the body.
    """

    # The served model name. When set, a request naming another model gets 404; when None any
    # model is accepted and /v1/models lists DEFAULT_MODEL. Either way it is a simulator.
    model: str | None = None
    api_key: str | None = None  # when set, /v1/* require "Authorization: Bearer <key>"
    latency_s: float = 0.0
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    reasoning_field: str = "none"  # one of REASONING_FIELDS
    # Always parse <tool_call> blocks into tool_calls, whatever the request (a proxy's habit).
    structured_tool_calls: bool = False
    # vLLM's --enable-auto-tool-choice --tool-call-parser hermes: a request with `tools`
    # gets its <tool_call> blocks as tool_calls; without it such a request gets vLLM's 400.
    tool_parser: bool = False
    # Images inside role:tool messages are accepted (vLLM); False plays servers that refuse
    # them ("tool message content only supports text content", vllm#43203).
    tool_images: bool = True
    # vLLM's continue_final_message (an assistant turn continued, Thyme); False plays an API
    # that does not know the field and refuses it, as OpenAI's does ("Unrecognized request
    # argument supplied").
    continuation: bool = True
    # The context window (/v1/models reports it); a longer request gets vLLM's 400, worded
    # as the chat preprocessing ("chat") or the V1 engine ("engine") words it.
    max_model_len: int = 131072
    context_error: str = "chat"
    report_max_model_len: bool = True  # /v1/models lists max_model_len (vLLM does; not all)
    # Scripts: a JSONL path, or a list of dicts {"id"|"question"|"contains": str, "turns": [...],
    # "plan"?, "server_response"?, "faults"?} and/or JSONL paths; see policy.py.
    scripts: str | list[dict[str, Any] | str] | None = None
    error_rate: float = 0.0  # 500/503/502 with a JSON error body
    # A server pacing its clients: this share of requests gets 429 with Retry-After (whole
    # seconds, at least 1) and retry-after-ms (the exact wait), as OpenAI sends.
    throttle_rate: float = 0.0
    throttle_retry_after_s: float = 1.0
    rate_limit: float | None = None  # requests per second (token bucket); beyond it 429
    drop_rate: float = 0.0  # connection closed midway (stream) or before the body (non-stream)
    hang_rate: float = 0.0  # never answer (until the client gives up, or hang_cap_s)
    hang_cap_s: float = 3600.0
    # Deterministic faults for the first requests, in order: "ok", "429", "500", "502", "503",
    # "drop", "hang", and the in-body errors of a 200 answer: "stream_error" (vLLM: error event
    # then [DONE]), "stream_error_no_done" (OpenAI), "choice_error" (OpenRouter). For tests.
    fault_plan: list[str] = field(default_factory=list)
    error_retry_after_s: float | None = None  # Retry-After on injected 503s (OpenRouter does)
    seed: int = 0
    quirks: list[str] = field(default_factory=list)  # names from QUIRKS
    max_images_per_prompt: int | None = None  # vLLM --limit-mm-per-prompt
    max_body_mb: float = 64.0
    # Like vLLM's --max-num-seqs: at most this many requests generate at once; the others
    # queue (their wait adds to the time to first token), so a client pushing too hard sees
    # latency grow, as on a loaded GPU server. None: no limit.
    max_num_seqs: int | None = None
    tokens_per_chunk: int = 1  # SSE content chunk size, in simulated tokens
    record_requests: bool = True  # keep every request body (tests); off for long benchmarks

    def __post_init__(self) -> None:
        if self.reasoning_field not in REASONING_FIELDS:
            raise ValueError(
                f"SimSettings.reasoning_field: {self.reasoning_field!r} is not one of "
                f"{', '.join(REASONING_FIELDS)}"
            )
        for name in ("error_rate", "throttle_rate", "drop_rate", "hang_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SimSettings.{name}: {value} is not between 0 and 1")
        if self.error_rate + self.throttle_rate + self.drop_rate + self.hang_rate > 1.0:
            raise ValueError("SimSettings: error, throttle, drop and hang rates add up to over 1")
        for name in ("latency_s", "ttft_s", "tokens_per_s", "hang_cap_s", "throttle_retry_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"SimSettings.{name}: must not be negative")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("SimSettings.rate_limit: must be > 0 requests per second (or None)")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise ValueError("SimSettings.max_num_seqs: must be >= 1 (or None)")
        if self.context_error not in ("chat", "engine"):
            raise ValueError("SimSettings.context_error: 'chat' or 'engine'")
        if self.max_model_len < 1:
            raise ValueError("SimSettings.max_model_len: must be >= 1")
        if self.tokens_per_chunk < 1:
            raise ValueError("SimSettings.tokens_per_chunk: must be >= 1")
        unknown = [q for q in self.quirks if q not in QUIRKS]
        if unknown:
            raise ValueError(
                f"SimSettings.quirks: unknown {', '.join(unknown)}; known: {', '.join(QUIRKS)}"
            )
        from r1v4.sim.faults import FAULT_NAMES  # local: faults imports nothing from here

        bad = [f for f in self.fault_plan if f not in FAULT_NAMES]
        if bad:
            raise ValueError(
                f"SimSettings.fault_plan: unknown {', '.join(bad)}; known: {', '.join(FAULT_NAMES)}"
            )

    @property
    def model_id(self) -> str:
        """The id /v1/models reports."""
        return self.model or DEFAULT_MODEL

    def has(self, quirk: str) -> bool:
        """Whether a named quirk (see QUIRKS) is on."""
        return quirk in self.quirks
