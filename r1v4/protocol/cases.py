"""Read and validate test cases from JSONL.

Accepts the seed's lines (`{"image": path or "", "question": ...}`), our richer form
(`images`, `id`, `answer`, `options`, `category`, `system`, `dialect`, and for benchmark
cases `benchmark`, `split`, `labels`, `prompt_style`) and OpenAI Batch API lines
(`custom_id`, `body.messages`). A bad line never stops the others: it becomes a `CaseError`
naming the file, line number and reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class CaseError:
    """One input line that could not become a case."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(slots=True)
class Case:
    """One test case, with image paths resolved and a stable id. Slotted: a run holds every
    case of its file (100,000 on a large resume), and a slotted case is built in half the
    time and a third of the memory."""

    id: str
    question: str
    image: str = ""  # the seed's single-image field, echoed into the record as given
    images: list[str] = field(default_factory=list)  # every image as written in the input
    image_paths: list[Path] = field(default_factory=list)  # resolved files (may not exist)
    answer: str | list[str] | None = None
    options: list[str] | dict[str, str] | None = None
    category: str | None = None
    system: str | None = None
    dialect: str | None = None  # the model's dialect for this case (else the run's --dialect)
    benchmark: str | None = None  # the named benchmark the case comes from ("hrbench-4k")
    split: str | None = None  # its split ("test", "hard", "level1")
    labels: dict[str, Any] | None = None  # annotations its scorer and report need
    prompt_style: str | None = None  # how its options are worded (a template name)
    messages: list[dict[str, Any]] | None = None  # Batch API: sent as given
    body: dict[str, Any] = field(default_factory=dict)  # Batch API: other request fields
    line: int = 0
    input_file: str = ""  # absolute path of the JSONL file the case came from ("" if none)


def option_map(options: list[str] | dict[str, str] | None) -> dict[str, str]:
    """A case's options as {"A": text, ...}: what the model is shown and what the scorer
    matches letters against. A list gets letters A, B, C… and loses a leading "A. "; an
    object's keys are the letters (upper-cased)."""
    if not options:
        return {}
    if isinstance(options, dict):
        return {str(k).strip().upper(): str(v) for k, v in options.items()}
    out: dict[str, str] = {}
    for i, text in enumerate(options):
        letter = chr(ord("A") + i)
        text = str(text)
        m = re.match(rf"^\s*\(?{letter}[.):：、]\s*(.*)$", text, re.S | re.I)
        out[letter] = m.group(1) if m else text
    return out


def derive_case_id(question: str, images: list[str]) -> str:
    """A stable id from the content, so a rerun finds the same case without an explicit id."""
    digest = hashlib.sha1(orjson.dumps([question, images])).hexdigest()
    return digest[:12]


def resolve_image(ref: str, base_dir: Path) -> Path:
    """Relative paths resolve against the input file's folder first, then the working folder."""
    path = Path(ref).expanduser()
    if path.is_absolute():
        return path
    beside_input = base_dir / path
    if beside_input.exists() or not path.exists():
        return beside_input
    return path.resolve()


def _is_inline(ref: str) -> bool:
    return ref.startswith(("data:", "http://", "https://"))


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "a number", float: "a number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _bad(field_name: str, must: str, value: Any) -> ValueError:
    """The one shape of a field error: which field, what it must be, what it was."""
    return ValueError(f"field '{field_name}' must be {must}, got {_type_name(value)}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(
        part["text"] for part in content if part.get("type") == "text" and "text" in part
    )


def _check_part(part: Any, where: str) -> str | None:
    """Validate one content part of a Batch API message; return its image URL, if any."""
    if not isinstance(part, dict):
        raise _bad(where, "an object", part)
    kind = part.get("type")
    if not isinstance(kind, str):
        raise _bad(f"{where}.type", "a string", kind)
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise _bad(f"{where}.text", "a string", part.get("text"))
    elif kind == "image_url":
        image_url = part.get("image_url")
        nested = isinstance(image_url, dict)
        url = image_url.get("url") if nested else image_url
        field_name = f"{where}.image_url.url" if nested else f"{where}.image_url"
        if url is None:
            raise ValueError(f"field '{field_name}' is missing")
        if not isinstance(url, str) or not url.strip():
            raise _bad(field_name, "a non-empty string", url)
        return url
    return None  # other part types go to the endpoint as written


