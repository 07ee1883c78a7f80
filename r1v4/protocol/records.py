"""Result records (DESIGN.md, "Result record"): the shape of a line, how failure is told
apart, and how a result file is read and a record written.

The batch writer, the report, the merge and the viewer all read records through here, so
the rules (what a failed record is, which fields come first) are written once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from r1v4.protocol.cases import Case, derive_case_id

__all__ = [
    "FORMAT_VERSION",
    "base_record",
    "dumps_record",
    "first_record_problem",
    "is_failed",
    "iter_records",
    "record_id",
]

#: The version of the record format described in DESIGN.md, written into every record as
#: `meta.format_version`. A change that an older reader would misread raises it; fields
#: that readers may ignore do not.
FORMAT_VERSION = 1


def record_id(record: dict[str, Any]) -> str:
    """The id of a result record, derived the same way as for cases when the record has none
    (the seed's result files carry no id)."""
    rid = record.get("id")
    if rid not in (None, ""):
        return str(rid)
    image = record.get("image") or ""
    images = record.get("images") or ([image] if image else [])
    return derive_case_id(record.get("question") or "", images)


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
            if raw.isspace():  # (not strip(): that copies every line of a large file)
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                yield number, None
                continue
            yield number, obj if isinstance(obj, dict) else None


def first_record_problem(fh: BinaryIO, name: str, limit: int = 64 << 20) -> str | None:
    """Why an open file is not a result file, judged by its first non-blank line; None when
    it may be one. Commands that would otherwise turn any text into "cases" (a README given
    to export-html, a case file given to merge) ask this first and refuse with the reason.

    Only a complete line is judged (a run may be writing its first one), and a first line
    longer than `limit` is left to the readers, which bound what they hold themselves.
    """
    for number, raw in enumerate(iter(lambda: fh.readline(limit + 1), b""), start=1):
        if not raw.strip():
            continue
        if len(raw) > limit or not raw.endswith(b"\n"):
            return None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return f"{name}:{number}: not a JSON line; is this a result file?"
        if not isinstance(obj, dict) or not isinstance(obj.get("response"), dict):
            return (
                f"{name}:{number}: not a result record (no 'response' object); is this "
                "a result file of a batch run?"
            )
        return None
    return None


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
