"""DeepResearch tools: `text_search`, `image_search` (reverse image search) and `web_visit`.

`make_search_tools(SearchSettings(...))` returns the three ToolSpecs for the registry. One
backend serves all three:

- `local`   — offline: a corpus folder indexed by `python -m r1v4 index CORPUS_DIR` (FTS5 for
              text, perceptual hashes for images, page text by URL for web_visit);
- `serper`  — Google search and Lens via google.serper.dev (SERPER_API_KEY); pages are fetched
              from the web with the URL guard;
- `searxng` — a self-hosted SearxNG instance's JSON API; pages fetched from the web likewise.

`image_search` only ever reads images of the trajectory it serves (the case's inputs and the
images earlier tool calls produced), named the way the model knows them ("crop_1.png",
"image_1.png"); any other path is refused, so the model cannot make the toolkit read files.

With `cache_path` set, results are kept in a SQLite cache (see `r1v4.tools.cache`).

Size note: `make_search_tools` runs past 60 lines because it declares the three tools' specs
(names, descriptions the model reads, aliases) side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol, get_args

from r1v4.tools import ToolContext, ToolError, ToolResult, ToolSpec
from r1v4.tools.search.format import cap, clean, entry, format_page, format_search

log = logging.getLogger(__name__)

#: The search backends, by name (the command line's choices come from here).
SearchBackend = Literal["local", "serper", "searxng"]
BACKENDS: tuple[str, ...] = get_args(SearchBackend)


@dataclass
class SearchSettings:
    """How the search tools run. The CLI fills this from flags and environment (the
    library reads no environment variable: `serper_api_key` comes from SERPER_API_KEY there).
    """

    backend: SearchBackend = "local"
    index_path: str | Path | None = None  # local: default <corpus_dir>/.r1v4-index.sqlite
    corpus_dir: str | Path | None = None  # local: indexed on first use if no index exists
    serper_api_key: str | None = field(default=None, repr=False)
    serper_base_url: str = "https://google.serper.dev"
    # Lens needs a public image URL: a folder a public web server exposes, and its base URL.
    image_upload_dir: str | Path | None = None
    image_public_base_url: str | None = None
    searxng_url: str | None = None
    allow_private_urls: bool = False
    web_timeout_s: float = 20.0
    web_max_bytes: int = 3_000_000
    search_timeout_s: float = 20.0
    max_results: int = 5  # entries per query / image
    max_chars: int = 6000  # cap on one search observation
    page_max_chars: int = 8000  # cap on one visited page's text
    max_items: int = 5  # queries / images / URLs handled per call
    cache_path: str | Path | None = None  # None: no cache


class Backend(Protocol):
    name: str

    async def text_search(self, query: str, limit: int) -> list[dict]: ...
    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]: ...
    async def aclose(self) -> None: ...


def resolved_index_path(settings: SearchSettings) -> Path | None:
    if settings.index_path:
        return Path(settings.index_path)
    if settings.corpus_dir:
        from r1v4.tools.search.local import default_index_path

        return default_index_path(settings.corpus_dir)
    return None


def check_search_settings(settings: SearchSettings) -> list[str]:
    """Start-up messages (printed once by the caller): warnings such as a missing API key,
    and notes (starting with "note: ") about work that is expected, such as a first build."""
    warnings: list[str] = []
    if settings.backend not in BACKENDS:
        return [f"unknown search backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}"]
    if settings.backend == "local":
        index = resolved_index_path(settings)
        if index is None:
            warnings.append(
                "search backend 'local' has no corpus: set --search-index or --search-corpus; "
                "search tools will answer with an error"
            )
        elif not index.exists():
            if settings.corpus_dir and Path(settings.corpus_dir).is_dir():
                warnings.append(f"note: search index {index} is built now (first use)")
            else:
                warnings.append(
                    f"search index {index} does not exist; build it with "
                    "`python -m r1v4 index CORPUS_DIR`"
                )
    elif settings.backend == "serper":
        if not settings.serper_api_key:
            warnings.append(
                "SERPER_API_KEY is not set: text_search and image_search will answer with an error"
            )
        if not (settings.image_upload_dir and settings.image_public_base_url):
            warnings.append(
                "serper image_search (Google Lens) needs a public URL for each image; without "
                "image_upload_dir + image_public_base_url it will answer with an error"
            )
    elif settings.backend == "searxng":
        if not settings.searxng_url:
            warnings.append("search backend 'searxng' needs --searxng-url")
        warnings.append(
            "searxng has no reverse image search: image_search will answer with an error"
        )
    if settings.allow_private_urls and settings.backend != "local":
        warnings.append("web_visit may fetch private and loopback addresses (--allow-private-urls)")
    return warnings


# -- arguments ----------------------------------------------------------------------------


def _string_list(args: dict[str, Any], key: str, tool: str, example: str) -> list[str]:
    value = args.get(key)
    if not isinstance(value, list) or not value:
        raise ToolError(f'{tool} needs {{"{key}": [{example}]}}')
    items: list[str] = []
    for v in value:
        if not isinstance(v, str) or not v.strip():
            raise ToolError(f"{tool}: every item of {key!r} must be a non-empty string")
        items.append(v.strip())
    return list(dict.fromkeys(items))  # drop duplicates, keep order


_INPUT_ALIAS = re.compile(r"image_?(\d+)\.\w+", re.IGNORECASE)


def resolve_trajectory_image(name: str, ctx: ToolContext) -> Path:
    """The trajectory image the model means by `name`; ToolError for anything else.

    Matching is by file name only: newest intermediate image first, then the case's inputs,
    then `image_N.*` as the N-th input image. Directories in `name` are ignored, so no path the
    model writes can reach a file outside the trajectory.
    """
    if name.startswith("data:") or "://" in name:
        raise ToolError(
            "image_search: pass the file name of an image from this conversation, "
            f"not {name[:40]!r}"
        )
    base = PurePosixPath(name.replace("\\", "/")).name
    candidates = [*reversed(ctx.intermediate_images), *ctx.input_images]
    for path in candidates:
        if Path(path).name == base:
            return Path(path)
    m = _INPUT_ALIAS.fullmatch(base)
    if m and 1 <= int(m.group(1)) <= len(ctx.input_images):
        return Path(ctx.input_images[int(m.group(1)) - 1])
    known = ", ".join(dict.fromkeys(Path(p).name for p in candidates)) or "none"
    raise ToolError(
        f"image_search: {name!r} is not an image of this conversation; known images: {known}"
    )


async def read_trajectory_images(args: dict[str, Any], ctx: ToolContext, limit: int):
    names = _string_list(args, "image_paths", "image_search", '"crop_1.png"')[:limit]
    paths = [resolve_trajectory_image(n, ctx) for n in names]
    try:
        blobs = await asyncio.gather(*(asyncio.to_thread(p.read_bytes) for p in paths))
    except OSError as exc:
        raise ToolError(f"image_search: cannot read image: {exc.strerror}") from exc
    return names, blobs


# -- the three tools ----------------------------------------------------------------------


class SearchTools:
    """The executors of the three tools over one backend (and a web fetcher for web_visit)."""

    def __init__(self, settings: SearchSettings, backend: Backend, visitor: Any) -> None:
        self.settings = settings
        self.backend = backend
        self.visitor = visitor  # has `async visit(url) -> (title, url, text)`
        self._closed = False

    async def text_search(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        s = self.settings
        queries = _string_list(args, "queries", "text_search", '"query"')[: s.max_items]
        results = await asyncio.gather(
            *(self.backend.text_search(q, s.max_results) for q in queries)
        )
        sections = [(f'"{q}"', r) for q, r in zip(queries, results, strict=True)]
        data = [{**e, "query": q} for q, r in zip(queries, results, strict=True) for e in r]
        return ToolResult("text_search", format_search(sections, s.max_chars), data=data)

    async def image_search(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        s = self.settings
        names, blobs = await read_trajectory_images(args, ctx, s.max_items)
        results = await asyncio.gather(
            *(
                self.backend.image_search(b, n, s.max_results)
                for n, b in zip(names, blobs, strict=True)
            )
        )
        sections = [(n, r) for n, r in zip(names, results, strict=True)]
        data = [{**e, "query": n} for n, r in zip(names, results, strict=True) for e in r]
        return ToolResult("image_search", format_search(sections, s.max_chars), data=data)

    async def web_visit(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        s = self.settings
        urls = _string_list(args, "urls", "web_visit", '"https://…"')[: s.max_items]
        outcomes = await asyncio.gather(
            *(self.visitor.visit(u) for u in urls), return_exceptions=True
        )
        blocks: list[str] = []
        data: list[dict] = []
        for url, out in zip(urls, outcomes, strict=True):
            if isinstance(out, ToolError):
                blocks.append(str(out))
                data.append({**entry("", url, ""), "error": str(out)})
            elif isinstance(out, BaseException):
                raise out
            else:
                title, final_url, text = out
                blocks.append(format_page(title, final_url, text, s.page_max_chars))
                data.append(entry(title, final_url, clean(text, 300), chars=len(text)))
        if all("error" in d for d in data):
            raise ToolError("\n".join(blocks))
        text = cap("\n\n---\n\n".join(blocks), s.page_max_chars * min(len(urls), 3))
        return ToolResult("web_visit", text, data=data)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.backend.aclose()
        if self.visitor is not self.backend and hasattr(self.visitor, "aclose"):
            await self.visitor.aclose()


class _UnavailableBackend:
    """Stands in when the configured backend cannot start (e.g. no index): every call says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def text_search(self, query: str, limit: int) -> list[dict]:
        raise ToolError(f"search is unavailable: {self.reason}")

    async def image_search(self, image_bytes: bytes, name: str, limit: int) -> list[dict]:
        raise ToolError(f"image search is unavailable: {self.reason}")

    async def visit(self, url: str) -> tuple[str, str, str]:
        raise ToolError(f"web_visit is unavailable: {self.reason}")

    async def aclose(self) -> None:
        return None


