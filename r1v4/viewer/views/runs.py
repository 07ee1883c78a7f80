"""Run list of one result file (filters, search, sort, pages), its JSON twin, live updates."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request, url_for

from r1v4.viewer.display import ListParams, list_context, list_json, list_row, totals
from r1v4.viewer.views import ServerUrls, opened_or_404
from r1v4.viewer.views.inflight import inflight_list

bp = Blueprint("runs", __name__)


@bp.route("/f/<fid>/")
def run_list(fid: str):
    opened = opened_or_404(fid)
    params = ListParams.from_args(request.args)
    urls = ServerUrls()
    ctx = list_context(opened, params, urls)
    return render_template(
        "runs/list.html",
        page=ctx,
        urls=urls,
        poll_ms=current_app.config["LIVE_POLL_MS"],
        json_url=url_for("runs.run_list_json", fid=fid, **params.query()),
        inflight=inflight_list(opened),
        inflight_url=url_for("inflight.listing", fid=fid),
    )


@bp.route("/f/<fid>/cases.json")
def run_list_json(fid: str):
    """Same query as the page, answered as JSON (raw summaries, not display cells)."""
    opened = opened_or_404(fid)
    ctx = list_context(opened, ListParams.from_args(request.args), ServerUrls())
    return jsonify(list_json(ctx, opened.index.entries))


@bp.route("/f/<fid>/live.json")
def live(fid: str):
    """Polled by a list page: the case count, header totals, rows added after `since`, and
    the cases still running (the "In flight" panel)."""
    opened = opened_or_404(fid)
    try:
        since = max(0, int(request.args.get("since", "0")))
    except ValueError:
        since = 0
    entries = opened.index.entries
    urls = ServerUrls()
    new = entries[since : since + 500]
    return jsonify(
        {
            "count": len(entries),
            "totals": totals(entries),
            "rows": [list_row(e, urls.case(fid, e["n"], {})) for e in new],
            "inflight": inflight_list(opened),
        }
    )
