"""The batch command's option table: one default per setting, choices from the registries,
flags over environment over defaults, and no secret in a repr."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import pytest

from r1v4.agent.prompts import PROMPT_CHOICES, SYSTEM_PROMPTS
from r1v4.agent.settings import TOOLS_MODES, AgentSettings, PromptChoice
from r1v4.batch.settings import RunSettings
from r1v4.cli.options import OPTIONS, SECTIONS
from r1v4.cli.run import build_parser, main, settings_from_args
from r1v4.endpoint.types import EndpointSettings
from r1v4.evals.scoring import SCORERS
from r1v4.tools.code import CodeSettings
from r1v4.tools.search import BACKENDS


def build(argv: list[str], mode: str = "nonstream") -> RunSettings:
    return settings_from_args(build_parser(mode).parse_args(argv), mode, argv, script="x.py")


@pytest.fixture(autouse=True)
def no_r1v4_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("R1V4_BASE_URL", "R1V4_API_KEY", "R1V4_MODEL", "R1V4_JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_every_option_sets_a_real_field_and_has_no_default_of_its_own() -> None:
    parser = build_parser("nonstream")
    for opt in OPTIONS:
        assert parser.get_default(opt.name) is None, opt.flags
        if opt.target is not None:
            section, name = opt.target.split(".")
            names = {f.name for f in dataclasses.fields(SECTIONS[section])}
            assert name in names, f"{opt.flags[0]} targets {opt.target}, which does not exist"


def test_choices_come_from_the_registries(capsys: pytest.CaptureFixture[str]) -> None:
    choices = {o.name: list(o.choices()) for o in OPTIONS if o.choices is not None}
    assert choices["tools"] == list(TOOLS_MODES)
    assert choices["prompt"] == list(PROMPT_CHOICES) == list(get_args(PromptChoice))
    assert set(PROMPT_CHOICES) - {"auto"} <= set(SYSTEM_PROMPTS)
    assert choices["scorer"] == list(SCORERS)
    assert choices["search_backend"] == list(BACKENDS)
    with pytest.raises(SystemExit):
        build_parser("nonstream").parse_args(["--scorer", "vibes"])
    assert "'includes', 'judge', 'vlmevalkit-mcq'" in capsys.readouterr().err


def test_no_flag_means_the_settings_own_defaults(tmp_path: Path) -> None:
    s = build(["cases.jsonl", "out.jsonl"])
    assert s.endpoint == EndpointSettings()
    assert s.agent == AgentSettings()
    assert s.code == CodeSettings()
    assert s.search is None and s.judge is None
    defaults = RunSettings(Path("x"), s.output)
    assert (s.concurrency, s.max_concurrency, s.scorer, s.shard) == (
        defaults.concurrency,
        defaults.max_concurrency,
        defaults.scorer,
        defaults.shard,
    )


def test_flags_beat_the_environment_which_beats_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert build([]).endpoint.model == EndpointSettings().model
    monkeypatch.setenv("R1V4_MODEL", "from-env")
    monkeypatch.setenv("R1V4_BASE_URL", "http://a:1/v1, http://b:2/v1")
    s = build([])
    assert s.endpoint.model == "from-env"
    assert s.endpoint.base_urls == ["http://a:1/v1", "http://b:2/v1"]
    s = build(["--model", "from-flag", "--base-url", "http://c:3/v1"])
    assert s.endpoint.model == "from-flag" and s.endpoint.base_urls == ["http://c:3/v1"]


def test_flags_reach_each_part_of_the_settings() -> None:
    s = build(
        "in.jsonl out.jsonl --timeout 7 --max-rounds 3 --code-timeout 9 --sandbox off "
        "--stream-read-interval 0 "
        "--concurrency auto --search-backend local --search-corpus corp --no-progress "
        '--judge-base-url http://j:1/v1 --enable-search --extra-body {"top_p":0.5}'.split()
    )
    assert s.endpoint.timeout_s == 7 and s.agent.max_rounds == 3
    assert s.endpoint.stream_read_interval_s == 0
    assert s.code.timeout_s == 9 and s.code.use_bwrap == "off"
    assert s.adaptive and s.workers == s.max_concurrency
    assert s.search is not None and s.search.corpus_dir == Path("corp")
    assert s.search.cache_path == Path("out.jsonl.toolcache.sqlite")
    assert s.judge is not None and s.judge.model == s.endpoint.model
    assert s.judge.cache_path == Path("out.jsonl.judgecache.sqlite")
    assert s.agent.extra_body == {"top_p": 0.5, "enable_search": True}
    assert s.output.progress is False and s.output.inflight is True


def test_stream_and_planner_are_options_of_the_run_command() -> None:
    s = build(["--stream", "--planner"])
    assert s.agent.stream and s.agent.planner and s.mode == "planner"
    assert s.output_path == Path("result_plan_stream.jsonl")
    assert build([], mode="stream").output_path == Path("result_stream.jsonl")
    with pytest.raises(SystemExit):  # a planner script's mode is fixed
        build_parser("planner-nonstream").parse_args(["--planner"])


def test_keys_never_show_in_a_repr() -> None:
    s = build(["--api-key", "sk-secret-1", "--judge-base-url", "http://j/v1",
               "--judge-api-key", "jk-secret-2"])  # fmt: skip
    assert s.endpoint.api_key == "sk-secret-1" and s.judge is not None
    text = repr(s)
    assert "sk-secret-1" not in text and "jk-secret-2" not in text


def test_a_bad_base_url_is_a_clear_error_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cases.jsonl").write_text('{"question": "q", "image": ""}\n')
    assert main(["cases.jsonl", "out.jsonl", "--base-url", "localhost:8000/v1"]) == 2
    assert "must start with http:// or https://" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_a_stream_read_interval_out_of_range_names_its_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cases.jsonl").write_text('{"question": "q", "image": ""}\n')
    argv = ["cases.jsonl", "out.jsonl", "--stream-read-interval", "5"]
    assert main(argv, "stream") == 2
    assert "--stream-read-interval" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()
