"""The closing summary keeps running figures, not records: the whole file's counts stay right
through a resume and a `--retry-errors` rerun, and latency percentiles stay within 0.1%."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1v4._util.stats import LogHistogram, percentile
from r1v4.batch.figures import record_figures
from r1v4.batch.summary import Summary

OBS = '<observation>{"type": "code", "result": "x", "error": "boom"}</observation>'


def record(rid: str, *, failed: bool = False, correct: bool | None = None, tool: bool = False):
    text = "<think>t</think><answer>a</answer>"
    if tool:
        text = '<tool_call>{"name": "code", "arguments": {}}</tool_call>' + OBS + text
    rec = {"id": rid, "question": "q", "meta": {"latency_s": 1.0, "stop_reason": "answer"}}
    rec["response"] = {"error": "boom"} if failed else {"full_response": text}
    if correct is not None:
        rec["score"] = {"value": float(correct), "correct": correct}
    return rec


def test_a_retry_replaces_the_failed_records_it_reruns_and_nothing_else() -> None:
    earlier = {
        "a": record("a", correct=True),
        "b": record("b", failed=True),
        "c": record("c", failed=True),
        "d": record("d", correct=False, tool=True),
    }
    summary = Summary()
    summary.set_earlier({k: summary.figures(v) for k, v in earlier.items()}, rerun_failed=True)
    totals = summary.totals
    assert (totals.records, totals.failed, totals.scored, totals.right) == (4, 2, 2, 1)
    summary.count(record("b", correct=True))  # rerun, now a success
    summary.count(record("e", correct=True))  # a new case
    assert (totals.records, totals.failed, totals.scored, totals.right) == (5, 1, 4, 3)
    assert +totals.errors == {"boom": 1}
    assert (+totals.tool_calls, +totals.tool_errors) == ({"code": 1}, {"code": 1})
    assert totals.all_tools_failed["answered"] == 1
    assert summary.exit_code == 1  # "c" still failed
    summary.count(record("c"))
    assert totals.failed == 0 and summary.exit_code == 0
    assert (summary.succeeded, summary.failed) == (3, 0)


def test_without_retry_the_failed_figures_are_counted_but_not_kept() -> None:
    summary = Summary()
    summary.set_earlier({"b": summary.figures(record("b", failed=True))}, rerun_failed=False)
    assert summary.totals.failed == 1 and not summary._replaceable  # noqa: SLF001


def test_equal_figures_are_one_object() -> None:
    summary = Summary()
    one = summary.figures(record("a", correct=True))
    two = summary.figures(record("b", correct=True))
    assert one is two and one == record_figures(record("z", correct=True))


def test_a_resumed_file_counts_the_same_as_its_records_one_by_one() -> None:
    """A resume counts each distinct figure once with its multiplicity; the totals must be
    those of adding every record in turn (failed, scored, flagged, tool-using, planned)."""
    rng = random.Random(7)
    kinds = [
        lambda i: record(i, correct=True),
        lambda i: record(i, correct=False),
        lambda i: record(i),
        lambda i: record(i, failed=True),
        lambda i: record(i, correct=True, tool=True),
        lambda i: {**record(i, correct=True), "flags": [{"flag": "short_think"}]},
        lambda i: {**record(i), "plan": [{"tool": "code"}], "plan_valid": True},
    ]
    records = {str(i): rng.choice(kinds)(str(i)) for i in range(400)}
    summary = Summary()
    summary.set_earlier({k: summary.figures(v) for k, v in records.items()}, rerun_failed=True)
    one_by_one = Summary().totals
    for rec in records.values():
        one_by_one.add(record_figures(rec))
    assert summary.totals == one_by_one and summary.totals.records == 400
    assert summary.totals.flag_counts["short_think"] > 0 and summary.totals.plans_valid > 0
    failed = {k for k, v in records.items() if "error" in v["response"]}
    assert set(summary._replaceable) == failed  # noqa: SLF001


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.001, max_value=600), min_size=1, max_size=300))
def test_histogram_percentiles_are_within_a_tenth_of_a_percent(values: list[float]) -> None:
    hist = LogHistogram()
    for v in values:
        hist.add(v)
    for q in (50, 95):
        exact, approx = percentile(values, q), hist.percentile(q)
        assert approx == pytest.approx(exact, rel=1.1e-3)


def test_a_histogram_of_many_latencies_stays_small() -> None:
    rng = random.Random(1)
    hist = LogHistogram()
    for _ in range(100_000):
        hist.add(rng.lognormvariate(0, 1.5))
    assert len(hist) == 100_000 and len(hist.counts) < 16_000
