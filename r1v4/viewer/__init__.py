"""The trajectory viewer: a Flask app over result files, built by `create_app`.

Config keys (defaults in brackets):
  RESULT_FILES   files opened at start, allowed whatever their folder [[]]
  ROOTS          folders whose files may be opened by typing a path [[CWD]]
  CWD            folder relative input-image paths are also tried against [os.getcwd()]
  INDEX_CACHE    "auto" (the user cache folder, `$XDG_CACHE_HOME/r1v4/index`, keyed by the
                 file's real path), "beside" (`<file>.idx`), a folder, or None ["auto"]
  MAX_CASE_BYTES longest record line the viewer parses and renders; longer ones are listed
                 as "too large to show" with a raw download [64 MiB]
  LIVE_POLL_MS   how often a run list polls for new cases; 0 turns polling off [2000]
  TRUSTED_HOSTS  Host headers accepted (DNS-rebinding guard) [loopback names]; None = any
  FORM_TOKEN     secret the page's forms carry; a POST that changes state must carry it and
                 come from the viewer's own origin [random per start]
  LANDING        id of an opened file that `/` redirects to (the command line sets it when
                 started with exactly one file; `/?home=1` is the home page) [None]
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from r1v4.viewer.index import DEFAULT_MAX_CASE_BYTES, default_cache_dir
from r1v4.viewer.static_files import serve_static_from_memory
from r1v4.viewer.store import get_library, library_from_config

__all__ = ["create_app", "get_library", "CSP"]

#: Content-Security-Policy of every response: no inline script or style, nothing remote.
CSP = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


def _template_cache(index_cache: Any) -> Any:
    """Compiled templates kept beside the index caches (compiling them is most of a warm
    start's first page); none when index caching is off."""
    if index_cache is None:
        return None
    from jinja2 import FileSystemBytecodeCache

    base = default_cache_dir() if index_cache in ("auto", "beside") else Path(index_cache)
    folder = base.parent / "templates" if index_cache in ("auto", "beside") else base / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None  # a read-only place: templates are compiled each start
    return FileSystemBytecodeCache(str(folder))


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build a viewer app; `test_config` overrides the defaults (tests, CLI, export)."""
    app = Flask(__name__, static_folder=None)
    serve_static_from_memory(app)
    app.config.from_mapping(
        RESULT_FILES=[],
        ROOTS=None,
        CWD=os.getcwd(),
        INDEX_CACHE="auto",
        LIVE_POLL_MS=2000,
        TRUSTED_HOSTS=list(LOOPBACK_HOSTS),
        MAX_CASE_BYTES=DEFAULT_MAX_CASE_BYTES,
        FORM_TOKEN=secrets.token_urlsafe(24),
        LANDING=None,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.from_mapping(test_config)
    app.jinja_env.autoescape = True
    app.jinja_env.bytecode_cache = _template_cache(app.config["INDEX_CACHE"])
    app.jinja_env.globals["form_token"] = app.config["FORM_TOKEN"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["r1v4_viewer"] = library_from_config(app.config)

    from r1v4.viewer.views import cases, compare, home, inflight, runs

    app.register_blueprint(home.bp)
    app.register_blueprint(runs.bp)
    app.register_blueprint(cases.bp)
    app.register_blueprint(inflight.bp)
    app.register_blueprint(compare.bp)

    @app.errorhandler(404)
    def _not_found(exc):
        from r1v4.viewer.views import error_page

        return error_page(getattr(exc, "description", None) or "Not found.", 404)

    @app.after_request
    def _security_headers(response):  # every response, pages and images alike
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin: links out of the viewer carry no referrer, while the viewer's own form
        # POSTs carry their real Origin (with no-referrer, browsers send `Origin: null`)
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    return app