def make_backend(settings: SearchSettings) -> tuple[Backend, Any]:
    """(search backend, page visitor) for the settings."""
    if settings.backend == "local":
        from r1v4.tools.search.local import LocalBackend, SearchIndexError, build_index

        index = resolved_index_path(settings)
        if index is None:
            b = _UnavailableBackend("local", "no search corpus or index is configured")
            return b, b
        if not index.exists() and settings.corpus_dir and Path(settings.corpus_dir).is_dir():
            stats = build_index(settings.corpus_dir, index)
            log.info(
                "built search index %s (%d pages, %d images)", index, stats.pages, stats.images
            )
        try:
            local = LocalBackend(index)
        except SearchIndexError as exc:
            b = _UnavailableBackend("local", str(exc))
            return b, b
        return local, local
    from r1v4.tools.search.web import WebFetcher

    fetcher = WebFetcher(
        allow_private=settings.allow_private_urls,
        timeout_s=settings.web_timeout_s,
        max_bytes=settings.web_max_bytes,
    )
    if settings.backend == "serper":
        from r1v4.tools.search.serper import SerperBackend

        return SerperBackend(
            settings.serper_api_key,
            base_url=settings.serper_base_url,
            timeout_s=settings.search_timeout_s,
            image_upload_dir=settings.image_upload_dir,
            image_public_base_url=settings.image_public_base_url,
        ), fetcher
    if settings.backend == "searxng":
        from r1v4.tools.search.searxng import SearxngBackend

        return SearxngBackend(settings.searxng_url, timeout_s=settings.search_timeout_s), fetcher
    raise ValueError(f"unknown search backend {settings.backend!r}; choose one of {BACKENDS}")


