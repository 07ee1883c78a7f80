"""loads_lenient and parse_tool_call: the model slips they forgive and the errors they give."""

from __future__ import annotations

import pytest

from r1v4._util.lenient_json import loads_lenient
from r1v4.parsing import parse_tool_call


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ('"plain"', "plain"),
        ("42", 42),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("```\n[1]\n```", [1]),
        ('```json\n{"a": 1}', {"a": 1}),  # closing fence lost to truncation
        ("{'a': 'b'}", {"a": "b"}),
        ('{"a": [1, 2,],}', {"a": [1, 2]}),
        ('{"a": True, "b": False, "c": None}', {"a": True, "b": False, "c": None}),
        ('{"a": {"b": 1}', {"a": {"b": 1}}),
        (
            '{"name": "code", "arguments": {"code": "print(1)"}',
            {"name": "code", "arguments": {"code": "print(1)"}},
        ),
        ('  {"a": 1}\n\n', {"a": 1}),
        ("NaN", float("nan")),
        ('\ufeff{"a": 1}', {"a": 1}),  # a byte-order mark from a copied file
    ],
)
def test_loads_lenient_accepts_model_slips(text: str, expected: object) -> None:
    got = loads_lenient(text)
    if expected != expected:  # NaN
        assert got != got
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("hello world", "starts with 'hello world'"),
        ("The answer is 42", "rather than '{' or '['"),
        ('Sure! {"a": 1}', "starts with"),
        ("{hello world}", "where the text starts an object"),
        ('{"a": 1}{"b": 2}', "where the text starts an object"),
        ("```\n```", "empty code fence"),
    ],
)
def test_loads_lenient_rejects_prose_with_a_precise_message(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        loads_lenient(text)
    assert needle in str(info.value)


def test_loads_lenient_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="expected JSON text"):
        loads_lenient(b"{}")  # type: ignore[arg-type]


CALL = {"name": "code", "arguments": {"code": "print('</tool_call>')"}}


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}',
        '\n```json\n{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}\n```\n',
        '{"name": "code", "arguments": "{\\"code\\": \\"print(\'</tool_call>\')\\"}"}',
        '{"name": "code", "parameters": {"code": "print(\'</tool_call>\')"}}',
        '{"tool_name": "code", "parameters": {"code": "print(\'</tool_call>\')"},}',
        '{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}',
        '{"function": {"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}}',
        '[{"name": "code", "arguments": {"code": "print(\'</tool_call>\')"}}]',
    ],
)
def test_parse_tool_call_normalises(body: str) -> None:
    assert parse_tool_call(body) == (CALL, None)


def test_parse_tool_call_missing_arguments_means_none() -> None:
    assert parse_tool_call('{"name": "web_visit"}') == (
        {"name": "web_visit", "arguments": {}},
        None,
    )
    assert parse_tool_call('{"name": "x", "arguments": ""}') == (
        {"name": "x", "arguments": {}},
        None,
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("I will crop the image now.", "not valid JSON"),
        ("", "not valid JSON: empty text"),
        ("[1, 2]", "must be a JSON object, got an array of 2"),
        ('"code"', "must be a JSON object, got a string"),
        ('{"arguments": {"code": "x"}}', 'has no "name" (keys: arguments)'),
        ('{"name": "", "arguments": {}}', '"name" must be a non-empty string'),
        ('{"name": 3, "arguments": {}}', '"name" must be a non-empty string, got a int'),
        ('{"name": "code", "arguments": [1]}', '"arguments" must be a JSON object, got an array'),
        ('{"name": "code", "arguments": "crop it"}', '"arguments" is a string that is not JSON'),
    ],
)
def test_parse_tool_call_errors_are_precise(body: str, needle: str) -> None:
    call, error = parse_tool_call(body)
    assert call is None
    assert error is not None and needle in error


def test_integers_beyond_64_bits_stay_exact() -> None:
    from r1v4._util.lenient_json import loads_strict

    assert loads_strict("-9223372036854775809") == -9223372036854775809
    assert loads_strict('{"n": 18446744073709551616}') == {"n": 18446744073709551616}
