"""Published sampling: the request fields a family's own evaluation sent, and its budget of
requests per case, for runs that mean to reproduce its figures (`--sampling published`).

By default the toolkit sends no sampling field it was not given (`--temperature`,
`--extra-body`), so the server's defaults apply — vLLM's are the model's
`generation_config.json`. A family's published numbers were made with its own client's
settings (DeepEyes greedy at 10,240 tokens, Thyme near-greedy in 2,048-token segments,
Qwen3-VL's cookbook at temperature 0.7 with a presence penalty): `--sampling published`
sends those, and anything given explicitly still wins. Each figure names its source.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_MAX_TOKENS",
    "SAMPLING_CHOICES",
    "RequestSampling",
    "Sampling",
    "SamplingChoice",
    "request_sampling",
]

#: --sampling: `server` sends only what was given; `published` adds the family's figures.
SamplingChoice = Literal["server", "published"]
SAMPLING_CHOICES: tuple[str, ...] = get_args(SamplingChoice)

#: max_tokens per generation when neither --max-tokens nor a published figure sets it.
DEFAULT_MAX_TOKENS = 8192
#: Generations per case when neither --max-rounds nor a published budget sets it.
DEFAULT_MAX_ROUNDS = 12

#: Request fields other than temperature and max_tokens, in the order they are listed.
_EXTRA_FIELDS = ("top_p", "top_k", "min_p", "presence_penalty", "repetition_penalty")


@dataclass(frozen=True)
class Sampling:
    """A family's published request settings; None: the publication does not set it."""

    source: str  # owner/repo@commit:path where the figures are set
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None  # per generation (per segment, for Thyme)
    max_rounds: int | None = None  # generations per case (the loop's --max-rounds)
    note: str = ""  # what is published but is not a request field (round budget, timeouts)

    def extra_fields(self) -> dict[str, Any]:
        """The request fields besides temperature and max_tokens (vLLM and SGLang read
        top_k, min_p and repetition_penalty as extra sampling parameters)."""
        return {k: getattr(self, k) for k in _EXTRA_FIELDS if getattr(self, k) is not None}

    def describe(self) -> str:
        """One line for `python -m r1v4 dialects`."""
        parts = [
            f"{f.name} {getattr(self, f.name):g}"
            for f in fields(self)
            if f.name not in ("source", "note") and getattr(self, f.name) is not None
        ]
        text = ", ".join(parts) or "none set"
        return f"{text}{'; ' + self.note if self.note else ''} ({self.source})"


@dataclass(frozen=True)
class RequestSampling:
    """What one case's requests carry: the settings given, else the published figures."""

    temperature: float | None
    max_tokens: int
    extra: dict[str, Any]  # goes under the case's and the user's own request fields
    max_rounds: int  # generations per case
    published: bool  # the family's figures were applied

    def to_record(self) -> dict[str, Any]:
        """For a record's `meta.sampling`: what the requests asked for."""
        out: dict[str, Any] = {"max_tokens": self.max_tokens, **self.extra}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.published:
            out["published"] = True
        return out


def request_sampling(
    choice: SamplingChoice,
    published: Sampling | None,
    *,
    temperature: float | None,
    max_tokens: int | None,
    max_rounds: int | None = None,
) -> RequestSampling:
    """The sampling of a case's requests: `temperature`, `max_tokens` and `max_rounds` as
    given (None: not given), else with `published` the family's figure, else the server's
    default (no temperature), DEFAULT_MAX_TOKENS and DEFAULT_MAX_ROUNDS."""
    use = published if choice == "published" else None
    if use is None:
        return RequestSampling(
            temperature=temperature,
            max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
            extra={},
            max_rounds=max_rounds or DEFAULT_MAX_ROUNDS,
            published=False,
        )
    return RequestSampling(
        temperature=temperature if temperature is not None else use.temperature,
        max_tokens=max_tokens or use.max_tokens or DEFAULT_MAX_TOKENS,
        extra=use.extra_fields(),
        max_rounds=max_rounds or use.max_rounds or DEFAULT_MAX_ROUNDS,
        published=True,
    )
