"""Read a corpus folder into pages and images, ready to index.

A corpus is a folder of pages (`.md`, `.markdown`, `.html`, `.htm`, `.txt`) and images. Each page
needs a title and a URL: from front matter at the top of the file

    ---
    title: Harbor Lantern Tower
    url: https://demo.r1v4.local/harbor-lantern-tower
    ---

or from `manifest.json` at the corpus root:

    {"pages":  [{"path": "a.html", "title": "…", "url": "…"}],
     "images": [{"path": "img/x.png", "page_url": "…", "url": "…"}]}

Images belong to the page that shows them (`![alt](img/x.png)` or `<img src=…>`, resolved against
the page's folder) or to the page the manifest names. Bad input raises `CorpusError` listing every
problem with its file (and line where there is one), so a corpus is fixed in one pass.

Size note: `read_corpus` runs past 60 lines because it collects every problem of a corpus in
one pass (pages, front matter, manifest, images) so they are all reported at once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from r1v4.protocol.errors import R1V4Error

PAGE_SUFFIXES = {".md", ".markdown", ".html", ".htm", ".txt"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}

_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_CANONICAL = re.compile(
    r"<link\b[^>]*\brel\s*=\s*[\"']canonical[\"'][^>]*\bhref\s*=\s*[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)


class CorpusError(R1V4Error, ValueError):
    """The corpus cannot be indexed; the message lists each problem and where it is."""


@dataclass
class CorpusImage:
    path: Path  # absolute
    page_url: str
    url: str  # what the observation shows as `image:`
    alt: str = ""


@dataclass
class CorpusPage:
    path: Path
    title: str
    url: str
    text: str  # extracted plain text the model reads on web_visit
    images: list[CorpusImage] = field(default_factory=list)


@dataclass
class Corpus:
    root: Path
    pages: list[CorpusPage]
    images: list[CorpusImage]
    skipped_remote_images: int = 0


def normalise_url(url: str) -> str:
    """The lookup key for a URL: no fragment, lower-case scheme and host, no trailing slash."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def parse_front_matter(text: str, where: str) -> tuple[dict[str, str], str, int]:
    """Split `---`-fenced `key: value` lines off the top. Returns (meta, body, body_line).

    Only flat scalars are needed (title, url, …), so this is a small YAML subset: quotes
    around a value are removed, `#` lines are comments.
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text, 1
    meta: dict[str, str] = {}
    for i, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if stripped in ("---", "..."):
            return meta, "\n".join(lines[i:]), i + 1
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition(":")
        if not sep or not key.strip():
            raise CorpusError(f"{where}:{i}: front matter line is not 'key: value': {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        meta[key.strip().lower()] = value
    raise CorpusError(f"{where}:1: front matter opened with '---' is never closed")


def html_to_text(html: str, url: str = "") -> tuple[str, str]:
    """(title, main text) of an HTML document, via trafilatura, falling back to all text."""
    import trafilatura  # heavy; only needed for HTML

    title = ""
    m = _HTML_TITLE.search(html)
    if m:
        title = re.sub(r"\s+", " ", m.group(1)).strip()
    doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True)
    text = (getattr(doc, "text", None) or "") if doc is not None else ""
    if doc is not None and getattr(doc, "title", None) and not title:
        title = doc.title
    if not text.strip():
        import lxml.html

        try:
            text = lxml.html.fromstring(html).text_content()
        except Exception:  # unparsable markup: keep nothing rather than raw tags
            text = ""
        text = re.sub(r"[ \t]+", " ", text)
        text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    return title, text


def markdown_to_text(md: str) -> str:
    """Markdown as the model should read it: image syntax replaced by its alt text."""
    return _MD_IMAGE.sub(lambda m: f"[image: {m.group(1)}]" if m.group(1) else "", md).strip()


def _load_manifest(root: Path) -> tuple[dict[Path, dict], list[dict], list[str]]:
    path = root / "manifest.json"
    if not path.exists():
        return {}, [], []
    errors: list[str] = []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: top level must be an object with 'pages' and/or 'images'")
    pages: dict[Path, dict] = {}
    for i, item in enumerate(data.get("pages") or []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            errors.append(f"{path}: pages[{i}] needs a string 'path'")
            continue
        pages[(root / item["path"]).resolve()] = item
    images = []
    for i, item in enumerate(data.get("images") or []):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            errors.append(f"{path}: images[{i}] needs a string 'path'")
        elif not isinstance(item.get("page_url"), str):
            errors.append(f"{path}: images[{i}] ({item['path']}) needs a string 'page_url'")
        else:
            images.append(item)
    return pages, images, errors


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def read_corpus(corpus_dir: str | Path) -> Corpus:
    """Read every page and image of a corpus folder. Raises CorpusError listing all problems."""
    root = Path(corpus_dir).resolve()
    if not root.is_dir():
        raise CorpusError(f"{corpus_dir}: not a folder")
    manifest_pages, manifest_images, errors = _load_manifest(root)
    pages: list[CorpusPage] = []
    images: list[CorpusImage] = []
    seen_urls: dict[str, Path] = {}
    seen_images: set[Path] = set()
    remote = 0

    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in PAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for file in files:
        rel = file.relative_to(root)
        try:
            raw = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{rel}: cannot read as UTF-8 text: {exc}")
            continue
        try:
            meta, body, _ = parse_front_matter(raw, str(rel))
        except CorpusError as exc:
            errors.append(str(exc))
            continue
        meta = {**meta, **{k: v for k, v in manifest_pages.get(file, {}).items() if k != "path"}}
        suffix = file.suffix.lower()
        if suffix in (".html", ".htm"):
            html_title, text = html_to_text(body, meta.get("url", ""))
            if not meta.get("url"):
                m = _CANONICAL.search(body)
                if m:
                    meta["url"] = m.group(1)
            meta.setdefault("title", html_title)
            srcs = [(src, "") for src in _HTML_IMG.findall(body)]
        elif suffix in (".md", ".markdown"):
            text = markdown_to_text(body)
            srcs = [(m.group(2), m.group(1)) for m in _MD_IMAGE.finditer(body)]
        else:
            text, srcs = body.strip(), []
        url = str(meta.get("url") or "").strip()
        title = str(meta.get("title") or "").strip()
        if not url:
            errors.append(
                f"{rel}: no url (add 'url:' to its front matter or list it in manifest.json)"
            )
            continue
        if not urlsplit(url).scheme:
            errors.append(f"{rel}: url {url!r} is not absolute (it needs a scheme, e.g. https://)")
            continue
        key = normalise_url(url)
        if key in seen_urls:
            errors.append(f"{rel}: url {url} is also used by {seen_urls[key].relative_to(root)}")
            continue
        seen_urls[key] = file
        page = CorpusPage(path=file, title=title or rel.stem, url=url, text=text)
        for src, alt in srcs:
            if urlsplit(src).scheme:  # remote image: nothing local to hash
                remote += 1
                continue
            img_path = (file.parent / src).resolve()
            if not _inside(root, img_path):
                errors.append(f"{rel}: image {src!r} is outside the corpus folder")
                continue
            if not img_path.is_file():
                errors.append(f"{rel}: image {src!r} does not exist")
                continue
            if img_path in seen_images:
                continue
            seen_images.add(img_path)
            img = CorpusImage(path=img_path, page_url=url, url=urljoin(url, src), alt=alt)
            page.images.append(img)
            images.append(img)
        pages.append(page)

    for item in manifest_images:
        img_path = (root / item["path"]).resolve()
        if not _inside(root, img_path) or not img_path.is_file():
            errors.append(f"manifest.json: image {item['path']!r} does not exist in the corpus")
            continue
        if normalise_url(item["page_url"]) not in seen_urls:
            errors.append(f"manifest.json: image {item['path']!r}: page_url is not a corpus page")
            continue
        if img_path in seen_images:
            continue
        seen_images.add(img_path)
        url = item.get("url") or urljoin(item["page_url"], item["path"])
        images.append(CorpusImage(img_path, item["page_url"], url, str(item.get("title", ""))))

    if errors:
        raise CorpusError(f"{len(errors)} problem(s) in corpus {root}:\n" + "\n".join(errors))
    return Corpus(root=root, pages=pages, images=images, skipped_remote_images=remote)
