"""Small inline SVG charts for static reports and the viewer: bars with confidence
whiskers, histograms.

Plain strings built in Python — no JavaScript, no remote fonts or scripts, no `style`
attributes — so a page opens offline and under a strict content security policy. Every
label is escaped: category names and run names come from files the toolkit does not
control. (The same charts as the benchmark report's, moved down here so the viewer, which
may import only the bottom layers, draws with them too.)
"""

from __future__ import annotations

import math
from html import escape

__all__ = ["bar_chart", "histogram"]

_FONT = 'font-family="sans-serif" font-size="11"'


def _fmt(x: float) -> str:
    """Short and still informative: 91.8, 2.35, 0.021."""
    if abs(x) >= 1e6:
        return f"{x:.3g}"
    if abs(x) >= 10 or x == 0:
        return f"{x:.1f}".rstrip("0").rstrip(".")
    if abs(x) >= 1:
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{x:.2g}"


def bar_chart(
    items: list[tuple[str, float | None, tuple[float, float] | None]],
    title: str,
    *,
    max_value: float = 100.0,
    width: int = 560,
) -> str:
    """Horizontal bars (label, value, (low, high) or None), 0…max_value, whiskers for the
    interval, the value written at the bar's end."""
    row, left, right = 22, 170, 60
    height = 34 + row * max(1, len(items))
    span = width - left - right
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value, ci) in enumerate(items):
        y = 28 + i * row
        short = label if len(label) <= 26 else label[:25] + "…"
        out.append(f'<text x="{left - 6}" y="{y + 13}" {_FONT} text-anchor="end">'
                   f"<title>{escape(label)}</title>{escape(short)}</text>")  # fmt: skip
        if value is None:
            out.append(f'<text x="{left}" y="{y + 13}" {_FONT}>no score</text>')
            continue
        w = span * max(0.0, min(value, max_value)) / max_value
        out.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="14" fill="#4a7bd0"/>')
        if ci is not None:
            lo, hi = (left + span * min(max(c, 0.0), max_value) / max_value for c in ci)
            mid = y + 10
            out.append(
                f'<path d="M{lo:.1f} {mid}H{hi:.1f}M{lo:.1f} {mid - 5}V{mid + 5}'
                f'M{hi:.1f} {mid - 5}V{mid + 5}" stroke="#222" stroke-width="1.2" fill="none"/>'
            )
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + 13}" {_FONT}>{_fmt(value)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(values: list[float], title: str, unit: str = "", *, bins: int = 12,
              width: int = 360, height: int = 150) -> str:  # fmt: skip
    """A histogram of `values` with its count, median and maximum in the title line."""
    head = f'<text x="4" y="14" {_FONT} font-weight="bold">{escape(title)}</text>'
    if not values:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40">{head}'
                f'<text x="4" y="32" {_FONT}>no data</text></svg>')  # fmt: skip
    lo, hi = min(values), max(values)
    integers = all(float(v).is_integer() for v in values)
    if integers and hi - lo + 1 <= bins:
        edges = [lo - 0.5 + k for k in range(int(hi - lo) + 2)]
    else:
        step = (hi - lo) / bins or 1.0
        edges = [lo + k * step for k in range(bins + 1)]
    counts = [0] * (len(edges) - 1)
    for v in values:
        k = min(len(counts) - 1, max(0, int(math.floor((v - edges[0]) / (edges[1] - edges[0])))))
        counts[k] += 1
    ordered = sorted(values)
    median = ordered[len(ordered) // 2]
    top, base, left = 24, height - 20, 8
    bar_w = (width - 2 * left) / len(counts)
    peak = max(counts)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="14" {_FONT} font-weight="bold">{escape(title)} '
        f"(n={len(values)}, median {_fmt(median)}{escape(unit)}, max {_fmt(hi)}{escape(unit)})"
        "</text>",
    ]
    for k, c in enumerate(counts):
        h = (base - top) * c / peak
        x = left + k * bar_w
        out.append(f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" '
                   f'height="{h:.1f}" fill="#6aa36a"><title>{c}</title></rect>')  # fmt: skip
    first, last = (lo, hi) if integers else (edges[0], edges[-1])  # integer bins: their values
    out.append(f'<text x="{left}" y="{height - 6}" {_FONT}>{_fmt(first)}{escape(unit)}</text>')
    out.append(f'<text x="{width - left}" y="{height - 6}" {_FONT} text-anchor="end">'
               f"{_fmt(last)}{escape(unit)}</text>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)
