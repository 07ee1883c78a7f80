"""Join result files (the outputs of `--shard` runs) into one, one record per id.

A success beats a failure for the same id; among equals the later file wins. Records are
streamed twice (once to pick each id's winner, once to write the winners) so memory grows
with the number of ids, not with the files; the output is written to a temporary file named
after this process and renamed into place, under the output's lock.

The merged file stands on its own: the images its records name in their shard's
`<shard>.assets/` folder are copied into the output's `<output>.assets/` (content-addressed,
as the batch stores them) and the references rewritten. A reference that does not lie inside
its shard's own sidecar folder (a file merged before, a crafted record naming a host path)
is never copied; it is rebased so it still names the same file, and the viewer's rules judge
it as before.

The shards' runs logs (`<shard>.runs.jsonl`: which model, endpoints and options made them)
become the output's, each run naming its shard, so the viewer's run header of the merged
file says what made it.

Nothing is written when an input is not a result file (a folder, a device, a test-case
file, any non-JSONL bytes), when an input is the output, or when the output exists and
`force` is not given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from r1v4._util.files import FileRefused, open_or_reason, read_bounded, same_file
from r1v4._util.images import sniff_extension
from r1v4.batch.lock import OutputLock, ResultFileError, clear_dead_temps, replacing
from r1v4.protocol.errors import R1V4Error
from r1v4.protocol.records import (
    dumps_record,
    first_record_problem,
    is_failed,
    iter_records,
    record_id,
)
from r1v4.protocol.runlog import read_runs_log, runs_log_path
from r1v4.protocol.sidecars import AssetStore, assets_dir_for

__all__ = ["MergeCounts", "MergeError", "merge_files", "rebase_assets"]

#: Largest image copied from a shard's assets folder (the batch stores far smaller ones).
MAX_ASSET_BYTES = 256_000_000


class MergeError(R1V4Error):
    """The merge was refused before anything was written; the message names the file."""


@dataclass
class MergeCounts:
    """What a merge did, for its summary line."""

    records: int = 0
    succeeded: int = 0
    broken_lines: list[str] = field(default_factory=list)  # "file:line" of skipped lines
    images_copied: int = 0
    images_not_copied: list[str] = field(default_factory=list)  # "ref (why)"
    empty_inputs: list[str] = field(default_factory=list)
    runs: int = 0  # runs-log lines carried over from the shards
    runs_log_problem: str | None = None  # why the output's runs log could not be written


def _first_record_problem(path: Path) -> str | None:
    """Why `path` is not a result file, judged by its first non-blank line, or None."""
    opened = open_or_reason(path)
    if isinstance(opened, str):
        return opened
    with opened:
        return first_record_problem(opened, str(path))


def check_inputs(inputs: list[Path], output: Path, *, force: bool) -> None:
    """Refuse (MergeError) what would lose data or write nonsense."""
    if not inputs:
        raise MergeError("no input files")
    for path in inputs:
        if path.resolve() == output.resolve() or (output.exists() and same_file(path, output)):
            raise MergeError(f"the output {output} is one of the inputs; name another with -o")
    if output.exists() or output.is_symlink():
        if output.is_dir():
            raise MergeError(f"the output {output} is a folder")
        if not force:
            raise MergeError(f"the output {output} exists; pass --force to replace it")
    problems = [p for p in map(_first_record_problem, inputs) if p]
    if problems:
        raise MergeError("; ".join(problems))


def rebase_assets(record: dict[str, Any], source_dir: Path, target_dir: Path) -> dict[str, Any]:
    """Rewrite a record's image references (relative to the file it came from) so they resolve
    from another folder: in `assets` and in the observations inside full_response."""
    refs = [r for r in record.get("assets") or [] if isinstance(r, str)]
    if not refs or source_dir.resolve() == target_dir.resolve():
        return record
    moved = {
        ref: os.path.relpath((source_dir / ref).resolve(), target_dir.resolve())
        for ref in refs
        if not ref.startswith("data:")
    }
    return _rewrite(record, moved)


def _rewrite(record: dict[str, Any], moved: dict[str, str]) -> dict[str, Any]:
    if not moved:
        return record
    assets = record.get("assets")
    if isinstance(assets, list):
        record["assets"] = [moved.get(r, r) if isinstance(r, str) else r for r in assets]
    response = record.get("response")
    if isinstance(response, dict) and isinstance(response.get("full_response"), str):
        text = response["full_response"]
        for old, new in moved.items():
            text = text.replace(orjson.dumps(old).decode(), orjson.dumps(new).decode())
        response["full_response"] = text
    return record


class _AssetCopier:
    """Copies the images a shard's records name from `<shard>.assets/` to the output's."""

    def __init__(self, output: Path, counts: MergeCounts) -> None:
        self.store = AssetStore(output)
        self.target_dir = output.parent
        self.counts = counts

    def copy(self, record: dict[str, Any], shard: Path) -> dict[str, Any]:
        refs = record.get("assets")
        if not isinstance(refs, list) or not refs:
            return record
        source_dir = shard.parent
        own = assets_dir_for(shard).resolve()
        rid = record_id(record)
        moved: dict[str, str] = {}
        for ref in refs:
            if not isinstance(ref, str) or ref.startswith("data:") or ref in moved:
                continue
            real = (source_dir / ref).resolve()
            why = self._why_not(real, own)
            if why is None:
                try:
                    data = read_bounded(real, MAX_ASSET_BYTES)
                    ext = sniff_extension(data)
                    if ext == "bin":
                        why = "not a PNG, JPEG, WebP, GIF or BMP image"
                    else:
                        moved[ref] = self.store.put(rid, data, ext)
                        self.counts.images_copied += 1
                        continue
                except (FileRefused, OSError) as exc:
                    why = str(exc) if isinstance(exc, FileRefused) else exc.strerror or str(exc)
            self.counts.images_not_copied.append(f"{shard}: {ref} ({why})")
            moved[ref] = os.path.relpath(real, self.target_dir.resolve())
        return _rewrite(record, {k: v for k, v in moved.items() if k != v})

    @staticmethod
    def _why_not(real: Path, own: Path) -> str | None:
        if not real.is_relative_to(own):
            return f"outside {own.name}/"
        if not real.exists():
            return "missing"
        return None


def merge_files(
    inputs: list[str | Path], output: str | Path, *, force: bool = False
) -> MergeCounts:
    """Merge `inputs` into `output` (see the module's docstring). Raises MergeError before
    writing anything when it must refuse, ResultFileError when the output is locked."""
    paths = [Path(p) for p in inputs]
    out = Path(output)
    counts = MergeCounts()
    check_inputs(paths, out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(Path(f"{out}.lock"))
    lock.acquire()
    try:
        clear_dead_temps(out)
        winners = _pick_winners(paths, counts)
        if not winners:
            raise MergeError(
                f"no records in {', '.join(map(str, paths))}; nothing written to {out}"
            )
        _write(paths, out, winners, counts)
        _write_runs_log(paths, out, counts)
    finally:
        lock.release()
    return counts


def _write_runs_log(paths: list[Path], out: Path, counts: MergeCounts) -> None:
    """The output's runs log: the shards' runs, oldest first, each naming its shard. It
    only informs the viewer, so a failure is noted in the counts, not raised."""
    runs = [
        {**run, "shard": str(path)} for path in paths for run in read_runs_log(path, max_runs=100)
    ]
    if not runs:
        return
    runs.sort(key=lambda run: run.get("started_at", ""))
    try:
        with replacing(runs_log_path(out)) as fh:
            fh.write(b"".join(orjson.dumps(run) + b"\n" for run in runs))
    except ResultFileError as exc:
        counts.runs_log_problem = str(exc)
        return
    counts.runs = len(runs)


def _pick_winners(paths: list[Path], counts: MergeCounts) -> dict[str, tuple[bool, int, int]]:
    """id -> (succeeded, input index, line number) of the record that goes out."""
    best: dict[str, tuple[bool, int, int]] = {}
    for index, path in enumerate(paths):
        seen = 0
        for number, record in iter_records(path):
            if record is None:
                counts.broken_lines.append(f"{path}:{number}")
                continue
            seen += 1
            rid = record_id(record)
            ok = not is_failed(record)
            if rid in best and best[rid][0] and not ok:
                continue
            best[rid] = (ok, index, number)
        if not seen:
            counts.empty_inputs.append(str(path))
    return best


def _write(
    paths: list[Path], out: Path, winners: dict[str, tuple[bool, int, int]], counts: MergeCounts
) -> None:
    copier = _AssetCopier(out, counts)
    with replacing(out) as fh:
        for index, path in enumerate(paths):
            for number, record in iter_records(path):
                if record is None:
                    continue
                ok, w_index, w_number = winners[record_id(record)]
                if (w_index, w_number) != (index, number):
                    continue
                record = copier.copy(record, path)
                fh.write(dumps_record(record))
                counts.records += 1
                counts.succeeded += ok
