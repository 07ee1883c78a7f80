"""Read and validate test cases from JSONL.

Accepts the seed's lines (`{"image": path or "", "question": ...}`), our richer form
(`images`, `id`, `answer`, `options`, `category`, `system`, and for benchmark cases
`benchmark`, `split`, `labels`, `prompt_style`) and OpenAI Batch API lines
(`custom_id`, `body.messages`). A bad line never stops the others: it becomes a `CaseError`
naming the file, line number and reason.
"""

from __future__ import annotations

import hashlib
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


@dataclass
class Case:
    """One test case, with image paths resolved and a stable id."""

    id: str
    question: str
    image: str = ""  # the seed's single-image field, echoed into the record as given
    images: list[str] = field(default_factory=list)  # every image as written in the input
    image_paths: list[Path] = field(default_factory=list)  # resolved files (may not exist)
    answer: str | list[str] | None = None
    options: list[str] | dict[str, str] | None = None
    category: str | None = None
    system: str | None = None
    benchmark: str | None = None  # the named benchmark the case comes from ("hrbench-4k")
    split: str | None = None  # its split ("test", "hard", "level1")
    labels: dict[str, Any] | None = None  # annotations its scorer and report need
    prompt_style: str | None = None  # how its options are worded (a template name)
    messages: list[dict[str, Any]] | None = None  # Batch API: sent as given
    body: dict[str, Any] = field(default_factory=dict)  # Batch API: other request fields
    line: int = 0


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


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _batch_case(obj: dict[str, Any], line: int) -> Case:
    body = obj.get("body")
    if not isinstance(body, dict):
        raise ValueError("field 'body' must be an object holding the request")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("field 'body.messages' must be a non-empty list")
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise ValueError("field 'body.messages' has no user message")
    images = [
        part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part["image_url"]
        for m in users
        if isinstance(m.get("content"), list)
        for part in m["content"]
        if isinstance(part, dict) and part.get("type") == "image_url" and part.get("image_url")
    ]
    custom_id = obj.get("custom_id")
    question = _text_of(users[-1].get("content"))
    rest = {k: v for k, v in body.items() if k != "messages"}
    return Case(
        id=str(custom_id) if custom_id not in (None, "") else derive_case_id(question, images),
        question=question,
        images=images,
        messages=messages,
        body=rest,
        line=line,
    )


def _expect(obj: dict[str, Any], key: str, types: tuple[type, ...], what: str) -> Any:
    value = obj.get(key)
    if value is not None and not isinstance(value, types):
        raise ValueError(f"field '{key}' must be {what}, got {type(value).__name__}")
    return value


def parse_case(obj: Any, line: int, base_dir: Path) -> Case:
    """Turn one decoded line into a Case; raises ValueError with the reason."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "body" in obj and "custom_id" in obj:
        return _batch_case(obj, line)
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        if question is None:
            raise ValueError("missing field 'question'")
        raise ValueError("field 'question' must be a non-empty string")
    image = _expect(obj, "image", (str,), 'a string (a path, or "" for text-only)') or ""
    images = _expect(obj, "images", (list,), "a list of paths") or []
    if not all(isinstance(i, str) and i for i in images):
        raise ValueError("field 'images' must hold non-empty strings")
    refs = ([image] if image.strip() else []) + [i for i in images if i != image]
    answer = _expect(obj, "answer", (str, list, int, float), "a string or a list of strings")
    if isinstance(answer, int | float):
        answer = str(answer)
    options = _expect(obj, "options", (list, dict), "a list or an object of letter -> text")
    category = _expect(obj, "category", (str,), "a string")
    system = _expect(obj, "system", (str,), "a string")
    benchmark = _expect(obj, "benchmark", (str,), "a string")
    split = _expect(obj, "split", (str,), "a string")
    labels = _expect(obj, "labels", (dict,), "an object")
    prompt_style = _expect(obj, "prompt_style", (str,), "a string")
    raw_id = obj.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise ValueError(f"field 'id' must be a string or a number, got {type(raw_id).__name__}")
    return Case(
        id=str(raw_id) if raw_id not in (None, "") else derive_case_id(question, refs),
        question=question,
        image=image,
        images=refs,
        image_paths=[resolve_image(r, base_dir) for r in refs if not _is_inline(r)],
        answer=answer,
        options=options,
        category=category,
        system=system,
        benchmark=benchmark,
        split=split,
        labels=labels,
        prompt_style=prompt_style,
        line=line,
    )


def iter_cases(path: str | Path) -> Iterator[Case | CaseError]:
    """Yield a Case or a CaseError for every non-blank line, in file order."""
    path = Path(path)
    base_dir = path.resolve().parent
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield CaseError(str(path), number, f"invalid JSON: {exc}")
                continue
            try:
                case = parse_case(obj, number, base_dir)
            except ValueError as exc:
                yield CaseError(str(path), number, str(exc))
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


def record_id(record: dict[str, Any]) -> str:
    """The id of a result record, derived the same way as for cases when the record has none
    (the seed's result files carry no id)."""
    rid = record.get("id")
    if rid not in (None, ""):
        return str(rid)
    image = record.get("image") or ""
    images = record.get("images") or ([image] if image else [])
    return derive_case_id(record.get("question") or "", images)
