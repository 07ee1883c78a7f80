"""Data URLs (`data:image/png;base64,...`): how images travel inside records and requests.

Records carry intermediate images as data URLs with `--embed-images`, requests carry every
image as one, and observations may hold them; this is the one encoder and decoder for them.
The viewer adds its own guard on top (raster types only, a size cap) before serving one.
"""

from __future__ import annotations

import base64
import binascii
import re

from r1v4.protocol.errors import R1V4Error

#: An image data URL inside a longer text (an observation that is not JSON).
DATA_URL_RE = re.compile(r"data:image/[\w.+-]+;base64,[A-Za-z0-9+/=]+")


class DataURLError(R1V4Error, ValueError):
    """Not a base64 data URL, or its payload is not base64."""


def encode_data_url(data: bytes, mime: str) -> str:
    """`data:<mime>;base64,<payload>` for `data`."""
    # One bytes concatenation, one ASCII decode: a megabyte image is copied twice, not thrice.
    return (b"data:" + mime.encode("ascii") + b";base64," + base64.b64encode(data)).decode("ascii")


def decode_data_url(url: str) -> bytes:
    """The bytes of a base64 data URL; `DataURLError` when it is not one."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or ";base64" not in head:
        raise DataURLError("not a base64 data URL")
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DataURLError(f"bad base64 in data URL: {exc}") from exc
