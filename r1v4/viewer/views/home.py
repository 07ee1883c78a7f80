"""Home: the files opened at start, a path box (the seed's way in), and files under --root."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request

from r1v4.viewer.paths import PathRefused, list_result_files
from r1v4.viewer.store import get_library
from r1v4.viewer.views import ServerUrls, error_page

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    lib = get_library()
    urls = ServerUrls()
    opened = [
        {"label": f.label, "url": urls.list(f.fid, {}), "count": len(f.index), "fid": f.fid}
        for f in lib.files()
    ]
    known = {f.path for f in lib.files()}
    found = [
        {"label": lib.label_for(p), "url": f"/open?{_q(lib.label_for(p))}"}
        for p in list_result_files(lib.roots)
        if p not in known
    ]
    return render_template(
        "home/index.html",
        opened=opened,
        found=found,
        roots=lib.roots,
        error=request.args.get("error"),
        path=request.args.get("path", ""),
        urls=urls,
    )


def _q(path: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"path": path})


@bp.route("/open")
def open_path():
    """Open a typed path (guarded) and go to its run list."""
    path = request.args.get("path", "")
    try:
        opened = get_library().open(path)
    except PathRefused as exc:
        return error_page(f"Refused: {exc}", 403)
    except (OSError, ValueError) as exc:
        return error_page(f"Cannot open {path!r}: {exc}", 400)
    return redirect(ServerUrls().list(opened.fid, {}))
