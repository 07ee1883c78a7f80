"""The client's settings and result dataclasses: ``EndpointSettings`` and ``Completion``.

They sit apart from ``ChatClient`` so the response readers (``r1v4.endpoint.read``) can build
a ``Completion`` without importing the client that imports them. ``r1v4.endpoint.client`` re-exports
both; import them from there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from r1v4.endpoint.errors import display_url

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "Completion",
    "EndpointSettings",
    "check_base_url",
]

#: Where a batch sends requests when no base URL is given (a local vLLM).
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
#: The model name requests carry when none is given: the id of R1V4's Hugging Face card
#: (MODELS.md 0; "Skywork/Skywork-R1V4" names no repository). vLLM serves a model under the
#: name it was started with, so pass --model with what the server lists.
DEFAULT_MODEL = "Skywork/R1V4"


def check_base_url(url: str) -> None:
    """ValueError, in one line naming the URL (never its password), unless `url` is an
    http(s) URL with a host and a valid port."""
    try:
        shown = display_url(url)
    except ValueError:  # unparseable: drop any user:password part by hand
        shown = re.sub(r"//[^/@]*@", "//", url)
    if url.lower() in ("http:", "https:"):  # "http://" with its slashes stripped
        raise ValueError(f"base URL {url + '//'!r} has no host (e.g. http://127.0.0.1:8000/v1)")
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"base URL {shown!r} must start with http:// or https://")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it validates it)
    except ValueError as exc:
        raise ValueError(f"base URL {shown!r} is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise ValueError(f"base URL {shown!r} has no host (e.g. http://127.0.0.1:8000/v1)")


@dataclass
class EndpointSettings:
    """Where and how to call the endpoint. ``api_key`` and ``extra_headers`` never print."""

    base_urls: list[str] = field(default_factory=lambda: [DEFAULT_BASE_URL])
    api_key: str | None = field(default=None, repr=False)
    model: str = DEFAULT_MODEL
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    max_retries: int = 5  # real failures retried per request (errors, drops, timeouts)
    #: Wall-clock seconds per request for the waits a pacing server names (429/503 with
    #: Retry-After); those retries do not spend ``max_retries``.
    retry_budget_s: float = 600.0
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: Longest silence allowed between bytes of a response; default: ``timeout_s``.
    read_timeout_s: float | None = None
    max_connections: int = 256
    #: Once a stream's tokens flow, read it at most this often (the kernel gathers what
    #: arrives meanwhile; `r1v4.endpoint.pacing`): far less client CPU per token, at the
    #: price of seeing a stream's end up to this much later. 0: read every event at once.
    stream_read_interval_s: float = 0.05
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    replica_fail_threshold: int = 3
    replica_cooldown_s: float = 30.0
    check_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        urls = self.base_urls
        if isinstance(urls, str):
            urls = [u for u in urls.split(",")]
        cleaned = []
        for u in urls:
            u = str(u).strip().rstrip("/")
            if not u:
                continue
            check_base_url(u)
            if u.endswith("/chat/completions"):
                u = u[: -len("/chat/completions")]
            cleaned.append(u)
        if not cleaned:
            raise ValueError("no base URL given (e.g. http://127.0.0.1:8000/v1)")
        self.base_urls = cleaned
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.retry_budget_s < 0:
            raise ValueError(f"retry_budget_s must be >= 0, got {self.retry_budget_s}")
        if self.timeout_s <= 0 or self.connect_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        if not 0 <= self.stream_read_interval_s <= 1:
            raise ValueError(
                "the stream read interval (--stream-read-interval, stream_read_interval_s) "
                f"must be within 0-1 s, got {self.stream_read_interval_s}"
            )


@dataclass
class Completion:
    """One finished chat completion, folded into R1V4's text protocol."""

    text: str
    finish_reason: str | None
    stop_reason: str | int | None
    usage: dict | None
    raw: dict
    endpoint: str
    latency_s: float
    ttft_s: float | None
    tpot_s: float | None
    attempts: int
    truncated: bool = False
    total_s: float = 0.0
    tool_call_errors: list[str] = field(default_factory=list)
