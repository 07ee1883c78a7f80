"""Running one call a dialect recognised, and keeping what it made.

The dialect routes a call (`Dialect.route`) to a registry tool (code, search), a crop on the
host (zoom, grounding: pure image operations, run in a worker thread so the event loop
never waits on Pillow, and never in the sandbox) or a refusal the model reads. Every image a
call returns goes through the same path: stored content-addressed for the record, written
into the case folder as the model is sent it (the sandbox sees those pixels), added to the
conversation's gallery, and passed through the server guard (a note when it had to change).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.images import ImageError, sniff_extension
from r1v4._util.pixels import PixelRules
from r1v4.agent.casefolder import CaseFolder
from r1v4.agent.dialects.base import (
    Call,
    Conversation,
    Dialect,
    HostCrop,
    Outcome,
    Refuse,
    RunTool,
)
from r1v4.agent.dialects.crops import ZoomError
from r1v4.agent.gallery import GalleryImage, fit_image, png_bytes
from r1v4.protocol.regions import Region
from r1v4.protocol.sidecars import AssetStore, safe_component
from r1v4.tools import ToolContext, ToolImage, ToolRegistry, ToolResult
from r1v4.tools.regions import known, remember

__all__ = ["CallRunner", "Stored"]


@dataclass
class Stored:
    """An outcome plus what the record needs: the stored image references."""

    outcome: Outcome
    refs: list[str] = field(default_factory=list)


class CallRunner:
    """Runs a case's calls; owns nothing but references to the case's state."""

    def __init__(
        self,
        dialect: Dialect,
        conv: Conversation,
        tools: ToolRegistry | None,
        ctx: ToolContext,
        assets: AssetStore,
        folder: CaseFolder,
        rules: PixelRules | None,
    ) -> None:
        self.dialect = dialect
        self.conv = conv
        self.tools = tools
        self.ctx = ctx
        self.assets = assets
        self.folder = folder
        self.rules = rules

    async def run(self, call: Call) -> Stored:
        """The call's outcome; a call that could not be read or run is an error result."""
        if call.error is not None:
            result = ToolResult(tool=call.name, text=call.error, error=call.error)
            return Stored(Outcome(call, result))
        action = self.dialect.route(call, self.conv)
        sent_override: list[bytes | None] = []
        if isinstance(action, Refuse):
            result = ToolResult(tool=action.tool, text=action.message, error=action.message)
        elif isinstance(action, RunTool):
            if self.tools is None:
                msg = f"no tools are available to run {action.name!r}"
                result = ToolResult(tool=action.name, text=msg, error=msg)
            else:
                result = await self.tools.call(action.name, action.arguments, self.ctx)
        else:
            result, sent_override = await self._crop(action)
        return await self._keep(call, result, sent_override)

    async def _crop(self, action: HostCrop) -> tuple[ToolResult, list[bytes | None]]:
        try:
            out = await asyncio.to_thread(action.run)
        except ZoomError as exc:
            return ToolResult(tool=action.tool, text=str(exc), error=str(exc)), []
        data = await asyncio.to_thread(png_bytes, out.image)
        sent = await asyncio.to_thread(png_bytes, out.sent) if out.sent is not None else None
        name = f"{safe_component(action.tool)}_{len(self.conv.gallery.outputs) + 1}.png"
        region = self._crop_region(action, out.box, out.source_size, out.image.size)
        image = ToolImage(data=data, ext="png", name=name, region=region)
        return ToolResult(tool=action.tool, text=out.text, images=[image]), [sent]

    def _crop_region(
        self, action: HostCrop, box: Any, source_size: Any, size: tuple[int, int]
    ) -> Region | None:
        """Where a zoom or grounding crop lies on its input image (DESIGN.md, "Regions"): its
        box on the image it cut, traced back through that image's own region."""
        src = action.image
        if src is None or box is None or source_size is None:
            return None
        if src.is_input:
            base: Region | None = Region.of_input(src.index, src.name, tuple(source_size))
        else:
            base = known(self.ctx.state, src.original)
            if base is not None and base.size != tuple(source_size):
                base = base.resize(tuple(source_size))
        if base is None:
            return None
        return base.crop(tuple(box), op=f"crop {action.tool}").resize(size)

    async def _keep(
        self, call: Call, result: ToolResult, sent_override: list[bytes | None]
    ) -> Stored:
        """Store each image for the record, the sandbox, the gallery; guard what is sent."""
        refs: list[str] = []
        shown: list[GalleryImage] = []
        for n, image in enumerate(result.images):
            ext = image.ext or sniff_extension(image.data)
            refs.append(self.assets.put(self.ctx.case_id, image.data, ext))
            source = sent_override[n] if n < len(sent_override) else None
            index = len(self.ctx.intermediate_images) + 1
            shape = self.dialect.shape_output if source is None else None
            try:
                sent, note = await asyncio.to_thread(
                    fit_image,
                    source or image.data,
                    image.name or f"image {index}",
                    self.rules,
                    shape=shape,
                )
            except ImageError as exc:  # the record keeps it; the model is told why not sent
                result.text += f"\n[note: an image could not be sent: {exc}]"
                continue
            path = self._file(await self.folder.path(), image.name, index, sent.mime)
            await asyncio.to_thread(path.write_bytes, sent.data)
            self._remember(image, sent.data, (sent.width, sent.height))
            self.ctx.intermediate_images.append(path)
            shown.append(
                self.conv.gallery.add(
                    path.name, image.data, sent, output=True, note=note, path=path
                )
            )
        return Stored(Outcome(call, result, shown), refs)

    def _remember(self, image: ToolImage, sent: bytes, sent_size: tuple[int, int]) -> None:
        """Keep the image's region by its bytes, as stored and as written for the sandbox
        (resized pixels get the region resized), so a later call on it traces back."""
        region = image.region
        if region is None:
            return
        remember(self.ctx.state, image.data, region)
        if sent != image.data:
            fitted = region if region.size == sent_size else region.resize(sent_size, "fit")
            remember(self.ctx.state, sent, fitted)

    def _file(self, workdir: Path, name: str, index: int, mime: str) -> Path:
        """A new file in the case folder for an image a tool made."""
        ext = {"image/jpeg": "jpg"}.get(mime, mime.split("/")[-1])
        stem = Path(safe_component(name)).stem if name else f"observation_{index}"
        path = workdir / f"{stem}.{ext}"
        taken = {g.name for g in self.conv.gallery.images}
        k = 2
        while path.exists() or path.name in taken:
            path = workdir / f"{stem}_{k}.{ext}"
            k += 1
        return path
