"""Home: the files opened at start, a path box (the seed's way in), and files under --root.

Opening a file changes what the viewer serves, so it is a POST from the viewer's own page
(`post_refusal`); `GET /open?path=` only fills the path box, for old links and bookmarks.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from r1v4.viewer.paths import PathRefused, list_result_files
from r1v4.viewer.store import get_library
from r1v4.viewer.views import ServerUrls, error_page, post_refusal

bp = Blueprint("home", __name__)


@bp.route("/")
def index():
    lib = get_library()
    urls = ServerUrls()
    landing = lib.get(current_app.config.get("LANDING") or "")
    if landing is not None and "home" not in request.args:  # started with one file: its list
        return redirect(urls.list(landing.fid, {}))
    opened = [
        {"label": f.label, "url": urls.list(f.fid, {}), "count": len(f.index), "fid": f.fid}
        for f in lib.files()
    ]
    known = {f.path for f in lib.files()}
    found = [{"label": lib.label_for(p)} for p in list_result_files(lib.roots) if p not in known]
    return render_template(
        "home/index.html",
        opened=opened,
        found=found,
        roots=lib.roots,
        error=request.args.get("error"),
        path=request.args.get("path", ""),
        pa=request.args.get("pa", ""),
        pb=request.args.get("pb", ""),
        urls=urls,
    )


@bp.route("/open", methods=["GET"])
def open_form():
    """An old `/open?path=` link: show the path in the box; nothing is opened by a GET."""
    return redirect(url_for("home.index", path=request.args.get("path", "")))


@bp.route("/open", methods=["POST"])
def open_path():
    """Open a typed path (guarded) and go to its run list."""
    refused = post_refusal()
    if refused:
        return error_page(f"Not opened: {refused}.", 403)
    path = request.form.get("path", "")
    try:
        opened = get_library().open(path)
    except PathRefused as exc:
        return error_page(f"Refused: {exc}", 403)
    except (OSError, ValueError) as exc:
        return error_page(f"Cannot open {path!r}: {exc}", 400)
    return redirect(ServerUrls().list(opened.fid, {}))
