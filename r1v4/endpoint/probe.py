"""What does this endpoint actually do? The probes behind `python -m r1v4 check`.

Before a long batch a user wants to know, in one minute, whether the server is reachable and
the key works, whether the model is served under the name they will ask for, whether
streaming ends properly and reports usage, where reasoning arrives (a `reasoning` field,
`reasoning_content`, or `<think>` inline), and how many images one request may carry (vLLM's
--limit-mm-per-prompt). Each probe is one small real request; the report says what to pass
to the batch scripts. The command line is `r1v4.cli.check`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from r1v4._util.images import prepare_image
from r1v4.endpoint.client import ChatClient, EndpointError, EndpointSettings
from r1v4.endpoint.probe_tools import DialectNeeds, probe_dialect

PROBE_PROMPT = "Reply with the single word: ready"


@dataclass
class Finding:
    """One probe's outcome: ok or not, what was seen, and what to do about it."""

    name: str
    ok: bool
    detail: str
    advice: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    simulated: bool = False  # the endpoint declared itself a simulator (X-Simulator)

    def add(self, name: str, ok: bool, detail: str, advice: str = "") -> None:
        self.findings.append(Finding(name, ok, detail, advice))

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def render(self) -> str:
        width = max((len(f.name) for f in self.findings), default=0)
        lines = []
        for f in self.findings:
            mark = "ok  " if f.ok else "FAIL"
            lines.append(f"{mark} {f.name:<{width}}  {f.detail}")
            if f.advice:
                lines.append(f"     {'':<{width}}  -> {f.advice}")
        return "\n".join(lines)


def _png(color: str, size: int = 64) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return prepare_image(buf.getvalue(), "probe").data_url()


def _user(text: str, images: int = 0) -> list[dict[str, Any]]:
    colors = ["red", "green", "blue", "yellow", "purple", "orange", "gray", "cyan"]
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": _png(colors[i % len(colors)])}}
        for i in range(images)
    ]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": text}]}]


def reasoning_mode(raw: dict[str, Any], text: str) -> str:
    """Where the model's reasoning arrived in a non-streamed reply."""
    choices = raw.get("choices") or [{}]
    message = (choices[0] or {}).get("message") or {}
    fields = [k for k in ("reasoning", "reasoning_content") if message.get(k)]
    if len(fields) == 2:
        return "both reasoning and reasoning_content (same text; counted once)"
    if fields:
        return f"field '{fields[0]}' (a reasoning parser is on)"
    if "<think>" in text or "</think>" in text:
        return "inline <think> in content (no reasoning parser)"
    return "none seen"


async def _probe_images(client: ChatClient, report: Report, max_try: int) -> int:
    """Find how many images one request may carry: 1, then 2, 4, ... up to max_try (and
    max_try itself); returns the largest count accepted."""
    accepted = 0
    count = 1
    while count <= max_try:
        try:
            await client.complete(
                _user("How many images are there?", count),
                stream=False,
                max_tokens=8,
                temperature=0,
            )
        except EndpointError as exc:
            if count == 1:
                report.add(
                    "images",
                    False,
                    f"an image was refused: {exc.message}",
                    "is this a vision model? text-only servers say 'At most 0 image(s)'",
                )
                return 0
            report.add(
                "images",
                True,
                f"{accepted} per request accepted, {count} refused: {exc.message[:160]}",
                f"pass --max-images {accepted}, or raise the server's --limit-mm-per-prompt",
            )
            return accepted
        accepted = count
        count = max_try if count < max_try < count * 2 else count * 2
    report.add("images", True, f"up to {accepted} per request accepted (probed to {max_try})")
    return accepted


async def _probe_stream(client: ChatClient, report: Report, plain_text: str) -> None:
    """Does streaming end properly, report usage and give the same text as non-streaming?"""
    try:
        streamed = await client.complete(
            _user(PROBE_PROMPT), stream=True, max_tokens=256, temperature=0
        )
    except EndpointError as exc:
        report.add("stream", False, exc.message, "use batch_nonstream.py against this server")
        return
    detail = (
        f"first token after {streamed.ttft_s * 1000:.0f} ms"
        if streamed.ttft_s is not None
        else "no tokens"
    )
    same = streamed.text == plain_text
    report.add(
        "stream",
        True,
        f"{detail}; usage {'reported' if streamed.usage else 'missing'}"
        f"; {'same text as non-streaming' if same else 'text differs from non-streaming'}",
    )


async def run_probe(
    settings: EndpointSettings, max_images: int = 8, dialect: DialectNeeds | None = None
) -> Report:
    """Run every probe against the first replica; never raises for endpoint behaviour.
    With `dialect`, also whether the server is set up for that model family's tools."""
    report = Report()
    async with ChatClient(settings) as client:
        try:
            warnings = await client.check()
        except EndpointError as exc:
            report.add(
                "reachable",
                False,
                exc.message,
                "check --base-url (it should end in /v1) and --api-key",
            )
            return report
        report.add("reachable", True, ", ".join(settings.base_urls))
        if client.simulators():
            report.simulated = True
            report.add(
                "endpoint",
                True,
                "SIMULATED endpoint (it answers with an X-Simulator header): scripted or "
                "generic turns, not a model",
                "point --base-url at your vLLM/SGLang server to test a model",
            )
        model_warnings = [w for w in warnings if "model" in w]
        report.add(
            "model",
            not model_warnings,
            model_warnings[0] if model_warnings else f"'{settings.model}' is served",
            "pass --model with a name the server lists" if model_warnings else "",
        )
        try:
            plain = await client.complete(
                _user(PROBE_PROMPT), stream=False, max_tokens=256, temperature=0
            )
        except EndpointError as exc:
            report.add("chat", False, exc.message)
            return report
        usage = "with usage" if plain.usage else "without usage"
        report.add(
            "chat",
            True,
            f"{plain.latency_s * 1000:.0f} ms, finish_reason {plain.finish_reason!r}, {usage}",
        )
        report.add("reasoning", True, reasoning_mode(plain.raw, plain.text))
        await _probe_stream(client, report, plain.text)
        wanted = max(max_images, dialect.images or 0) if dialect is not None else max_images
        accepted = await _probe_images(client, report, wanted)
        if dialect is not None:
            await probe_dialect(client, dialect, report, accepted)
    return report
