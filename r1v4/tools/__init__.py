"""Tool registry: one place that maps tool names to executors, so the agent loop never
changes when a tool is added.

A tool is a `ToolSpec`: its name, the text the prompt shows the model, and an async `execute`
that takes the (already alias-normalised) arguments and a per-trajectory `ToolContext`.
Errors the model can act on are raised as `ToolError` and come back as an error observation;
anything else is a bug and propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4.protocol.errors import R1V4Error
from r1v4.protocol.regions import Region
from r1v4.protocol.sidecars import AssetStore

log = logging.getLogger(__name__)


class SandboxSelfTestFailed(R1V4Error, RuntimeError):
    """The batch must not start: the sandbox failed its self-test (the text says why).
    Here, not in `selftest`, so a command can catch it without loading the sandbox."""


class ToolError(R1V4Error):
    """A failure the model should see as an observation (bad arguments, timeout, no results)."""


@dataclass
class ToolImage:
    """An image produced by a tool: raw bytes plus the file extension that describes them;
    `region`, when the tool knows it, is the part of an input image it shows (DESIGN.md,
    "Regions"; a zoom tool builds it with `r1v4.tools.regions`)."""

    data: bytes
    ext: str = "png"
    name: str = ""
    region: Region | None = None


@dataclass
class ToolResult:
    """What one tool call produced. `text` is what the model reads in the observation."""

    tool: str
    text: str
    images: list[ToolImage] = field(default_factory=list)
    error: str | None = None
    data: Any = None  # structured payload (e.g. search entries) for the record and viewer


@dataclass
class ToolContext:
    """Everything a tool may know about the trajectory it serves.

    `input_images` are the case's own image files; `intermediate_images` are files of images
    earlier tool calls produced in this trajectory (oldest first). `state` is scratch space
    that lives as long as the trajectory (e.g. a persistent code session). `code_profile`
    (a `r1v4.tools.code_profile.CodeProfile`) is how the model's family expects its code run.
    """

    case_id: str
    input_images: list[Path]
    assets: AssetStore | None = None
    intermediate_images: list[Path] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    code_profile: Any = None


Executor = Callable[[dict[str, Any], ToolContext], Awaitable[ToolResult]]


@dataclass
class ToolSpec:
    """A tool as the registry knows it.

    `arg_aliases` maps alternative argument names onto canonical ones and wraps singular
    values into lists where the canonical argument is a list (e.g. `query` -> `queries`).
    """

    name: str
    description: str
    execute: Executor
    arg_aliases: dict[str, str] = field(default_factory=dict)
    list_args: frozenset[str] = frozenset()
    end_trajectory: Callable[[ToolContext], Awaitable[None]] | None = None
    aclose: Callable[[], Awaitable[None]] | None = None


class ToolRegistry:
    """Name -> ToolSpec, with argument normalisation and error capture around every call."""

    def __init__(self, specs: Iterable[ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ToolSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"tool {spec.name!r} is registered twice")
        self._specs[spec.name] = spec

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def describe(self) -> str:
        """The tool list as the system prompt shows it."""
        return "\n".join(f"- {s.name}: {s.description}" for s in self._specs.values())

    @staticmethod
    def normalise_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
        """Apply aliases (singular forms) and wrap scalars for list arguments."""
        out: dict[str, Any] = {}
        for key, value in arguments.items():
            canonical = spec.arg_aliases.get(key, key)
            if canonical in spec.list_args and not isinstance(value, list):
                value = [value]
            if canonical in out and isinstance(out[canonical], list) and isinstance(value, list):
                out[canonical] = out[canonical] + value
            else:
                out[canonical] = value
        return out

    async def call(self, name: str, arguments: Any, ctx: ToolContext) -> ToolResult:
        """Run one tool call; model-facing failures come back as a result with `error` set."""
        spec = self._specs.get(name)
        if spec is None:
            known = ", ".join(self._specs) or "none"
            msg = f"unknown tool {name!r}; available tools: {known}"
            return ToolResult(tool=name, text=msg, error=msg)
        if not isinstance(arguments, dict):
            msg = f"arguments for {name!r} must be a JSON object, got {type(arguments).__name__}"
            return ToolResult(tool=name, text=msg, error=msg)
        try:
            result = await spec.execute(self.normalise_arguments(spec, arguments), ctx)
        except ToolError as exc:
            return ToolResult(tool=name, text=str(exc), error=str(exc))
        from r1v4.tools.regions import remember

        for image in result.images:  # a later call on this image traces back to its input
            remember(ctx.state, image.data, image.region)
        return result

    async def end_trajectory(self, ctx: ToolContext) -> None:
        for spec in self._specs.values():
            if spec.end_trajectory is not None:
                try:
                    await spec.end_trajectory(ctx)
                except Exception:  # cleanup must never sink a finished case
                    log.exception("end_trajectory failed for tool %s", spec.name)

    async def aclose(self) -> None:
        for spec in self._specs.values():
            if spec.aclose is not None:
                await spec.aclose()

    async def __aenter__(self) -> ToolRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "ToolContext",
    "ToolError",
    "ToolImage",
    "ToolRegistry",
    "ToolResult",
    "ToolSpec",
]
