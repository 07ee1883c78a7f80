"""The pieces behind collection and cleanup, on real folders: bounded iterative walks and
removals (a tree a thousand deep), the collector's choice and conversion of images
(magic bytes, one plugin, PNG out, and emptying the folder where there is no tmpfs to
discard), the frame attachments it sends, and the host's PNG-only acceptance."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from r1v4.tools.sandbox import collect
from r1v4.tools.sandbox.fswalk import WalkLimits, WalkReport, remove_tree, walk_files
from r1v4.tools.sandbox.protocol import DATA, FrameBuffer, encode
from r1v4.tools.sandbox.server import RawImage
from r1v4.tools.sandbox.workdir import accept_images, accept_png


def deep_tree(root: Path, depth: int) -> None:
    """root/d/d/.../d (depth levels), a file in each, built with descriptors (no PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
            os.close(os.open("f.png", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def png(size=(20, 10), colour=(10, 20, 30), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.slow
def test_remove_tree_takes_a_thousand_deep_tree_and_respects_its_bound(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "outside.txt").write_text("keep")
    deep_tree(victim, 1000)
    os.symlink(tmp_path / "outside.txt", victim / "link")  # removed, never followed
    assert remove_tree(victim, max_entries=50) is False  # a bound stops it, says so
    assert victim.exists()
    assert remove_tree(victim) is True
    assert not victim.exists()
    assert (tmp_path / "outside.txt").read_text() == "keep"


def test_walk_is_bounded_in_depth_and_entries(tmp_path: Path) -> None:
    deep_tree(tmp_path, 100)
    for i in range(50):
        (tmp_path / f"x{i}.png").write_bytes(b"")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        report = WalkReport()
        files = list(walk_files(fd, WalkLimits(max_entries=10_000, max_depth=5), report))
        assert len(files) == 50 + 5 and report.too_deep and not report.too_many
        report = WalkReport()
        files = list(walk_files(fd, WalkLimits(max_entries=20, max_depth=5), report))
        assert report.too_many and len(files) <= 20
        assert "only partly scanned" in report.note()
    finally:
        os.close(fd)


def run_collector(folder: Path, tmp_path: Path, **req) -> tuple[list[dict], dict]:
    """Run the collector in this process on folder; its frames, and its summary."""
    out = tmp_path / "frames.bin"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    here = os.getcwd()
    os.chdir(folder)
    try:
        collect.collect({"budget_s": 30, "dir": str(folder), **req}, fd)
    finally:
        os.chdir(here)
        os.close(fd)
    frames = FrameBuffer().feed(out.read_bytes())
    return [f for f in frames if "image" in f], frames[-1]


@pytest.mark.slow
def test_collector_converts_real_images_refuses_disguised_ones_and_empties_the_folder(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "call"
    folder.mkdir()
    (folder / "input.png").write_bytes(png())
    before = collect.snapshot(str(folder))
    (folder / "crop.jpg").write_bytes(png((30, 20), fmt="JPEG"))
    (folder / "eps.png").write_text("%!PS-Adobe-3.0 EPSF-3.0\n{ 1 pop } loop\n")
    (folder / "tga.png").write_bytes(png(fmt="TGA"))
    (folder / "huge.png").write_bytes(png((3000, 3000)))
    deep_tree(folder, 300)
    images, summary = run_collector(
        folder, tmp_path, snapshot=before, clean=True, max_pixels=1_000_000, output=""
    )
    assert [(f["image"], f["size"]) for f in images] == [("crop.jpg", [30, 20])]
    assert images[0][DATA].startswith(b"\x89PNG\r\n\x1a\n")  # re-encoded
    note = " ".join(summary["notes"])
    assert "returned 1, dropped" in note
    assert "not a PNG, JPEG, WebP, GIF, BMP or TIFF file" in note
    assert "over 1000000 pixels" in note
    assert summary["cleaned"] is True and os.listdir(folder) == []


def test_frames_carry_attachments_in_pieces() -> None:
    data = encode({"image": "a.png"}, b"\x00" * 70_000) + encode({"done": True})
    buffer = FrameBuffer()
    frames = []
    for i in range(0, len(data), 999):
        frames += buffer.feed(data[i : i + 999])
    assert frames[0]["image"] == "a.png" and frames[0][DATA] == b"\x00" * 70_000
    assert frames[1] == {"done": True}


def test_host_accepts_only_png_within_bounds() -> None:
    ok, why = accept_png(RawImage("a.png", (20, 10), png()), 1_000_000, 10_000_000)
    assert ok is not None and ok.ext == "png" and ok.size == (20, 10), why
    for data, reason in [
        (png(fmt="JPEG"), "not a PNG image"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "not a PNG image"),
        (png()[:40], "not a valid image"),
        (png((2000, 2000)), "over 1000000 pixels"),
    ]:
        found, why = accept_png(RawImage("x.png", (1, 1), data), 1_000_000, 10_000_000)
        assert found is None and why == reason
    collected = accept_images(
        [RawImage("a.png", (20, 10), png()), RawImage("b.png", (1, 1), b"GIF89a")],
        max_pixels=1_000_000,
        max_bytes=10_000_000,
    )
    assert [i.name for i in collected.images] == ["a.png"]
    assert collected.notes == ["1 returned image(s) refused (1 not a PNG image)."]
