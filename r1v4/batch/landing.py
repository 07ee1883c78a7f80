"""Finished cases on their way into the output: scored, flagged, appended and counted (the
runner's landing step) after the worker that ran each one has sent its next request.

On a wave of completions, post-processing every case before its worker's next request
delayed all of those requests (issue 18, bench/README.md). A task per finished case fixed
that, but a task, its scheduling and the task group's bookkeeping cost about as much CPU as
scoring the case (~5% of a case's instructions). Here one task lands the cases, in the order
they finished: each worker puts its finished case here and goes on with its next request;
the landing task wakes on the loop's next turn and lands everything put since, one case
after another (a landing is CPU on the event loop, so nothing overlapped before either).

A landing that may wait on something else (a judge's answer, returned images read in a
worker thread) gets a task of its own, as before, so that such waits still overlap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from r1v4.parsing import ResponseParse
from r1v4.protocol.cases import Case
from r1v4.protocol.records import is_failed

__all__ = ["Landings", "flag_into", "score_into"]

T = TypeVar("T")


class Landings(Generic[T]):
    """What the workers have finished and not yet landed. `run` is the landing task (in the
    batch's task group); `put` hands it a case; `close` says no more will come."""

    def __init__(
        self,
        group: asyncio.TaskGroup,
        land: Callable[[T], Awaitable[None]],
        waits: Callable[[T], bool],
    ) -> None:
        self._group = group
        self._land = land
        self._waits = waits  # True: this landing may wait on I/O, it gets its own task
        self._queue: deque[T] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._closed = False

    def put(self, item: T) -> asyncio.Task[None] | None:
        """Land `item` once the caller has yielded to the event loop (its next request).
        Returns the task of a landing that may wait: a worker awaits it before handing in
        its next case, so such landings (and the judge calls in them) stay at most one per
        worker."""
        if self._closed:
            raise RuntimeError("a case was handed in after the landings were closed")
        if self._waits(item):
            return self._group.create_task(self._land(item))
        self._queue.append(item)
        self._ring()
        return None

    def close(self) -> None:
        """No more cases: `run` returns once it has landed what it holds."""
        self._closed = True
        self._ring()

    def _ring(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(self) -> None:
        """Land every case put here, in order, until closed. A landing that raises ends the
        task with its error (the task group then stops the batch, as for any bug)."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            while queue:
                await self._land(queue.popleft())
            if self._closed:
                return
            self._wake = loop.create_future()
            try:
                await self._wake
            finally:
                self._wake = None


async def flag_into(
    record: dict[str, Any],
    flagging: Any,
    notices: list[str],
    parse: ResponseParse,
    flag_record: Callable[..., Awaitable[list[dict[str, str]]]],
) -> None:
    """Write `flags` into a finished record (DESIGN.md, "Quality flags"); a failure to flag
    leaves the field out (the record is never lost for it) and is said once."""
    try:
        record["flags"] = await flag_record(record, flagging, parse)
    except Exception as exc:  # noqa: BLE001 - flags are an annotation, the case is done
        if len(notices) < 5:
            notices.append(f"could not flag {record.get('id')}: {type(exc).__name__}: {exc}")


async def score_into(
    record: dict[str, Any],
    case: Case,
    scorer: str,
    judge: Any,
    parse: ResponseParse,
    score_answer: Callable[..., Awaitable[dict[str, Any] | None]],
) -> None:
    """Write `score` into a finished record when its case carries ground truth."""
    if case.answer is None or is_failed(record):
        return
    try:
        record["score"] = await score_answer(
            record["response"].get("full_response", ""),
            case.answer,
            case.options,
            scorer=scorer,
            judge=judge,
            question=case.question,
            stop_reason=(record.get("meta") or {}).get("stop_reason"),
            labels=case.labels,
            parse=parse,
        )
    except Exception as exc:  # a scorer failure must not lose the case
        record["score"] = {"value": None, "correct": None, "error": f"{type(exc).__name__}: {exc}"}
