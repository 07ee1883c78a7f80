"""Case page, its JSON twin, the raw record, and the image route.

The image route is the only way image bytes leave the server: it re-reads the case, takes
image number `k` from the references that record holds, and serves it only from where an
image of its kind may come from and only if its bytes are a raster image (see
`r1v4.viewer.images`).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for

from r1v4.viewer.display import ListParams, case_context, case_nav
from r1v4.viewer.images import ImageRefused, load_image, sources_for_record
from r1v4.viewer.index import RecordError
from r1v4.viewer.store import get_library
from r1v4.viewer.views import ServerUrls, error_page, opened_or_404

bp = Blueprint("cases", __name__)

#: Bytes per block when streaming a raw record line.
RAW_CHUNK = 1 << 20


def _load(fid: str, n: int):
    opened = opened_or_404(fid)
    try:
        return opened, get_library().load_case(opened, n)
    except IndexError:
        abort(404, description=f"No case #{n + 1} in {opened.label}.")


@bp.route("/f/<fid>/case/<int:n>")
def case_page(fid: str, n: int):
    try:
        opened, case = _load(fid, n)
    except RecordError as exc:
        return error_page(str(exc), 422)
    urls = ServerUrls()
    params = ListParams.from_args(request.args)
    nav = case_nav(opened, n, params, urls)
    ctx = case_context(opened, case, urls, nav, cwd=get_library().cwd)
    ctx["json_url"] = url_for("cases.case_json", fid=fid, n=n)
    return render_template("cases/case.html", case=ctx, urls=urls)


@bp.route("/f/<fid>/case/<int:n>.json")
def case_json(fid: str, n: int):
    """The case as data: its index summary, the parsed rounds and the record itself."""
    try:
        opened, case = _load(fid, n)
    except RecordError as exc:
        return jsonify({"error": str(exc)}), 422
    return jsonify({"summary": case.entry, "parsed": case.parsed, "record": case.record})


@bp.route("/f/<fid>/case/<int:n>/raw.json")
def case_raw(fid: str, n: int):
    """The record's line exactly as stored in the file, streamed in chunks (a line too large
    to show can be any size); a too-large one comes as a download."""
    opened = opened_or_404(fid)
    try:
        entry = opened.index.entry(n)
    except IndexError:
        abort(404)
    path, offset, length = opened.path, entry["offset"], entry["length"]

    def chunks():
        with open(path, "rb") as f:
            f.seek(offset)
            left = length
            while left > 0:
                block = f.read(min(RAW_CHUNK, left))
                if not block:
                    return
                left -= len(block)
                yield block

    resp = Response(chunks(), mimetype="application/json")
    resp.headers["Content-Length"] = str(length)
    if entry.get("status") == "too_large":
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(entry.get("id")))[:80] or f"case-{n + 1}"
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}.json"'
    return resp


@bp.route("/f/<fid>/case/<int:n>/img/<int:k>")
def case_image(fid: str, n: int, k: int):
    """Image `k` of case `n`, only if that record refers to it and it is a raster image."""
    try:
        opened, case = _load(fid, n)
    except RecordError:
        abort(404)
    if not 0 <= k < len(case.images):
        abort(404)
    sources = sources_for_record(case.record, opened.path, get_library().cwd)
    img = case.images[k]
    try:
        data, mime, _ext = load_image(img.ref, img.kind, sources)
    except (ImageRefused, OSError) as exc:
        return Response(f"image refused: {exc}", status=404, mimetype="text/plain")
    resp = Response(data, mimetype=mime)
    resp.headers["Cache-Control"] = "private, max-age=600"
    return resp


@bp.route("/f/<fid>/id/<path:case_id>")
def case_by_id(fid: str, case_id: str):
    """Stable link by case id (the last line with that id wins, as with retries)."""
    opened = opened_or_404(fid)
    for entry in reversed(opened.index.entries):
        if str(entry.get("id")) == case_id:
            return redirect(url_for("cases.case_page", fid=fid, n=entry["n"]))
    abort(404, description=f"No case with id {case_id!r} in {opened.label}.")
