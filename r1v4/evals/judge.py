"""LLM-as-judge: ask a model behind any OpenAI-compatible endpoint whether an answer is right.

Used for open answers (search benchmarks, free-form questions) where string rules cannot
decide. The prompt is published here as `JUDGE_PROMPT` so a reported accuracy can be
reproduced and criticised. The judge must reason first and end with one line
`VERDICT: CORRECT` or `VERDICT: INCORRECT`; anything else is an error, not a guess.

Verdicts are cached in SQLite keyed by (judge model, question, accepted answers, prediction),
so re-scoring a run or re-running a report never pays for the same verdict twice, and the
judge's reasoning is kept with each verdict so a surprising score can be checked.

Published judges (the R1V4 DeepResearch judge, Mini-o3's GPT-4o judge, VLMEvalKit's choice
extractor: `r1v4.evals.published_judges`) bring their own prompts and their own reading of
the reply; they use `Judge.ask`, which sends their messages as given and caches the raw
reply (per protocol, model and messages) once the protocol accepts it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4._util.sqlite_wal import open_shared
from r1v4.evals.judgeclient import JudgeClient

__all__ = [
    "JUDGE_PROMPT",
    "Judge",
    "JudgeSettings",
    "Reply",
    "Verdict",
    "VerdictCache",
    "parse_verdict",
]

JUDGE_PROMPT = """\
You are grading a model's answer to a question against the reference answer.

Question:
{question}

Reference answer (any one of these is acceptable):
{answers}

Model's answer:
{prediction}

Decide whether the model's answer means the same as a reference answer. Ignore differences in
wording, letter case, formatting, language, the way numbers and units are written, and extra
explanation, as long as the model's final answer is unambiguous and agrees with a reference.
An answer that hedges between several candidates, contradicts the reference, or gives only
part of what the reference requires is incorrect.

First explain your reasoning in a few sentences. Then end with exactly one line, either
VERDICT: CORRECT
or
VERDICT: INCORRECT"""

_VERDICT_RE = re.compile(r"VERDICT\s*[:：]\s*[*_`\s]*(CORRECT|INCORRECT)\b", re.I)
_THINK_RE = re.compile(r"</?think>", re.I)
# A reasoning judge's folded reasoning (the client writes it as a leading think block).
_THINK_BLOCK = re.compile(r"^\s*<think>.*?</think>", re.S | re.I)
_MAX_REASONING = 4000
# A prediction longer than this is cut to its end, where a final answer usually is.
MAX_PREDICTION_CHARS = 8000


@dataclass
class JudgeSettings:
    """Where the judge lives. `base_url` ends in /v1, as for the main endpoint."""

    base_url: str | list[str]
    model: str
    api_key: str | None = field(default=None, repr=False)
    cache_path: str | Path | None = None  # SQLite file; None: no cache
    max_tokens: int = 1024
    timeout_s: float = 120.0
    max_retries: int = 3


@dataclass
class Verdict:
    """One judgement; `correct` is None (and `error` set) when the judge gave no verdict."""

    correct: bool | None
    reasoning: str
    model: str
    cached: bool = False
    error: str | None = None


@dataclass
class Reply:
    """A published judge's raw reply (`text`), or `error` when the request failed."""

    text: str
    model: str
    cached: bool = False
    error: str | None = None


def parse_verdict(text: str) -> tuple[bool | None, str]:
    """(correct, reasoning) from the judge's reply; correct is None without a verdict line.

    The last verdict line wins (a judge may quote the format while reasoning); the reasoning
    is the reply without it, thinking tags removed.
    """
    matches = list(_VERDICT_RE.finditer(text or ""))
    if not matches:
        return None, (text or "").strip()[:_MAX_REASONING]
    last = matches[-1]
    reasoning = (text[: last.start()] + text[last.end() :]).strip()
    reasoning = _THINK_RE.sub("\n", reasoning).strip()
    return last.group(1).upper() == "CORRECT", reasoning[:_MAX_REASONING]


