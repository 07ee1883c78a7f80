"""Blueprints of the viewer, plus what they share: server URLs, file lookup, and the check
every state-changing POST goes through."""

from __future__ import annotations

import hmac
from typing import Any

from flask import abort, current_app, render_template, request, url_for

from r1v4.viewer.store import OpenedFile, get_library


class ServerUrls:
    """`display.Urls` for the running server: Flask routes."""

    def home(self) -> str:
        """The home page (with `home=1` when `/` itself lands on the one file opened)."""
        if current_app.config.get("LANDING"):
            return url_for("home.index", home=1)
        return url_for("home.index")

    def list(self, fid: str, params: dict[str, Any]) -> str:
        return url_for("runs.run_list", fid=fid, **params)

    def case(self, fid: str, n: int, params: dict[str, Any]) -> str:
        return url_for("cases.case_page", fid=fid, n=n, **params)

    def image(self, fid: str, n: int, k: int) -> str | None:
        return url_for("cases.case_image", fid=fid, n=n, k=k)

    def raw(self, fid: str, n: int) -> str | None:
        return url_for("cases.case_raw", fid=fid, n=n)

    def live(self, fid: str) -> str | None:
        return url_for("runs.live", fid=fid)

    def static(self, name: str) -> str:
        return url_for("static", filename=name)


def opened_or_404(fid: str) -> OpenedFile:
    """The opened file with this id, refreshed; a 404 page when the id is unknown."""
    try:
        opened = get_library().get(fid)
    except FileNotFoundError:
        abort(404, description="This result file no longer exists.")
    if opened is None:
        abort(404, description="Unknown file id: open the file again from the home page.")
    return opened


def error_page(message: str, status: int) -> tuple[str, int]:
    """A plain error page (the message is escaped like any other text)."""
    return render_template("error.html", message=message, status=status, urls=ServerUrls()), status


def post_refusal() -> str | None:
    """Why this POST may not change the viewer's state, or None when it may.

    Opening a file is the only state a page can change, and a page on another site can
    submit a form to 127.0.0.1 as easily as ours can. So a state-changing POST must come
    from the viewer's own origin (the `Origin` and `Sec-Fetch-Site` headers browsers send,
    when present) and carry the token this viewer put in its own forms at start (a page on
    another origin cannot read it). Host headers are already limited by TRUSTED_HOSTS.
    """
    origin = request.headers.get("Origin")
    own = request.host_url.rstrip("/").lower()
    if origin is not None and origin.lower() != own:
        return f"the request came from another origin ({origin[:100]}), not from this viewer"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"the request came from another site (Sec-Fetch-Site: {site[:40]})"
    token = request.form.get("token", "")
    if not hmac.compare_digest(token.encode(), current_app.config["FORM_TOKEN"].encode()):
        return "the form is from an older start of the viewer (or another page); reload and retry"
    return None
