"""Environment variables the commands read (`R1V4_*`); only the cli layer reads them."""

from __future__ import annotations

import os


def env_base_urls(environ: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """R1V4_BASE_URL may hold several replicas, comma-separated."""
    raw = (environ if environ is not None else os.environ).get("R1V4_BASE_URL", "")
    return [u.strip() for u in raw.split(",") if u.strip()]
