"""SearxNG: a self-hosted metasearch instance's JSON API.

`GET {searxng_url}/search?q=…&format=json` returns `{"query", "number_of_results", "results":
[{"url", "title", "content", "engine", "img_src"?, …}], "answers", "infoboxes", "suggestions",
"unresponsive_engines"}`. The instance must list `json` under `search.formats` in its
settings.yml, otherwise it answers 403 — reported as such. SearxNG has no reverse image search,
so image_search says so.
"""

from __future__ import annotations

from typing import Any

from r1v4.tools import ToolError
from r1v4.tools.search.format import entry
from r1v4.tools.search.http import SessionHolder, request_json


def parse_results(data: Any, limit: int) -> list[dict]:
    out: list[dict] = []
    if not isinstance(data, dict):
        return out
    seen: set[str] = set()
    for item in data.get("results") or []:
        if not isinstance(item, dict):
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url or url in seen:
            continue
        seen.add(url)
        out.append(entry(item.get("title"), url, item.get("content"), item.get("img_src") or None))
        if len(out) >= limit:
            break
    return out


class SearxngBackend:
    name = "searxng"

    def __init__(self, base_url: str | None, *, timeout_s: float = 20.0) -> None:
        self.base_url = (base_url or "").rstrip("/")
        self._http = SessionHolder(timeout_s)

    async def text_search(self, query: str, limit: int) -> list[dict]:
        if not self.base_url:
            raise ToolError("searxng search is unavailable: no SearxNG URL is configured")
        try:
            data = await request_json(
                self._http,
                "searxng",
                "GET",
                f"{self.base_url}/search",
                params={"q": query, "format": "json"},
            )
        except ToolError as exc:
            if "HTTP 403" in str(exc):
                raise ToolError(
                    "searxng refused the JSON API (HTTP 403): enable `json` in search.formats "
                    "of the instance's settings.yml"
                ) from exc
            raise
        return parse_results(data, limit)

    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]:
        raise ToolError(
            "image_search is unavailable: the searxng backend has no reverse image search; "
            "describe the image and use text_search instead"
        )

    async def aclose(self) -> None:
        await self._http.aclose()
