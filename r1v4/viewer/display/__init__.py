"""Every value a page shows is built here; templates only loop over what this returns.

Model text stays plain `str` all the way to the template, where autoescaping handles it.
The two places that produce HTML do so from escaped parts only: Pygments output (it escapes
the code it highlights) and nothing else. Links are built as data (`{"text", "href"}`
segments) and only for http/https URLs, so a `javascript:` URL in model text stays text.

One module per page (`listing`, `case`, `compare`) and `rounds` for the parts of a case's
rounds, plus the shared `text` helpers and the `Urls` interface; this package re-exports
every public name so callers import from `r1v4.viewer.display` and need not know which
module holds what.
"""

from __future__ import annotations

from r1v4.viewer.display.badges import match_mark, status_badge
from r1v4.viewer.display.case import MAX_RAW, case_context, case_nav, meta_rows, plan_display
from r1v4.viewer.display.compare import answers_differ, compare_context
from r1v4.viewer.display.list_header import filter_options, totals
from r1v4.viewer.display.listing import (
    COLUMNS,
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    SORT_KEYS,
    ListParams,
    filter_entries,
    list_context,
    list_json,
    list_row,
)
from r1v4.viewer.display.rounds import (
    observation_display,
    search_results,
    think_display,
    tool_display,
)
from r1v4.viewer.display.text import (
    MAX_TEXT,
    cut,
    fmt_seconds,
    highlighted,
    linkify,
    placeholder_parts,
    safe_href,
    shorten_data_urls,
    snippet,
)
from r1v4.viewer.display.urls import Urls

__all__ = [
    "COLUMNS",
    "DEFAULT_PAGE_SIZE",
    "MAX_RAW",
    "MAX_TEXT",
    "PAGE_SIZES",
    "SORT_KEYS",
    "ListParams",
    "Urls",
    "answers_differ",
    "case_context",
    "case_nav",
    "compare_context",
    "cut",
    "filter_entries",
    "filter_options",
    "fmt_seconds",
    "highlighted",
    "linkify",
    "list_context",
    "list_json",
    "list_row",
    "match_mark",
    "meta_rows",
    "observation_display",
    "placeholder_parts",
    "plan_display",
    "safe_href",
    "search_results",
    "shorten_data_urls",
    "snippet",
    "status_badge",
    "think_display",
    "tool_display",
    "totals",
]
