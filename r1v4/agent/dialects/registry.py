"""The dialects by name: `--dialect NAME`, a case's `dialect` field and `python -m r1v4
dialects` all read this table."""

from __future__ import annotations

from r1v4.agent.dialects import deepeyes, deepeyes_v2, mini_o3, pyvision, qwen3_vl, r1v4, thyme
from r1v4.agent.dialects.base import Dialect

__all__ = ["DEFAULT_DIALECT", "DIALECTS", "DIALECT_NAMES", "UnknownDialect", "get_dialect"]

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        r1v4.DIALECT,
        qwen3_vl.DIALECT,
        deepeyes.DIALECT,
        deepeyes_v2.DIALECT,
        deepeyes_v2.RL_DIALECT,
        thyme.DIALECT,
        mini_o3.DIALECT,
        pyvision.DIALECT,
    )
}
DIALECT_NAMES: tuple[str, ...] = tuple(DIALECTS)
DEFAULT_DIALECT = "r1v4"


class UnknownDialect(ValueError):
    """A dialect name that is not in the table; the message lists the known ones."""


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise UnknownDialect(
            f"unknown dialect {name!r}; known dialects: {', '.join(DIALECT_NAMES)}"
        ) from None
