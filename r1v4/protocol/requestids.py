"""The `X-Request-Id` a case's requests carry: `r1v4-<case id>-<turn>`, and
`r1v4-<case id>-<turn>-<attempt>` on a retry (the client adds the attempt).

Server logs (vLLM logs the header) and the simulator's scripts match requests to cases by
it, so the form is written once, here: the agent builds ids with `case_request_id`, the
simulator reads them with `names_case`. The case id is made path-safe as in the assets
folder, so an id with spaces or slashes still gives a clean header value.
"""

from __future__ import annotations

import re

from r1v4.protocol.sidecars import safe_component

__all__ = ["REQUEST_ID_PREFIX", "case_request_id", "names_case"]

REQUEST_ID_PREFIX = "r1v4-"

_TURN_AND_ATTEMPT = re.compile(r"\d+(?:-\d+)?")


def case_request_id(case_id: str, turn: int) -> str:
    """The request id of a case's turn (turn 0 is the first generation)."""
    return f"{REQUEST_ID_PREFIX}{safe_component(case_id)}-{turn}"


def names_case(request_id: str, case_id: str) -> bool:
    """Whether `request_id` (a retry's included) was built by `case_request_id` for
    `case_id`. An id that is itself a prefix of another case's id plus `-<digits>` is
    ambiguous; callers that know several case ids prefer the longest one that matches."""
    head = f"{REQUEST_ID_PREFIX}{safe_component(case_id)}-"
    return request_id.startswith(head) and bool(
        _TURN_AND_ATTEMPT.fullmatch(request_id[len(head) :])
    )
