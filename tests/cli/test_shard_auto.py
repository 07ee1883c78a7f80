"""`--shard auto`: a SLURM job array splits one input file with no scripting, and `merge`
joins the parts back into one file holding every case once."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1v4.cli.env import slurm_shard
from r1v4.cli.merge import main as merge_main
from r1v4.cli.run import build_parser, main, settings_from_args
from r1v4.sim import running_simulator
from tests.helpers import read_jsonl, run_cli, write_jsonl

_VARS = ("ID", "COUNT", "MIN", "STEP", "MAX")


@pytest.fixture(autouse=True)
def no_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARS:
        monkeypatch.delenv(f"SLURM_ARRAY_TASK_{name}", raising=False)


def slurm(**values: int) -> dict[str, str]:
    return {f"SLURM_ARRAY_TASK_{k.upper()}": str(v) for k, v in values.items()}


@pytest.mark.parametrize(
    ("env", "shard"),
    [
        (slurm(id=0, count=4), (1, 4)),  # --array=0-3 (SLURM_ARRAY_TASK_MIN not exported)
        (slurm(id=3, count=4, min=0), (4, 4)),
        (slurm(id=1, count=4, min=1), (1, 4)),  # --array=1-4
        (slurm(id=4, count=4, min=1), (4, 4)),
        (slurm(id=8, count=4, min=0, step=4), (3, 4)),  # --array=0-15:4
    ],
)
def test_the_task_id_gives_this_tasks_slice(env: dict[str, str], shard: tuple[int, int]) -> None:
    assert slurm_shard(env) == shard


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "needs SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT"),
        (slurm(id=2), "needs SLURM_ARRAY_TASK_COUNT"),
        ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"}, "'x' is not a whole"),
        (slurm(id=7, count=3, min=1), "task 7 is not one of 3"),  # --array=1,3,7
    ],
)
def test_outside_an_array_or_with_a_gapped_one_it_says_what_to_do(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        slurm_shard(env)


def test_the_flag_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in slurm(id=2, count=3, min=1).items():
        monkeypatch.setenv(name, value)
    argv = ["cases.jsonl", "out.jsonl", "--shard", "auto"]
    settings = settings_from_args(build_parser("nonstream").parse_args(argv), "nonstream", argv)
    assert settings.shard == (2, 3)


def test_without_slurm_the_run_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(workdir / "cases.jsonl", [{"id": "a", "question": "q"}])
    assert main(["cases.jsonl", "out.jsonl", "--shard", "auto", "--no-progress"]) == 2
    assert "--shard auto needs SLURM_ARRAY_TASK_ID" in capsys.readouterr().err
    assert not (workdir / "out.jsonl").exists()


def test_a_four_task_array_splits_the_file_and_merge_joins_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"case-{i}" for i in range(24)]
    write_jsonl(workdir / "cases.jsonl", [{"id": i, "question": f"q {i}"} for i in ids])
    parts = []
    with running_simulator() as sim:
        for task in range(1, 5):  # sbatch --array=1-4
            for name, value in slurm(id=task, count=4, min=1).items():
                monkeypatch.setenv(name, value)
            part = f"part_{task}.jsonl"
            argv = ["cases.jsonl", part, "--base-url", sim.base_url, "--tools", "none"]
            assert run_cli([*argv, "--shard", "auto"]) == 0
            parts.append(part)
    got = [[r["id"] for r in read_jsonl(workdir / p)] for p in parts]
    assert all(got), "every task got some cases"
    assert sorted(i for part in got for i in part) == sorted(ids)  # each case in one part
    assert merge_main(["-o", "all.jsonl", *parts]) == 0
    assert sorted(r["id"] for r in read_jsonl(workdir / "all.jsonl")) == sorted(ids)
