"""The runs log beside a result file: one JSON line per batch invocation that wrote to it,
`<output>.runs.jsonl`, so a viewer can say which model, endpoint, dialect and options made
the records it shows (DESIGN.md, "Runs log").

A line is `{"started_at", "command", "model", "endpoints", "mode", "tools", "dialect",
"prompt", "max_rounds", "temperature", "max_tokens", "scorer", "judge_model",
"consistency_judge_model", "flag_settings", "toolkit", "sampling"}` (and `shard`, the file a merged
run came from); `command` is the command that
reruns the batch (secrets left out, as in the summary's "to resume" line), and endpoints
carry no user or password. The batch appends one line when it starts writing; readers
take the last lines of the file only (a bounded tail), and every value is untrusted
(a result file may come from anywhere): `read_runs_log` keeps only the known fields, each of
the type it should have.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

__all__ = ["MAX_TAIL_BYTES", "append_run", "read_runs_log", "redact_url", "runs_log_path"]

#: How much of the end of a runs log a reader looks at.
MAX_TAIL_BYTES = 256 * 1024
_TEXT_FIELDS = ("started_at", "command", "model", "mode", "tools", "dialect", "prompt")
_TEXT_FIELDS += ("scorer", "judge_model", "consistency_judge_model", "toolkit", "search_backend")
_TEXT_FIELDS += ("shard", "sampling")  # set by `merge`: the shard file whose run this was
_NUMBER_FIELDS = ("max_rounds", "temperature", "max_tokens")


def runs_log_path(output_path: str | os.PathLike[str]) -> Path:
    """The runs log that belongs to a result file."""
    return Path(f"{os.fspath(output_path)}.runs.jsonl")


def redact_url(url: str) -> str:
    """A URL without its user and password (a base URL may carry them)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def append_run(output_path: str | os.PathLike[str], info: dict[str, Any]) -> None:
    """Append one run's line (raises OSError: the caller decides whether that matters)."""
    line = orjson.dumps(info) + b"\n"
    with open(runs_log_path(output_path), "ab") as fh:
        fh.write(line)


def _clean(obj: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        return None
    out: dict[str, Any] = {}
    for key in _TEXT_FIELDS:
        if isinstance(obj.get(key), str):
            out[key] = obj[key][:2000]
    for key in _NUMBER_FIELDS:
        value = obj.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value
    endpoints = obj.get("endpoints")
    if isinstance(endpoints, list):
        out["endpoints"] = [redact_url(e)[:300] for e in endpoints[:16] if isinstance(e, str)]
    flags = obj.get("flag_settings")
    if isinstance(flags, dict):
        out["flag_settings"] = {
            str(k)[:40]: v
            for k, v in list(flags.items())[:16]
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    return out


def read_runs_log(output_path: str | os.PathLike[str], max_runs: int = 20) -> list[dict]:
    """The last `max_runs` runs of a result file's log, oldest first ([] when there is none
    or it is not a regular file); lines that are not runs are skipped."""
    path = runs_log_path(output_path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return []
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return []
        start = max(0, st.st_size - MAX_TAIL_BYTES)
        data = os.pread(fd, MAX_TAIL_BYTES, start)
    except OSError:
        return []
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if start:
        lines = lines[1:]  # the first one is cut
    runs = []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            run = _clean(orjson.loads(raw))
        except orjson.JSONDecodeError:
            continue
        if run:
            runs.append(run)
    return runs[-max_runs:]