def _batch_case(obj: dict[str, Any], line: int) -> Case:
    custom_id = obj.get("custom_id")
    if custom_id is not None and (
        not isinstance(custom_id, str | int) or isinstance(custom_id, bool)
    ):
        raise _bad("custom_id", "a string or a number", custom_id)
    body = obj.get("body")
    if not isinstance(body, dict):
        raise _bad("body", "an object holding the request", body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("body.messages", "a non-empty list", messages)
    images: list[str] = []
    users: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"body.messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(where, "an object", message)
        role = message.get("role")
        if not isinstance(role, str):
            raise _bad(f"{where}.role", "a string", role)
        content = message.get("content")
        if isinstance(content, list):
            urls = [_check_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
            if role == "user":
                images += [u for u in urls if u is not None]
        elif not isinstance(content, str) and not (content is None and role != "user"):
            raise _bad(f"{where}.content", "a string or a list of parts", content)
        if role == "user":
            users.append(message)
    if not users:
        raise ValueError("field 'body.messages' has no user message")
    question = _text_of(users[-1].get("content"))
    # The toolkit sets these itself (as --extra-body refuses them).
    rest = {k: v for k, v in body.items() if k not in ("messages", "stream", "stream_options")}
    answer, options, category = _truth_fields(obj)
    return Case(
        id=str(custom_id) if custom_id not in (None, "") else derive_case_id(question, images),
        question=question,
        images=images,
        messages=messages,
        body=rest,
        line=line,
        answer=answer,
        options=options,
        category=category,
    )


def _truth_fields(obj: dict[str, Any]) -> tuple[Any, Any, Any]:
    """`answer`, `options` and `category`, checked (a Batch API line may carry them too,
    beside `custom_id` and `body`)."""
    answer = _expect(obj, "answer", (str, list, int, float), "a string or a list of strings")
    if isinstance(answer, int | float):
        answer = str(answer)
    elif isinstance(answer, list):
        answer = _text_items(answer, "answer", "a string")
    options = _expect(obj, "options", (list, dict), "a list or an object of letter -> text")
    if options is not None:
        options = _text_items(options, "options", "a string")
    if options is not None and len(options) > 26:
        raise ValueError(f"field 'options' has {len(options)} entries; at most 26 (A to Z)")
    if isinstance(options, dict) and not all(
        isinstance(k, str) and len(k.strip()) == 1 and k.strip().isalpha() for k in options
    ):
        raise ValueError("field 'options' as an object must map single letters to texts")
    category = _expect(obj, "category", (str,), "a string")
    return answer, options, category


def _expect(obj: dict[str, Any], key: str, types: tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if value is not None and (not isinstance(value, types) or isinstance(value, bool)):
        raise _bad(key, what, value)
    return value


def _text_items(value: Any, key: str, what: str) -> Any:
    """A list (or object) whose items must be strings; numbers become strings."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    out = {} if isinstance(value, dict) else []
    for k, item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            where = f"{key}.{k}" if isinstance(value, dict) else f"{key}[{k}]"
            raise _bad(where, what, item)
        text = item if isinstance(item, str) else str(item)
        if isinstance(out, dict):
            out[k] = text
        else:
            out.append(text)
    return out


def _resolved(ref: str, key: str, base_dir: Path) -> Path:
    """`resolve_image`, with a path no file system could hold as this line's error."""
    if "\x00" in ref:
        raise ValueError(f"field '{key}' contains a NUL character")
    try:
        return resolve_image(ref, base_dir)
    except (OSError, RuntimeError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"field '{key}' is not a usable path ({why})") from None


def parse_case(obj: Any, line: int, base_dir: Path) -> Case:
    """Turn one decoded line into a Case; raises ValueError naming the field and the reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {_type_name(obj)}")
    if "body" in obj and ("custom_id" in obj or "question" not in obj):
        return _batch_case(obj, line)
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        if question is None:
            raise ValueError("missing field 'question'")
        raise _bad("question", "a non-empty string", question)
    image = _expect(obj, "image", (str,), 'a string (a path, or "" for text-only)') or ""
    images = _expect(obj, "images", (list,), "a list of paths") or []
    for i, ref in enumerate(images):
        if not isinstance(ref, str) or not ref.strip():
            raise _bad(f"images[{i}]", "a non-empty string", ref)
    refs: list[str] = []
    paths: list[Path] = []
    if images or image.strip():  # a text-only line (most of a text benchmark) has neither
        keyed = ([("image", image)] if image.strip() else []) + [
            (f"images[{i}]", ref) for i, ref in enumerate(images) if ref != image
        ]
        refs = [ref for _, ref in keyed]
        paths = [_resolved(ref, key, base_dir) for key, ref in keyed if not _is_inline(ref)]
    answer, options, category = _truth_fields(obj)
    # Only the optional fields the line has are checked (most lines have none of them).
    more = (
        {}
        if _OPTIONAL.keys().isdisjoint(obj)
        else {key: _expect(obj, key, *rule) for key, rule in _OPTIONAL.items() if key in obj}
    )
    raw_id = _expect(obj, "id", (str, int), "a string or a number")
    return Case(
        id=str(raw_id) if raw_id not in (None, "") else derive_case_id(question, refs),
        question=question,
        image=image,
        images=refs,
        image_paths=paths,
        answer=answer,
        options=options,
        category=category,
        line=line,
        **more,
    )


#: Optional string-ish fields of a case line: (types, what the message says they must be).
_OPTIONAL: dict[str, tuple[tuple[type, ...], str]] = {
    "system": ((str,), "a string"),
    "dialect": ((str,), "a string (a dialect name)"),
    "benchmark": ((str,), "a string"),
    "split": ((str,), "a string"),
    "labels": ((dict,), "an object"),
    "prompt_style": ((str,), "a string"),
}


#: The longest input line read; a longer one is an error for that line (an image that big
#: belongs in a file, not in a data URL).
MAX_LINE_BYTES = 512 << 20
_BOM = b"\xef\xbb\xbf"


def _lines(fh: Any, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for every line, or (number, None) for one over `max_bytes`,
    read without ever holding more than `max_bytes` of it."""
    number = 0
    while raw := fh.readline(max_bytes + 1):
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, raw[len(_BOM) :] if number == 1 and raw.startswith(_BOM) else raw


def _decode(raw: bytes, number: int) -> tuple[Any, str | None]:
    """The JSON value of a line, or the reason it has none."""
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return None, f"line {number} is not valid UTF-8 (byte offset {bad.start})"
        return None, f"invalid JSON: {exc}"


def iter_cases(
    path: str | Path, *, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Case | CaseError]:
    """Yield a Case or a CaseError for every non-blank line, in file order. Nothing in a
    line stops the others: every problem is a CaseError naming the file, the line and, when
    there is one, the field. A UTF-8 byte order mark on line 1 is accepted."""
    path = Path(path)
    source = str(path.resolve())
    base_dir = Path(source).parent
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for number, raw in _lines(fh, max_line_bytes):
            if raw is None:
                yield CaseError(str(path), number, f"line is longer than {max_line_bytes} bytes")
                continue
            if not raw.strip():
                continue
            obj, reason = _decode(raw, number)
            if reason is not None:
                yield CaseError(str(path), number, reason)
                continue
            try:
                case = parse_case(obj, number, base_dir)
            except ValueError as exc:
                yield CaseError(str(path), number, str(exc))
                continue
            except Exception as exc:  # a shape validation missed: still this line's error
                yield CaseError(str(path), number, f"cannot read this line ({exc!r})")
                continue
            if case.id in seen:
                if "id" in obj or "custom_id" in obj:
                    first = seen[case.id]
                    yield CaseError(
                        str(path), number, f"duplicate id {case.id!r} (first on line {first})"
                    )
                    continue
                # Same content twice without ids: keep both, with a stable suffix.
                base, n = case.id, 2
                while f"{base}-{n}" in seen:
                    n += 1
                case.id = f"{base}-{n}"
            seen[case.id] = number
            case.input_file = source
            yield case


def load_cases(path: str | Path) -> tuple[list[Case], list[CaseError]]:
    """All cases and all errors of a file (cases are small; images load lazily)."""
    cases: list[Case] = []
    errors: list[CaseError] = []
    for item in iter_cases(path):
        (errors if isinstance(item, CaseError) else cases).append(item)
    return cases, errors


def select_shard(cases: list[Case], shard: tuple[int, int] | None) -> list[Case]:
    """The K-th of N slices (1-based), split by a hash of the id so reruns agree."""
    if shard is None:
        return cases
    k, n = shard
    return [c for c in cases if int(hashlib.sha1(c.id.encode()).hexdigest(), 16) % n == k - 1]
