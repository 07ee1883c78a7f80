"""`--sampling published`: a run meant to reproduce a family's figures sends that family's
published request settings (checked on the request bodies the simulator received); what is
given explicitly still wins; without it nothing is sent that was not asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.agent.dialects.registry import DIALECTS
from r1v4.agent.dialects.sampling import DEFAULT_MAX_ROUNDS, DEFAULT_MAX_TOKENS
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl
from tests.helpers.dialect_cases import batch, one_case

SAMPLING_KEYS = ("temperature", "top_p", "top_k", "min_p", "presence_penalty", "max_tokens")


def _sampling_of(body: dict) -> dict:
    return {k: body[k] for k in SAMPLING_KEYS if k in body}


def test_published_thyme_requests_are_near_greedy_in_2048_token_segments(workdir: Path) -> None:
    one_case(workdir)
    with running_simulator() as sim:
        assert batch(sim, "nonstream", "--dialect", "thyme", "--sampling", "published") == 0
        requests = list(sim.requests)
    assert len(requests) >= 2  # the code segment, then the continuation after its result
    for body in requests:
        assert _sampling_of(body) == {
            "temperature": 0.01,
            "top_p": 0.001,
            "top_k": 1,
            "max_tokens": 2048,
        }
    meta = read_jsonl(workdir / "out.jsonl")[0]["meta"]
    assert meta["sampling"] == {
        "temperature": 0.01,
        "top_p": 0.001,
        "top_k": 1,
        "max_tokens": 2048,
        "published": True,
    }
    assert meta["max_rounds"] == 5  # Thyme's at most five segments


@pytest.mark.slow
def test_a_published_round_budget_ends_the_case_and_a_given_one_wins(workdir: Path) -> None:
    """DeepEyes' evaluation makes at most 11 requests per case: a model that never stops
    zooming is stopped there (the simulator's scripted turns zoom again and again)."""
    zoom = '<think>closer</think><tool_call>{"name": "image_zoom_in_tool", '
    zoom += '"arguments": {"bbox_2d": [0, 0, 320, 240]}}</tool_call>'
    one_case(workdir)
    script = [{"id": "c", "turns": [zoom] * 30}]
    for flags, rounds in (([], 11), (["--max-rounds", "3"], 3)):
        with running_simulator(scripts=script) as sim:
            argv = ["--dialect", "deepeyes", "--sampling", "published", "--overwrite", *flags]
            assert batch(sim, "nonstream", *argv) == 0
            assert len(sim.requests) == rounds
        record = read_jsonl(workdir / "out.jsonl")[0]
        assert record["meta"]["stop_reason"] == "max_rounds"
        assert record["meta"]["max_rounds"] == rounds
        assert f"stopped after {rounds} rounds" in record["response"]["note"]


def test_given_settings_win_over_the_published_ones(workdir: Path) -> None:
    one_case(workdir)
    flags = ["--dialect", "deepeyes", "--sampling", "published", "--temperature", "0.5"]
    flags += ["--extra-body", '{"top_p": 0.9}']
    with running_simulator() as sim:
        assert batch(sim, "stream", *flags) == 0
        first = sim.requests[0]
    # DeepEyes publishes greedy decoding at 10,240 tokens; the given temperature and
    # top_p are sent instead, the published max_tokens stays.
    assert _sampling_of(first) == {"temperature": 0.5, "top_p": 0.9, "max_tokens": 10240}


@pytest.mark.slow
def test_qwen3_vl_thinking_and_instruct_models_get_their_own_settings(workdir: Path) -> None:
    one_case(workdir)
    sent = {}
    for model in ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-8B-Thinking"):
        flags = ["--dialect", "qwen3-vl", "--sampling", "published", "--model", model]
        with running_simulator(tool_parser=True) as sim:
            assert batch(sim, "nonstream", *flags, "--overwrite") == 0
            sent[model] = _sampling_of(sim.requests[0])
    assert sent["Qwen/Qwen3-VL-8B-Instruct"] == {
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 20,
        "presence_penalty": 1.5,
        "max_tokens": DEFAULT_MAX_TOKENS,
    }
    assert sent["Qwen/Qwen3-VL-8B-Thinking"]["temperature"] == 0.6
    assert sent["Qwen/Qwen3-VL-8B-Thinking"]["top_p"] == 0.95


def test_without_the_flag_only_what_was_asked_for_is_sent(workdir: Path) -> None:
    one_case(workdir)
    with running_simulator() as sim:
        assert batch(sim, "nonstream", "--dialect", "thyme") == 0
        first = sim.requests[0]
    assert _sampling_of(first) == {"max_tokens": DEFAULT_MAX_TOKENS}
    meta = read_jsonl(workdir / "out.jsonl")[0]["meta"]
    assert meta["sampling"] == {"max_tokens": DEFAULT_MAX_TOKENS}
    assert meta["max_rounds"] == DEFAULT_MAX_ROUNDS


def test_every_published_figure_names_its_source() -> None:
    for dialect in DIALECTS.values():
        assert dialect.sampling, f"{dialect.name}: no published sampling"
        for sampling in dialect.sampling.values():
            assert "@" in sampling.source and ":" in sampling.source, dialect.name
