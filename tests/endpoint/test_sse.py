"""The incremental SSE decoder: framing rules real servers rely on, under any read split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4.endpoint.sse import SSEDecoder, SSEError


def decode(chunks: list[bytes]) -> list[str]:
    dec = SSEDecoder()
    out = []
    for c in chunks:
        out.extend(e.data for e in dec.feed(c))
    tail, _ = dec.close()
    out.extend(e.data for e in tail)
    return out


STREAM = (
    ": OPENROUTER PROCESSING\n\n"
    'data: {"a": "héllo 世界 🙂"}\n\n'
    "event: message\r\n"
    'data: {"b":\r\n'
    "data: 2}\r\n\r\n"
    ": keep-alive\r\r"
    'data: {"c": 3}\r\r'
    "data: [DONE]\n\n"
).encode()
EXPECTED = ['{"a": "héllo 世界 🙂"}', '{"b":\n2}', '{"c": 3}', "[DONE]"]


def test_whole_stream_in_one_read() -> None:
    assert decode([STREAM]) == EXPECTED


def test_one_byte_at_a_time_splits_crlf_and_utf8() -> None:
    # Every CRLF and every multi-byte character gets split between two reads.
    assert decode([bytes([b]) for b in STREAM]) == EXPECTED


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    assert decode(chunks) == EXPECTED


def test_comments_only_dispatch_nothing_and_are_counted() -> None:
    dec = SSEDecoder()
    assert dec.feed(b": ping\n\n: ping\n\n") == []
    assert dec.comments == 2


def test_data_without_space_and_other_fields() -> None:
    dec = SSEDecoder()
    evs = dec.feed(b"id: 7\nretry: 100\nevent: error\ndata:{}\n\n")
    assert [(e.data, e.event, e.id) for e in evs] == [("{}", "error", "7")]


def test_last_event_without_blank_line_is_delivered_at_close() -> None:
    dec = SSEDecoder()
    assert dec.feed(b'data: {"x": 1}') == []
    tail, leftover = dec.close()
    assert [e.data for e in tail] == ['{"x": 1}']
    assert leftover


def test_invalid_utf8_becomes_replacement_not_an_error() -> None:
    assert decode([b"data: \xff\xfeok\n\n"]) == ["\ufffd\ufffdok"]


def test_leading_bom_is_ignored() -> None:
    assert decode([b"\xef\xbb\xbfdata: 1\n\n"]) == ["1"]


def test_line_limit() -> None:
    dec = SSEDecoder(max_line_bytes=10)
    with pytest.raises(SSEError):
        dec.feed(b"data: " + b"x" * 20)


def decode_data(chunks: list[bytes]) -> list[bytes]:
    dec = SSEDecoder()
    out = []
    for c in chunks:
        out.extend(dec.feed_data(c))
    tail, _ = dec.close()
    return out + [e.raw for e in tail]


TOKENS = b"".join(b'data: {"t": %d}\n\n' % i for i in range(5)) + b"data: [DONE]\n\n"
# Reads the whole-events shortcut must not take for whole one-line events: "data: " inside
# the data, two data lines in one event, no space after the colon, an empty event, an
# event name, a comment.
LOOKALIKES = (
    b'data: {"t": "data: x"}\n\ndata: a\ndata: b\n\ndata:{"n":1}\n\n\n\n'
    b'data: {"t": "\\n\\ndata: y"}\n\nevent: e\ndata: 2\n\n: keep\n\ndata: [DONE]\n\n'
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([STREAM, TOKENS, TOKENS.replace(b"\n\n", b"\r\n\r\n"), LOOKALIKES]),
    st.lists(st.integers(min_value=0, max_value=max(len(STREAM), len(LOOKALIKES))), max_size=20),
)
def test_feed_data_gives_the_data_feed_gives_under_any_split(stream: bytes, cuts: list) -> None:
    """The whole-events shortcut and the line-by-line reading agree, read by read."""
    points = sorted({c for c in cuts if c <= len(stream)})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode_data(chunks) == [d.encode() for d in decode(chunks)]
