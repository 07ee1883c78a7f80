"""Faults while a run writes, and what dead runs leave behind (issue 13, "Input files and
runs"): the output deleted or replaced mid-run, a full disk, a huge output to resume, case
ids that sanitise alike, a killed merge, two runs racing for a stale lock.

Each test drives the real path (a batch as a process or in-process against the simulator,
the merge command) and asserts what a user sees: the exit code, the message, and that every
finished record is still somewhere whole.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest

from r1v4.batch.lock import OutputLock, ResultFileError
from r1v4.batch.results import ResultWriter
from r1v4.protocol.sidecars import AssetStore, case_dir_name, snapshot_path
from r1v4.sim import running_simulator
from tests.helpers import ROOT, read_jsonl, write_jsonl
from tests.helpers import run_cli as run

#: A hang guard, not a timing: the run must end, however long CI takes.
HANG_GUARD_S = 240


def wait_for(predicate, what: str) -> None:
    """Poll until `predicate()` holds (a guard against a stuck run, not a timing)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def lines_in(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# --------------------------------------------------------------------------- output swapped


@pytest.mark.slow
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_output_deleted_or_replaced_mid_run_stops_the_run_and_keeps_every_record(
    workdir: Path, start_batch, how: str
) -> None:
    """Deleting (or replacing) the output under a running batch used to lose every record
    while the run reported success. Now the run stops with exit 2, says what happened, and
    every record it wrote is in the rescue file it names."""
    n = 200
    write_jsonl(workdir / "cases.jsonl", [{"id": f"c{i}", "question": f"q{i}"} for i in range(n)])
    out = workdir / "out.jsonl"
    with running_simulator(latency_s=0.05) as sim:
        proc = start_batch(
            "batch_nonstream.py",
            *["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--tools", "none"],
            *["--concurrency", "2"],
            capture=True,
        )
        try:
            wait_for(lambda: lines_in(out) >= 3, "three records")
            if how == "deleted":
                out.unlink()
            else:
                (workdir / "other.jsonl").write_text('{"id": "theirs"}\n')
                os.replace(workdir / "other.jsonl", out)
            stdout, stderr = proc.communicate(timeout=HANG_GUARD_S)
        finally:
            proc.kill()
    assert proc.returncode == 2, stdout + stderr
    what = "deleted (or moved away)" if how == "deleted" else "replaced by another file"
    assert f"stopped: the output file out.jsonl was {what} while the run was writing it" in stderr
    (rescue,) = workdir.glob("out.jsonl.rescued-*.jsonl")
    assert f"are saved in {rescue.name}" in stderr
    rescued = read_jsonl(rescue)
    ids = [r["id"] for r in rescued]
    assert len(ids) == len(set(ids)) >= 3  # every record once, none lost
    summary = next(line for line in stderr.splitlines() if line.startswith("cases:"))
    assert f"succeeded: {len(ids)}" in summary  # the summary counts what the file holds
    assert len(ids) < n  # it stopped instead of running on into a lost file
    if how == "replaced":
        assert read_jsonl(out) == [{"id": "theirs"}]  # the user's file is left alone


# --------------------------------------------------------------------------- a full disk


@pytest.fixture()
def small_disk(tmp_path: Path):
    """A 256 KiB tmpfs mounted for this test (needs root and CAP_SYS_ADMIN; skipped else)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_ends_the_run_with_one_message_and_whole_records(
    workdir: Path, small_disk: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A real full disk (a small tmpfs): the run stops with exit 2 and one clear message (no
    ExceptionGroup traceback), the output holds only whole records, and once space is freed
    the same command finishes the rest."""
    ids = [f"case-{i:03d}" for i in range(60)]
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": "q " * 200} for i in ids])
    out = small_disk / "out.jsonl"
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (200 << 10))  # leaves room for a few records only
    args = ["cases.jsonl", str(out), "--tools", "none", "--concurrency", "4"]
    with running_simulator() as sim:
        code = run([*args, "--base-url", sim.base_url])
        captured = capfd.readouterr()
        assert code == 2, captured.out + captured.err
        assert "Traceback" not in captured.err and "ExceptionGroup" not in captured.err
        assert f"stopped: cannot append to {out}: No space left on device" in captured.err
        assert "the records already in it are whole (free some space" in captured.err
        kept = [orjson.loads(line) for line in out.read_bytes().splitlines()]  # all whole
        assert 0 < len(kept) < len(ids)
        filler.unlink()
        assert run([*args, "--base-url", sim.base_url]) == 0
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == ids


