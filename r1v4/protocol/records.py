"""Result records (DESIGN.md, "Result record"): the shape of a line, how failure is told
apart, and how a result file is read and a record written.

The batch writer, the report, the merge and the viewer all read records through here, so
the rules (what a failed record is, which fields come first) are written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from r1v4.protocol.cases import Case, record_id

__all__ = [
    "FORMAT_VERSION",
    "base_record",
    "dumps_record",
    "is_failed",
    "iter_records",
    "record_id",
]

#: The version of the record format described in DESIGN.md. Records do not carry it yet:
#: writing it into every line is a format change, to be made with the readers that check it.
FORMAT_VERSION = 1


def is_failed(record: dict[str, Any]) -> bool:
    """The seed's rule, kept so its viewer and ours agree: failure means response.error."""
    response = record.get("response")
    return not isinstance(response, dict) or "error" in response


def dumps_record(record: dict[str, Any]) -> bytes:
    """One record as one JSON line (bytes, newline included), ready for a single append."""
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


def iter_records(path: str | Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Yield (line number, record or None for an undecodable line) without loading the file."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield number, None
                continue
            yield number, obj if isinstance(obj, dict) else None


def base_record(case: Case) -> dict[str, Any]:
    """The seed's fields first (image, question), then ours."""
    record: dict[str, Any] = {
        "id": case.id,
        "image": case.image,
        "images": case.images,
        "question": case.question,
    }
    for key in ("answer", "options", "category", "benchmark", "split", "labels"):
        value = getattr(case, key)
        if value is not None:
            record[key] = value
    return record