class VerdictCache:
    """SQLite store of verdicts; safe to share between tasks of one event loop and processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = open_shared(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS verdicts ("
            " model TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,"
            " prediction TEXT NOT NULL, correct INTEGER NOT NULL, reasoning TEXT NOT NULL,"
            " created_at REAL NOT NULL, PRIMARY KEY (model, question, answer, prediction))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS replies ("
            " protocol TEXT NOT NULL, model TEXT NOT NULL, request TEXT NOT NULL,"
            " reply TEXT NOT NULL, created_at REAL NOT NULL,"
            " PRIMARY KEY (protocol, model, request))"
        )
        self._db.commit()

    def get_reply(self, protocol: str, model: str, request: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT reply FROM replies WHERE protocol=? AND model=? AND request=?",
                (protocol, model, request),
            ).fetchone()
        return None if row is None else str(row[0])

    def put_reply(self, protocol: str, model: str, request: str, reply: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                (protocol, model, request, reply, time.time()),
            )
            self._db.commit()

    @staticmethod
    def _answer_key(answers: list[str]) -> str:
        return json.dumps(answers, ensure_ascii=False)

    def get(self, model: str, question: str, answers: list[str], prediction: str) -> Verdict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT correct, reasoning FROM verdicts"
                " WHERE model=? AND question=? AND answer=? AND prediction=?",
                (model, question, self._answer_key(answers), prediction),
            ).fetchone()
        if row is None:
            return None
        return Verdict(bool(row[0]), row[1], model, cached=True)

    def put(self, question: str, answers: list[str], prediction: str, verdict: Verdict) -> None:
        if verdict.correct is None:
            return  # errors are not cached: the next run asks again
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    verdict.model,
                    question,
                    self._answer_key(answers),
                    prediction,
                    int(verdict.correct),
                    verdict.reasoning,
                    time.time(),
                ),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Judge(JudgeClient):
    """An open judge: one HTTP client and one cache for a whole batch.

    `async with Judge(settings) as judge: verdict = await judge.judge(q, answers, pred)`.
    """

    def __init__(self, settings: JudgeSettings):
        super().__init__(settings)
        self.settings: JudgeSettings = settings
        self._cache: VerdictCache | None = None
        self.requests_sent = 0

    def open_cache(self, path: str) -> VerdictCache:
        return VerdictCache(path)

    async def ask(
        self,
        protocol: str,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        accept: Any = None,
    ) -> Reply:
        """Send a published judge's `messages` as they are (no toolkit prompt), with only
        the sampling fields it sets; the reply is cached under `protocol` once `accept(text)`
        (default: any reply) says the protocol can read it. A failed request is an error
        reply, never cached."""
        model = self.settings.model
        key = json.dumps([messages, max_tokens, temperature], ensure_ascii=False, sort_keys=True)
        if self._cache is not None:
            hit = self._cache.get_reply(protocol, model, key)
            if hit is not None:
                return Reply(hit, model, cached=True)
        if self._client is None:
            raise RuntimeError("use Judge as `async with Judge(settings) as judge`")
        self.requests_sent += 1
        try:
            comp = await self._client.complete(
                messages, stream=False, max_tokens=max_tokens, temperature=temperature
            )
        except Exception as exc:  # endpoint failures become a recorded error, not a crash
            return Reply("", model, error=f"judge request failed: {exc}")
        text = _THINK_BLOCK.sub("", comp.text).strip()
        if self._cache is not None and (accept is None or accept(text)):
            self._cache.put_reply(protocol, model, key, text)
        return Reply(text, model)

    async def judge(self, question: str, answers: list[str], prediction: str) -> Verdict:
        """Verdict for one prediction, from the cache when this exact question was judged."""
        model = self.settings.model
        if self._cache is not None:
            hit = self._cache.get(model, question, answers, prediction)
            if hit is not None:
                return hit
        if self._client is None:
            raise RuntimeError("use Judge as `async with Judge(settings) as judge`")
        shown = prediction
        if len(shown) > MAX_PREDICTION_CHARS:  # no answer tags: the whole response
            shown = "…" + shown[-MAX_PREDICTION_CHARS:]
        prompt = JUDGE_PROMPT.format(
            question=question or "(not given)",
            answers="\n".join(f"- {a}" for a in answers),
            prediction=shown,
        )
        self.requests_sent += 1
        try:
            comp = await self._client.complete(
                [{"role": "user", "content": prompt}],
                stream=False,
                max_tokens=self.settings.max_tokens,
                temperature=0,
            )
        except Exception as exc:  # endpoint failures become a recorded error, not a crash
            return Verdict(None, "", model, error=f"judge request failed: {exc}")
        correct, reasoning = parse_verdict(comp.text)
        if correct is None:
            return Verdict(
                None, reasoning, model, error="judge reply has no 'VERDICT: CORRECT|INCORRECT'"
            )
        verdict = Verdict(correct, reasoning, model)
        if self._cache is not None:
            self._cache.put(question, answers, prediction, verdict)
        return verdict
