"""The consistency judge: a vision-language model behind any OpenAI-compatible endpoint, asked
whether a crop shows what the reasoning that asked for it meant to look at, and whether a
final answer is the conclusion of the last reasoning (R1V4 paper §2.1 and §2.3: "we check the
consistency between the images produced at each step and the subsequent thinking", "a
visual-language model to automatically identify [...] incorrect image crops which does not
align with the intended visual region").

The prompts are published here (`CROP_PROMPT`, `ANSWER_PROMPT`) so a filtered set can be
reproduced and criticised. The judge must end with one line `VERDICT: CONSISTENT` or
`VERDICT: INCONSISTENT`; anything else is an error, never a guess. Verdicts are cached in
SQLite like the answer judge's (`r1v4.evals.judge`), keyed by the judge model and a hash of
what it was shown (the image bytes and the text), so re-flagging a file costs nothing.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.sqlite_wal import open_shared
from r1v4.evals.judgeclient import JudgeClient
from r1v4.protocol.dataurl import encode_data_url

__all__ = [
    "ANSWER_PROMPT",
    "CROP_PROMPT",
    "ConsistencyJudge",
    "ConsistencySettings",
    "ConsistencyVerdict",
    "parse_consistency",
]

CROP_PROMPT = """\
You are checking one step of a visual agent. Working on the question below, the agent wrote
this reasoning, then cut the attached image out of a larger picture to look closer:

Question: {question}

Reasoning that asked for the image: "{sentence}"

Does the attached image show the region or object this reasoning says it wants to look at?
An image that is blank, shows something else, or cuts off most of the intended object does
not. Judge only from what you see in the image.

First explain in one or two sentences. Then end with exactly one line, either
VERDICT: CONSISTENT
or
VERDICT: INCONSISTENT"""

ANSWER_PROMPT = """\
You are checking the end of a visual agent's work. Below is its last reasoning and the final
answer it gave to the question.

Question: {question}

Last reasoning:
{think}

Final answer: {answer}

Is the final answer the conclusion this reasoning arrived at? An answer that contradicts the
reasoning, or that the reasoning never reached, is not.

First explain in one or two sentences. Then end with exactly one line, either
VERDICT: CONSISTENT
or
VERDICT: INCONSISTENT"""

_VERDICT_RE = re.compile(r"VERDICT\s*[:：]\s*[*_`\s]*(CONSISTENT|INCONSISTENT)\b", re.I)
_MAX_REASONING = 2000


def parse_consistency(text: str) -> tuple[bool | None, str]:
    """(consistent, reasoning) from the judge's reply; None without a verdict line (the last
    one wins)."""
    matches = list(_VERDICT_RE.finditer(text or ""))
    if not matches:
        return None, (text or "").strip()[:_MAX_REASONING]
    last = matches[-1]
    reasoning = (text[: last.start()] + text[last.end() :]).strip()
    return last.group(1).upper() == "CONSISTENT", reasoning[:_MAX_REASONING]


@dataclass
class ConsistencySettings:
    """Where the consistency judge lives (`--consistency-judge-base-url`, `-model`)."""

    base_url: str | list[str]
    model: str
    api_key: str | None = field(default=None, repr=False)
    cache_path: str | Path | None = None  # SQLite file; None: no cache
    max_tokens: int = 512
    timeout_s: float = 120.0
    max_retries: int = 3


@dataclass
class ConsistencyVerdict:
    """One judgement; `consistent` is None (and `error` set) when there was no verdict."""

    consistent: bool | None
    reasoning: str
    model: str
    cached: bool = False
    error: str | None = None


class _Cache:
    """SQLite store of verdicts keyed by (model, hash of what the judge was shown)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_shared(Path(path))
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS consistency (model TEXT NOT NULL, key TEXT NOT NULL,"
            " consistent INTEGER NOT NULL, reasoning TEXT NOT NULL, created_at REAL NOT NULL,"
            " PRIMARY KEY (model, key))"
        )
        self._db.commit()

    def get(self, model: str, key: str) -> ConsistencyVerdict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT consistent, reasoning FROM consistency WHERE model=? AND key=?",
                (model, key),
            ).fetchone()
        return None if row is None else ConsistencyVerdict(bool(row[0]), row[1], model, True)

    def put(self, key: str, verdict: ConsistencyVerdict) -> None:
        if verdict.consistent is None:
            return
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO consistency VALUES (?, ?, ?, ?, ?)",
                (verdict.model, key, int(verdict.consistent), verdict.reasoning, time.time()),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


class ConsistencyJudge(JudgeClient):
    """An open judge: `async with ConsistencyJudge(settings) as j: await j.crop(...)`."""

    def __init__(self, settings: ConsistencySettings) -> None:
        super().__init__(settings)
        self.settings: ConsistencySettings = settings
        self._cache: _Cache | None = None
        self.requests_sent = 0
        self.errors = 0

    def open_cache(self, path: str) -> _Cache:
        return _Cache(path)

    async def crop(
        self, image: bytes, mime: str, sentence: str, question: str
    ) -> ConsistencyVerdict:
        """Does this image show what `sentence` (the think that asked for it) meant?"""
        prompt = CROP_PROMPT.format(question=question[:2000] or "(not given)", sentence=sentence)
        content = [
            {"type": "image_url", "image_url": {"url": encode_data_url(image, mime)}},
            {"type": "text", "text": prompt},
        ]
        return await self._ask(_key("crop", image, sentence, question), content)

    async def answer(self, question: str, think: str, answer: str) -> ConsistencyVerdict:
        """Is `answer` the conclusion of `think`?"""
        prompt = ANSWER_PROMPT.format(
            question=question[:2000] or "(not given)", think=think[-6000:], answer=answer[:2000]
        )
        return await self._ask(_key("answer", question, think, answer), prompt)

    async def _ask(self, key: str, content: Any) -> ConsistencyVerdict:
        model = self.settings.model
        if self._cache is not None:
            hit = self._cache.get(model, key)
            if hit is not None:
                return hit
        if self._client is None:
            raise RuntimeError("use ConsistencyJudge as `async with ConsistencyJudge(...)`")
        self.requests_sent += 1
        try:
            comp = await self._client.complete(
                [{"role": "user", "content": content}],
                stream=False,
                max_tokens=self.settings.max_tokens,
                temperature=0,
            )
        except Exception as exc:  # endpoint failures are recorded, never a crash
            self.errors += 1
            return ConsistencyVerdict(None, "", model, error=f"consistency judge failed: {exc}")
        consistent, reasoning = parse_consistency(comp.text)
        if consistent is None:
            self.errors += 1
            why = "consistency judge reply has no 'VERDICT: CONSISTENT|INCONSISTENT'"
            return ConsistencyVerdict(None, reasoning, model, error=why)
        verdict = ConsistencyVerdict(consistent, reasoning, model)
        if self._cache is not None:
            self._cache.put(key, verdict)
        return verdict
