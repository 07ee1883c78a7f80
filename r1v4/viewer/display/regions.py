"""Where the model looked, for the case page: the boxes of its crops drawn over the input
images (numbered by round; hovering a box lights up its crop, and the other way round), and
each intermediate image's caption: the name the model gave it, and the region it shows.

Regions come from the observations' `regions` (DESIGN.md, "Regions"), read through
`r1v4.protocol.regions.region_from_record`, which refuses anything that is not a box inside
its input image: an observation is model text like any other. Only numbers reach the page,
as SVG attributes (the CSP allows no inline style).
"""

from __future__ import annotations

from typing import Any

from r1v4.protocol.regions import Region, regions_from_observation

__all__ = ["image_info", "input_overlays", "thumb_id"]


def thumb_id(round_num: Any, k: int) -> str:
    """The page id of the k-th image of a round (what a box on an input points at)."""
    return f"img-r{round_num}-{k}"


def _box_text(region: Region) -> str:
    x0, y0, x1, y1 = region.box
    ops = " → ".join(region.ops) if region.ops else "as is"
    where = region.source or f"input {region.input + 1}"
    return f"{where} [{x0:.0f}, {y0:.0f}, {x1:.0f}, {y1:.0f}] · {ops}"


def image_info(rnd: dict[str, Any], n_inputs: int) -> dict[str, dict[str, Any]]:
    """For each image reference of a round: the name the model saw it under (`names`), its
    region note, and its page id."""
    obs = rnd.get("observation")
    if not isinstance(obs, dict) or not isinstance(obs.get("images"), list):
        return {}
    names = obs.get("names") if isinstance(obs.get("names"), list) else []
    regions = regions_from_observation(obs, n_inputs)
    out: dict[str, dict[str, Any]] = {}
    for k, ref in enumerate(obs["images"]):
        if not isinstance(ref, str) or ref in out:
            continue
        name = names[k] if k < len(names) and isinstance(names[k], str) else ""
        region = regions[k] if k < len(regions) else None
        out[ref] = {
            "name": name[:200],
            "region_note": _box_text(region) if region else "",
            "dom_id": thumb_id(rnd.get("round_num"), k),
        }
    return out


def input_overlays(parsed: dict[str, Any], n_inputs: int) -> dict[int, dict[str, Any]]:
    """Per input image: an SVG viewBox in its pixels (as the tools saw it) and one box per
    crop of it, in round order, each with its label (the round), its crop's page id and a
    title for hovering."""
    overlays: dict[int, dict[str, Any]] = {}
    for rnd in parsed.get("rounds", []):
        obs = rnd.get("observation")
        if not isinstance(obs, dict):
            continue
        num = rnd.get("round_num")
        names = obs.get("names") if isinstance(obs.get("names"), list) else []
        for k, region in enumerate(regions_from_observation(obs, n_inputs)):
            if region is None:
                continue
            over = overlays.setdefault(
                region.input, {"width": region.source_size[0], "height": region.source_size[1],
                               "boxes": []}
            )  # fmt: skip
            sx = over["width"] / region.source_size[0]  # one input, one size: normally 1
            sy = over["height"] / region.source_size[1]
            x0, y0, x1, y1 = region.box
            name = names[k] if k < len(names) and isinstance(names[k], str) else ""
            over["boxes"].append(
                {
                    "x": round(x0 * sx, 2),
                    "y": round(y0 * sy, 2),
                    "w": round((x1 - x0) * sx, 2),
                    "h": round((y1 - y0) * sy, 2),
                    "label": str(num),
                    "round": num,
                    "target": thumb_id(num, k),
                    "title": f"round {num}: {name or 'image'} — {_box_text(region)}",
                }
            )
    for over in overlays.values():
        over["boxes"].sort(key=lambda b: -b["w"] * b["h"])  # small boxes on top, to hover
        over["font"] = round(max(over["width"], over["height"]) * 0.035, 1)
        over["stroke"] = round(max(over["width"], over["height"]) * 0.004, 2)
    return overlays
