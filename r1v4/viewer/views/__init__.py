"""Blueprints of the viewer, plus what they share: server URLs and file lookup."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, url_for

from r1v4.viewer.store import OpenedFile, get_library


class ServerUrls:
    """`display.Urls` for the running server: Flask routes."""

    def home(self) -> str:
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
