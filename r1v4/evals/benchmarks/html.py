"""The benchmark report as one static HTML page: the README-shaped table, per benchmark and
run a bar chart of accuracy per category with its 95% Wilson interval, per run the
distributions of latency, rounds and tool calls, and the notes (scorers and their sources,
what was left out).

Everything is inline (CSS and SVG from `r1v4._util.svg`); the page needs no JavaScript
and loads nothing remote. Every text that comes from a file — run names, categories,
notes — is escaped.
"""

from __future__ import annotations

from html import escape

from r1v4._util.svg import bar_chart, histogram
from r1v4.evals.benchmarks.registry import BENCHMARKS
from r1v4.evals.benchmarks.render import notes
from r1v4.evals.benchmarks.report import BenchRun, table_rows

__all__ = ["render_html"]

_CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
section{margin:18px 0}.charts{display:flex;flex-wrap:wrap;gap:12px}
.note{color:#555;font-size:13px}
"""


def _cell(fig: object) -> str:
    value = getattr(fig, "value", None)
    if value is None:
        return "—"
    wald = getattr(fig, "wald", None)
    text = f"{value:.1f}" + (f" ±{wald[1]:.2f}" if wald else "")
    ci = getattr(fig, "ci95", None)
    tip = f"n={getattr(fig, 'n', 0)}" + (f", Wilson 95% {ci[0]:.1f}–{ci[1]:.1f}" if ci else "")
    return f'<span title="{escape(tip)}">{escape(text)}</span>'


def _table(runs: list[BenchRun], published: bool) -> str:
    head = ["benchmark", "split", "metric"] + [f"run {i}" for i in range(1, len(runs) + 1)]
    head += ["published R1V4"] if published else []
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in table_rows(runs):
        cells = [f"<td>{escape(x)}</td>" for x in (row.title, row.split, row.metric)]
        cells += [f'<td class="num">{_cell(v)}</td>' for v in row.values]
        if published:
            pub = "—" if row.published is None else f"{row.published:.1f}"
            cells.append(f'<td class="num">{pub}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(runs: list[BenchRun], published: bool = False) -> str:
    """The whole page."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>r1v4 benchmark report</title><style>{_CSS}</style></head><body>",
        "<h1>Benchmark report</h1><ol>",
        *(f"<li>run {i}: {escape(r.run)}</li>" for i, r in enumerate(runs, start=1)),
        "</ol>",
        _table(runs, published),
    ]
    for name, recipe in BENCHMARKS.items():
        charts = []
        for i, run in enumerate(runs, start=1):
            figs = run.benchmarks.get(name)
            if figs is None or not figs.by_category:
                continue
            items = [(k, f.value, f.ci95) for k, f in figs.by_category.items()]
            charts.append(bar_chart(items, f"run {i}: accuracy % by category (95% Wilson)"))
        if charts:
            parts.append(f"<section><h2>{escape(recipe.title)}</h2><div class='charts'>")
            parts += charts
            parts.append("</div></section>")
    parts.append("<h2>Runs: latency, rounds, tool calls per case</h2>")
    for i, run in enumerate(runs, start=1):
        cases = [c for cs in run.cases.values() for c in cs]
        parts.append(f"<section><h3>run {i}: {escape(run.run)}</h3><div class='charts'>")
        parts.append(histogram([c.latency_s for c in cases if c.latency_s is not None],
                               "latency", " s"))  # fmt: skip
        parts.append(histogram([c.rounds for c in cases if c.rounds is not None], "rounds"))
        parts.append(histogram([float(c.tool_calls) for c in cases if c.tool_calls is not None],
                               "tool calls"))  # fmt: skip
        parts.append("</div></section>")
    parts.append("<h2>Notes</h2><ul class='note'>")
    parts += [f"<li>{escape(n)}</li>" for n in notes(runs, published)]
    parts.append("</ul></body></html>\n")
    return "".join(parts)
