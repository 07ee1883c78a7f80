"""Serper (google.serper.dev): Google web search and Google Lens, the provider R1V4's authors used.

- text: `POST {base}/search` `{"q", "num"}` with header `X-API-KEY`; results under `organic`
  (`title`, `link`, `snippet`, `position`), plus optional `answerBox` / `knowledgeGraph`.
- reverse image: `POST {base}/lens` `{"url"}`; matches under `organic` (`title`, `source`,
  `link`, `imageUrl`, `thumbnailUrl`).

Lens needs a public image URL: a crop the model just made is a local file with none. So image
search works only when the operator gives a folder that a public web server exposes
(`image_upload_dir` + `image_public_base_url`): the image is written there under its content hash
and that URL is sent. Without it image_search says so instead of pretending.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from r1v4.tools import ToolError
from r1v4.tools.search.format import entry
from r1v4.tools.search.http import SessionHolder, request_json

DEFAULT_BASE_URL = "https://google.serper.dev"


def parse_search(data: Any, limit: int) -> list[dict]:
    """Entries from a /search response: answer box and knowledge graph first, then organic."""
    out: list[dict] = []
    if not isinstance(data, dict):
        return out
    box = data.get("answerBox")
    if isinstance(box, dict) and box.get("link") and (box.get("answer") or box.get("snippet")):
        out.append(entry(box.get("title"), box["link"], box.get("answer") or box.get("snippet")))
    for item in data.get("organic") or []:
        if isinstance(item, dict) and item.get("link"):
            out.append(entry(item.get("title"), item["link"], item.get("snippet")))
    return out[:limit]


def parse_lens(data: Any, limit: int) -> list[dict]:
    """Entries from a /lens response (`organic`, older `visual_matches`)."""
    items = []
    if isinstance(data, dict):
        items = data.get("organic") or data.get("visualMatches") or data.get("visual_matches") or []
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("link"):
            snippet = item.get("source") or item.get("snippet") or ""
            image = item.get("imageUrl") or item.get("thumbnailUrl")
            out.append(entry(item.get("title"), item["link"], snippet, image))
    return out[:limit]


class SerperBackend:
    """Text search and Lens via Serper; `visit` is supplied by the web fetcher."""

    name = "serper"

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 20.0,
        image_upload_dir: str | Path | None = None,
        image_public_base_url: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.image_upload_dir = Path(image_upload_dir) if image_upload_dir else None
        self.image_public_base_url = (image_public_base_url or "").rstrip("/") or None
        self._http = SessionHolder(timeout_s)

    def _headers(self) -> dict[str, str]:
        if not self.api_key:
            raise ToolError("serper search is unavailable: SERPER_API_KEY is not set")
        return {"X-API-KEY": self.api_key, "Content-Type": "application/json"}

    async def text_search(self, query: str, limit: int) -> list[dict]:
        data = await request_json(
            self._http,
            "serper",
            "POST",
            f"{self.base_url}/search",
            json={"q": query, "num": max(limit, 10)},
            headers=self._headers(),
        )
        return parse_search(data, limit)

    async def public_url(self, image_bytes: bytes, ext: str) -> str:
        """Publish the image where Lens can fetch it, or explain why that is impossible."""
        if not (self.image_upload_dir and self.image_public_base_url):
            raise ToolError(
                "image_search is unavailable with the serper backend: Google Lens needs a public "
                "URL for the image and this run has no image upload folder configured "
                "(image_upload_dir + image_public_base_url); use text_search instead"
            )
        name = f"{hashlib.sha256(image_bytes).hexdigest()[:32]}.{ext or 'png'}"
        target = self.image_upload_dir / name
        if not target.exists():
            await asyncio.to_thread(self._write, target, image_bytes)
        return f"{self.image_public_base_url}/{name}"

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(target)

    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]:
        headers = self._headers()
        url = await self.public_url(image_bytes, Path(name).suffix.lstrip(".").lower())
        data = await request_json(
            self._http,
            "serper",
            "POST",
            f"{self.base_url}/lens",
            json={"url": url},
            headers=headers,
        )
        return parse_lens(data, limit)

    async def aclose(self) -> None:
        await self._http.aclose()
