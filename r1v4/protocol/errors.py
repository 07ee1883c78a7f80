"""`R1V4Error`: the root of every error the toolkit raises on purpose.

A program that embeds the toolkit can catch this one class to tell "the toolkit refused or
failed in a way it knows about" from a bug. Subclasses keep their builtin bases where
callers relied on them (a `DataURLError` is still a `ValueError`).
"""

from __future__ import annotations

__all__ = ["R1V4Error"]


class R1V4Error(Exception):
    """An expected failure of the toolkit: bad input, an endpoint that refuses, a busy file."""