def test_a_short_write_then_enospc_injected_at_the_os_boundary_leaves_no_half_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INJECTED at os.write (no real disk fills): the disk takes half a record, then refuses.
    The half is removed, the error says what happened, and the file reads whole."""
    out = tmp_path / "out.jsonl"
    writer = ResultWriter(out)
    writer.open()
    writer.append({"id": "a", "question": "q", "response": {"full_response": "x"}})
    real_write = os.write
    calls = {"n": 0}

    output_inode = out.stat().st_ino

    def filling_write(fd: int, data: bytes) -> int:
        if os.fstat(fd).st_ino != output_inode:  # only the output's descriptor fills up
            return real_write(fd, data)
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", filling_write)
    with pytest.raises(ResultFileError, match="No space left on device; the records already"):
        writer.append({"id": "b", "question": "q", "response": {"full_response": "y" * 500}})
    monkeypatch.undo()
    writer.close()
    assert [r["id"] for r in read_jsonl(out)] == ["a"]
    assert out.read_bytes().endswith(b"\n")


# --------------------------------------------------------------------------- resume memory


def big_output(path: Path, n: int = 2500, size: int = 10_000) -> int:
    """An output of n records of about `size` bytes, with a cut-off last line."""
    pad = "z" * size
    with open(path, "wb") as fh:
        for i in range(n):
            failed = i % 10 == 0
            response = {"error": "boom"} if failed else {"full_response": pad}
            fh.write(orjson.dumps({"id": f"r{i}", "question": "q", "response": response}))
            fh.write(b"\n")
        fh.write(b'{"id": "torn", "response": {"full_resp')
    return path.stat().st_size


@pytest.mark.slow
def test_resuming_a_large_output_reads_it_in_a_streaming_pass(tmp_path: Path) -> None:
    """Resume, setting aside a torn line and compacting after reruns: memory stays far below
    the file's size (it used to read the whole file, several times over)."""
    out = tmp_path / "out.jsonl"
    size = big_output(out)
    tracemalloc.start()
    try:
        with ResultWriter(out) as writer:
            state = writer.state
            for rid in sorted(state.failed)[:50]:  # --retry-errors reruns: compaction follows
                writer.append({"id": rid, "question": "q", "response": {"full_response": "ok"}})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > 20_000_000
    assert peak < size / 8, f"peak {peak} bytes for a {size}-byte output"
    assert state.set_aside == 1 and len(state.done) == 2300 and len(state.failed) == 200
    ids = [r["id"] for r in read_jsonl(out)]
    assert len(ids) == len(set(ids)) == 2500  # compacted: each id once


# --------------------------------------------------------------------------- safe names


def test_case_ids_that_sanitise_alike_get_their_own_folder_and_snapshot() -> None:
    long_a, long_b = "x" * 120 + "A", "x" * 120 + "B"
    names = [case_dir_name(i) for i in ("a/b", "a_b", "a b", "a:b", long_a, long_b, "..")]
    assert len(set(names)) == len(names)
    assert case_dir_name("a_b") == "a_b" and case_dir_name("case-7.v2") == "case-7.v2"
    assert all("/" not in n and not n.startswith(".") and len(n) <= 120 for n in names)


