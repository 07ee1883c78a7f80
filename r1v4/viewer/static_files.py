"""The viewer's own static files (CSS, script, icon), served from memory.

They are a few small files that never change while the viewer runs, so they are read once
when the app is built. Served this way, no request holds a file open: with the threaded
development server, a browser that hung up in the middle of `send_file` left the file to
the garbage collector (a ResourceWarning, seen in the browser tests), and every request
read the disk again. Responses carry an ETag, so a page load revalidates with a 304.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Flask, Response, abort, request

__all__ = ["STATIC_DIR", "serve_static_from_memory"]

#: Where the files live in the package (export-html copies the folder as it is).
STATIC_DIR = Path(__file__).resolve().parent / "static"


def serve_static_from_memory(app: Flask) -> None:
    """Register the `static` endpoint (the one `url_for("static", ...)` names) on `app`,
    built with `static_folder=None`."""
    files = {p.name: p.read_bytes() for p in STATIC_DIR.iterdir() if p.is_file()}

    def static(filename: str) -> Response:
        data = files.get(filename)
        if data is None:
            abort(404)
        mimetype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        response = Response(data, mimetype=mimetype)
        response.cache_control.no_cache = True  # revalidate: a new viewer may bring new files
        response.add_etag()
        return response.make_conditional(request)

    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=static)
