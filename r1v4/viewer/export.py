"""Static export: the run list and every case page as plain files, images copied beside them.

The pages are the server's own templates rendered with relative links (`StaticUrls`), so the
folder can be zipped, mailed or opened from disk with no server. Images are copied exactly
when the server would serve them (`r1v4.viewer.images`): named by the record, from where an
image of that kind may come from (trajectory images only from the run's assets folder, never
from a path inside model text), and only if their bytes are a raster image. Input images from
outside the result file's folder are counted, so a user about to share the folder can look.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from flask import render_template

from r1v4.viewer.display import ListParams, case_context, case_nav, list_context
from r1v4.viewer.images import (
    ImageRefused,
    ImageSources,
    load_image,
    locate,
    sources_for_record,
)
from r1v4.viewer.static_files import STATIC_DIR


class StaticUrls:
    """`display.Urls` for exported files; `depth` is how deep the page sits in the folder."""

    def __init__(self, depth: int, images: dict[tuple[int, int], str]):
        self.prefix = "../" * depth
        self.images = images

    def home(self) -> str:
        return self.prefix + "index.html"

    def list(self, fid: str, params: dict[str, Any]) -> str:
        return self.prefix + "index.html"

    def case(self, fid: str, n: int, params: dict[str, Any]) -> str:
        return f"{self.prefix}cases/{n}.html"

    def image(self, fid: str, n: int, k: int) -> str | None:
        name = self.images.get((n, k))
        return f"{self.prefix}images/{name}" if name else None

    def raw(self, fid: str, n: int) -> str | None:
        return None

    def live(self, fid: str) -> str | None:
        return None

    def static(self, name: str) -> str:
        return f"{self.prefix}static/{name}"


def _open_result(result: Path) -> tuple[Any, Any, Any]:
    """A viewer app over the one result file, its library and the opened file, indexed to
    the end (every case, not the first ones a page can show early)."""
    from r1v4.viewer import create_app, get_library

    app = create_app(
        {
            "RESULT_FILES": [str(result)],
            "ROOTS": [str(result.parent)],
            "LIVE_POLL_MS": 0,
            "INDEX_CACHE": None,  # one pass over the file; nothing written outside out_dir
        }
    )
    lib = get_library(app)
    opened = lib.files()[0]
    opened.index.wait()
    return app, lib, opened


def _copy_images(
    case: Any, opened: Any, sources: ImageSources, out: Path, images: dict, counts: dict
) -> None:
    """Copy the case's images the server would serve into `out/images/` as `<n>-<k>.<ext>`,
    recording each in `images`; count the refused ones and the inputs from outside the
    result file's folder."""
    for k, img in enumerate(case.images):
        try:
            data, _mime, ext = load_image(img.ref, img.kind, sources)
        except (ImageRefused, OSError):
            counts["images_refused"] += 1
            continue
        if img.kind == "input" and not img.ref.startswith("data:"):
            src = locate(img.ref, img.kind, sources)
            if opened.folder.resolve() not in src.parents:
                counts["inputs_outside"] += 1
        name = f"{case.n}-{k}.{ext}"
        (out / "images" / name).write_bytes(data)
        images[(case.n, k)] = name
        counts["images"] += 1


def _write_list(opened: Any, n_cases: int, images: dict, out: Path) -> dict[str, Any]:
    """`out/index.html`: the run list of the exported cases on one page, with no sorting
    links and no pager (there is no server to ask); returns the list's context."""
    urls = StaticUrls(0, images)
    params = ListParams(size=max(1, len(opened.index.entries)))
    ctx = list_context(opened, params, urls)
    ctx["rows"] = [r for r in ctx["rows"] if r["n"] < n_cases]
    for h in ctx["headers"]:
        h["href"] = None
    ctx["pager"]["prev"] = ctx["pager"]["next"] = None
    html = render_template(
        "runs/list.html", page=ctx, urls=urls, poll_ms=0, json_url=None, static_export=True
    )
    (out / "index.html").write_text(html, encoding="utf-8")
    return ctx


def export_html(
    result_path: str | os.PathLike, out_dir: str | os.PathLike, *, limit: int | None = None
) -> dict[str, int]:
    """Write `index.html`, `cases/<n>.html`, `images/` and `static/` into `out_dir`.

    Returns counts: cases written, images copied, images refused or missing, and input
    images copied from outside the result file's folder (`inputs_outside`).
    """
    out = Path(out_dir)
    result = Path(result_path).resolve()
    if not result.is_file():
        raise FileNotFoundError(f"no such result file: {result_path}")
    app, lib, opened = _open_result(result)
    (out / "cases").mkdir(parents=True, exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    shutil.copytree(STATIC_DIR, out / "static", dirs_exist_ok=True)
    images: dict[tuple[int, int], str] = {}
    counts = {"cases": 0, "images": 0, "images_refused": 0, "inputs_outside": 0}
    entries = opened.index.entries[: limit if limit else None]
    with app.test_request_context():
        for entry in entries:
            try:
                case = lib.load_case(opened, entry["n"])
            except ValueError:
                continue
            sources = sources_for_record(case.record, opened.path, lib.cwd)
            _copy_images(case, opened, sources, out, images, counts)
            urls = StaticUrls(1, images)
            nav = case_nav(opened, case.n, ListParams(), urls)
            ctx = case_context(opened, case, urls, nav, cwd=lib.cwd, sources=sources)
            html = render_template("cases/case.html", case=ctx, urls=urls)
            (out / "cases" / f"{case.n}.html").write_text(html, encoding="utf-8")
            counts["cases"] += 1
        ctx = _write_list(opened, len(entries), images, out)
    counts["run"] = {  # type: ignore[assignment] - what the index of several runs shows
        "label": opened.label,
        "totals": ctx["totals"],
        "header": ctx["header"]["rows"],
    }
    return counts


def export_many(
    result_paths: list[str | os.PathLike], out_dir: str | os.PathLike, *, limit: int | None = None
) -> dict[str, Any]:
    """Several result files: each exported into `out_dir/<n>-<name>/` as `export_html`
    does, and `out_dir/index.html` listing the runs (model, cases, accuracy, flags) with
    links to each. Returns the counts summed, and per run."""
    from r1v4.viewer import create_app

    out = Path(out_dir)
    runs = []
    total = {"cases": 0, "images": 0, "images_refused": 0, "inputs_outside": 0}
    for n, path in enumerate(result_paths, start=1):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).name).strip("._") or "run"
        folder = f"{n}-{stem[:80]}"
        counts = export_html(path, out / folder, limit=limit)
        for key in total:
            total[key] += int(counts[key])
        runs.append({**counts["run"], "href": f"{folder}/index.html", "folder": folder})
    app = create_app({"RESULT_FILES": [], "ROOTS": [str(out.resolve())], "INDEX_CACHE": None})
    shutil.copytree(STATIC_DIR, out / "static", dirs_exist_ok=True)
    with app.test_request_context():
        html = render_template("runs/index.html", runs=runs, urls=StaticUrls(0, {}))
    (out / "index.html").write_text(html, encoding="utf-8")
    return {**total, "runs": runs}
