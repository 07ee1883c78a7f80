"""The per-user folders the toolkit may write to outside the user's own files."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["user_cache_dir"]


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/r1v4`, else `~/.cache/r1v4`: for things that can be rebuilt (index
    files), so nothing is written into an installed package or beside a user's results."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "r1v4"
