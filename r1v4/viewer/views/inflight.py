"""Cases still running: their list as JSON, a page per case, its state for polling, images.

Cases are found by the id inside their snapshot, never by turning the URL into a file name.
Images are served through the same guard as a record's (`load_image`), only when the
snapshot names them, and only from the folders a snapshot may name
(`images.sources_for_snapshot`).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    url_for,
)

from r1v4.viewer.display.inflight import (
    inflight_context,
    inflight_rows,
    last_event,
    snapshot_case,
)
from r1v4.viewer.images import ImageRefused, load_image, sources_for_snapshot
from r1v4.viewer.inflight import STALE_AFTER_S, Snapshot, SnapshotCache, find_snapshot
from r1v4.viewer.inflight import visible_snapshots as _visible
from r1v4.viewer.store import OpenedFile, get_library
from r1v4.viewer.views import ServerUrls, opened_or_404

bp = Blueprint("inflight", __name__)


class InflightUrls(ServerUrls):
    """Server URLs for one in-flight case: its images go through the in-flight image route."""

    def __init__(self, case_id: str):
        self.case_id = case_id

    def image(self, fid: str, n: int, k: int) -> str | None:
        return url_for("inflight.image", fid=fid, case_id=self.case_id, k=k)

    def raw(self, fid: str, n: int) -> str | None:
        return None


def _cache() -> SnapshotCache:
    return current_app.extensions.setdefault("r1v4_inflight", SnapshotCache())


def _page_url(fid: str):
    return lambda case_id: url_for("inflight.page", fid=fid, case_id=case_id)


def inflight_list(opened: OpenedFile) -> list[dict]:
    """Rows of the run list's "In flight" panel (also in `live.json` and `inflight.json`)."""
    snaps = _visible(opened.path, opened.index.entries, cache=_cache())
    return inflight_rows(snaps, _page_url(opened.fid))


def _find(opened: OpenedFile, case_id: str) -> Snapshot | None:
    return find_snapshot(opened.path, opened.index.entries, case_id, cache=_cache())


def _finished_url(opened: OpenedFile, case_id: str) -> str | None:
    """The case page of the last record with this id, if the file has one."""
    for entry in reversed(opened.index.entries):
        if entry.get("status") != "invalid" and str(entry.get("id")) == case_id:
            return url_for("cases.case_page", fid=opened.fid, n=entry["n"])
    return None


@bp.route("/f/<fid>/inflight.json")
def listing(fid: str):
    opened = opened_or_404(fid)
    rows = inflight_list(opened)
    return jsonify({"count": len(rows), "stale_after_s": STALE_AFTER_S, "cases": rows})


@bp.route("/f/<fid>/inflight/<path:case_id>")
def page(fid: str, case_id: str):
    """The partial trajectory; a finished case redirects to its case page."""
    opened = opened_or_404(fid)
    snap = _find(opened, case_id)
    if snap is None:
        finished = _finished_url(opened, case_id)
        if finished:
            return redirect(finished)
        abort(404, description=f"No case {case_id!r} is running in {opened.label}.")
    lib = get_library()
    urls = InflightUrls(case_id)
    ctx = inflight_context(
        opened,
        snap,
        urls,
        cwd=lib.cwd,
        roots=lib.roots,
        list_url=url_for("runs.run_list", fid=fid),
    )
    ctx["inflight"]["state_url"] = url_for("inflight.state", fid=fid, case_id=case_id)
    return render_template(
        "cases/inflight.html", case=ctx, urls=urls, poll_ms=current_app.config["LIVE_POLL_MS"]
    )


@bp.route("/f/<fid>/inflight/<path:case_id>/state.json")
def state(fid: str, case_id: str):
    """Polled by the in-flight page: running (or stale), finished (with its URL), or gone."""
    opened = opened_or_404(fid)
    snap = _find(opened, case_id)
    if snap is not None:
        row = inflight_rows([snap], _page_url(fid))[0]
        return jsonify(
            {
                "state": "stale" if snap.stale else "running",
                "updated_at": snap.updated_at,
                "age_s": row["age_s"],
                "turns": snap.turns,
                "event": last_event(snap.parsed),
                "stale_reason": snap.stale,
            }
        )
    finished = _finished_url(opened, case_id)
    if finished:
        return jsonify({"state": "finished", "finished_url": finished})
    return jsonify({"state": "gone"})


@bp.route("/f/<fid>/inflight/<path:case_id>/img/<int:k>")
def image(fid: str, case_id: str, k: int):
    """Image `k` of a running case, only if its snapshot names it and it lies where such an
    image may (see `images.sources_for_snapshot`) and is a raster image."""
    opened = opened_or_404(fid)
    snap = _find(opened, case_id)
    if snap is None:
        abort(404)
    images = snapshot_case(snap).images
    if not 0 <= k < len(images):
        abort(404)
    lib = get_library()
    sources = sources_for_snapshot(opened.path, lib.cwd, lib.roots)
    try:
        data, mime, _ext = load_image(images[k].ref, images[k].kind, sources)
    except (ImageRefused, OSError) as exc:
        return Response(f"image refused: {exc}", status=404, mimetype="text/plain")
    resp = Response(data, mimetype=mime)
    resp.headers["Cache-Control"] = "private, max-age=60"
    return resp
