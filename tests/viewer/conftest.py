"""The viewer's fixtures: an app over `data_dir/result_a.jsonl`, its test client, and the
file id. Each viewer test module defines `data_dir` (a folder holding result_a.jsonl, and
whatever else that module needs); these build on it."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def app(data_dir: Path):
    """The viewer app over `data_dir/result_a.jsonl`, rooted at `data_dir`."""
    from r1v4.viewer import create_app

    return create_app(
        {
            "RESULT_FILES": [str(data_dir / "result_a.jsonl")],
            "ROOTS": [str(data_dir)],
            "CWD": str(data_dir),
        }
    )


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def fid(app) -> str:
    """The viewer's id of result_a.jsonl."""
    from r1v4.viewer import get_library

    return get_library(app).files()[0].fid
