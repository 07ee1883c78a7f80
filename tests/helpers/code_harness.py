"""A code tool driven from synchronous tests: one event loop, the real sandbox behind it."""

from __future__ import annotations

import asyncio

from r1v4.tools import ToolContext, ToolResult
from r1v4.tools.code import CodeSettings, CodeTool


class CodeHarness:
    """Runs code calls through `CodeTool` (real worker, real children) on its own loop."""

    def __init__(self, settings: CodeSettings) -> None:
        self.loop = asyncio.new_event_loop()
        self.tool = CodeTool(settings)

    def run(self, code: str, ctx: ToolContext) -> ToolResult:
        return self.loop.run_until_complete(self.tool.execute({"code": code}, ctx))

    def end(self, ctx: ToolContext) -> None:
        self.loop.run_until_complete(self.tool.end_trajectory(ctx))

    def close(self) -> None:
        self.loop.run_until_complete(self.tool.aclose())
        self.loop.close()