def make_search_tools(
    settings: SearchSettings, *, backend: Backend | None = None
) -> list[ToolSpec]:
    """The three DeepResearch ToolSpecs. `backend` overrides the settings' (tests, custom)."""
    if backend is None:
        backend, visitor = make_backend(settings)
    else:
        visitor = backend
    tools = SearchTools(settings, backend, visitor)
    executors = {
        "text_search": tools.text_search,
        "image_search": tools.image_search,
        "web_visit": tools.web_visit,
    }
    cache = None
    if settings.cache_path:
        from r1v4.tools.cache import ToolCache

        cache = ToolCache(settings.cache_path)
        limits = {"max_results": settings.max_results, "max_items": settings.max_items}

        async def text_key(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
            return {"queries": _string_list(args, "queries", "text_search", '"query"'), **limits}

        async def image_key(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
            _, blobs = await read_trajectory_images(args, ctx, settings.max_items)
            return {"images": [hashlib.sha256(b).hexdigest() for b in blobs], **limits}

        async def visit_key(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
            urls = _string_list(args, "urls", "web_visit", '"https://…"')
            return {"urls": urls, "page_max_chars": settings.page_max_chars}

        keys = {"text_search": text_key, "image_search": image_key, "web_visit": visit_key}
        executors = {
            name: cache.wrap(name, backend.name, fn, keys[name]) for name, fn in executors.items()
        }

    async def aclose() -> None:
        await tools.aclose()
        if cache is not None:
            cache.close()

    return [
        ToolSpec(
            name="text_search",
            description='web search. Arguments: {"queries": ["…", …]} (or "query": "…"). '
            "Returns numbered results: title, link, snippet.",
            execute=executors["text_search"],
            arg_aliases={"query": "queries", "q": "queries"},
            list_args=frozenset({"queries"}),
            aclose=aclose,
        ),
        ToolSpec(
            name="image_search",
            description='reverse image search. Arguments: {"image_paths": ["crop_1.png", …]} '
            '(or "image_path"): file names of images in this conversation. Returns pages that '
            "show the image: title, link, image, snippet.",
            execute=executors["image_search"],
            arg_aliases={"image_path": "image_paths", "image": "image_paths"},
            list_args=frozenset({"image_paths"}),
            aclose=aclose,
        ),
        ToolSpec(
            name="web_visit",
            description='read web pages. Arguments: {"urls": ["https://…", …]} (or "url"). '
            "Returns each page's main text.",
            execute=executors["web_visit"],
            arg_aliases={"url": "urls"},
            list_args=frozenset({"urls"}),
            aclose=aclose,
        ),
    ]


__all__ = [
    "BACKENDS",
    "SearchSettings",
    "check_search_settings",
    "make_search_tools",
    "resolve_trajectory_image",
]
