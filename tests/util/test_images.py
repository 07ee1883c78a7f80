"""Images: type from the bytes, EXIF orientation, downscale, clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from r1v4._util.images import ImageError, load_image


def test_webp_named_wrongly_is_detected_from_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"  # really a WebP
    Image.new("RGB", (40, 30), "red").save(path, format="WEBP")
    img = load_image(path)
    assert img.mime == "image/webp" and (img.width, img.height) == (40, 30)
    assert img.data_url().startswith("data:image/webp;base64,")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    Image.new("RGB", (60, 20), "blue").save(path, exif=exif)
    img = load_image(path)
    assert (img.width, img.height) == (20, 60)
    assert Image.open(io.BytesIO(img.data)).size == (20, 60)


def test_max_pixels_downscales_and_keeps_aspect(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), "white").save(path)
    img = load_image(path, max_pixels=200_000)
    assert img.width * img.height <= 200_000
    assert abs(img.width / img.height - 2.0) < 0.02


def test_untouched_images_go_out_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    Image.new("RGB", (10, 10), "green").save(path)
    assert load_image(path).data == path.read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "image not found"),
        (b"not an image at all", "not an accepted image format"),
        (b"\x89PNG\r\n\x1a\n cut short", "not a readable image"),
    ],
)
def test_missing_or_broken_images_name_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert str(path) in str(info.value)
