"""One code run, as the host asks the sandbox worker for it.

`SandboxServer.run`, `SandboxServer.prepare(then_run=…)` (a run the worker starts as soon as
its folder is made), `SandboxServer.run_in_session` and the messages sent to the worker all
carry the same arguments; one value holds them, so they are written once and cannot drift
apart. Host side only: the worker never imports this.
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
    timeout_s: float
    max_output_bytes: int
    limits: Limits | None = None  # a one-shot run's; a session's were set when it opened
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
        """The worker's one-shot `run` request, without the folder's name. `next_uid`: the
        uid lent next, whose call the worker makes ready once this one ends."""
        if self.limits is None:
            raise ValueError("a one-shot run needs its limits")
        run = {"op": "run", "uid": uid, "limits": self.limits.to_dict(), **self._fields()}
        return {**run, "next_uid": next_uid}

    def session_message(self, sid: str) -> dict[str, Any]:
        """The worker's `session_run` request, for the session `sid`."""
        return {"op": "session_run", "sid": sid, **self._fields()}

    def _fields(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "vars": self.variables,
            "timeout_s": self.timeout_s,
            "max_output_bytes": self.max_output_bytes,
            "tail_bytes": self.tail_bytes,
            "collect": self.collect,
            "conv": self.conv or {},
            "seeds": self.seeds or {},
        }
