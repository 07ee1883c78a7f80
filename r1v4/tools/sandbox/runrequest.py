"""One one-shot code run, as the host asks the sandbox worker for it.

`SandboxServer.run`, `SandboxServer.prepare(then_run=…)` (a run the worker starts as soon as
its folder is made) and the `run` message sent to the worker all carry the same arguments;
one value holds them, so they are written once and cannot drift apart. Host side only: the
worker never imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .limits import Limits

__all__ = ["REPLY_GRACE_S", "RunRequest"]

REPLY_GRACE_S = 20.0  # how long past its timeout a call may wait before the worker is deemed hung


@dataclass(frozen=True, slots=True)
class RunRequest:
    """The code and how to run it. `conv`: the family's conventions
    (`r1v4.tools.code_profile.CodeProfile.call`); `seeds`: which staged files are which
    input images (`provenance.py`); `collect`: the image collector's settings."""

    code: str
    variables: dict[str, Any]
    limits: Limits
    timeout_s: float
    max_output_bytes: int
    tail_bytes: int = 2000
    collect: dict[str, Any] | None = None
    conv: dict[str, Any] | None = None
    seeds: dict[str, Any] | None = None

    @property
    def wait_s(self) -> float:
        """How long its reply may take before the worker is deemed hung."""
        budget = float((self.collect or {}).get("budget_s", 0.0))
        return float(self.timeout_s) + budget + REPLY_GRACE_S

    def message(self, uid: int | None, next_uid: int | None) -> dict[str, Any]:
        """The worker's `run` request, without the folder's name. `next_uid`: the uid lent
        next, whose call the worker makes ready once this one ends."""
        return {
            "op": "run",
            "code": self.code,
            "uid": uid,
            "vars": self.variables,
            "limits": self.limits.to_dict(),
            "timeout_s": self.timeout_s,
            "max_output_bytes": self.max_output_bytes,
            "tail_bytes": self.tail_bytes,
            "collect": self.collect,
            "conv": self.conv or {},
            "seeds": self.seeds or {},
            "next_uid": next_uid,
        }