@pytest.mark.slow
def test_colliding_ids_in_one_batch_never_share_assets_or_snapshots(workdir: Path) -> None:
    """Through the batch: ids that used to map to one folder ("a/b" and "a_b", long ids cut at
    120 characters) run at once with the code tool; each keeps its own images, and each
    in-flight snapshot is its own file (closing one leaves the other)."""
    from r1v4.batch.inflight import SnapshotWriter
    from r1v4.protocol.cases import Case

    ids = ["a/b", "a_b", "y" * 120 + "-one", "y" * 120 + "-two"]
    rows = [{"id": i, "image": "demo_image/demo_1.png", "question": f"zoom {n}"} for n, i in
            enumerate(ids)]  # fmt: skip
    write_jsonl(workdir / "cases.jsonl", rows)
    with running_simulator() as sim:
        run(["cases.jsonl", "out.jsonl", "--base-url", sim.base_url, "--concurrency", "4"])
    records = {r["id"]: r for r in read_jsonl(workdir / "out.jsonl")}
    assert set(records) == set(ids)
    folders = {}
    for rid, record in records.items():
        assert "error" not in record["response"], record["response"]
        assert record["assets"], rid
        (folder,) = {Path(ref).parent for ref in record["assets"]}
        folders[rid] = folder
        assert folder.name == case_dir_name(rid)
    assert len(set(folders.values())) == len(ids)

    inflight = workdir / "out.jsonl.inflight"

    async def snapshots() -> None:
        async with SnapshotWriter(inflight, "nonstream", interval_s=60) as writer:
            snaps = [writer.case(Case(id=i, question="q")) for i in ids]
            for snap in snaps:
                snap.update("so far", 1)
            writer.flush(young=True)
            await writer.settle()
            assert len({snapshot_path(inflight, i) for i in ids}) == len(ids)
            assert all(s.path is not None and s.path.exists() for s in snaps)
            snaps[0].close()
            writer.flush(young=True)
            await writer.settle()
            assert not snaps[0].path.exists()
            assert all(s.path.exists() for s in snaps[1:])
            for snap in snaps[1:]:
                snap.close()

    asyncio.run(snapshots())


def test_assets_of_colliding_ids_stay_apart(tmp_path: Path) -> None:
    store = AssetStore(tmp_path / "out.jsonl")
    a = store.put("a/b", b"\x89PNG\r\n\x1a\nA", "png")
    b = store.put("a_b", b"\x89PNG\r\n\x1a\nA", "png")
    assert Path(a).parent != Path(b).parent


# --------------------------------------------------------------------------- the lock


def _contend(path: str, start, attempted, results) -> None:
    lock = OutputLock(Path(path))
    start.wait()
    try:
        lock.acquire()
        results.put("won")
    except ResultFileError:
        results.put("refused")
    attempted.wait()  # hold it until everyone has tried
    lock.release()


@pytest.mark.slow
def test_racing_takeovers_of_a_stale_lock_have_one_winner(tmp_path: Path, dead_pid: int) -> None:
    """A lock left by a dead run is taken over atomically: of several runs starting at the
    same instant, exactly one gets it (check-then-unlink let two both win), every time."""
    ctx = multiprocessing.get_context("fork")
    path = tmp_path / "out.jsonl.lock"
    racers = 6
    for _ in range(25):  # the old takeover let two win in about one round in fifteen
        path.write_text(f"{dead_pid} {socket.gethostname()}\n")  # the dead run's lock
        start, attempted = ctx.Barrier(racers), ctx.Barrier(racers)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_contend, args=(str(path), start, attempted, results))
            for _ in range(racers)
        ]
        for proc in procs:
            proc.start()
        outcomes = sorted(results.get(timeout=HANG_GUARD_S) for _ in procs)
        for proc in procs:
            proc.join(HANG_GUARD_S)
        assert outcomes == ["refused"] * (racers - 1) + ["won"]
        assert not path.exists()  # the winner removed it on release


def test_a_live_holder_keeps_its_lock_and_a_reused_pid_does_not(tmp_path: Path) -> None:
    """The lock is the flock, not the pid in the file: a live holder refuses others (and is
    named), and a file naming a live but unrelated pid (pid reuse) is no lock at all."""
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from r1v4.batch.lock import OutputLock; "
         "from pathlib import Path; l = OutputLock(Path(sys.argv[1])); l.acquire(); "
         "print('held', flush=True); time.sleep(600)", f"{out}.lock"],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(ResultFileError, match=f"being written by process {holder.pid}"):
            ResultWriter(out).open()
    finally:
        holder.kill()
        holder.communicate()
    Path(f"{out}.lock").write_text(f"{os.getppid()} {socket.gethostname()}\n")  # alive
    with ResultWriter(out) as writer:
        writer.append({"id": "a", "question": "q", "response": {"full_response": "x"}})
    assert not Path(f"{out}.lock").exists()


