"""TreeBench's box score: mean IoU of the `<box>` boxes a model writes against the case's
`target_instances`, exactly as VLMEvalKit computes it
(`open-compass/VLMEvalKit@19c0e38:vlmeval/dataset/image_mcq.py:2601-2735`,
`TreeBench.evaluate_box_iou`).

Rules: boxes are read only from the first `<think>…</think>` (the whole response when it
has none) — here the scanner's first think unit, so a `<think>` inside a tool call's code
is not one; each `<box>…</box>` must be `[x1,y1,x2,y2]` with non-negative integers and no
spaces, anchored at its start, and is kept only if x1 < x2 and y1 < y2. For each target,
the best IoU over all predicted boxes; the mean over targets. No valid predicted box → 0;
no target → 1 when any box was written. An agent writes one think per turn, so its later
boxes do not count under this rule; `iou_all_thinks` reads every think for comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from r1v4.parsing import iter_events
from r1v4.protocol.tags import THINK

__all__ = ["boxes_in", "box_iou_score", "mean_best_iou", "think_texts"]

_BOX = re.compile(r"<box>(.*?)</box>", re.S)
_COORDS = re.compile(r"\[(\d+),(\d+),(\d+),(\d+)\]")

Box = Sequence[float]


def think_texts(full_response: str) -> list[str]:
    """The bodies of the response's think units, in order."""
    return [ev.content for ev in iter_events(full_response) if ev.kind == THINK]


def boxes_in(text: str) -> list[list[int]]:
    """Every valid `<box>[x1,y1,x2,y2]</box>` in `text`, by the published rule."""
    out = []
    for match in _BOX.findall(text):
        m = _COORDS.match(match.strip())
        if m:
            x1, y1, x2, y2 = map(int, m.groups())
            if x1 < x2 and y1 < y2:
                out.append([x1, y1, x2, y2])
    return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def mean_best_iou(predicted: list[list[int]], targets: Sequence[Box]) -> float:
    """For each target the best IoU over the predicted boxes, averaged over targets."""
    if not predicted:
        return 0.0
    if not targets:
        return 1.0
    return sum(max(_iou(t, p) for p in predicted) for t in targets) / len(targets)


def box_iou_score(full_response: str, targets: Sequence[Box]) -> dict[str, float | int]:
    """`iou` by the published rule (first think), `iou_all_thinks` over every think, and
    the number of boxes each read."""
    thinks = think_texts(full_response)
    first = thinks[0] if thinks else full_response
    published = boxes_in(first)
    every = [b for t in thinks for b in boxes_in(t)] if thinks else published
    return {
        "iou": mean_best_iou(published, targets),
        "boxes": len(published),
        "iou_all_thinks": mean_best_iou(every, targets),
        "boxes_all_thinks": len(every),
    }
