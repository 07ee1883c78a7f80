"""Environment variables the commands read (`R1V4_*`); only the cli layer reads them."""

from __future__ import annotations

import os


def env_base_urls(environ: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """R1V4_BASE_URL may hold several replicas, comma-separated."""
    raw = (environ if environ is not None else os.environ).get("R1V4_BASE_URL", "")
    return [u.strip() for u in raw.split(",") if u.strip()]


_SLURM = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT")


def slurm_shard(environ: os._Environ[str] | dict[str, str] | None = None) -> tuple[int, int]:
    """`--shard auto`: this task's slice (K, N) of a SLURM job array, K counted from 1.

    N is `SLURM_ARRAY_TASK_COUNT`; K is the task's place in the array, from
    `SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_MIN` (so `--array=0-3` and `--array=1-4` both
    give 1..4) and `SLURM_ARRAY_TASK_STEP` (`--array=0-15:4`). ValueError says which
    variable is missing or does not fit."""
    env = environ if environ is not None else os.environ
    missing = [name for name in _SLURM if not env.get(name, "").strip()]
    if missing:
        raise ValueError(
            f"--shard auto needs {' and '.join(missing)} (set by SLURM in a job array, "
            "sbatch --array=...); outside SLURM give --shard K/N"
        )
    values = {}
    for name in (*_SLURM, "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_STEP"):
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            values[name] = int(raw)
        except ValueError:
            raise ValueError(f"--shard auto: {name}={raw!r} is not a whole number") from None
    task, count = values["SLURM_ARRAY_TASK_ID"], values["SLURM_ARRAY_TASK_COUNT"]
    low, step = values.get("SLURM_ARRAY_TASK_MIN", 0), values.get("SLURM_ARRAY_TASK_STEP", 1)
    index, off = divmod(task - low, max(step, 1))
    if count < 1 or off or not 0 <= index < count:
        raise ValueError(
            f"--shard auto: task {task} is not one of {count} evenly spaced tasks from "
            f"{low} (SLURM_ARRAY_TASK_ID, _COUNT, _MIN, _STEP); use a range such as "
            f"--array=0-{max(count, 1) - 1}, or give --shard K/N"
        )
    return index + 1, count