# --------------------------------------------------------------------------- merge


def shard(path: Path, records: list[dict]) -> Path:
    with ResultWriter(path) as writer:
        for record in records:
            writer.append(record)
    return path


def ok(rid: str, **extra) -> dict:
    return {"id": rid, "question": "q", "response": {"full_response": "fine"}, **extra}


def merge(*argv: str) -> int:
    from r1v4.cli import main as r1v4_main

    return r1v4_main(["merge", *argv])


@pytest.mark.slow
def test_a_killed_merge_leaves_a_temp_file_that_the_next_merge_removes(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """SIGKILL a real merge while it writes: its large temporary file stays behind; the next
    merge into the same output removes it (its process is dead) and succeeds."""
    pad = "p" * 20_000
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as fh:
        for i in range(3000):
            fh.write(orjson.dumps(ok(f"m{i}", pad=pad)) + b"\n")
    out = tmp_path / "all.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "r1v4", "merge", "-o", str(out), str(big)],
        env=subprocess_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def temps() -> list[Path]:
        return list(tmp_path.glob("all.jsonl.tmp-*"))

    def writing() -> bool:
        sizes = [lines_in(t) for t in temps()]
        return any(n > 50 for n in sizes) or proc.poll() is not None

    try:
        wait_for(writing, "the merge to write its temporary file")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if not temps():
        pytest.skip("the merge finished before it could be killed")
    assert not out.exists()
    assert merge("-o", str(out), str(big)) == 0
    assert temps() == [] and len(read_jsonl(out)) == 3000
    assert not Path(f"{out}.lock").exists()


def test_a_live_merges_temp_file_is_left_alone(tmp_path: Path) -> None:
    a = shard(tmp_path / "a.jsonl", [ok("1")])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        live = tmp_path / f"all.jsonl.tmp-{socket.gethostname()}-{sleeper.pid}"
        other_host = tmp_path / "all.jsonl.tmp-elsewhere-1"
        live.write_bytes(b"in progress")
        other_host.write_bytes(b"not ours to judge")
        assert merge("-o", str(tmp_path / "all.jsonl"), str(a)) == 0
        assert live.exists() and other_host.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_merge_refuses_folders_and_non_result_files_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder, an image, a CSV or a test-case file as input used to give an empty output
    and exit 0: each is now exit 2, a message naming the file (and line), and no output."""
    good = shard(tmp_path / "good.jsonl", [ok("1")])
    (tmp_path / "folder").mkdir()
    (tmp_path / "table.csv").write_text("id,question\n1,q\n")
    (tmp_path / "cases.jsonl").write_text('{"id": "1", "question": "q"}\n')
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    out = tmp_path / "all.jsonl"
    expected = {
        "folder": "folder is a folder, not a regular file",
        "table.csv": "table.csv:1: not a JSON line",
        "cases.jsonl": "cases.jsonl:1: not a result record (no 'response' object)",
        "pic.png": "pic.png:1: not a JSON line",
        "missing.jsonl": "missing.jsonl: no such file",
    }
    for name, message in expected.items():
        assert merge("-o", str(out), str(good), str(tmp_path / name)) == 2, name
        err = capsys.readouterr().err
        assert message in err, (name, err)
        assert not out.exists()
    assert merge("-o", str(out), "/dev/zero") == 2
    assert "/dev/zero is a character device" in capsys.readouterr().err


def test_merge_never_overwrites_an_input_or_an_existing_output_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shard(tmp_path / "a.jsonl", [ok("1")])
    b = shard(tmp_path / "b.jsonl", [ok("2")])
    before = a.read_bytes()
    with pytest.raises(SystemExit) as exited:  # the old positional form: -o is required now
        merge(str(a), str(b))
    assert exited.value.code == 2 and "-o/--output" in capsys.readouterr().err
    assert merge("-o", str(a), str(a), str(b)) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    os.link(a, tmp_path / "alias.jsonl")
    assert merge("--force", "-o", str(tmp_path / "alias.jsonl"), str(a), str(b)) == 2
    assert a.read_bytes() == before
    existing = tmp_path / "all.jsonl"
    existing.write_text("precious\n")
    assert merge("-o", str(existing), str(a), str(b)) == 2
    assert "exists; pass --force to replace it" in capsys.readouterr().err
    assert existing.read_text() == "precious\n"
    assert merge("--force", "-o", str(existing), str(a), str(b)) == 0
    assert sorted(r["id"] for r in read_jsonl(existing)) == ["1", "2"]


def test_merge_copies_shard_images_and_refuses_references_outside_the_shards_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images the records name in `<shard>.assets/` are copied into the output's folder and
    the references rewritten, so the merged file stands alone; a crafted record naming a
    host file is never copied (and the exit code says something was not)."""
    from PIL import Image

    shard_dir, out_dir = tmp_path / "machine1", tmp_path / "merged"
    shard_dir.mkdir()
    store = AssetStore(shard_dir / "part.jsonl")
    png = shard_dir / "x.png"
    Image.new("RGB", (6, 6), "green").save(png)
    ref = store.put("a/b", png.read_bytes(), "png")
    secret = tmp_path / "secret.png"
    secret.write_bytes(png.read_bytes())
    outside = os.path.relpath(secret, shard_dir)
    observation = '<observation>{"images": ["%s"]}</observation>'
    part = shard(
        shard_dir / "part.jsonl",
        [
            ok("a/b", assets=[ref], response={"full_response": observation % ref}),
            ok("evil", assets=[outside, "/etc/passwd"]),
        ],
    )
    assert merge("-o", str(out_dir / "all.jsonl"), str(part)) == 1
    captured = capsys.readouterr()
    assert "1 images copied" in captured.out
    assert "2 image references not copied" in captured.err and "outside part.jsonl.assets/" in (
        captured.err
    )
    merged = {r["id"]: r for r in read_jsonl(out_dir / "all.jsonl")}
    (new_ref,) = merged["a/b"]["assets"]
    assert new_ref.startswith(f"all.jsonl.assets/{case_dir_name('a/b')}/")
    assert (out_dir / new_ref).read_bytes() == png.read_bytes()
    assert new_ref in merged["a/b"]["response"]["full_response"]
    copied = [p for p in (out_dir / "all.jsonl.assets").rglob("*") if p.is_file()]
    assert copied == [out_dir / new_ref]  # nothing from outside the shard's folder
    moved = tmp_path / "elsewhere"
    out_dir.rename(moved)  # the merged folder stands alone
    assert (moved / new_ref).exists()


def test_merge_reports_broken_lines_with_file_and_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shard(tmp_path / "a.jsonl", [ok("1"), ok("2")])
    with open(a, "ab") as fh:
        fh.write(b'{"id": "3", "response": {"full_re\n')
    assert merge("-o", str(tmp_path / "all.jsonl"), str(a)) == 1
    assert f"1 broken lines skipped: {a}:3" in capsys.readouterr().err
    assert [r["id"] for r in read_jsonl(tmp_path / "all.jsonl")] == ["1", "2"]


def test_merge_of_only_empty_inputs_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    assert merge("-o", str(tmp_path / "all.jsonl"), str(tmp_path / "empty.jsonl")) == 2
    assert "no records in" in capsys.readouterr().err
    assert not (tmp_path / "all.jsonl").exists()


def test_a_writer_removes_its_outputs_dead_temp_files(tmp_path: Path, dead_pid: int) -> None:
    out = tmp_path / "out.jsonl"
    leftover = tmp_path / f"out.jsonl.tmp-{socket.gethostname()}-{dead_pid}"
    leftover.write_bytes(b"x" * 1000)
    with ResultWriter(out):
        pass
    assert not leftover.exists()
