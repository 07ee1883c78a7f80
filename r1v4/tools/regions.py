"""Regions on the host side: what the sandbox is told about the images it gets (seeds), what
it says back about the images it made (looks, untrusted), and the regions a trajectory's
images already have, so a crop of a crop is traced back to the input image.

A tool that knows its box (a zoom or grounding tool) sets `ToolImage.region` itself, from
`Region.of_input(...)` or the region of the image it zoomed into (`known`), with
`Region.crop` / `Region.resize`; the registry remembers every returned image's region by
its content (`remember`), since the agent writes each image into the trajectory's folder
under a name of its own.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from r1v4.protocol.regions import Region, checked_clip

__all__ = ["STATE_KEY", "accept_looks", "known", "remember", "seed_for", "seeds"]

#: Where a trajectory's regions live in `ToolContext.state`: {sha256 of bytes: Region}.
STATE_KEY = "regions"
MAX_REMEMBERED = 512


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remember(state: dict[str, Any], data: bytes, region: Region | None) -> None:
    """Keep `region` as the region of the image whose bytes are `data`."""
    if region is None:
        return
    table = state.setdefault(STATE_KEY, {})
    if len(table) < MAX_REMEMBERED:
        table[_digest(data)] = region


def known(state: dict[str, Any], data: bytes) -> Region | None:
    """The region of an image of this trajectory, by its bytes (None: not derived from an
    input image, or not known)."""
    return (state.get(STATE_KEY) or {}).get(_digest(data))


def seed_for(region: Region) -> dict[str, Any]:
    """What the sandbox is told about one staged file."""
    return {
        "source": region.source,
        "map": list(region.transform),
        "size": list(region.size),
        "ops": list(region.ops),
    }


def seeds(
    input_files: list[Path], input_names: list[str], others: list[tuple[Path, str]], state: dict
) -> tuple[dict[str, dict[str, Any]], dict[str, Region]]:
    """Seeds for a call's staged files: each input image is itself (its size read from the
    file's header); an earlier intermediate image has the region remembered for its bytes.
    Returns the seeds by staged name and the input regions by the name the sandbox sees.
    Runs in a thread (it reads files)."""
    from r1v4._util.images import image_size

    out: dict[str, dict[str, Any]] = {}
    inputs: dict[str, Region] = {}
    for i, (path, name) in enumerate(zip(input_files, input_names, strict=False)):
        size = image_size(path)
        if size is None:
            continue
        region = Region.of_input(i, name, size)
        inputs[name] = region
        out[name] = seed_for(region)
    for path, name in others:
        try:
            region = known(state, path.read_bytes())
        except OSError:
            continue
        if region is not None:
            out[name] = seed_for(region)
    return out, inputs


def _number_list(value: Any, n: int) -> list[float] | None:
    if not isinstance(value, list) or len(value) != n:
        return None
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        return None
    return [float(v) for v in value]


def accept_looks(
    looks: Any, inputs: dict[str, Region], images: list[tuple[str, tuple[int, int]]]
) -> dict[str, Region]:
    """The regions of the returned images, from what the sandbox said (untrusted): a look
    counts only for a returned image of exactly its size, naming an input image this call
    staged, with a finite map that stays within sane bounds, and a `clip` (a figure: the
    rectangle of its pixels that shows the image), if any, finite, inside the image and not
    empty; the input's size and index are the host's own."""
    sizes = dict(images)
    out: dict[str, Region] = {}
    for look in looks if isinstance(looks, list) else []:
        if not isinstance(look, dict) or look.get("none"):
            continue
        name, source = look.get("file"), look.get("source")
        if not isinstance(name, str) or name not in sizes or source not in inputs:
            continue
        m, size = _number_list(look.get("map"), 6), _number_list(look.get("size"), 2)
        if m is None or size is None or tuple(int(v) for v in size) != tuple(sizes[name]):
            continue
        if any(abs(v) > 1e7 for v in m):
            continue
        clip = None
        if "clip" in look:
            clip = checked_clip(look["clip"], sizes[name])
            if clip is None:
                continue
        ops = look.get("ops") if isinstance(look.get("ops"), list) else []
        ops_clean = tuple(str(o)[:40] for o in ops[:16] if isinstance(o, str) and o.isprintable())
        base = inputs[source]
        size = sizes[name]
        region = Region(base.input, base.source, base.source_size, size, tuple(m), ops_clean, clip)
        x0, y0, x1, y1 = region.box
        if x1 > x0 and y1 > y0:  # it shows some part of the input
            out[name] = region
    return out
