"""Compare two result files by case id: a table of cases (differing answers first-class)
and a side-by-side page per case."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from r1v4.viewer.display import case_context, compare_context
from r1v4.viewer.index import RecordError
from r1v4.viewer.paths import PathRefused
from r1v4.viewer.store import get_library
from r1v4.viewer.views import ServerUrls, error_page, opened_or_404, post_refusal

bp = Blueprint("compare", __name__)

SHOW = ("differ", "all", "only_a", "only_b", "to_correct", "to_wrong")


@bp.route("/compare.json")
def compare_json():
    """The compare table as data: counts, and per case id both sides' summaries."""
    a = opened_or_404(request.args.get("a", ""))
    b = opened_or_404(request.args.get("b", ""))
    show = request.args.get("show", "differ")
    ctx = compare_context(
        a, b, show if show in SHOW else "differ", 1, lambda cid: "", ServerUrls(), page_size=0
    )
    return jsonify(
        {
            "a": ctx["a"],
            "b": ctx["b"],
            "counts": ctx["counts"],
            "show": ctx["show"],
            "cases": [
                {"id": r["id"], "differ": r["differ"], "flip": r["flip"], "sides": r["sides"]}
                for r in ctx["rows"]
            ],
        }
    )


@bp.route("/compare", methods=["POST"])
def compare_open():
    """Open two typed paths (guarded, as `/open`) and go to their comparison."""
    refused = post_refusal()
    if refused:
        return error_page(f"Not opened: {refused}.", 403)
    lib = get_library()
    try:
        a = lib.open(request.form.get("pa", ""))
        b = lib.open(request.form.get("pb", ""))
    except PathRefused as exc:
        return error_page(f"Refused: {exc}", 403)
    except (OSError, ValueError) as exc:
        return error_page(f"Cannot open: {exc}", 400)
    return redirect(url_for("compare.compare_list", a=a.fid, b=b.fid))


@bp.route("/compare", methods=["GET"])
def compare_list():
    if request.args.get("pa") or request.args.get("pb"):  # an old link: fill the form only
        return redirect(
            url_for("home.index", pa=request.args.get("pa", ""), pb=request.args.get("pb", ""))
        )
    a = opened_or_404(request.args.get("a", ""))
    b = opened_or_404(request.args.get("b", ""))
    show = request.args.get("show", "differ")
    show = show if show in SHOW else "differ"
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 1
    urls = ServerUrls()
    ctx = compare_context(
        a,
        b,
        show,
        page,
        lambda cid: url_for("compare.compare_case", a=a.fid, b=b.fid, id=cid),
        urls,
    )
    ctx["show_links"] = [
        {
            "value": s,
            "label": label,
            "url": url_for("compare.compare_list", a=a.fid, b=b.fid, show=s),
            "active": s == show,
        }
        for s, label in (
            ("differ", f"Answers differ ({ctx['counts']['differ']})"),
            ("to_correct", f"Flipped to correct ({ctx['counts']['to_correct']})"),
            ("to_wrong", f"Flipped to wrong ({ctx['counts']['to_wrong']})"),
            ("all", "All cases"),
            ("only_a", f"Only in A ({ctx['counts']['only_a']})"),
            ("only_b", f"Only in B ({ctx['counts']['only_b']})"),
        )
    ]
    ctx["prev"] = (
        url_for("compare.compare_list", a=a.fid, b=b.fid, show=show, page=ctx["page"] - 1)
        if ctx["page"] > 1
        else None
    )
    ctx["next"] = (
        url_for("compare.compare_list", a=a.fid, b=b.fid, show=show, page=ctx["page"] + 1)
        if ctx["page"] < ctx["pages"]
        else None
    )
    return render_template("compare/list.html", cmp=ctx, urls=urls)


@bp.route("/compare/case")
def compare_case():
    """One case id from both files, side by side."""
    lib = get_library()
    a = opened_or_404(request.args.get("a", ""))
    b = opened_or_404(request.args.get("b", ""))
    cid = request.args.get("id", "")
    urls = ServerUrls()
    sides = []
    for opened in (a, b):
        match = [e for e in opened.index.entries if str(e.get("id")) == cid]
        if not match:
            sides.append({"label": opened.label, "case": None})
            continue
        try:
            case = lib.load_case(opened, match[-1]["n"])
        except RecordError as exc:
            sides.append({"label": opened.label, "case": None, "error": str(exc)})
            continue
        ctx = case_context(opened, case, urls, cwd=lib.cwd)
        sides.append({"label": opened.label, "case": ctx})
    if all(s["case"] is None for s in sides):
        abort(404, description=f"No case with id {cid!r} in either file.")
    back = url_for("compare.compare_list", a=a.fid, b=b.fid)
    return render_template("compare/case.html", sides=sides, case_id=cid, back=back, urls=urls)
